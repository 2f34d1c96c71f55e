package postgres

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

var (
	_ ports.DecisionStore             = (*DecisionStore)(nil)
	_ ports.DecisionsWithClientFinder = (*DecisionStore)(nil)
	_ ports.ReviewCases               = (*DecisionStore)(nil)
)

// DefaultReviewListLimit is the page size of ListReviewCases when the filter
// sets no Limit, as in the memory store.
const DefaultReviewListLimit = 100

// reviewRejectedText is the reason text of a decision a reviewer turned to
// NOK, the same as the memory store's.
const reviewRejectedText = "rejected in manual review"

// Actors of review_audit rows the service writes without a person.
const purgeActor = "retention"

// DecisionStore keeps decisions (table decisions, append-only) and their
// review cases (review_cases, with the audit trail in review_audit). It is
// both ports.DecisionStore and ports.ReviewCases because a decision and its
// case are written, and a resolution applied, in one statement.
//
// The decision row keeps the answer as first given. A reviewer's
// resolution is stored on the case, and Decision applies it when it reads
// the decision (a join on the case), exactly as the memory store answers:
// OK without a reason, NOK with REVIEW_REJECTED. Resolving is therefore a
// single-row update of the case and the decision's answer changes in the
// same commit.
//
// With group commit on (see BatchConfig), decisions that arrive together,
// with their review cases, are inserted by one statement in one commit;
// see SaveDecision.
type DecisionStore struct {
	db    *db
	clock ports.Clock
	batch *group[decisionSave, savedDecision]        // nil: every save alone
	reads *group[decisionsRead, decisionsWithClient] // nil: every read alone
	// purgeBatch overrides PurgeBatch (tests: several batches of a few).
	purgeBatch int
}

// decisionSave is one SaveDecision call: the decision and, for a WAIT, its
// review case (nil for none), both completed as SaveDecision stores them.
type decisionSave struct {
	d domain.Decision
	c *domain.ReviewCase
}

// savedDecision is the outcome of one save.
type savedDecision struct {
	d      domain.Decision
	stored bool
}

// NewDecisionStore returns the store on pool, with group commit as
// DefaultBatchConfig sets it; clock stamps the audit rows of purges and
// claims or resolutions that come without a time.
func NewDecisionStore(pool *pgxpool.Pool, clock ports.Clock) *DecisionStore {
	return newDecisionStore(newDB(pool), clock, DefaultBatchConfig())
}

func newDecisionStore(d *db, clock ports.Clock, bc BatchConfig) *DecisionStore {
	s := &DecisionStore{db: d, clock: clock}
	if bc.enabled() {
		s.batch = newGroup(bc, s.flush, s.saveLone)
		s.reads = newGroup(readBatch(bc), s.flushReads, s.readAlone)
	}
	return s
}

// JSON shapes of the jsonb columns. They are the storage format: field
// names may be added, never renamed.
type (
	ruleJSON struct {
		Rule    string `json:"rule"`
		Outcome string `json:"outcome"`
		Code    string `json:"code,omitempty"`
		Detail  string `json:"detail,omitempty"`
	}
	imageJSON struct {
		Kind   string `json:"kind"`
		SHA256 string `json:"sha256"`
		Size   int    `json:"size"`
	}
	evidenceJSON struct {
		Documents []documentJSON `json:"documents,omitempty"`
		Registry  *clientJSON    `json:"registry,omitempty"`
	}
	documentJSON struct {
		Type           string `json:"type,omitempty"`
		Status         string `json:"status,omitempty"`
		GivenNames     string `json:"givenNames,omitempty"`
		Surname        string `json:"surname,omitempty"`
		DateOfBirth    string `json:"dateOfBirth,omitempty"`
		PlaceOfBirth   string `json:"placeOfBirth,omitempty"`
		Sex            string `json:"sex,omitempty"`
		Nationality    string `json:"nationality,omitempty"`
		PersonalNumber string `json:"personalNumber,omitempty"`
		DocumentNumber string `json:"documentNumber,omitempty"`
		DateOfIssue    string `json:"dateOfIssue,omitempty"`
		DateOfExpiry   string `json:"dateOfExpiry,omitempty"`
		Authority      string `json:"authority,omitempty"`
	}
	clientJSON struct {
		UserID         string `json:"userId,omitempty"`
		ClientNumber   string `json:"clientNumber,omitempty"`
		BirthDate      string `json:"birthDate,omitempty"`
		GivenNames     string `json:"givenNames,omitempty"`
		Surname        string `json:"surname,omitempty"`
		PersonalNumber string `json:"personalNumber,omitempty"`
		Phone          string `json:"phone,omitempty"`
		Nationality    string `json:"nationality,omitempty"`
		Status         string `json:"status,omitempty"`
	}
)

// jsonOrNil marshals v for a jsonb column, or returns nil (NULL) when empty
// is true. Marshalling these plain structs cannot fail.
func jsonOrNil(v any, empty bool) []byte {
	if empty {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("postgres: marshalling %T: %v", v, err))
	}
	return b
}

// decisionToRow returns the jsonb values of d.
func decisionToRow(d domain.Decision) (rules, images []byte) {
	rs := make([]ruleJSON, len(d.Rules))
	for i, r := range d.Rules {
		rs[i] = ruleJSON{Rule: r.Rule, Outcome: string(r.Outcome), Code: r.Code, Detail: r.Detail}
	}
	is := make([]imageJSON, len(d.Images))
	for i, im := range d.Images {
		is[i] = imageJSON{Kind: im.Kind, SHA256: im.SHA256, Size: im.Size}
	}
	return jsonOrNil(rs, len(rs) == 0), jsonOrNil(is, len(is) == 0)
}

const decisionColumns = `d.kind, d.process_id, d.identity_verification_id, d.user_id, d.result, d.reason_code,
    d.reason_text, d.score, d.rules, d.images, d.review_case_id, d.correlation_id, d.request_id, d.decided_at,
    c.status, c.resolution`

// decisionRow is a decision joined with its review case's status.
type decisionRow struct {
	Kind, ProcessID, IdentityVerificationID, UserID string
	Result, ReasonCode, ReasonText                  string
	Score                                           *float64
	Rules, Images                                   []byte
	ReviewCaseID                                    *string
	CorrelationID, RequestID                        string
	DecidedAt                                       time.Time
	CaseStatus, Resolution                          *string
}

func (r *decisionRow) dest() []any {
	return []any{&r.Kind, &r.ProcessID, &r.IdentityVerificationID, &r.UserID, &r.Result, &r.ReasonCode,
		&r.ReasonText, &r.Score, &r.Rules, &r.Images, &r.ReviewCaseID, &r.CorrelationID, &r.RequestID,
		&r.DecidedAt, &r.CaseStatus, &r.Resolution}
}

