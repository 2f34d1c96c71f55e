package memory

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

var (
	_ ports.DecisionStore = (*DecisionStore)(nil)
	_ ports.ReviewCases   = (*DecisionStore)(nil)
)

// DefaultReviewListLimit is the page size of ListReviewCases when the filter
// sets no Limit, so an admin call never copies the whole queue.
const DefaultReviewListLimit = 100

// reviewRejectedText is the reason text of a decision a reviewer turned to NOK.
const reviewRejectedText = "rejected in manual review"

// decisionKey is the idempotency key of a decision: the caller re-sends
// requests with fresh request ids, so only the body identifies a repeat.
type decisionKey struct {
	kind                              domain.DecisionKind
	processID, identityVerificationID string
}

// DecisionStore keeps decisions and their review cases together, so a
// decision and its case are stored, and a resolution applied to both, in one
// critical section: no reader ever sees a resolved case whose decision still
// answers WAIT.
type DecisionStore struct {
	mu        sync.RWMutex
	decisions map[decisionKey]domain.Decision
	cases     map[string]*domain.ReviewCase
	caseOf    map[string]decisionKey // case id -> its decision
	queue     []*domain.ReviewCase   // every case, ordered by (CreatedAt, ID)
	audit     []domain.ReviewAuditEntry
	order     fifo[decisionKey] // every decision, oldest first
	// Deletions by forget since each map was last compacted.
	decisionsChurn, casesChurn, caseOfChurn churn
}

// purgeActor is the actor of the audit entries of evidence purges, which no
// person triggers; the same as the postgres store's.
const purgeActor = "retention"

// NewDecisionStore returns an empty store without a bound; it is both the
// ports.DecisionStore and the ports.ReviewCases of the embedded service.
func NewDecisionStore() *DecisionStore { return NewDecisionStoreLimit(0) }

// NewDecisionStoreLimit returns an empty store that keeps the last limit
// decisions, forgetting the oldest first with its review case, if it has
// one (a repeat of a forgotten request is decided again, as after a
// restart); below 1 it keeps everything. The audit trail is kept whole.
// Cases go too because under load they are what fills memory: a WAIT in
// twenty answers at thousands a second is a hundred cases a second, and a
// store that kept them all outgrew every bound; a bank's reviewers work on
// the PostgreSQL store, which forgets nothing.
func NewDecisionStoreLimit(limit int) *DecisionStore {
	return &DecisionStore{
		decisions: make(map[decisionKey]domain.Decision),
		cases:     make(map[string]*domain.ReviewCase),
		caseOf:    make(map[string]decisionKey),
		order:     fifo[decisionKey]{limit: limit},
	}
}

func keyOf(d domain.Decision) decisionKey {
	return decisionKey{d.Kind, d.ProcessID, d.IdentityVerificationID}
}

// Decision returns the stored decision, with its review resolution applied.
func (s *DecisionStore) Decision(_ context.Context, kind domain.DecisionKind, processID, identityVerificationID string) (domain.Decision, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d, ok := s.decisions[decisionKey{kind, processID, identityVerificationID}]
	if !ok {
		return domain.Decision{}, domain.NotFound("identityVerificationId", "no decision is stored for this process and identity verification")
	}
	return cloneDecision(d), nil
}

// VerificationDecisions returns the stored decisions of both kinds for
// (processID, identityVerificationID), read under one lock.
func (s *DecisionStore) VerificationDecisions(_ context.Context, processID, identityVerificationID string) (ports.VerificationDecisions, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out ports.VerificationDecisions
	for _, slot := range []struct {
		kind domain.DecisionKind
		dst  **domain.Decision
	}{{domain.KindApproval, &out.Approval}, {domain.KindEvaluation, &out.Evaluation}} {
		if d, ok := s.decisions[decisionKey{slot.kind, processID, identityVerificationID}]; ok {
			c := cloneDecision(d)
			*slot.dst = &c
		}
	}
	return out, nil
}

