-- 001: the client registry, consent texts, the consent ledger, consent
-- servings, decisions with their review cases, and process events.
--
-- Conventions: identifiers the caller sends are text (they are opaque
-- strings on the wire); every enum is a CHECK, so a typo in code cannot
-- store a status the services do not know; every time is timestamptz; a
-- table whose rows are evidence (consent_texts, consent_ledger, decisions)
-- refuses UPDATE, DELETE and TRUNCATE through refuse_change().

-- refuse_change is the trigger of the append-only tables. It fires for the
-- table owner too, but the owner (or a superuser) may disable it: the
-- service connects as a role that owns nothing (migrate --grant-to).
CREATE FUNCTION refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'Record a change as a new row; rows of this table are evidence and are never changed or deleted.';
END;
$$;

COMMENT ON FUNCTION refuse_change() IS
    'Trigger function of the append-only tables: refuses UPDATE, DELETE and TRUNCATE with SQLSTATE 23001.';

-- Clients ------------------------------------------------------------------

CREATE TABLE clients (
    user_id                    text        NOT NULL,
    client_number              text,
    birth_date                 date,
    given_names                text        NOT NULL DEFAULT '',
    surname                    text        NOT NULL DEFAULT '',
    personal_number            text,
    phone                      text,
    nationality                text        NOT NULL DEFAULT '',
    status                     text        NOT NULL,
    identification_fingerprint text,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT clients_pkey PRIMARY KEY (user_id),
    CONSTRAINT clients_user_id_not_empty CHECK (user_id <> ''),
    CONSTRAINT clients_status_check CHECK (status IN ('ACTIVE', 'BLOCKED', 'CLOSED', 'PROSPECT')),
    CONSTRAINT clients_prospect_has_fingerprint CHECK (status <> 'PROSPECT' OR identification_fingerprint IS NOT NULL),
    CONSTRAINT clients_fingerprint_sha256 CHECK (identification_fingerprint ~ '^[0-9a-f]{64}$'),
    CONSTRAINT clients_client_number_check CHECK (client_number <> '' AND length(client_number) <= 64),
    CONSTRAINT clients_personal_number_check CHECK (personal_number <> ''),
    CONSTRAINT clients_phone_e164 CHECK (phone ~ '^\+[1-9][0-9]{7,14}$'),
    CONSTRAINT clients_nationality_alpha3 CHECK (nationality = '' OR nationality ~ '^[A-Z]{3}$')
);

COMMENT ON TABLE clients IS
    'The bank''s client registry (status ACTIVE, BLOCKED, CLOSED) and the prospects the service registered itself '
    '(status PROSPECT, keyed by identification_fingerprint). Identification values are stored normalised: '
    'personal_number without separators, phone in E.164; empty values are NULL.';
COMMENT ON COLUMN clients.user_id IS 'The identifier handed to the Onboarding Server.';
COMMENT ON COLUMN clients.identification_fingerprint IS
    'Prospects only: hex SHA-256 of the canonical identification text, so the same identification always maps to '
    'the same prospect; the raw identification is never stored here.';

-- Lookups search the registry only (status <> 'PROSPECT'), so the indexes
-- are partial: prospects never make a registry lookup ambiguous.
CREATE UNIQUE INDEX clients_client_number_key ON clients (client_number)
    WHERE status <> 'PROSPECT';
CREATE INDEX clients_personal_number_idx ON clients (personal_number)
    WHERE status <> 'PROSPECT';
CREATE INDEX clients_phone_idx ON clients (phone)
    WHERE status <> 'PROSPECT';
CREATE UNIQUE INDEX clients_identification_fingerprint_key ON clients (identification_fingerprint)
    WHERE identification_fingerprint IS NOT NULL;

-- Consent texts ------------------------------------------------------------

CREATE TABLE consent_texts (
    consent_type text        NOT NULL,
    language     text        NOT NULL,
    version      integer     NOT NULL,
    html         text        NOT NULL,
    sha256       text        NOT NULL,
    published_at timestamptz NOT NULL,
    CONSTRAINT consent_texts_pkey PRIMARY KEY (consent_type, language, version),
    CONSTRAINT consent_texts_type_not_empty CHECK (consent_type <> ''),
    CONSTRAINT consent_texts_language_not_empty CHECK (language <> ''),
    CONSTRAINT consent_texts_version_positive CHECK (version >= 1),
    CONSTRAINT consent_texts_html_not_blank CHECK (btrim(html) <> ''),
    CONSTRAINT consent_texts_sha256_of_html CHECK (sha256 = encode(sha256(convert_to(html, 'UTF8')), 'hex'))
);

COMMENT ON TABLE consent_texts IS
    'Every published version of every consent text. Append-only: a stored consent names (type, language, version) '
    'and an auditor must be able to read that exact HTML, whose SHA-256 the row carries and a CHECK verifies.';

CREATE TRIGGER consent_texts_append_only BEFORE UPDATE OR DELETE ON consent_texts
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER consent_texts_no_truncate BEFORE TRUNCATE ON consent_texts
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Consent ledger -----------------------------------------------------------

