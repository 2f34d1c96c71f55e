-- 010: each review audit row says where its action came from: the review
-- pages (ui) or the admin API (api), both by a reviewer proven by a
-- sign-in; the review command (cli), whose reviewer name an operator with
-- database access typed; or the purge (retention). A compliance officer can
-- then tell a signed-in reviewer's resolution from a typed name's.
--
-- Rows recorded before this migration keep NULL (not recorded): the trail
-- is append-only. A binary of an earlier release (a pod still running
-- during a rolling update, an operator's older CLI) also writes NULL.
-- Adding a nullable column changes only the catalogue, and the check is
-- added NOT VALID, so this statement reads no row under its exclusive lock
-- (the trail only grows); 011 validates it in a transaction of its own,
-- which blocks neither reads nor writes.

ALTER TABLE review_audit
    ADD COLUMN channel text,
    ADD CONSTRAINT review_audit_channel_check CHECK (channel IN ('ui', 'api', 'cli', 'retention')) NOT VALID;

COMMENT ON COLUMN review_audit.channel IS
    'Where the action came from: ui (review pages) or api (admin API), a signed-in reviewer; cli (the review '
    'command), a typed reviewer name; retention (the purge). NULL: not recorded (before migration 010, or by an '
    'earlier release''s binary).';
