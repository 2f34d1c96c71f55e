// Package review is the reviewers' side of review cases: the queue of
// decisions that needed a person (WAIT, or the review fallback of callers
// that cannot take WAIT). It validates reviewer actions and enforces the
// review policy (claim before resolve, four eyes for overriding a NOK);
// the store resolves the case and its decision in one step, so the next
// /client/approve or /client/evaluate call returns the resolution.
package review

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/policy"
	"github.com/bankkit/onboarding-adapter/ports"
)

// Page sizes of List: DefaultLimit when the filter names none, MaxLimit at
// most, so one request cannot pull the whole queue with its evidence.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// MaxReasonLen bounds a resolution reason; it is an audit note, not a file.
const MaxReasonLen = 2000

type service struct {
	cases     ports.ReviewCases
	decisions ports.DecisionReader
	clock     ports.Clock
	policy    policy.Review
}

// New returns the review service over the case store. decisions reads the
// document evaluation an approval case's OK must not step around (the
// store that keeps the cases keeps the decisions); clock stamps claims and
// resolutions.
func New(cases ports.ReviewCases, decisions ports.DecisionReader, clock ports.Clock, p policy.Review) ports.ReviewService {
	return &service{cases: cases, decisions: decisions, clock: clock, policy: p}
}

// List returns cases oldest first, page by page.
func (s *service) List(ctx context.Context, f ports.ReviewFilter) ([]domain.ReviewCase, error) {
	switch {
	case f.Status != "" && !f.Status.Valid():
		return nil, domain.Invalid("status", "must be OPEN, CLAIMED or RESOLVED")
	case f.Kind != "" && !f.Kind.Valid():
		return nil, domain.Invalid("kind", "must be approval or evaluation")
	case f.Limit < 0 || f.Limit > MaxLimit:
		return nil, domain.Invalid("limit", "must be between 1 and %d", MaxLimit)
	case f.Limit == 0:
		f.Limit = DefaultLimit
	}
	cs, err := s.cases.ListReviewCases(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("review: list: %w", err)
	}
	return cs, nil
}

// Get returns one case.
func (s *service) Get(ctx context.Context, id string) (domain.ReviewCase, error) {
	if strings.TrimSpace(id) == "" {
		return domain.ReviewCase{}, domain.Invalid("id", "is required")
	}
	c, err := s.cases.ReviewCase(ctx, id)
	if err != nil {
		return domain.ReviewCase{}, fmt.Errorf("review: get: %w", err)
	}
	return c, nil
}

// Claim assigns an open case to reviewer, so two reviewers do not work on
// the same case.
func (s *service) Claim(ctx context.Context, id, reviewer, channel string) (domain.ReviewCase, error) {
	reviewer = strings.TrimSpace(reviewer)
	switch {
	case strings.TrimSpace(id) == "":
		return domain.ReviewCase{}, domain.Invalid("id", "is required")
	case reviewer == "":
		return domain.ReviewCase{}, domain.Invalid("reviewer", "is required")
	case channel != "" && !domain.ValidReviewChannel(channel):
		return domain.ReviewCase{}, domain.Invalid("channel", "must be ui, api or cli")
	}
	c, err := s.cases.ClaimReviewCase(ctx, id, reviewer, channel, s.clock.Now())
	if err != nil {
		return domain.ReviewCase{}, fmt.Errorf("review: claim: %w", err)
	}
	return c, nil
}

