// Package decision holds the mechanics that approval (/client/approve) and
// evaluation (/client/evaluate) share: validation of the fields both
// requests carry, the score thresholds, idempotency against the decision
// store, the review fallback for callers that cannot take WAIT, and the
// opening of a review case. It is not a driving port: the two services keep
// their own rules and hand the rule results to an Engine, so the way a
// decision is combined, answered and stored cannot drift between them.
package decision

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/policy"
	"github.com/bankkit/onboarding-adapter/ports"
)

// The verification statuses of the wire contract.
const (
	StatusSuccess = "SUCCESS"
	StatusFailure = "FAILURE"
)

// Rule names shared by both services. They are stored with each decision,
// so they are part of the audit trail and must stay stable.
const (
	RuleVerificationStatus = "verification.status"
	RuleUserKnown          = "user.known"
	RuleUserEligible       = "user.eligible"
	RuleScore              = "score"
)

// Request is what every decision request carries. Kind, ProcessID and
// IdentityVerificationID form the idempotency key.
type Request struct {
	Kind                   domain.DecisionKind
	ProcessID              string
	IdentityVerificationID string
	UserID                 string
	Status                 string
	Score                  *float64
	Meta                   domain.RequestMeta
}

// Validate checks the fields both services need before any rule runs, so a
// malformed request is refused with the field it lacks instead of being
// stored as a decision.
func Validate(r Request) error {
	switch {
	case strings.TrimSpace(r.ProcessID) == "":
		return domain.Invalid("processId", "is required")
	case strings.TrimSpace(r.IdentityVerificationID) == "":
		return domain.Invalid("identityVerificationId", "is required")
	case strings.TrimSpace(r.UserID) == "":
		return domain.Invalid("userId", "is required")
	case r.Status != StatusSuccess && r.Status != StatusFailure:
		return domain.Invalid("status", "must be SUCCESS or FAILURE")
	}
	if r.Score != nil {
		if s := *r.Score; math.IsNaN(s) || math.IsInf(s, 0) || s < 0 || s > 10 {
			return domain.Invalid("score", "must be a number between 0 and 10")
		}
	}
	return nil
}

// StatusRule turns the verification status into a rule result: the
// provider's FAILURE is final, whatever else the request says.
func StatusRule(status string) domain.RuleResult {
	if status == StatusFailure {
		return domain.RuleResult{Rule: RuleVerificationStatus, Outcome: domain.ResultNOK,
			Code: domain.ReasonVerificationFailed, Detail: "identity verification failed"}
	}
	return domain.RuleResult{Rule: RuleVerificationStatus, Outcome: domain.ResultOK}
}

// ScoreRule applies the thresholds of p: under RejectBelow is NOK, under
// ApproveFrom is WAIT for a person to look at, anything else passes.
func ScoreRule(score float64, p policy.Decision) domain.RuleResult {
	switch {
	case score < p.RejectBelow:
		return domain.RuleResult{Rule: RuleScore, Outcome: domain.ResultNOK, Code: domain.ReasonScoreTooLow,
			Detail: "score " + scoreText(score) + " is below " + scoreText(p.RejectBelow)}
	case score < p.ApproveFrom:
		return domain.RuleResult{Rule: RuleScore, Outcome: domain.ResultWAIT, Code: domain.ReasonScoreBorderline,
			Detail: "score " + scoreText(score) + " is below " + scoreText(p.ApproveFrom)}
	}
	return domain.RuleResult{Rule: RuleScore, Outcome: domain.ResultOK}
}