CREATE TABLE consent_ledger (
    id             bigint      GENERATED ALWAYS AS IDENTITY,
    process_id     text        NOT NULL,
    user_id        text        NOT NULL,
    consent_type   text        NOT NULL,
    seq            integer     NOT NULL,
    approved       boolean     NOT NULL,
    language       text        NOT NULL DEFAULT '',
    text_version   integer     NOT NULL,
    text_sha256    text        NOT NULL DEFAULT '',
    request_id     text        NOT NULL DEFAULT '',
    correlation_id text        NOT NULL DEFAULT '',
    recorded_at    timestamptz NOT NULL,
    CONSTRAINT consent_ledger_pkey PRIMARY KEY (id),
    -- The idempotency key: the n-th decision of (process, user, type) exists
    -- once, so concurrent identical sends add one row (ON CONFLICT DO NOTHING).
    CONSTRAINT consent_ledger_history_key UNIQUE (process_id, user_id, consent_type, seq),
    CONSTRAINT consent_ledger_process_id_not_empty CHECK (process_id <> ''),
    CONSTRAINT consent_ledger_user_id_not_empty CHECK (user_id <> ''),
    CONSTRAINT consent_ledger_type_not_empty CHECK (consent_type <> ''),
    CONSTRAINT consent_ledger_seq_positive CHECK (seq >= 1),
    CONSTRAINT consent_ledger_text_version_check CHECK (text_version >= 0),
    CONSTRAINT consent_ledger_text_sha256_check CHECK (text_sha256 = '' OR text_sha256 ~ '^[0-9a-f]{64}$')
);

COMMENT ON TABLE consent_ledger IS
    'Append-only ledger of consent decisions: who approved or revoked which consent type, about which text version, '
    'in which process and through which request. A revocation is a new row (seq + 1); UPDATE, DELETE and TRUNCATE '
    'are refused by a trigger.';
COMMENT ON COLUMN consent_ledger.seq IS
    '1 for the first decision of (process_id, user_id, consent_type), +1 for each change of approved.';

-- The user's newest decision of a type across processes (the lookup's
-- "has this user already consented" question).
CREATE INDEX consent_ledger_user_latest_idx ON consent_ledger (user_id, consent_type, recorded_at DESC, id DESC);

CREATE TRIGGER consent_ledger_append_only BEFORE UPDATE OR DELETE ON consent_ledger
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER consent_ledger_no_truncate BEFORE TRUNCATE ON consent_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Consent servings ---------------------------------------------------------

CREATE TABLE consent_servings (
    process_id   text        NOT NULL,
    consent_type text        NOT NULL,
    language     text        NOT NULL,
    version      integer     NOT NULL,
    sha256       text        NOT NULL,
    served_at    timestamptz NOT NULL,
    CONSTRAINT consent_servings_pkey PRIMARY KEY (process_id, consent_type),
    CONSTRAINT consent_servings_version_positive CHECK (version >= 1),
    CONSTRAINT consent_servings_sha256_check CHECK (sha256 ~ '^[0-9a-f]{64}$')
);

COMMENT ON TABLE consent_servings IS
    'The consent text version last served to each (process, consent type), so the stored consent names the text '
    'the user actually saw. One row per key, replaced on each serving.';

-- Decisions and review cases -------------------------------------------------

CREATE TABLE decisions (
    id                       bigint           GENERATED ALWAYS AS IDENTITY,
    kind                     text             NOT NULL,
    process_id               text             NOT NULL,
    identity_verification_id text             NOT NULL,
    user_id                  text             NOT NULL DEFAULT '',
    result                   text             NOT NULL,
    reason_code              text             NOT NULL DEFAULT '',
    reason_text              text             NOT NULL DEFAULT '',
    score                    double precision,
    rules                    jsonb,
    images                   jsonb,
    review_case_id           text,
    correlation_id           text             NOT NULL DEFAULT '',
    request_id               text             NOT NULL DEFAULT '',
    decided_at               timestamptz      NOT NULL,
    CONSTRAINT decisions_pkey PRIMARY KEY (id),
    -- The idempotency key: the caller re-sends with fresh request ids, so
    -- only the body identifies a repeat.
    CONSTRAINT decisions_key UNIQUE (kind, process_id, identity_verification_id),
    CONSTRAINT decisions_kind_check CHECK (kind IN ('approval', 'evaluation')),
    CONSTRAINT decisions_process_id_not_empty CHECK (process_id <> ''),
    CONSTRAINT decisions_result_check CHECK (result IN ('OK', 'NOK', 'WAIT')),
    CONSTRAINT decisions_reason_code_check CHECK (reason_code ~ '^[A-Z0-9_]*$'),
    CONSTRAINT decisions_score_range CHECK (score >= 0 AND score <= 10),
    CONSTRAINT decisions_rules_array CHECK (jsonb_typeof(rules) = 'array'),
    CONSTRAINT decisions_images_array CHECK (jsonb_typeof(images) = 'array')
);

