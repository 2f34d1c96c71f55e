-- 004: the same SHA-256 digest checks, cheaper for PostgreSQL to evaluate.
-- Its regular expression engine runs a bounded repetition such as
-- '^[0-9a-f]{64}$' slowly: about 10 µs of CPU per row on the reference
-- machine, a third of the database's whole cost of storing a consent
-- serving (INSERT … SELECT of 200,000 rows with and without the check).
-- "64 characters, none outside 0-9a-f" accepts exactly the same values for
-- a quarter of the cost.
--
-- Each constraint is replaced under its own name and added NOT VALID, so
-- this migration holds its table's lock only for an instant (no scan): new
-- rows are checked at once, and 005 checks the existing rows again in a
-- transaction of its own, which does not block writes.
--
-- The three tables' locks are taken one after the other and held to the end
-- of this transaction, while the pods of the release before keep serving: a
-- long reader of one table (a dump, a report) would hold the others' writes
-- back for as long. lock_timeout bounds that wait; the migration then fails,
-- the release stops before any new pod starts, and running it again later
-- (`onboarding-adapter migrate`, or the chart's hook) finishes it.

SET LOCAL lock_timeout = '5s';

ALTER TABLE consent_servings
    DROP CONSTRAINT consent_servings_sha256_check,
    ADD CONSTRAINT consent_servings_sha256_check
        CHECK (length(sha256) = 64 AND sha256 !~ '[^0-9a-f]') NOT VALID;

ALTER TABLE consent_ledger
    DROP CONSTRAINT consent_ledger_text_sha256_check,
    ADD CONSTRAINT consent_ledger_text_sha256_check
        CHECK (text_sha256 = '' OR (length(text_sha256) = 64 AND text_sha256 !~ '[^0-9a-f]')) NOT VALID;

ALTER TABLE clients
    DROP CONSTRAINT clients_fingerprint_sha256,
    ADD CONSTRAINT clients_fingerprint_sha256
        CHECK (length(identification_fingerprint) = 64 AND identification_fingerprint !~ '[^0-9a-f]') NOT VALID;
