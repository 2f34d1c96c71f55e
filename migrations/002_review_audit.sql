-- 002: the audit trail of review cases: who claimed, resolved or purged a
-- case, when and why. Append-only like the ledger.

CREATE TABLE review_audit (
    id           bigint      GENERATED ALWAYS AS IDENTITY,
    case_id      text        COLLATE "C" NOT NULL,
    action       text        NOT NULL,
    actor        text        NOT NULL,
    reason       text        NOT NULL DEFAULT '',
    result       text,
    second_actor text,
    at           timestamptz NOT NULL,
    CONSTRAINT review_audit_pkey PRIMARY KEY (id),
    CONSTRAINT review_audit_case_fkey FOREIGN KEY (case_id) REFERENCES review_cases (id),
    CONSTRAINT review_audit_action_check CHECK (action ~ '^[A-Z][A-Z_]*$'),
    CONSTRAINT review_audit_actor_not_empty CHECK (actor <> ''),
    CONSTRAINT review_audit_result_check CHECK (result IN ('OK', 'NOK'))
);

COMMENT ON TABLE review_audit IS
    'Append-only audit trail of the review queue: one row per claim (CLAIM), resolution (RESOLVE, with result and '
    'the four-eyes second_actor) and evidence purge (PURGE_EVIDENCE). UPDATE, DELETE and TRUNCATE are refused.';

CREATE INDEX review_audit_case_idx ON review_audit (case_id, at);

CREATE TRIGGER review_audit_append_only BEFORE UPDATE OR DELETE ON review_audit
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER review_audit_no_truncate BEFORE TRUNCATE ON review_audit
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