// toDomain converts the row and applies a resolved case's verdict.
func (r *decisionRow) toDomain() (domain.Decision, error) {
	d := domain.Decision{
		Kind:                   domain.DecisionKind(r.Kind),
		ProcessID:              r.ProcessID,
		IdentityVerificationID: r.IdentityVerificationID,
		UserID:                 r.UserID,
		Result:                 domain.Result(r.Result),
		ReasonCode:             r.ReasonCode,
		ReasonText:             r.ReasonText,
		Score:                  r.Score,
		ReviewCaseID:           text(r.ReviewCaseID),
		CorrelationID:          r.CorrelationID,
		RequestID:              r.RequestID,
		DecidedAt:              r.DecidedAt.UTC(),
	}
	if r.Rules != nil {
		var rs []ruleJSON
		if err := json.Unmarshal(r.Rules, &rs); err != nil {
			return domain.Decision{}, fmt.Errorf("decoding stored rule results: %w", err)
		}
		for _, x := range rs {
			d.Rules = append(d.Rules, domain.RuleResult{Rule: x.Rule, Outcome: domain.Result(x.Outcome), Code: x.Code, Detail: x.Detail})
		}
	}
	if r.Images != nil {
		var is []imageJSON
		if err := json.Unmarshal(r.Images, &is); err != nil {
			return domain.Decision{}, fmt.Errorf("decoding stored image digests: %w", err)
		}
		for _, x := range is {
			d.Images = append(d.Images, domain.ImageDigest{Kind: x.Kind, SHA256: x.SHA256, Size: x.Size})
		}
	}
	if text(r.CaseStatus) == string(domain.ReviewResolved) {
		applyResolution(&d, domain.Result(text(r.Resolution)))
	}
	return d, nil
}

// applyResolution makes d answer a reviewer's verdict, as the memory store
// does when it resolves: OK without a reason, NOK with REVIEW_REJECTED.
func applyResolution(d *domain.Decision, verdict domain.Result) {
	d.Result, d.ReasonCode, d.ReasonText = verdict, "", ""
	if verdict == domain.ResultNOK {
		d.ReasonCode, d.ReasonText = domain.ReasonReviewRejected, reviewRejectedText
	}
}

const selectDecisionSQL = `SELECT ` + decisionColumns + `
FROM decisions d LEFT JOIN review_cases c ON c.decision_id = d.id
WHERE d.kind = $1 AND d.process_id = $2 AND d.identity_verification_id = $3`

// Decision returns the stored decision, with its review resolution applied.
func (s *DecisionStore) Decision(ctx context.Context, kind domain.DecisionKind, processID, identityVerificationID string) (domain.Decision, error) {
	var row decisionRow
	err := s.db.run(ctx, "decision", func(ctx context.Context) error {
		return s.db.pool.QueryRow(ctx, selectDecisionSQL, string(kind), processID, identityVerificationID).Scan(row.dest()...)
	})
	if domain.IsNotFound(err) {
		return domain.Decision{}, domain.NotFound("identityVerificationId", "no decision is stored for this process and identity verification")
	}
	if err != nil {
		return domain.Decision{}, err
	}
	d, err := row.toDomain()
	if err != nil {
		return domain.Decision{}, domain.Internal(err, "stored decision is unreadable")
	}
	return d, nil
}

// VerificationDecisions returns the stored decisions of both kinds of
// (processID, identityVerificationID), with review resolutions applied, in
// one statement: two descents of decisions_key (kind = ANY on its leading
// column).
func (s *DecisionStore) VerificationDecisions(ctx context.Context, processID, identityVerificationID string) (ports.VerificationDecisions, error) {
	var out ports.VerificationDecisions
	err := s.db.run(ctx, "decision", func(ctx context.Context) error {
		out = ports.VerificationDecisions{}
		var row decisionRow
		rows, err := s.db.pool.Query(ctx, selectVerificationDecisionsSQL, processID, identityVerificationID)
		if err != nil {
			return err
		}
		_, err = pgx.ForEachRow(rows, row.dest(), func() error {
			return row.into(&out)
		})
		return err
	})
	if err != nil {
		return ports.VerificationDecisions{}, err
	}
	return out, nil
}

// into converts the row and sets it as its kind's decision in v.
func (r *decisionRow) into(v *ports.VerificationDecisions) error {
	d, err := r.toDomain()
	if err != nil {
		return domain.Internal(err, "stored decision is unreadable")
	}
	switch d.Kind {
	case domain.KindApproval:
		v.Approval = &d
	case domain.KindEvaluation:
		v.Evaluation = &d
	}
	*r = decisionRow{}
	return nil
}

// verificationDecisionsSQL selects the approval and evaluation of one
// identity verification, whose ids the caller compares with.
const verificationDecisionsSQL = `SELECT ` + decisionColumns + `
FROM decisions d LEFT JOIN review_cases c ON c.decision_id = d.id
WHERE d.kind = ANY ('{approval,evaluation}'::text[])`

const selectVerificationDecisionsSQL = verificationDecisionsSQL + ` AND d.process_id = $1 AND d.identity_verification_id = $2`

// selectDecisionsWithClientSQL is selectVerificationDecisionsSQL and the
// clients row of user_id $3 in one statement: one row per stored decision
// (or one without a decision), each with the client's columns (or none),
// the flags telling which are there. Two index descents, no join between
// them: the one-row VALUES is what both are LEFT JOINed to.
const selectDecisionsWithClientSQL = `SELECT ` + decisionsWithClientColumns + `
FROM (VALUES (1)) AS one (n)
LEFT JOIN clients u ON u.user_id = $3
LEFT JOIN LATERAL (` + selectVerificationDecisionsSQL + `) x ON true`

// decisionsWithClientColumns are the columns of selectDecisionsWithClientSQL.
const decisionsWithClientColumns = `u.user_id IS NOT NULL, COALESCE(u.user_id, ''), u.client_number,
    u.birth_date, COALESCE(u.given_names, ''), COALESCE(u.surname, ''), u.personal_number, u.phone,
    COALESCE(u.nationality, ''), COALESCE(u.status, ''),
    x.kind IS NOT NULL, COALESCE(x.kind, ''), COALESCE(x.process_id, ''), COALESCE(x.identity_verification_id, ''),
    COALESCE(x.user_id, ''), COALESCE(x.result, ''), COALESCE(x.reason_code, ''), COALESCE(x.reason_text, ''),
    x.score, x.rules, x.images, x.review_case_id, COALESCE(x.correlation_id, ''), COALESCE(x.request_id, ''),
    COALESCE(x.decided_at, 'epoch'), x.status, x.resolution`

// VerificationDecisionsWithClient implements
// ports.DecisionsWithClientFinder: VerificationDecisions and ClientByUserID
// in one statement, so a decision makes one read before its insert instead
// of two. With batching on, the reads of concurrent decisions made while
// the database is busy share one statement (see reads.go).
func (s *DecisionStore) VerificationDecisionsWithClient(ctx context.Context, processID, identityVerificationID, userID string) (ports.VerificationDecisions, *domain.Client, error) {
	in := decisionsRead{processID: processID, identityVerificationID: identityVerificationID, userID: userID}
	out, err := doOrAlone(ctx, s.reads, in, s.readAlone)
	if err != nil {
		return ports.VerificationDecisions{}, nil, err
	}
	return out.decisions, out.client, nil
}

// decisionsRead is one VerificationDecisionsWithClient call.
type decisionsRead struct {
	processID, identityVerificationID, userID string
}

// decisionsWithClient is what it read.
type decisionsWithClient struct {
	decisions ports.VerificationDecisions
	client    *domain.Client
}

