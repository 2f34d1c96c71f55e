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
	cases  ports.ReviewCases
	clock  ports.Clock
	policy policy.Review
}

// New returns the review service over the case store; clock stamps claims
// and resolutions.
func New(cases ports.ReviewCases, clock ports.Clock, p policy.Review) ports.ReviewService {
	return &service{cases: cases, clock: clock, policy: p}
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
func (s *service) Claim(ctx context.Context, id, reviewer string) (domain.ReviewCase, error) {
	reviewer = strings.TrimSpace(reviewer)
	switch {
	case strings.TrimSpace(id) == "":
		return domain.ReviewCase{}, domain.Invalid("id", "is required")
	case reviewer == "":
		return domain.ReviewCase{}, domain.Invalid("reviewer", "is required")
	}
	c, err := s.cases.ClaimReviewCase(ctx, id, reviewer, s.clock.Now())
	if err != nil {
		return domain.ReviewCase{}, fmt.Errorf("review: claim: %w", err)
	}
	return c, nil
}

// Resolve closes a case with OK or NOK. Every resolution names who decided
// and why; the store keeps it as the audit record.
func (s *service) Resolve(ctx context.Context, r ports.ReviewResolution) (domain.ReviewCase, error) {
	r.CaseID = strings.TrimSpace(r.CaseID)
	r.Reason = strings.TrimSpace(r.Reason)
	r.Reviewer = strings.TrimSpace(r.Reviewer)
	r.SecondReviewer = strings.TrimSpace(r.SecondReviewer)
	switch {
	case r.CaseID == "":
		return domain.ReviewCase{}, domain.Invalid("id", "is required")
	case r.Result != domain.ResultOK && r.Result != domain.ResultNOK:
		return domain.ReviewCase{}, domain.Invalid("result", "must be OK or NOK")
	case r.Reason == "":
		return domain.ReviewCase{}, domain.Invalid("reason", "is required")
	case len(r.Reason) > MaxReasonLen:
		return domain.ReviewCase{}, domain.Invalid("reason", "must be at most %d characters", MaxReasonLen)
	case r.Reviewer == "":
		return domain.ReviewCase{}, domain.Invalid("reviewer", "is required")
	}
	c, err := s.cases.ReviewCase(ctx, r.CaseID)
	if err != nil {
		return domain.ReviewCase{}, fmt.Errorf("review: resolve: %w", err)
	}
	if c.Status == domain.ReviewResolved {
		return domain.ReviewCase{}, domain.Conflict("case is already resolved")
	}
	if s.policy.RequireClaim && (c.Status != domain.ReviewClaimed || c.ClaimedBy != r.Reviewer) {
		return domain.ReviewCase{}, domain.Conflict("case must be claimed by the resolving reviewer first")
	}
	// Turning an answer the caller already got as NOK into OK lets a person
	// onboard: under four eyes a second, different reviewer must agree.
	if s.policy.FourEyes && c.Answered == domain.ResultNOK && r.Result == domain.ResultOK {
		switch {
		case r.SecondReviewer == "":
			return domain.ReviewCase{}, domain.Invalid("secondReviewer", "is required to override NOK to OK")
		case strings.EqualFold(r.SecondReviewer, r.Reviewer):
			return domain.ReviewCase{}, domain.Invalid("secondReviewer", "must differ from the reviewer")
		}
	}
	r.At = s.clock.Now()
	resolved, err := s.cases.ResolveReviewCase(ctx, r)
	if err != nil {
		return domain.ReviewCase{}, fmt.Errorf("review: resolve: %w", err)
	}
	return resolved, nil
}