// Resolve closes a case with OK or NOK. Every resolution names who decided
// and why; the store keeps it in the case's audit trail.
//
// Four eyes (policy FourEyes) applies when a reviewer turns an answer the
// caller already got as NOK into OK: that lets a person onboard whom the
// rules rejected, so no single reviewer may do it. The flow is
// maker-checker, each step by its own authenticated reviewer:
//
//  1. The first reviewer resolves OK as usual; the service records it as a
//     pending proposal (audited PROPOSE) and returns the case unresolved.
//  2. A second, different reviewer resolves the same case OK with a note:
//     the case is resolved with the first reviewer's verdict and reason,
//     SecondReviewer is the second reviewer, and the audit row of the
//     resolution carries both names and both reasons. The second reviewer
//     needs no claim: confirming is not taking the case over.
//  3. Instead of confirming, any reviewer with the right to resolve may
//     close the case NOK; a second reviewer acting on the proposal may do so
//     without a claim. The proposal stays on the case as a record.
//
// The first reviewer resolving OK again is CodeConflict: a proposal waits
// for someone else. A request never names its second reviewer itself
// (SecondReviewer set is CodeInvalid), and both steps need a reviewer
// proven by a sign-in (r.SignedIn; the CLI's typed names are refused with
// CodeConflict), so four eyes cannot be satisfied by typing a colleague's
// name. Without four eyes the CLI resolves like the UI.
//
// An approval case is answered OK only while the document evaluation of
// its identity verification is not rejected and not waiting for review
// (CodeConflict otherwise), at the proposal and at its confirmation: see
// evaluationAllowsOK.
func (s *service) Resolve(ctx context.Context, r ports.ReviewResolution) (domain.ReviewCase, error) {
	r.CaseID = strings.TrimSpace(r.CaseID)
	// A form sends line breaks as CRLF, which the page's maxlength counts
	// as one character: so does the limit, and so does the stored note.
	r.Reason = strings.TrimSpace(strings.ReplaceAll(r.Reason, "\r\n", "\n"))
	r.Reviewer = strings.TrimSpace(r.Reviewer)
	switch {
	case r.CaseID == "":
		return domain.ReviewCase{}, domain.Invalid("id", "is required")
	case r.Result != domain.ResultOK && r.Result != domain.ResultNOK:
		return domain.ReviewCase{}, domain.Invalid("result", "must be OK or NOK")
	case r.Reason == "":
		return domain.ReviewCase{}, domain.Invalid("reason", "is required")
	case utf8.RuneCountInString(r.Reason) > MaxReasonLen: // characters, as the page's maxlength counts
		return domain.ReviewCase{}, domain.Invalid("reason", "must be at most %d characters", MaxReasonLen)
	case r.Reviewer == "":
		return domain.ReviewCase{}, domain.Invalid("reviewer", "is required")
	case r.SecondReviewer != "" || r.SecondReason != "":
		return domain.ReviewCase{}, domain.Invalid("secondReviewer", "is set by a second reviewer's own confirmation, not by the request")
	case r.Channel != "" && !domain.ValidReviewChannel(r.Channel):
		return domain.ReviewCase{}, domain.Invalid("channel", "must be ui, api or cli")
	}
	if r.Channel != "" {
		// One source: the pages and the API sign their reviewers in.
		r.SignedIn = r.Channel != domain.ReviewChannelCLI
	}
	c, err := s.cases.ReviewCase(ctx, r.CaseID)
	if err != nil {
		return domain.ReviewCase{}, fmt.Errorf("review: resolve: %w", err)
	}
	if c.Status == domain.ReviewResolved {
		return domain.ReviewCase{}, domain.Conflict("case is already resolved")
	}
	pending := c.Proposal.Pending()
	// Only under four eyes, and only for a signed-in reviewer, does acting
	// on a proposal waive the claim: a proposal left from a time when four
	// eyes was on is no pass after, and a typed name proves nobody.
	checker := s.policy.FourEyes && pending && r.SignedIn && !strings.EqualFold(c.Proposal.By, r.Reviewer)
	if s.policy.RequireClaim && !checker && (c.Status != domain.ReviewClaimed || c.ClaimedBy != r.Reviewer) {
		return domain.ReviewCase{}, domain.Conflict("case must be claimed by the resolving reviewer first")
	}
	if r.Result == domain.ResultOK {
		if err := s.evaluationAllowsOK(ctx, c); err != nil {
			return domain.ReviewCase{}, err
		}
	}
	r.At = s.clock.Now()
	override := s.policy.FourEyes && c.Answered == domain.ResultNOK && r.Result == domain.ResultOK
	switch {
	case override && !r.SignedIn:
		return domain.ReviewCase{}, domain.Conflict("under four eyes an override to OK is proposed and confirmed by signed-in reviewers " +
			"in the review UI or the admin API: a typed reviewer name cannot tell two people apart")
	case override && !pending:
		proposed, err := s.cases.ProposeReviewResolution(ctx, r)
		if err != nil {
			return domain.ReviewCase{}, fmt.Errorf("review: propose: %w", err)
		}
		return proposed, nil
	case override && !checker:
		return domain.ReviewCase{}, domain.Conflict("the override waits for a second, different reviewer to confirm it")
	case override && c.Proposal.Result != domain.ResultOK:
		return domain.ReviewCase{}, domain.Conflict("the pending proposal is not OK; resolve NOK or propose anew")
	case override:
		r = ports.ReviewResolution{CaseID: r.CaseID, Result: c.Proposal.Result, Reason: c.Proposal.Reason,
			Reviewer: c.Proposal.By, SecondReviewer: r.Reviewer, SecondReason: r.Reason, At: r.At, Channel: r.Channel}
	}
	resolved, err := s.cases.ResolveReviewCase(ctx, r)
	if err != nil {
		return domain.ReviewCase{}, fmt.Errorf("review: resolve: %w", err)
	}
	return resolved, nil
}