// decisionsScan is one row of selectDecisionsWithClientSQL, and of its
// batch form with the call's ordinal first.
type decisionsScan struct {
	i                  int64
	found, hasDecision bool
	user               clientRow
	row                decisionRow
}

func (sc *decisionsScan) dest(batch bool) []any {
	var d []any
	if batch {
		d = append(d, &sc.i)
	}
	return append(append(append(append(d, &sc.found), sc.user.dest()...), &sc.hasDecision), sc.row.dest()...)
}

func (sc *decisionsScan) add(out *decisionsWithClient) error {
	if sc.found && out.client == nil {
		c := sc.user.toDomain()
		out.client = &c
	}
	if !sc.hasDecision {
		return nil
	}
	return sc.row.into(&out.decisions)
}

// readAlone runs in in a statement of its own.
func (s *DecisionStore) readAlone(ctx context.Context, in decisionsRead) (decisionsWithClient, error) {
	var out decisionsWithClient
	err := s.db.run(ctx, "decision", func(ctx context.Context) error {
		out = decisionsWithClient{}
		rows, err := s.db.pool.Query(ctx, selectDecisionsWithClientSQL, in.processID, in.identityVerificationID, in.userID)
		if err != nil {
			return err
		}
		var sc decisionsScan
		_, err = pgx.ForEachRow(rows, sc.dest(false), func() error { return sc.add(&out) })
		return err
	})
	return out, err
}

// batchDecisionsWithClientSQL is selectDecisionsWithClientSQL for every
// element of the arrays $1 (process ids), $2 (identity verification ids)
// and $3 (user ids), each row with its element's ordinal first. Each join
// is a LATERAL subquery with a LIMIT (one client, at most an approval and
// an evaluation), which PostgreSQL cannot flatten into the outer join: the
// plan stays an index descent per element. Flattened, the generic plan is
// fixed by the statistics of the first runs, and on a decisions table
// that was empty then it hashed every decision on each run (measured: 10 ms
// a batch after 10,000 decisions, and the approval rate down sixfold).
const batchDecisionsWithClientSQL = `SELECT k.i, ` + decisionsWithClientColumns + `
FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k(process_id, identity_verification_id, user_id, i)
LEFT JOIN LATERAL (SELECT * FROM clients WHERE user_id = k.user_id LIMIT 1) u ON true
LEFT JOIN LATERAL (` + verificationDecisionsSQL + `
    AND d.process_id = k.process_id AND d.identity_verification_id = k.identity_verification_id LIMIT 2) x ON true`

// flushReads reads a batch of VerificationDecisionsWithClient calls in one
// statement (a call alone has its own: readAlone).
func (s *DecisionStore) flushReads(ctx context.Context, calls []*call[decisionsRead, decisionsWithClient]) {
	processes, verifications, users := make([]string, len(calls)), make([]string, len(calls)), make([]string, len(calls))
	for i, c := range calls {
		processes[i], verifications[i], users[i] = c.in.processID, c.in.identityVerificationID, c.in.userID
	}
	var sc decisionsScan
	readBatched(ctx, s.db, "decision", batchDecisionsWithClientSQL, []any{processes, verifications, users}, calls,
		func() decisionsWithClient { return decisionsWithClient{} }, sc.dest(true), &sc.i, sc.add)
}

const insertDecisionSQL = `INSERT INTO decisions (kind, process_id, identity_verification_id, user_id, result,
    reason_code, reason_text, score, rules, images, review_case_id, correlation_id, request_id, decided_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT ON CONSTRAINT decisions_key DO NOTHING
RETURNING id`

// insertDecisionWithCaseSQL inserts the decision and, only when it was
// inserted, its review case: one statement, so one transaction.
const insertDecisionWithCaseSQL = `WITH d AS (
    ` + insertDecisionSQL + `
), c AS (
    INSERT INTO review_cases (id, decision_id, kind, process_id, identity_verification_id, user_id, status,
        reason_codes, answered, claimed_by, claimed_at, resolution, resolution_reason, resolved_by,
        second_reviewer, resolved_at, evidence, evidence_frame, evidence_purged, created_at)
    SELECT $15::text, d.id, $16::text, $17::text, $18::text, $19::text, $20::text, $21::text[], $22::text,
        $23::text, $24::timestamptz, $25::text, $26::text, $27::text, $28::text, $29::timestamptz, $30::jsonb,
        $31::bytea, $32::boolean, $33::timestamptz
    FROM d
    RETURNING id
)
SELECT id FROM d`

// SaveDecision stores d, and rc as its review case, unless a decision with
// the same (Kind, ProcessID, IdentityVerificationID) exists; then it returns
// that one (with any resolution applied) and false. The case must carry its
// id; d.ReviewCaseID is set to it, the case's empty identifying fields are
// taken from d, an empty status becomes OPEN and a zero CreatedAt becomes
// d.DecidedAt, as in the memory store.
//
// Decision and case are one INSERT … ON CONFLICT DO NOTHING statement.
// Concurrent saves of one key all wait for the first to commit; the others
// then read it and return it, so every caller gets the same answer. A case
// id already used by another decision is CodeConflict and stores nothing.
//
// With group commit on, a decision joins the batch of saves that arrive
// within the window, with its review case if it has one, and returns when
// that batch has committed (flush). A save the batch cannot settle (its
// key was taken by a concurrent writer, or the batch failed for a reason
// other than an unreachable database) is done again alone, so a decision
// the database refuses, or a case id already used, fails only its own
// caller. A caller whose ctx ends first gets CodeUnavailable; its decision
// is then committed with its batch or not at all, and a retry gets the
// stored one either way.
func (s *DecisionStore) SaveDecision(ctx context.Context, d domain.Decision, rc *domain.ReviewCase) (domain.Decision, bool, error) {
	if !d.Kind.Valid() {
		return domain.Decision{}, false, domain.Invalid("kind", "must be approval or evaluation")
	}
	if rc != nil {
		if rc.ID == "" {
			return domain.Decision{}, false, domain.Invalid("reviewCase.id", "must not be empty")
		}
		if d.ReviewCaseID != "" && d.ReviewCaseID != rc.ID {
			return domain.Decision{}, false, domain.Invalid("reviewCaseId", "must name the review case saved with the decision")
		}
	}
	in := decisionSave{d: cloneDecision(d)}
	in.d.DecidedAt = stamp(in.d.DecidedAt, s.clock)
	if rc != nil {
		c := *rc
		// A batch may outlive this call (its caller's deadline ended):
		// the frame must not be a buffer the caller reuses.
		c.Evidence.Frame = bytes.Clone(rc.Evidence.Frame)
		c.CompleteFrom(in.d)
		in.d.ReviewCaseID = c.ID
		in.c = &c
	}
	if s.batch != nil {
		res, solo, err := s.batch.do(ctx, in)
		switch {
		case err != nil:
			return domain.Decision{}, false, err
		case !solo:
			return res.d, res.stored, nil
		}
	}
	return s.saveAlone(ctx, in.d, in.c)
}

// saveLone is saveAlone for a batch of one save.
func (s *DecisionStore) saveLone(ctx context.Context, in decisionSave) (savedDecision, error) {
	d, stored, err := s.saveAlone(ctx, in.d, in.c)
	return savedDecision{d: d, stored: stored}, err
}

