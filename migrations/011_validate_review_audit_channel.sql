-- 011: validates 010's check on review_audit.channel over the existing rows
-- (all NULL, which it accepts). VALIDATE CONSTRAINT takes only a SHARE
-- UPDATE EXCLUSIVE lock: the trail stays readable and writable while the
-- table is read, which 010's exclusive lock would not have allowed.

ALTER TABLE review_audit VALIDATE CONSTRAINT review_audit_channel_check;