// SaveDecision stores d, and rc as its review case, unless a decision with
// the same (Kind, ProcessID, IdentityVerificationID) exists; then it returns
// that one (with any resolution applied) and false. The case must carry its
// id (the service generates it); d.ReviewCaseID is set to it, the case's
// empty identifying fields are taken from d, an empty status becomes OPEN and
// a zero CreatedAt becomes d.DecidedAt.
func (s *DecisionStore) SaveDecision(_ context.Context, d domain.Decision, rc *domain.ReviewCase) (domain.Decision, bool, error) {
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
	k := keyOf(d)
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.decisions[k]; ok {
		return cloneDecision(prev), false, nil
	}
	if rc != nil {
		if _, dup := s.cases[rc.ID]; dup {
			return domain.Decision{}, false, domain.Conflict("review case id is already used")
		}
		c := cloneCase(*rc)
		c.CompleteFrom(d)
		c.Score, c.Rules = nil, nil // read from the decision, see view
		d.ReviewCaseID = c.ID
		s.cases[c.ID] = &c
		s.caseOf[c.ID] = k
		i, _ := slices.BinarySearchFunc(s.queue, &c, compareCases)
		s.queue = slices.Insert(s.queue, i, &c)
	}
	if old, evicted := s.order.push(k); evicted {
		s.forget(old)
	}
	// The store keeps a copy; d itself, the caller's, is the answer.
	s.decisions[k] = cloneDecision(d)
	s.decisions = compact(s.decisions, &s.decisionsChurn)
	s.cases = compact(s.cases, &s.casesChurn)
	s.caseOf = compact(s.caseOf, &s.caseOfChurn)
	return d, true, nil
}

// forget drops the decision of k and its review case. The caller holds
// s.mu.
func (s *DecisionStore) forget(k decisionKey) {
	d, ok := s.decisions[k]
	if ok {
		remove(s.decisions, k, &s.decisionsChurn)
	}
	c := s.cases[d.ReviewCaseID]
	if !ok || c == nil || s.caseOf[c.ID] != k {
		return
	}
	remove(s.cases, c.ID, &s.casesChurn)
	remove(s.caseOf, c.ID, &s.caseOfChurn)
	i, found := slices.BinarySearchFunc(s.queue, c, compareCases)
	if !found || s.queue[i] != c {
		i = slices.Index(s.queue, c)
	}
	switch {
	case i < 0:
	case i == 0: // the usual case: the oldest decision has the oldest case
		s.queue[0] = nil
		s.queue = s.queue[1:]
	default:
		s.queue = slices.Delete(s.queue, i, i+1)
	}
}

// compareCases orders the queue oldest first, by id among equals, the order
// ListReviewCases pages in.
func compareCases(a, b *domain.ReviewCase) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// ReviewCase returns one case.
func (s *DecisionStore) ReviewCase(_ context.Context, id string) (domain.ReviewCase, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.cases[id]
	if !ok {
		return domain.ReviewCase{}, errCaseNotFound()
	}
	return s.view(c), nil
}

// view returns a copy of c with its decision's score and rule results, as
// every read returns a case. The caller holds s.mu.
func (s *DecisionStore) view(c *domain.ReviewCase) domain.ReviewCase {
	out := cloneCase(*c)
	if k, ok := s.caseOf[c.ID]; ok {
		d := s.decisions[k]
		if d.Score != nil {
			v := *d.Score
			out.Score = &v
		}
		out.Rules = slices.Clone(d.Rules)
	}
	return out
}

func errCaseNotFound() error { return domain.NotFound("id", "review case not found") }

