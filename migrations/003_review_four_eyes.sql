-- 003: the four-eyes (maker-checker) flow of review cases. A first reviewer's
-- verdict that needs a second reviewer is kept on the case as a pending
-- proposal until a different reviewer confirms it; the confirmation's note
-- is kept in the audit row of the resolution.

ALTER TABLE review_cases
    ADD COLUMN proposed_result text,
    ADD COLUMN proposed_reason text NOT NULL DEFAULT '',
    ADD COLUMN proposed_by     text,
    ADD COLUMN proposed_at     timestamptz,
    ADD CONSTRAINT review_cases_proposed_result_check CHECK (proposed_result IN ('OK', 'NOK')),
    ADD CONSTRAINT review_cases_proposal_complete CHECK (
        (proposed_by IS NULL) = (proposed_result IS NULL) AND (proposed_by IS NULL) = (proposed_at IS NULL));

COMMENT ON COLUMN review_cases.proposed_by IS
    'Four eyes: the reviewer whose verdict (proposed_result, proposed_reason) waits for, or was confirmed by, a '
    'second reviewer (second_reviewer once resolved).';

ALTER TABLE review_audit
    ADD COLUMN second_reason text NOT NULL DEFAULT '';

COMMENT ON COLUMN review_audit.second_reason IS
    'Four eyes: the note of the second reviewer (second_actor) who confirmed the resolution.';