// evaluationAllowsOK keeps the rule that binds an approval to the document
// evaluation of the same identity verification (a rejected evaluation
// rejects the approval, one waiting for review holds it) when a reviewer
// answers an approval case: deciding applied it only as the approval was
// first decided, and both cases of one verification can be open at once.
// Without the check a reviewer could answer the approval OK while another
// rejected the documents, and /client/approve would answer OK where
// /client/evaluate answers NOK. An evaluation that is OK stays OK (stored
// decisions and resolutions are final), so a check that passed on one
// stays true. No evaluation recorded allows OK, as it did when deciding:
// one that arrives later binds neither answer, the same as when the
// presence check comes first.
func (s *service) evaluationAllowsOK(ctx context.Context, c domain.ReviewCase) error {
	if c.Kind != domain.KindApproval {
		return nil
	}
	ev, err := s.decisions.Decision(ctx, domain.KindEvaluation, c.ProcessID, c.IdentityVerificationID)
	switch {
	case domain.CodeOf(err) == domain.CodeNotFound:
		return nil
	case err != nil:
		return fmt.Errorf("review: resolve: read the document evaluation: %w", err)
	case ev.Result == domain.ResultWAIT || ev.ReasonCode == domain.ReasonReviewFallback:
		// The review fallback answered the caller (NOK by default, OK if
		// the policy says so) with its case still open: a reviewer may
		// yet reject the documents, so the approval waits either way,
		// though deciding took a fallback OK for OK.
		return domain.Conflict("the document evaluation of this identity verification awaits review (case %s): "+
			"resolve that case first; this approval can be OK only if the documents are", ev.ReviewCaseID)
	case ev.Result == domain.ResultNOK:
		code := ev.ReasonCode
		if code == "" {
			code = "NOK"
		}
		return domain.Conflict("the document evaluation of this identity verification was rejected (%s): "+
			"this approval cannot be OK; resolve it NOK", code)
	}
	return nil
}

// Audit returns the case's audit trail, oldest first.
func (s *service) Audit(ctx context.Context, id string) ([]domain.ReviewAuditEntry, error) {
	if strings.TrimSpace(id) == "" {
		return nil, domain.Invalid("id", "is required")
	}
	trail, err := s.cases.ReviewAudit(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("review: audit: %w", err)
	}
	return trail, nil
}

// Purge drops the evidence (document data, registry record, frame) of cases
// resolved more than the policy's retention ago. Open and claimed cases keep
// theirs whatever their age: a person still needs it. Each purged case's
// audit entry says under which retention and cut-off, then note (who ran
// it, and how), so an operator's one-off purge with a short retention
// reads differently from the nightly one.
func (s *service) Purge(ctx context.Context, note string) (int, error) {
	if s.policy.Retention <= 0 {
		return 0, domain.Invalid("review.retention", "must be positive")
	}
	before := s.clock.Now().Add(-s.policy.Retention)
	reason := "retention " + s.policy.Retention.String() + ": cases resolved before " + before.UTC().Format(time.RFC3339)
	if note = strings.TrimSpace(note); note != "" {
		reason += "; " + note
	}
	if n := utf8.RuneCountInString(reason); n > MaxReasonLen {
		reason = string([]rune(reason)[:MaxReasonLen])
	}
	n, err := s.cases.PurgeReviewEvidence(ctx, before, reason)
	if err != nil {
		return n, fmt.Errorf("review: purge: %w", err)
	}
	return n, nil
}