COMMENT ON TABLE decisions IS
    'Approval and evaluation decisions, one per (kind, process_id, identity_verification_id), with the rule results '
    'and the digests (never the bytes) of the images seen. Append-only: the answer as first given stays; a '
    'reviewer''s resolution lives on the review case and is applied when the decision is read.';
COMMENT ON COLUMN decisions.result IS 'The answer first given (OK, NOK, WAIT); a resolved review case overrides it.';
COMMENT ON COLUMN decisions.score IS 'Confidence of the verification check on the contract''s 0-10 scale.';

CREATE TRIGGER decisions_append_only BEFORE UPDATE OR DELETE ON decisions
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER decisions_no_truncate BEFORE TRUNCATE ON decisions
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

CREATE TABLE review_cases (
    -- Byte order (COLLATE "C"): the queue pages by (created_at, id) and must
    -- page the same way whatever the database's default collation.
    id                       text        COLLATE "C" NOT NULL,
    decision_id              bigint      NOT NULL,
    kind                     text        NOT NULL,
    process_id               text        NOT NULL,
    identity_verification_id text        NOT NULL,
    user_id                  text        NOT NULL DEFAULT '',
    status                   text        NOT NULL,
    reason_codes             text[]      NOT NULL DEFAULT '{}',
    answered                 text,
    claimed_by               text,
    claimed_at               timestamptz,
    resolution               text,
    resolution_reason        text        NOT NULL DEFAULT '',
    resolved_by              text,
    second_reviewer          text,
    resolved_at              timestamptz,
    evidence                 jsonb,
    evidence_frame           bytea,
    evidence_purged          boolean     NOT NULL DEFAULT false,
    created_at               timestamptz NOT NULL,
    CONSTRAINT review_cases_pkey PRIMARY KEY (id),
    CONSTRAINT review_cases_decision_key UNIQUE (decision_id),
    CONSTRAINT review_cases_decision_fkey FOREIGN KEY (decision_id) REFERENCES decisions (id),
    CONSTRAINT review_cases_id_not_empty CHECK (id <> ''),
    CONSTRAINT review_cases_kind_check CHECK (kind IN ('approval', 'evaluation')),
    CONSTRAINT review_cases_status_check CHECK (status IN ('OPEN', 'CLAIMED', 'RESOLVED')),
    CONSTRAINT review_cases_answered_check CHECK (answered IN ('OK', 'NOK', 'WAIT')),
    CONSTRAINT review_cases_resolution_check CHECK (resolution IN ('OK', 'NOK')),
    CONSTRAINT review_cases_claimed_has_reviewer CHECK (
        status <> 'CLAIMED' OR (claimed_by IS NOT NULL AND claimed_at IS NOT NULL)),
    CONSTRAINT review_cases_resolved_has_resolution CHECK (
        (status = 'RESOLVED') = (resolution IS NOT NULL AND resolved_by IS NOT NULL AND resolved_at IS NOT NULL)),
    CONSTRAINT review_cases_purged_has_no_evidence CHECK (
        NOT evidence_purged OR (status = 'RESOLVED' AND evidence IS NULL AND evidence_frame IS NULL))
);

COMMENT ON TABLE review_cases IS
    'Decisions that need a person (WAIT, or the review fallback): the reviewer queue. Evidence (document data, the '
    'registry record, the presence-check frame when policy keeps it) is purged after resolution plus the retention '
    'period; the case, its resolution and the decision stay.';
COMMENT ON COLUMN review_cases.answered IS 'What the caller was told when the case opened.';
COMMENT ON COLUMN review_cases.evidence_frame IS 'Presence-check frame (JPEG or PNG), only when policy keeps it.';

-- The reviewer queue (by status, oldest first), the unfiltered listing and
-- the retention purge.
CREATE INDEX review_cases_queue_idx ON review_cases (status, created_at, id);
CREATE INDEX review_cases_created_idx ON review_cases (created_at, id);
CREATE INDEX review_cases_purge_idx ON review_cases (resolved_at)
    WHERE status = 'RESOLVED' AND NOT evidence_purged;

-- Process events -------------------------------------------------------------

CREATE TABLE process_events (
    id                       bigint      GENERATED ALWAYS AS IDENTITY,
    type                     text        NOT NULL,
    process_id               text        NOT NULL,
    process_type             text        NOT NULL DEFAULT '',
    user_id                  text        NOT NULL DEFAULT '',
    identity_verification_id text        NOT NULL DEFAULT '',
    data                     jsonb,
    request_id               text        NOT NULL DEFAULT '',
    correlation_id           text        NOT NULL DEFAULT '',
    received_at              timestamptz NOT NULL,
    CONSTRAINT process_events_pkey PRIMARY KEY (id),
    CONSTRAINT process_events_data_object CHECK (jsonb_typeof(data) = 'object')
);

COMMENT ON TABLE process_events IS
    'Notifications of older Onboarding Servers about a process (type FINISHED and friends), kept for audit and '
    'fraud analysis; data is the caller''s free-form object with secret-looking keys removed.';

CREATE INDEX process_events_process_idx ON process_events (process_id, received_at);
