-- 007: a review case changes only along its workflow, and every change of
-- its workflow is audited. A resolution overrides the decision's answer,
-- so a case resolved by a direct UPDATE (no review_audit row), a resolved
-- case changed afterwards, or a case whose decision or answer is rewritten
-- would change what the Onboarding Server is told without a trace.
--
-- review_case_change (BEFORE UPDATE): what a case was decided on (its
-- decision, identity, reason codes, answer, creation) never changes; its
-- status only moves forward (OPEN -> CLAIMED -> RESOLVED, or OPEN ->
-- RESOLVED); a proposal is made once; a resolved case changes only by the
-- purge of its evidence, which is never undone.
-- review_case_audited (deferred to the commit): each of those steps has its
-- audit row by then (CLAIM, PROPOSE, RESOLVE with the same result,
-- PURGE_EVIDENCE). Each happens once per case, so its row's existence is
-- the check. review_audit is append-only: a forged row is a lasting trace.
-- Cases are never deleted.

CREATE FUNCTION review_case_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.id, NEW.decision_id, NEW.kind, NEW.process_id, NEW.identity_verification_id, NEW.user_id,
        NEW.reason_codes, NEW.answered, NEW.created_at)
       IS DISTINCT FROM
       (OLD.id, OLD.decision_id, OLD.kind, OLD.process_id, OLD.identity_verification_id, OLD.user_id,
        OLD.reason_codes, OLD.answered, OLD.created_at) THEN
        RAISE EXCEPTION 'review case %: what it was decided on never changes', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NOT (NEW.status = OLD.status
            OR (OLD.status = 'OPEN' AND NEW.status IN ('CLAIMED', 'RESOLVED'))
            OR (OLD.status = 'CLAIMED' AND NEW.status = 'RESOLVED')) THEN
        RAISE EXCEPTION 'review case %: status % cannot become %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.proposed_by IS NOT NULL
       AND (NEW.proposed_result, NEW.proposed_reason, NEW.proposed_by, NEW.proposed_at)
           IS DISTINCT FROM (OLD.proposed_result, OLD.proposed_reason, OLD.proposed_by, OLD.proposed_at) THEN
        RAISE EXCEPTION 'review case %: a proposal is made once', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.status = 'RESOLVED'
       AND ((NEW.status, NEW.claimed_by, NEW.claimed_at, NEW.resolution, NEW.resolution_reason, NEW.resolved_by,
             NEW.second_reviewer, NEW.resolved_at)
            IS DISTINCT FROM
            (OLD.status, OLD.claimed_by, OLD.claimed_at, OLD.resolution, OLD.resolution_reason, OLD.resolved_by,
             OLD.second_reviewer, OLD.resolved_at)
            OR (NOT NEW.evidence_purged AND OLD.evidence_purged)
            OR (NEW.evidence_purged AND (NEW.evidence IS NOT NULL OR NEW.evidence_frame IS NOT NULL))
            OR (NOT NEW.evidence_purged
                AND (NEW.evidence, NEW.evidence_frame) IS DISTINCT FROM (OLD.evidence, OLD.evidence_frame))) THEN
        RAISE EXCEPTION 'review case %: a resolved case changes only by the purge of its evidence', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.status <> 'RESOLVED' AND NEW.evidence_purged THEN
        RAISE EXCEPTION 'review case %: only a resolved case''s evidence is purged', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION review_case_change() IS
    'BEFORE UPDATE trigger of review_cases: a case''s decision, identity, reasons, answer and creation never change; '
    'status only moves forward; a proposal is made once; a resolved case changes only by the purge of its evidence.';

CREATE TRIGGER review_case_change BEFORE UPDATE ON review_cases
    FOR EACH ROW EXECUTE FUNCTION review_case_change();

CREATE FUNCTION review_case_audited() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    missing text;
BEGIN
    IF NEW.status = 'CLAIMED' AND OLD.status = 'OPEN'
       AND NOT EXISTS (SELECT 1 FROM review_audit WHERE case_id = NEW.id AND action = 'CLAIM') THEN
        missing := 'CLAIM';
    ELSIF NEW.status = 'RESOLVED' AND OLD.status <> 'RESOLVED'
       AND NOT EXISTS (SELECT 1 FROM review_audit WHERE case_id = NEW.id AND action = 'RESOLVE'
                       AND result = NEW.resolution) THEN
        missing := 'RESOLVE';
    ELSIF NEW.proposed_by IS NOT NULL AND OLD.proposed_by IS NULL
       AND NOT EXISTS (SELECT 1 FROM review_audit WHERE case_id = NEW.id AND action = 'PROPOSE') THEN
        missing := 'PROPOSE';
    ELSIF NEW.evidence_purged AND NOT OLD.evidence_purged
       AND NOT EXISTS (SELECT 1 FROM review_audit WHERE case_id = NEW.id AND action = 'PURGE_EVIDENCE') THEN
        missing := 'PURGE_EVIDENCE';
    END IF;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'review case %: the change has no % audit row', NEW.id, missing
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION review_case_audited() IS
    'Deferred constraint trigger of review_cases: at commit, each workflow step of a case (claim, proposal, '
    'resolution, evidence purge) has its review_audit row.';

CREATE CONSTRAINT TRIGGER review_case_audited AFTER UPDATE ON review_cases
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION review_case_audited();

CREATE TRIGGER review_cases_no_delete BEFORE DELETE ON review_cases
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER review_cases_no_truncate BEFORE TRUNCATE ON review_cases
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

COMMENT ON TABLE review_cases IS
    'Decisions that need a person (WAIT, or the review fallback): the reviewer queue. Evidence (document data, the '
    'registry record, the presence-check frame when policy keeps it) is purged after resolution plus the retention '
    'period; the case, its resolution and the decision stay. A case changes only along its workflow (claim, '
    'proposal, resolution, evidence purge), each step audited in review_audit (triggers review_case_change and '
    'review_case_audited); cases are never deleted.';