// ListReviewCases returns the cases f selects, oldest first, at most
// f.Limit of them (DefaultReviewListLimit when it is not positive). AfterID
// continues after the named case; a cursor naming no case is CodeInvalid,
// also one the store has forgotten since (a bounded store under load):
// paging starts again from the first case.
func (s *DecisionStore) ListReviewCases(_ context.Context, f ports.ReviewFilter) ([]domain.ReviewCase, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultReviewListLimit
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	start := 0
	if f.AfterID != "" {
		after, ok := s.cases[f.AfterID]
		if !ok {
			return nil, domain.Invalid("afterId", "names no review case")
		}
		i, _ := slices.BinarySearchFunc(s.queue, after, compareCases)
		start = i + 1
	}
	out := make([]domain.ReviewCase, 0, min(limit, 16))
	for _, c := range s.queue[start:] {
		if len(out) == limit || (!f.CreatedBefore.IsZero() && !c.CreatedAt.Before(f.CreatedBefore)) {
			break
		}
		if (f.Status == "" || c.Status == f.Status) && (f.Kind == "" || c.Kind == f.Kind) {
			v := s.view(c)
			// As the PostgreSQL store: only the frame's first bytes.
			v.Evidence.Frame = v.Evidence.Frame[:min(len(v.Evidence.Frame), domain.ImageFormatBytes)]
			out = append(out, v)
		}
	}
	return out, nil
}