// saveAlone inserts d, with its review case c when c is not nil, in a
// statement of its own, and returns it, or the decision stored first under
// its key (stored false).
func (s *DecisionStore) saveAlone(ctx context.Context, d domain.Decision, c *domain.ReviewCase) (domain.Decision, bool, error) {
	rules, images := decisionToRow(d)
	args := []any{string(d.Kind), d.ProcessID, d.IdentityVerificationID, d.UserID, string(d.Result),
		d.ReasonCode, d.ReasonText, d.Score, rules, images, textPtr(d.ReviewCaseID), d.CorrelationID,
		d.RequestID, d.DecidedAt}
	query := insertDecisionSQL
	if c != nil {
		query = insertDecisionWithCaseSQL
		args = append(args, caseToRow(*c)...)
	}
	var inserted bool
	err := s.db.run(ctx, "decision", func(ctx context.Context) error {
		var id int64
		err := s.db.pool.QueryRow(ctx, query, args...).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			inserted = false
			return nil
		}
		inserted = err == nil
		return err
	})
	if domain.CodeOf(err) == domain.CodeConflict {
		return domain.Decision{}, false, &domain.Error{Code: domain.CodeConflict, Message: "review case id is already used", Err: err}
	}
	if err != nil {
		return domain.Decision{}, false, err
	}
	if inserted {
		return d, true, nil
	}
	// The key exists: the conflicting insert has committed (ON CONFLICT
	// waited for it), so this new statement sees it.
	prev, err := s.Decision(ctx, d.Kind, d.ProcessID, d.IdentityVerificationID)
	if err != nil {
		return domain.Decision{}, false, err
	}
	return prev, false, nil
}

// insertDecisionsBatchSQL is insertDecisionSQL for many decisions at once
// ($1..$13 are arrays of the columns, rules and images as JSON text); it
// returns the keys it inserted.
const insertDecisionsBatchSQL = `INSERT INTO decisions (kind, process_id, identity_verification_id, user_id, result,
    reason_code, reason_text, score, rules, images, correlation_id, request_id, decided_at)
SELECT kind, process_id, identity_verification_id, user_id, result, reason_code, reason_text, score,
    rules::jsonb, images::jsonb, correlation_id, request_id, decided_at
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
    $8::double precision[], $9::text[], $10::text[], $11::text[], $12::text[], $13::timestamptz[])
    WITH ORDINALITY AS i(kind, process_id, identity_verification_id, user_id, result, reason_code, reason_text,
        score, rules, images, correlation_id, request_id, decided_at, ord)
ORDER BY ord
ON CONFLICT ON CONSTRAINT decisions_key DO NOTHING
RETURNING kind, process_id, identity_verification_id`

// insertDecisionsWithCasesBatchSQL is insertDecisionsBatchSQL for a batch
// holding review cases, as insertDecisionWithCaseSQL is insertDecisionSQL:
// $14 is the decisions' review case ids (NULL for none), $15..$33 the cases'
// columns (caseArrays; none when the ids name no case of this batch), and a
// case is inserted only when its decision was. The decisions go in first,
// in key order, as without cases.
const insertDecisionsWithCasesBatchSQL = `WITH d AS (
    INSERT INTO decisions (kind, process_id, identity_verification_id, user_id, result, reason_code, reason_text,
        score, rules, images, correlation_id, request_id, decided_at, review_case_id)
    SELECT kind, process_id, identity_verification_id, user_id, result, reason_code, reason_text, score,
        rules::jsonb, images::jsonb, correlation_id, request_id, decided_at, review_case_id
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
        $8::double precision[], $9::text[], $10::text[], $11::text[], $12::text[], $13::timestamptz[], $14::text[])
        WITH ORDINALITY AS i(kind, process_id, identity_verification_id, user_id, result, reason_code, reason_text,
            score, rules, images, correlation_id, request_id, decided_at, review_case_id, ord)
    ORDER BY ord
    ON CONFLICT ON CONSTRAINT decisions_key DO NOTHING
    RETURNING id, kind, process_id, identity_verification_id, review_case_id
), c AS (
    INSERT INTO review_cases (id, decision_id, kind, process_id, identity_verification_id, user_id, status,
        reason_codes, answered, claimed_by, claimed_at, resolution, resolution_reason, resolved_by,
        second_reviewer, resolved_at, evidence, evidence_frame, evidence_purged, created_at)
    SELECT r.id, d.id, r.kind, r.process_id, r.identity_verification_id, r.user_id, r.status,
        ARRAY(SELECT e FROM jsonb_array_elements_text(r.reason_codes::jsonb) WITH ORDINALITY AS t(e, n) ORDER BY n),
        r.answered, r.claimed_by, r.claimed_at, r.resolution, r.resolution_reason, r.resolved_by,
        r.second_reviewer, r.resolved_at, r.evidence::jsonb, r.evidence_frame, r.evidence_purged, r.created_at
    FROM unnest($15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[],
        $22::text[], $23::text[], $24::timestamptz[], $25::text[], $26::text[], $27::text[], $28::text[],
        $29::timestamptz[], $30::text[], $31::bytea[], $32::boolean[], $33::timestamptz[])
        AS r(id, kind, process_id, identity_verification_id, user_id, status, reason_codes, answered, claimed_by,
            claimed_at, resolution, resolution_reason, resolved_by, second_reviewer, resolved_at, evidence,
            evidence_frame, evidence_purged, created_at)
    JOIN d ON d.review_case_id = r.id
)
SELECT kind, process_id, identity_verification_id FROM d`

// decisionKey is the idempotency key of a decision.
type decisionKey struct{ kind, processID, identityVerificationID string }

func keyOfDecision(d domain.Decision) decisionKey {
	return decisionKey{string(d.Kind), d.ProcessID, d.IdentityVerificationID}
}

func compareDecisionKeys(a, b decisionKey) int {
	return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.processID, b.processID),
		cmp.Compare(a.identityVerificationID, b.identityVerificationID))
}