// scoreText writes a score with two decimals when they say it exactly
// (5.50), else with every digit it needs (3.999): rounded, 3.999 would read
// "score 4.00 is below 4.00".
func scoreText(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	if r, err := strconv.ParseFloat(s, 64); err == nil && r == v {
		return s
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// UserRules checks that the user exists in the registry and may be
// onboarded. It returns the client when it was found, so the caller can
// compare documents against it, and an error only when the registry could
// not answer: an unknown user is a NOK decision, not a failed request.
func UserRules(ctx context.Context, clients ports.ClientFinder, userID string) ([]domain.RuleResult, *domain.Client, error) {
	return appendUserRules(ctx, nil, clients, userID)
}

// appendUserRules is UserRules appending to rules, so a decision's rules
// grow in one slice (AddCommonRules).
func appendUserRules(ctx context.Context, rules []domain.RuleResult, clients ports.ClientFinder, userID string) ([]domain.RuleResult, *domain.Client, error) {
	c, err := clients.ClientByUserID(ctx, userID)
	switch {
	case domain.IsNotFound(err):
		return append(rules, domain.RuleResult{Rule: RuleUserKnown, Outcome: domain.ResultNOK,
			Code: domain.ReasonUserUnknown, Detail: "user is not known to the registry"}), nil, nil
	case err != nil:
		return nil, nil, fmt.Errorf("read client by user id: %w", err)
	}
	rules = append(rules, domain.RuleResult{Rule: RuleUserKnown, Outcome: domain.ResultOK})
	if !c.Status.Eligible() {
		rules = append(rules, domain.RuleResult{Rule: RuleUserEligible, Outcome: domain.ResultNOK,
			Code: domain.ReasonUserNotEligible, Detail: "client is not eligible for onboarding"})
	} else {
		rules = append(rules, domain.RuleResult{Rule: RuleUserEligible, Outcome: domain.ResultOK})
	}
	return rules, &c, nil
}

// Outcome is what a service's rules found for one request.
type Outcome struct {
	Rules  []domain.RuleResult
	Images []domain.ImageDigest
	// Evidence is what a reviewer would need; the Engine keeps it on the
	// review case only when policy keeps evidence.
	Evidence domain.ReviewEvidence
}

// AddCommonRules appends the rules every decision starts with: the
// provider's status, then the user's existence and eligibility (recording
// the registry record as evidence). It returns false when the status is
// FAILURE: that is final, no other rule can change it, and the answer must
// not depend on the registry being reachable.
func (o *Outcome) AddCommonRules(ctx context.Context, clients ports.ClientFinder, status, userID string) (bool, error) {
	st := StatusRule(status)
	o.Rules = append(o.Rules, st)
	if st.Outcome == domain.ResultNOK {
		return false, nil
	}
	rules, client, err := appendUserRules(ctx, o.Rules, clients, userID)
	if err != nil {
		return false, err
	}
	o.Rules = rules
	o.Evidence.Registry = client
	return true, nil
}

// Evaluator runs a service's rules. It is called only when no decision is
// stored yet for the request's key; stored holds the other kind's decision
// of the same identity verification when there is one, read together with
// the request's own (one read per decision), so a service whose rules
// depend on it does not read it again. clients is what the rules read the
// registry through (AddCommonRules): when the store read the request's
// user with the decisions, it answers for that user without another read.
type Evaluator func(ctx context.Context, stored ports.VerificationDecisions, clients ports.ClientFinder) (Outcome, error)

// Engine decides, answers and stores decisions for one policy.
type Engine struct {
	store   ports.DecisionStore
	clients ports.ClientFinder
	// withClient is store when it reads the user's registry record with
	// the decisions (one round trip); else nil.
	withClient ports.DecisionsWithClientFinder
	clock      ports.Clock
	ids        ports.IDGenerator
	policy     policy.Decision
}

// NewEngine returns an Engine over the decision store and the registry the
// rules read users from. ids names the review cases it opens; clock stamps
// decisions and cases. When store is a ports.DecisionsWithClientFinder the
// request's user is read from store, in the decisions' statement, not
// through clients (nor any decorator of it): the two must be the same
// registry, as they are when both come from one postgres.Stores.
func NewEngine(store ports.DecisionStore, clients ports.ClientFinder, clock ports.Clock, ids ports.IDGenerator, p policy.Decision) *Engine {
	withClient, _ := store.(ports.DecisionsWithClientFinder)
	return &Engine{store: store, clients: clients, withClient: withClient, clock: clock, ids: ids, policy: p}
}

// Stored returns the decision stored under (kind, processID,
// identityVerificationID) with its review resolution applied, and false
// when there is none.
func (e *Engine) Stored(ctx context.Context, kind domain.DecisionKind, processID, identityVerificationID string) (domain.Decision, bool, error) {
	d, err := e.store.Decision(ctx, kind, processID, identityVerificationID)
	switch {
	case domain.IsNotFound(err):
		return domain.Decision{}, false, nil
	case err != nil:
		return domain.Decision{}, false, fmt.Errorf("read %s decision: %w", kind, err)
	}
	return d, true, nil
}

// Decide answers r idempotently. A decision already stored for r's key is
// returned as it is (the caller re-sends up to five times with fresh
// request ids, and a resumed process must get the same answer), even when
// the re-sent inputs differ. Otherwise eval runs, its rules are combined
// (NOK over WAIT over OK), the review fallback is applied, a review case is
// opened for WAIT, and the decision is stored; when a concurrent request
// stored first, its decision is returned instead, so all callers agree.
//
// Both kinds' decisions of the identity verification are read in one call
// (the store answers it with one query): the request's own kind for
// idempotency, the other for eval. A store that is also a
// ports.DecisionsWithClientFinder reads the user's registry record in the
// same query, and eval's user rules take it from there.
func (e *Engine) Decide(ctx context.Context, r Request, eval Evaluator) (domain.Decision, error) {
	stored, clients, err := e.read(ctx, r)
	if err != nil {
		return domain.Decision{}, fmt.Errorf("read decisions of the identity verification: %w", err)
	}
	if d, ok := stored.Of(r.Kind); ok {
		return d, nil
	}
	o, err := eval(ctx, stored, clients)
	if err != nil {
		return domain.Decision{}, err
	}
	d, rc := e.build(r, o)
	return e.save(ctx, d, rc)
}

// caseIDAttempts bounds the saves of one decision whose review case id
// was already taken. Ids are random (UUIDs), so a second collision means
// the generator is broken, not unlucky.
const caseIDAttempts = 3

// save stores d with its review case rc. A case id the store says is
// already used is replaced by a fresh one and the save done again: the
// caller's decision does not depend on the id, and an error there would
// make the caller retry into the same rules. Collisions past
// caseIDAttempts are an internal error (500), not a conflict the caller
// could resolve.
func (e *Engine) save(ctx context.Context, d domain.Decision, rc *domain.ReviewCase) (domain.Decision, error) {
	for attempt := 1; ; attempt++ {
		saved, _, err := e.store.SaveDecision(ctx, d, rc)
		switch {
		case err == nil:
			return saved, nil
		case rc == nil || domain.CodeOf(err) != domain.CodeConflict:
			return domain.Decision{}, fmt.Errorf("save %s decision: %w", d.Kind, err)
		case attempt == caseIDAttempts:
			return domain.Decision{}, domain.Internal(err, "save %s decision: %d review case ids in a row already used", d.Kind, attempt)
		}
		rc.ID = e.ids.NewID()
		d.ReviewCaseID = ""
	}
}

// read returns the stored decisions of r's identity verification and the
// registry the rules should read: the store's one-statement read of both
// when it has one.
func (e *Engine) read(ctx context.Context, r Request) (ports.VerificationDecisions, ports.ClientFinder, error) {
	if e.withClient == nil {
		stored, err := e.store.VerificationDecisions(ctx, r.ProcessID, r.IdentityVerificationID)
		return stored, e.clients, err
	}
	stored, client, err := e.withClient.VerificationDecisionsWithClient(ctx, r.ProcessID, r.IdentityVerificationID, r.UserID)
	if err != nil {
		return ports.VerificationDecisions{}, nil, err
	}
	return stored, readClient{ClientFinder: e.clients, userID: r.UserID, client: client}, nil
}

// readClient is the registry with the request's user already read: it
// answers ClientByUserID for that user from the record (nil: not in the
// registry) and asks the registry for anything else.
type readClient struct {
	ports.ClientFinder
	userID string
	client *domain.Client
}

func (c readClient) ClientByUserID(ctx context.Context, userID string) (domain.Client, error) {
	switch {
	case userID != c.userID:
		return c.ClientFinder.ClientByUserID(ctx, userID)
	case c.client == nil:
		return domain.Client{}, domain.NotFound("userId", "user not found")
	}
	return *c.client, nil
}

// build turns an outcome into the decision and, for WAIT, its review case.
func (e *Engine) build(r Request, o Outcome) (domain.Decision, *domain.ReviewCase) {
	now := e.clock.Now()
	result, why := domain.Combine(o.Rules)
	d := domain.Decision{
		Kind:                   r.Kind,
		ProcessID:              r.ProcessID,
		IdentityVerificationID: r.IdentityVerificationID,
		UserID:                 r.UserID,
		Result:                 result,
		Rules:                  o.Rules,
		Images:                 o.Images,
		CorrelationID:          r.Meta.CorrelationID,
		RequestID:              r.Meta.RequestID,
		DecidedAt:              now,
	}
	if r.Score != nil {
		s := *r.Score
		d.Score = &s
	}
	if result != domain.ResultOK {
		d.ReasonCode, d.ReasonText = why.Code, why.Detail
	}
	if result != domain.ResultWAIT {
		return d, nil
	}
	rc := &domain.ReviewCase{
		ID:                     e.ids.NewID(),
		Kind:                   r.Kind,
		ProcessID:              r.ProcessID,
		IdentityVerificationID: r.IdentityVerificationID,
		UserID:                 r.UserID,
		Status:                 domain.ReviewOpen,
		ReasonCodes:            domain.ReasonCodes(o.Rules),
		Answered:               domain.ResultWAIT,
		CreatedAt:              now,
	}
	if e.policy.KeepEvidence {
		rc.Evidence = o.Evidence
		// The frame is the request's (domain.Image.Data): the transport
		// reuses its buffer once the request is answered. A store can
		// still hold the case after SaveDecision returned (PostgreSQL's
		// group commit, when the caller's deadline ends first), so the
		// case owns its own copy; the stores copy it again on their side.
		rc.Evidence.Frame = bytes.Clone(o.Evidence.Frame)
	}
	if !e.policy.WaitSupported {
		// Callers of the 1.x generation fail on an unknown enum value, so
		// they get the fallback now and a person looks at the case later.
		original := d.ResultReason()
		d.Result = e.policy.ReviewFallback
		d.ReasonCode = domain.ReasonReviewFallback
		d.ReasonText = "needs manual review (" + original + ")"
		rc.Answered = d.Result
	}
	d.ReviewCaseID = rc.ID
	return d, rc
}