// ClaimReviewCase assigns an open case to reviewer. Claiming again by the
// same reviewer succeeds and keeps the first ClaimedAt; a case claimed by
// someone else or resolved is CodeConflict. A zero at means now.
func (s *DecisionStore) ClaimReviewCase(_ context.Context, id, reviewer, channel string, at time.Time) (domain.ReviewCase, error) {
	if reviewer == "" {
		return domain.ReviewCase{}, domain.Invalid("reviewer", "must not be empty")
	}
	if at.IsZero() {
		at = time.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cases[id]
	if !ok {
		return domain.ReviewCase{}, errCaseNotFound()
	}
	switch {
	case c.Status == domain.ReviewResolved:
		return domain.ReviewCase{}, domain.Conflict("review case is already resolved")
	case c.Status == domain.ReviewClaimed && c.ClaimedBy != reviewer:
		return domain.ReviewCase{}, domain.Conflict("review case is claimed by another reviewer")
	case c.Status == domain.ReviewOpen:
		c.Status, c.ClaimedBy, c.ClaimedAt = domain.ReviewClaimed, reviewer, at
		s.audit = append(s.audit, domain.ReviewAuditEntry{CaseID: id, Action: domain.ReviewActionClaim, Actor: reviewer, Channel: channel, At: at})
	}
	return s.view(c), nil
}

// ProposeReviewResolution records r as the case's pending four-eyes
// proposal and audits it; the case stays unresolved. A resolved case, or
// one with a pending proposal, is CodeConflict. A zero At means now.
func (s *DecisionStore) ProposeReviewResolution(_ context.Context, r ports.ReviewResolution) (domain.ReviewCase, error) {
	if err := r.Validate(); err != nil {
		return domain.ReviewCase{}, err
	}
	if r.At.IsZero() {
		r.At = time.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cases[r.CaseID]
	switch {
	case !ok:
		return domain.ReviewCase{}, errCaseNotFound()
	case c.Status == domain.ReviewResolved:
		return domain.ReviewCase{}, domain.Conflict("review case is already resolved")
	case c.Proposal.Pending():
		return domain.ReviewCase{}, domain.Conflict("review case already has a proposal waiting for a second reviewer")
	}
	c.Proposal = domain.ReviewProposal{Result: r.Result, Reason: r.Reason, By: r.Reviewer, At: r.At}
	s.audit = append(s.audit, domain.ReviewAuditEntry{CaseID: c.ID, Action: domain.ReviewActionPropose,
		Actor: r.Reviewer, Reason: r.Reason, Result: r.Result, Channel: r.Channel, At: r.At})
	return s.view(c), nil
}

// ReviewAudit returns the audit entries of the case, oldest first, also
// those of a case the store has forgotten.
func (s *DecisionStore) ReviewAudit(_ context.Context, caseID string) ([]domain.ReviewAuditEntry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []domain.ReviewAuditEntry{}
	for _, e := range s.audit {
		if e.CaseID == caseID {
			out = append(out, e)
		}
	}
	if _, ok := s.cases[caseID]; !ok && len(out) == 0 {
		return nil, errCaseNotFound()
	}
	return out, nil
}

// ResolveReviewCase closes the case with the reviewer's OK or NOK and, in
// the same critical section, makes its decision answer it: OK without a
// reason, NOK with ReasonReviewRejected. Whether a claim or a second
// reviewer is required is policy, checked by the review service. A zero At
// means now.
func (s *DecisionStore) ResolveReviewCase(_ context.Context, r ports.ReviewResolution) (domain.ReviewCase, error) {
	if err := r.Validate(); err != nil {
		return domain.ReviewCase{}, err
	}
	if r.At.IsZero() {
		r.At = time.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cases[r.CaseID]
	if !ok {
		return domain.ReviewCase{}, errCaseNotFound()
	}
	if c.Status == domain.ReviewResolved {
		return domain.ReviewCase{}, domain.Conflict("review case is already resolved")
	}
	c.Status = domain.ReviewResolved
	c.Resolution, c.ResolutionReason = r.Result, r.Reason
	c.ResolvedBy, c.SecondReviewer, c.ResolvedAt = r.Reviewer, r.SecondReviewer, r.At
	s.audit = append(s.audit, domain.ReviewAuditEntry{CaseID: c.ID, Action: domain.ReviewActionResolve,
		Actor: r.Reviewer, Reason: r.Reason, Result: r.Result, SecondActor: r.SecondReviewer,
		SecondReason: r.SecondReason, Channel: r.Channel, At: r.At})
	if k, ok := s.caseOf[c.ID]; ok {
		d := s.decisions[k]
		d.Result, d.ReasonCode, d.ReasonText = r.Result, "", ""
		if r.Result == domain.ResultNOK {
			d.ReasonCode, d.ReasonText = domain.ReasonReviewRejected, reviewRejectedText
		}
		s.decisions[k] = d
	}
	return s.view(c), nil
}

// PurgeReviewEvidence drops documents, registry record and frame of every
// case resolved before resolvedBefore whose evidence is still kept, and
// returns how many it purged, auditing each purge. Decisions, rule results,
// resolutions and the audit trail stay.
func (s *DecisionStore) PurgeReviewEvidence(_ context.Context, resolvedBefore time.Time, reason string) (int, error) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.queue {
		if c.Status == domain.ReviewResolved && !c.EvidencePurged && c.ResolvedAt.Before(resolvedBefore) {
			c.Evidence = domain.ReviewEvidence{}
			c.EvidencePurged = true
			s.audit = append(s.audit, domain.ReviewAuditEntry{CaseID: c.ID, Action: domain.ReviewActionPurge,
				Actor: purgeActor, Reason: reason, Channel: domain.ReviewChannelRetention, At: now})
			n++
		}
	}
	return n, nil
}

// cloneDecision copies d so that no slice or pointer is shared with the caller.
func cloneDecision(d domain.Decision) domain.Decision {
	if d.Score != nil {
		s := *d.Score
		d.Score = &s
	}
	d.Rules = slices.Clone(d.Rules)
	d.Images = slices.Clone(d.Images)
	return d
}

// cloneCase copies c so that no slice or pointer is shared with the caller.
func cloneCase(c domain.ReviewCase) domain.ReviewCase {
	c.ReasonCodes = slices.Clone(c.ReasonCodes)
	c.Rules = slices.Clone(c.Rules)
	if c.Score != nil {
		v := *c.Score
		c.Score = &v
	}
	c.Evidence.Documents = slices.Clone(c.Evidence.Documents)
	c.Evidence.Frame = slices.Clone(c.Evidence.Frame)
	if c.Evidence.Registry != nil {
		r := *c.Evidence.Registry
		c.Evidence.Registry = &r
	}
	return c
}