// flush inserts one batch of decisions, with their review cases, in one
// statement. The first save of a key in the batch is its leader; later
// saves of the same key in the batch are the concurrent repeats the
// idempotency promise is about and get the leader's decision, not stored
// (nor their cases). Rows are inserted in key order, so two batches never
// wait for each other's rows in opposite orders.
//
// The group saves a batch of one by its single-row statement instead
// (saveLone), and its caller gets that statement's answer. For a batch of
// several: an unreachable database fails every call with CodeUnavailable
// (nothing was committed, or the commit's fate is unknown and a retry is
// idempotent); any other error (a decision the database refuses, a case id
// already used) sends every call back to be saved alone, where only the
// faulty one fails; a key a concurrent writer took first sends its saves
// back alone, to read the winner.
func (s *DecisionStore) flush(ctx context.Context, calls []*call[decisionSave, savedDecision]) {
	type entry struct {
		key   decisionKey
		calls []*call[decisionSave, savedDecision]
	}
	byKey := make(map[decisionKey]*entry, len(calls))
	entries := make([]*entry, 0, len(calls))
	for _, c := range calls {
		k := keyOfDecision(c.in.d)
		if e := byKey[k]; e != nil {
			e.calls = append(e.calls, c)
			continue
		}
		e := &entry{key: k, calls: []*call[decisionSave, savedDecision]{c}}
		byKey[k] = e
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(a, b *entry) int { return compareDecisionKeys(a.key, b.key) })

	n := len(entries)
	var (
		kinds, processIDs, ivIDs, userIDs, results, codes, texts, correlationIDs, requestIDs = make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n)
		scores        = make([]*float64, n)
		rules, images = make([]*string, n), make([]*string, n)
		times         = make([]time.Time, n)
		caseIDs       []*string // nil while no decision of the batch names a review case
		cases         caseArrays
	)
	for i, e := range entries {
		in := e.calls[0].in
		d := in.d
		kinds[i], processIDs[i], ivIDs[i], userIDs[i] = string(d.Kind), d.ProcessID, d.IdentityVerificationID, d.UserID
		results[i], codes[i], texts[i], scores[i] = string(d.Result), d.ReasonCode, d.ReasonText, d.Score
		r, im := decisionToRow(d)
		rules[i], images[i] = jsonText(r), jsonText(im)
		correlationIDs[i], requestIDs[i], times[i] = d.CorrelationID, d.RequestID, d.DecidedAt
		if d.ReviewCaseID != "" { // a case's id, or one the caller set without a case, as saveAlone keeps it
			if caseIDs == nil {
				caseIDs = make([]*string, n)
			}
			caseIDs[i] = &d.ReviewCaseID
		}
		if in.c != nil {
			cases.add(*in.c)
		}
	}
	query, args := insertDecisionsBatchSQL, []any{kinds, processIDs, ivIDs, userIDs, results, codes, texts, scores,
		rules, images, correlationIDs, requestIDs, times}
	if caseIDs != nil {
		query, args = insertDecisionsWithCasesBatchSQL, append(append(args, caseIDs), cases.args()...)
	}
	inserted := make(map[decisionKey]bool, n)
	err := s.db.run(ctx, "decision", func(ctx context.Context) error {
		clear(inserted)
		var k decisionKey
		return sendAfter(ctx, s.db.pool, genericPlanSQL, query, args,
			[]any{&k.kind, &k.processID, &k.identityVerificationID}, func() error {
				inserted[k] = true
				return nil
			})
	})
	if err != nil {
		settle(calls, err)
		return
	}
	for _, e := range entries {
		leader := e.calls[0].in.d
		for i, c := range e.calls {
			switch {
			case !inserted[e.key]:
				c.retrySolo()
			default:
				c.finish(savedDecision{d: cloneDecision(leader), stored: i == 0}, nil)
			}
		}
	}
}

