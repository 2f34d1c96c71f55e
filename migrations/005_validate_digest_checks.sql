-- 005: checks the existing rows against the constraints 004 replaced. In a
-- transaction of its own VALIDATE CONSTRAINT takes a SHARE UPDATE EXCLUSIVE
-- lock: reads and writes go on while it scans. The rows passed the old,
-- equivalent checks, so it finds nothing; afterwards the constraints are
-- marked valid, as a DBA expects.

ALTER TABLE consent_servings VALIDATE CONSTRAINT consent_servings_sha256_check;
ALTER TABLE consent_ledger VALIDATE CONSTRAINT consent_ledger_text_sha256_check;
ALTER TABLE clients VALIDATE CONSTRAINT clients_fingerprint_sha256;
