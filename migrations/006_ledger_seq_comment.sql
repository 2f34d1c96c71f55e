-- 006: the ledger records the same decision on a newer version of the text
-- the user was shown as a new row, so seq counts more than changes of
-- approved. A comment only; no data changes.

COMMENT ON COLUMN consent_ledger.seq IS
    '1 for the first decision of (process_id, user_id, consent_type), +1 for each new record: a change of approved, '
    'or the same decision on a newer version of the text (same language).';