// jsonText is a jsonb value as text for an array parameter: nil stays NULL.
func jsonText(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

// caseToRow returns the values $15..$33 of insertDecisionWithCaseSQL.
func caseToRow(c domain.ReviewCase) []any {
	v := caseValuesOf(c)
	var frame any // nil []byte as NULL, whatever the codec makes of it
	if v.frame != nil {
		frame = v.frame
	}
	return []any{v.id, v.kind, v.processID, v.identityVerificationID, v.userID, v.status, v.reasonCodes,
		v.answered, v.claimedBy, v.claimedAt, v.resolution, v.resolutionReason, v.resolvedBy, v.secondReviewer,
		v.resolvedAt, v.evidence, frame, v.evidencePurged, v.createdAt}
}

// caseValues are a new review case's columns as both insert statements
// take them: NULL as a nil pointer or slice.
type caseValues struct {
	id, kind, processID, identityVerificationID, userID, status, resolutionReason string
	reasonCodes                                                                   []string
	answered, claimedBy, resolution, resolvedBy, secondReviewer                   *string
	claimedAt, resolvedAt                                                         *time.Time
	evidence, frame                                                               []byte // jsonb and bytea
	evidencePurged                                                                bool
	createdAt                                                                     time.Time
}

func caseValuesOf(c domain.ReviewCase) caseValues {
	reasons := c.ReasonCodes
	if reasons == nil {
		reasons = []string{}
	}
	var evidence []byte
	if len(c.Evidence.Documents) > 0 || c.Evidence.Registry != nil {
		ev := evidenceJSON{}
		for _, doc := range c.Evidence.Documents {
			ev.Documents = append(ev.Documents, documentToJSON(doc))
		}
		if r := c.Evidence.Registry; r != nil {
			ev.Registry = clientToJSON(*r)
		}
		evidence = jsonOrNil(ev, false)
	}
	return caseValues{
		id: c.ID, kind: string(c.Kind), processID: c.ProcessID, identityVerificationID: c.IdentityVerificationID,
		userID: c.UserID, status: string(c.Status), reasonCodes: reasons, answered: textPtr(string(c.Answered)),
		claimedBy: textPtr(c.ClaimedBy), claimedAt: timePtr(c.ClaimedAt), resolution: textPtr(string(c.Resolution)),
		resolutionReason: c.ResolutionReason, resolvedBy: textPtr(c.ResolvedBy),
		secondReviewer: textPtr(c.SecondReviewer), resolvedAt: timePtr(c.ResolvedAt), evidence: evidence,
		frame: c.Evidence.Frame, evidencePurged: c.EvidencePurged, createdAt: c.CreatedAt,
	}
}

// timePtr is t, or nil (NULL) when it is zero.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// caseArrays are the review cases of a batch as the arrays $15..$33 of
// insertDecisionsWithCasesBatchSQL; reason codes go as JSON text, since
// PostgreSQL's arrays of arrays must be rectangular.
type caseArrays struct {
	ids, kinds, processIDs, verificationIDs, userIDs, statuses, reasonCodes, resolutionReasons []string
	answered, claimedBy, resolutions, resolvedBy, secondReviewers, evidence                    []*string
	claimedAt, resolvedAt                                                                      []*time.Time
	frames                                                                                     [][]byte
	purged                                                                                     []bool
	createdAt                                                                                  []time.Time
}

func (cc *caseArrays) add(c domain.ReviewCase) {
	v := caseValuesOf(c)
	codes, _ := json.Marshal(v.reasonCodes) // a []string always marshals
	cc.ids, cc.kinds, cc.processIDs = append(cc.ids, v.id), append(cc.kinds, v.kind), append(cc.processIDs, v.processID)
	cc.verificationIDs, cc.userIDs = append(cc.verificationIDs, v.identityVerificationID), append(cc.userIDs, v.userID)
	cc.statuses, cc.reasonCodes = append(cc.statuses, v.status), append(cc.reasonCodes, string(codes))
	cc.answered, cc.claimedBy = append(cc.answered, v.answered), append(cc.claimedBy, v.claimedBy)
	cc.claimedAt, cc.resolutions = append(cc.claimedAt, v.claimedAt), append(cc.resolutions, v.resolution)
	cc.resolutionReasons = append(cc.resolutionReasons, v.resolutionReason)
	cc.resolvedBy, cc.secondReviewers = append(cc.resolvedBy, v.resolvedBy), append(cc.secondReviewers, v.secondReviewer)
	cc.resolvedAt, cc.evidence = append(cc.resolvedAt, v.resolvedAt), append(cc.evidence, jsonText(v.evidence))
	cc.frames, cc.purged = append(cc.frames, v.frame), append(cc.purged, v.evidencePurged)
	cc.createdAt = append(cc.createdAt, v.createdAt)
}

func (cc *caseArrays) args() []any {
	return []any{cc.ids, cc.kinds, cc.processIDs, cc.verificationIDs, cc.userIDs, cc.statuses, cc.reasonCodes,
		cc.answered, cc.claimedBy, cc.claimedAt, cc.resolutions, cc.resolutionReasons, cc.resolvedBy,
		cc.secondReviewers, cc.resolvedAt, cc.evidence, cc.frames, cc.purged, cc.createdAt}
}

func documentToJSON(d domain.DocumentData) documentJSON {
	return documentJSON{
		Type: d.Type, Status: d.Status, GivenNames: d.GivenNames, Surname: d.Surname,
		DateOfBirth: d.DateOfBirth.String(), PlaceOfBirth: d.PlaceOfBirth, Sex: d.Sex, Nationality: d.Nationality,
		PersonalNumber: d.PersonalNumber, DocumentNumber: d.DocumentNumber, DateOfIssue: d.DateOfIssue.String(),
		DateOfExpiry: d.DateOfExpiry.String(), Authority: d.Authority,
	}
}

func (j documentJSON) toDomain() (domain.DocumentData, error) {
	d := domain.DocumentData{
		Type: j.Type, Status: j.Status, GivenNames: j.GivenNames, Surname: j.Surname, PlaceOfBirth: j.PlaceOfBirth,
		Sex: j.Sex, Nationality: j.Nationality, PersonalNumber: j.PersonalNumber, DocumentNumber: j.DocumentNumber,
		Authority: j.Authority,
	}
	var err error
	if d.DateOfBirth, err = parseOptionalDate(j.DateOfBirth); err != nil {
		return d, err
	}
	if d.DateOfIssue, err = parseOptionalDate(j.DateOfIssue); err != nil {
		return d, err
	}
	d.DateOfExpiry, err = parseOptionalDate(j.DateOfExpiry)
	return d, err
}

func clientToJSON(c domain.Client) *clientJSON {
	return &clientJSON{
		UserID: c.UserID, ClientNumber: c.ClientNumber, BirthDate: c.BirthDate.String(), GivenNames: c.GivenNames,
		Surname: c.Surname, PersonalNumber: c.PersonalNumber, Phone: c.Phone, Nationality: c.Nationality,
		Status: string(c.Status),
	}
}

func (j clientJSON) toDomain() (domain.Client, error) {
	bd, err := parseOptionalDate(j.BirthDate)
	return domain.Client{
		UserID: j.UserID, ClientNumber: j.ClientNumber, BirthDate: bd, GivenNames: j.GivenNames, Surname: j.Surname,
		PersonalNumber: j.PersonalNumber, Phone: j.Phone, Nationality: j.Nationality, Status: domain.ClientStatus(j.Status),
	}, err
}

func parseOptionalDate(s string) (domain.Date, error) {
	if s == "" {
		return domain.Date{}, nil
	}
	return domain.ParseDate(s)
}

// caseColumns are the review_cases columns of caseRow, for RETURNING;
// caseSelect are the same from "c" with the score and rule results of its
// decision "d", which every read joins in (selectCase).
const (
	caseColumns = `id, kind, process_id, identity_verification_id, user_id, status, reason_codes, answered,
    claimed_by, claimed_at, resolution, resolution_reason, resolved_by, second_reviewer, resolved_at, evidence,
    evidence_frame, evidence_purged, created_at, proposed_result, proposed_reason, proposed_by, proposed_at,
    decision_id`
	caseSelect     = caseSelectHead + `c.evidence_frame` + caseSelectTail
	caseSelectHead = `c.id, c.kind, c.process_id, c.identity_verification_id, c.user_id, c.status, c.reason_codes,
    c.answered, c.claimed_by, c.claimed_at, c.resolution, c.resolution_reason, c.resolved_by, c.second_reviewer,
    c.resolved_at, c.evidence, `
	caseSelectTail = `, c.evidence_purged, c.created_at, c.proposed_result,
    c.proposed_reason, c.proposed_by, c.proposed_at, c.decision_id, d.score, d.rules`
	// caseListFrame is the frame's first bytes ($1), enough to tell its
	// format, in place of the frame in a listed case: a page of the
	// queue lists up to 500 cases, and their frames (100 KB and more
	// each) are read one case at a time, by ReviewCase.
	caseListFrame = `substring(c.evidence_frame FROM 1 FOR $1)`
)

// selectCase and selectCaseFromCTE read caseRow from review_cases, or from
// a CTE c returning caseColumns, joined with the case's decision.
const (
	selectCase        = `SELECT ` + caseSelect + ` FROM review_cases c JOIN decisions d ON d.id = c.decision_id`
	selectCaseFromCTE = `SELECT ` + caseSelect + ` FROM c JOIN decisions d ON d.id = c.decision_id`
)

// caseRow is one row of review_cases with its decision's score and rules.
type caseRow struct {
	ID, Kind, ProcessID, IdentityVerificationID, UserID, Status string
	ReasonCodes                                                 []string
	Answered, ClaimedBy                                         *string
	ClaimedAt                                                   *time.Time
	Resolution                                                  *string
	ResolutionReason                                            string
	ResolvedBy, SecondReviewer                                  *string
	ResolvedAt                                                  *time.Time
	Evidence, Frame                                             []byte
	EvidencePurged                                              bool
	CreatedAt                                                   time.Time
	ProposedResult                                              *string
	ProposedReason                                              string
	ProposedBy                                                  *string
	ProposedAt                                                  *time.Time
	DecisionID                                                  int64
	Score                                                       *float64
	Rules                                                       []byte
}

func (r *caseRow) dest() []any {
	return []any{&r.ID, &r.Kind, &r.ProcessID, &r.IdentityVerificationID, &r.UserID, &r.Status, &r.ReasonCodes,
		&r.Answered, &r.ClaimedBy, &r.ClaimedAt, &r.Resolution, &r.ResolutionReason, &r.ResolvedBy,
		&r.SecondReviewer, &r.ResolvedAt, &r.Evidence, &r.Frame, &r.EvidencePurged, &r.CreatedAt,
		&r.ProposedResult, &r.ProposedReason, &r.ProposedBy, &r.ProposedAt, &r.DecisionID, &r.Score, &r.Rules}
}

func (r *caseRow) toDomain() (domain.ReviewCase, error) {
	c := domain.ReviewCase{
		ID:                     r.ID,
		Kind:                   domain.DecisionKind(r.Kind),
		ProcessID:              r.ProcessID,
		IdentityVerificationID: r.IdentityVerificationID,
		UserID:                 r.UserID,
		Status:                 domain.ReviewStatus(r.Status),
		Answered:               domain.Result(text(r.Answered)),
		ClaimedBy:              text(r.ClaimedBy),
		ClaimedAt:              utc(r.ClaimedAt),
		Resolution:             domain.Result(text(r.Resolution)),
		ResolutionReason:       r.ResolutionReason,
		ResolvedBy:             text(r.ResolvedBy),
		SecondReviewer:         text(r.SecondReviewer),
		ResolvedAt:             utc(r.ResolvedAt),
		EvidencePurged:         r.EvidencePurged,
		CreatedAt:              r.CreatedAt.UTC(),
		Score:                  r.Score,
	}
	if r.ProposedBy != nil {
		c.Proposal = domain.ReviewProposal{Result: domain.Result(text(r.ProposedResult)), Reason: r.ProposedReason,
			By: *r.ProposedBy, At: utc(r.ProposedAt)}
	}
	if r.Rules != nil {
		var rs []ruleJSON
		if err := json.Unmarshal(r.Rules, &rs); err != nil {
			return domain.ReviewCase{}, fmt.Errorf("decoding the decision's rule results: %w", err)
		}
		for _, x := range rs {
			c.Rules = append(c.Rules, domain.RuleResult{Rule: x.Rule, Outcome: domain.Result(x.Outcome), Code: x.Code, Detail: x.Detail})
		}
	}
	if len(r.ReasonCodes) > 0 {
		c.ReasonCodes = r.ReasonCodes
	}
	if r.Evidence != nil {
		var ev evidenceJSON
		if err := json.Unmarshal(r.Evidence, &ev); err != nil {
			return domain.ReviewCase{}, fmt.Errorf("decoding stored evidence: %w", err)
		}
		for _, j := range ev.Documents {
			doc, err := j.toDomain()
			if err != nil {
				return domain.ReviewCase{}, fmt.Errorf("decoding stored document data: %w", err)
			}
			c.Evidence.Documents = append(c.Evidence.Documents, doc)
		}
		if ev.Registry != nil {
			reg, err := ev.Registry.toDomain()
			if err != nil {
				return domain.ReviewCase{}, fmt.Errorf("decoding the stored registry record: %w", err)
			}
			c.Evidence.Registry = &reg
		}
	}
	c.Evidence.Frame = r.Frame
	return c, nil
}

func errCaseNotFound() error { return domain.NotFound("id", "review case not found") }

// queryCase runs a statement returning caseColumns and converts its row;
// found is false when it returned none.
func (s *DecisionStore) queryCase(ctx context.Context, query string, args ...any) (c domain.ReviewCase, found bool, err error) {
	var row caseRow
	err = s.db.run(ctx, "review case", func(ctx context.Context) error {
		err := s.db.pool.QueryRow(ctx, query, args...).Scan(row.dest()...)
		if errors.Is(err, pgx.ErrNoRows) {
			found = false
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil || !found {
		return domain.ReviewCase{}, false, err
	}
	c, err = row.toDomain()
	if err != nil {
		return domain.ReviewCase{}, false, domain.Internal(err, "stored review case is unreadable")
	}
	return c, true, nil
}

// ReviewCase returns one case.
func (s *DecisionStore) ReviewCase(ctx context.Context, id string) (domain.ReviewCase, error) {
	c, found, err := s.queryCase(ctx, selectCase+` WHERE c.id = $1`, id)
	switch {
	case err != nil:
		return domain.ReviewCase{}, err
	case !found:
		return domain.ReviewCase{}, errCaseNotFound()
	}
	return c, nil
}

// ListReviewCases returns the cases f selects, oldest first (by creation
// time, then id in byte order), with only the first bytes of their frames
// (ports.ReviewCases), at most f.Limit of them
// (DefaultReviewListLimit when it is not positive). AfterID continues after
// the named case; a cursor naming no case is CodeInvalid. With a status the
// scan follows review_cases_queue_idx, without one review_cases_created_idx.
func (s *DecisionStore) ListReviewCases(ctx context.Context, f ports.ReviewFilter) ([]domain.ReviewCase, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultReviewListLimit
	}
	var (
		q    strings.Builder
		args []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	arg(int64(domain.ImageFormatBytes)) // $1, caseListFrame's
	q.WriteString(`SELECT ` + caseSelectHead + caseListFrame + caseSelectTail +
		` FROM review_cases c JOIN decisions d ON d.id = c.decision_id WHERE true`)
	if f.Status != "" {
		q.WriteString(" AND c.status = " + arg(string(f.Status)))
	}
	if f.Kind != "" {
		q.WriteString(" AND c.kind = " + arg(string(f.Kind)))
	}
	if !f.CreatedBefore.IsZero() {
		q.WriteString(" AND c.created_at < " + arg(f.CreatedBefore))
	}
	if f.AfterID != "" {
		var exists bool
		err := s.db.run(ctx, "review case", func(ctx context.Context) error {
			return s.db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM review_cases WHERE id = $1)`, f.AfterID).Scan(&exists)
		})
		if err != nil {
			return nil, err
		}
		if !exists {
			return nil, domain.Invalid("afterId", "names no review case")
		}
		p := arg(f.AfterID)
		q.WriteString(" AND (c.created_at, c.id) > (SELECT created_at, id FROM review_cases WHERE id = " + p + ")")
	}
	q.WriteString(" ORDER BY c.created_at, c.id LIMIT " + arg(int64(limit)))

	var out []domain.ReviewCase
	err := s.db.run(ctx, "review case", func(ctx context.Context) error {
		out = make([]domain.ReviewCase, 0, min(limit, 16))
		rows, err := s.db.pool.Query(ctx, q.String(), args...)
		if err != nil {
			return err
		}
		var row caseRow
		_, err = pgx.ForEachRow(rows, row.dest(), func() error {
			c, err := row.toDomain()
			if err != nil {
				return domain.Internal(err, "stored review case is unreadable")
			}
			out = append(out, c)
			row = caseRow{}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// claimSQL claims an open case and writes its audit row in one statement.
const claimSQL = `WITH c AS (
    UPDATE review_cases SET status = 'CLAIMED', claimed_by = $2, claimed_at = $3
    WHERE id = $1 AND status = 'OPEN'
    RETURNING ` + caseColumns + `
), a AS (
    INSERT INTO review_audit (case_id, action, actor, at, channel) SELECT id, 'CLAIM', $2, $3, $4::text FROM c
)
` + selectCaseFromCTE

// ClaimReviewCase assigns an open case to reviewer. Claiming again by the
// same reviewer succeeds and keeps the first ClaimedAt; a case claimed by
// someone else or resolved is CodeConflict. A zero at means now. The claim
// is audited in review_audit in the same statement.
func (s *DecisionStore) ClaimReviewCase(ctx context.Context, id, reviewer, channel string, at time.Time) (domain.ReviewCase, error) {
	if reviewer == "" {
		return domain.ReviewCase{}, domain.Invalid("reviewer", "must not be empty")
	}
	at = stamp(at, s.clock)
	c, found, err := s.queryCase(ctx, claimSQL, id, reviewer, at, textPtr(channel))
	if err != nil || found {
		return c, err
	}
	// Not open: say why from the current state.
	c, err = s.ReviewCase(ctx, id)
	switch {
	case err != nil:
		return domain.ReviewCase{}, err
	case c.Status == domain.ReviewResolved:
		return domain.ReviewCase{}, domain.Conflict("review case is already resolved")
	case c.Status == domain.ReviewClaimed && c.ClaimedBy != reviewer:
		return domain.ReviewCase{}, domain.Conflict("review case is claimed by another reviewer")
	case c.Status == domain.ReviewOpen:
		// Released between the two statements (a later issue may add
		// release): the caller may simply claim again.
		return domain.ReviewCase{}, domain.Conflict("review case changed while it was claimed; retry")
	}
	return c, nil
}

// resolveSQL resolves a case that is not yet resolved and writes the audit
// row, in one statement; the decision's answer follows from the case.
const resolveSQL = `WITH c AS (
    UPDATE review_cases SET status = 'RESOLVED', resolution = $2, resolution_reason = $3, resolved_by = $4,
        second_reviewer = $5, resolved_at = $6
    WHERE id = $1 AND status <> 'RESOLVED'
    RETURNING ` + caseColumns + `
), a AS (
    INSERT INTO review_audit (case_id, action, actor, reason, result, second_actor, second_reason, at, channel)
    SELECT id, 'RESOLVE', $4, $3, $2, $5, $7, $6, $8::text FROM c
)
` + selectCaseFromCTE

// ResolveReviewCase closes the case with the reviewer's OK or NOK, and from
// that commit on its decision answers it: OK without a reason, NOK with
// REVIEW_REJECTED. A resolved case is CodeConflict (of two concurrent
// resolutions exactly one wins: the second waits for the first's row lock
// and then finds the case resolved). Whether a claim or a second reviewer
// is required is policy, checked by the review service. A zero At means
// now.
func (s *DecisionStore) ResolveReviewCase(ctx context.Context, r ports.ReviewResolution) (domain.ReviewCase, error) {
	if err := r.Validate(); err != nil {
		return domain.ReviewCase{}, err
	}
	at := stamp(r.At, s.clock)
	c, found, err := s.queryCase(ctx, resolveSQL, r.CaseID, string(r.Result), r.Reason, r.Reviewer,
		textPtr(r.SecondReviewer), at, r.SecondReason, textPtr(r.Channel))
	if err != nil || found {
		return c, err
	}
	if _, err := s.ReviewCase(ctx, r.CaseID); err != nil {
		return domain.ReviewCase{}, err
	}
	return domain.ReviewCase{}, domain.Conflict("review case is already resolved")
}

// proposeSQL records a pending proposal on a case that is neither resolved
// nor already proposed, and its audit row, in one statement.
const proposeSQL = `WITH c AS (
    UPDATE review_cases SET proposed_result = $2, proposed_reason = $3, proposed_by = $4, proposed_at = $5
    WHERE id = $1 AND status <> 'RESOLVED' AND proposed_by IS NULL
    RETURNING ` + caseColumns + `
), a AS (
    INSERT INTO review_audit (case_id, action, actor, reason, result, at, channel)
    SELECT id, 'PROPOSE', $4, $3, $2, $5, $6::text FROM c
)
` + selectCaseFromCTE

// ProposeReviewResolution records r as the case's pending four-eyes
// proposal and audits it, in one statement; the case stays unresolved. A
// resolved case, or one with a pending proposal, is CodeConflict. A zero At
// means now.
func (s *DecisionStore) ProposeReviewResolution(ctx context.Context, r ports.ReviewResolution) (domain.ReviewCase, error) {
	if err := r.Validate(); err != nil {
		return domain.ReviewCase{}, err
	}
	at := stamp(r.At, s.clock)
	c, found, err := s.queryCase(ctx, proposeSQL, r.CaseID, string(r.Result), r.Reason, r.Reviewer, at, textPtr(r.Channel))
	if err != nil || found {
		return c, err
	}
	c, err = s.ReviewCase(ctx, r.CaseID)
	switch {
	case err != nil:
		return domain.ReviewCase{}, err
	case c.Status == domain.ReviewResolved:
		return domain.ReviewCase{}, domain.Conflict("review case is already resolved")
	}
	return domain.ReviewCase{}, domain.Conflict("review case already has a proposal waiting for a second reviewer")
}

// ReviewAudit returns the audit rows of the case, oldest first (by time,
// then by insertion).
func (s *DecisionStore) ReviewAudit(ctx context.Context, caseID string) ([]domain.ReviewAuditEntry, error) {
	var out []domain.ReviewAuditEntry
	var exists bool
	err := s.db.run(ctx, "review audit", func(ctx context.Context) error {
		out = []domain.ReviewAuditEntry{}
		if err := s.db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM review_cases WHERE id = $1)`, caseID).Scan(&exists); err != nil || !exists {
			return err
		}
		rows, err := s.db.pool.Query(ctx, `SELECT case_id, action, actor, reason, result, second_actor, second_reason, at, channel
FROM review_audit WHERE case_id = $1 ORDER BY at, id`, caseID)
		if err != nil {
			return err
		}
		var (
			e                       domain.ReviewAuditEntry
			result, second, channel *string
		)
		_, err = pgx.ForEachRow(rows, []any{&e.CaseID, &e.Action, &e.Actor, &e.Reason, &result, &second, &e.SecondReason, &e.At, &channel}, func() error {
			e.Result, e.SecondActor, e.Channel, e.At = domain.Result(text(result)), text(second), text(channel), e.At.UTC()
			out = append(out, e)
			e = domain.ReviewAuditEntry{}
			return nil
		})
		return err
	})
	switch {
	case err != nil:
		return nil, err
	case !exists:
		return nil, errCaseNotFound()
	}
	return out, nil
}

// PurgeBatch is how many cases one purge statement takes: each batch is
// its own statement and commit, so a purge cut short by its deadline keeps
// what it did, and no statement holds thousands of rows locked.
const PurgeBatch = 500

// PurgeReviewEvidence drops documents, registry record and frame of every
// case resolved before resolvedBefore whose evidence is still kept, audits
// each purge, and returns how many it purged (those of the batches that
// committed, with the error of the one that failed). Decisions, rule
// results and the cases' resolutions stay. Cases another purge holds are
// skipped, not waited for: that purge takes them.
func (s *DecisionStore) PurgeReviewEvidence(ctx context.Context, resolvedBefore time.Time, reason string) (int, error) {
	batch := s.purgeBatch
	if batch <= 0 {
		batch = PurgeBatch
	}
	total := 0
	for {
		var n int64
		err := s.db.run(ctx, "review case", func(ctx context.Context) error {
			return s.db.pool.QueryRow(ctx, `WITH p AS (
    UPDATE review_cases SET evidence = NULL, evidence_frame = NULL, evidence_purged = true
    WHERE id IN (SELECT id FROM review_cases
                 WHERE status = 'RESOLVED' AND NOT evidence_purged AND resolved_at < $1
                 ORDER BY resolved_at, id LIMIT $4 FOR UPDATE SKIP LOCKED)
    RETURNING id
), a AS (
    INSERT INTO review_audit (case_id, action, actor, reason, at, channel)
    SELECT id, 'PURGE_EVIDENCE', $2::text, $5::text, $3::timestamptz, 'retention' FROM p
)
SELECT count(*) FROM p`, resolvedBefore, purgeActor, stamp(time.Time{}, s.clock), batch, reason).Scan(&n)
		})
		total += int(n)
		if err != nil || n < int64(batch) {
			return total, err
		}
	}
}

// cloneDecision copies d so that no slice or pointer is shared with the
// caller.
func cloneDecision(d domain.Decision) domain.Decision {
	if d.Score != nil {
		v := *d.Score
		d.Score = &v
	}
	d.Rules = slices.Clone(d.Rules)
	d.Images = slices.Clone(d.Images)
	return d
}
