// Package approval decides /client/approve, called after the presence check
// (liveness and face match). It adds the approval rules to the shared
// decision mechanics: a failed verification, an unknown or ineligible user,
// a rejected or pending document evaluation of the same identity
// verification, and the score thresholds.
package approval

import (
	"context"
	"fmt"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/decision"
	"github.com/bankkit/onboarding-adapter/domain/policy"
	"github.com/bankkit/onboarding-adapter/ports"
)

// RuleEvaluation is the rule name, stored with each decision, of the check
// against the document evaluation of the same identity verification.
const RuleEvaluation = "evaluation.result"

type service struct {
	engine *decision.Engine
	policy policy.Decision
}

// New returns the approval service. Decisions are read from and stored in
// store (which also holds the evaluation decisions it consults); clients is
// the registry the user must be known to (read through store instead when
// it reads users with decisions: see decision.NewEngine); ids names review
// cases.
func New(store ports.DecisionStore, clients ports.ClientFinder, clock ports.Clock, ids ports.IDGenerator, p policy.Decision) ports.ApprovalService {
	return &service{engine: decision.NewEngine(store, clients, clock, ids, p), policy: p}
}

// Approve validates r and returns the stored decision for its identity
// verification, or decides and stores a new one.
func (s *service) Approve(ctx context.Context, r ports.ApprovalRequest) (domain.Decision, error) {
	req := decision.Request{
		Kind:                   domain.KindApproval,
		ProcessID:              r.ProcessID,
		IdentityVerificationID: r.IdentityVerificationID,
		UserID:                 r.UserID,
		Status:                 r.Status,
		Score:                  r.Score,
		Meta:                   r.Meta,
	}
	if err := decision.Validate(req); err != nil {
		return domain.Decision{}, err
	}
	// A successful presence check without a score cannot be judged: the
	// thresholds are the rule, so the caller must send it.
	if r.Status == decision.StatusSuccess && r.Score == nil {
		return domain.Decision{}, domain.Invalid("score", "is required")
	}
	d, err := s.engine.Decide(ctx, req, func(ctx context.Context, stored ports.VerificationDecisions, clients ports.ClientFinder) (decision.Outcome, error) {
		return s.rules(ctx, r, stored, clients)
	})
	if err != nil {
		return domain.Decision{}, fmt.Errorf("approve: %w", err)
	}
	return d, nil
}

// rules runs the approval rules in the order their reasons should win.
func (s *service) rules(ctx context.Context, r ports.ApprovalRequest, stored ports.VerificationDecisions, clients ports.ClientFinder) (decision.Outcome, error) {
	// Status, user (2), evaluation and score: one slice.
	o := decision.Outcome{Rules: make([]domain.RuleResult, 0, 5)}
	if r.Frame != nil {
		o.Images = append(o.Images, r.Frame.Digest())
		o.Evidence.Frame = r.Frame.Data
	}
	if more, err := o.AddCommonRules(ctx, clients, r.Status, r.UserID); !more || err != nil {
		return o, err
	}

	eval := evaluationRule(stored)
	o.Rules = append(o.Rules, eval, decision.ScoreRule(*r.Score, s.policy))
	return o, nil
}

// evaluationRule binds approval to the document evaluation of the same
// identity verification. Earlier verifications of the process do not bind:
// a user may start a new one after a rejected document. stored was read
// with the approval's own decision, before the rules ran.
func evaluationRule(stored ports.VerificationDecisions) domain.RuleResult {
	ev, ok := stored.Of(domain.KindEvaluation)
	switch {
	case !ok:
		return domain.RuleResult{Rule: RuleEvaluation, Outcome: domain.ResultOK,
			Detail: "no document evaluation recorded"}
	case ev.Result == domain.ResultNOK:
		detail := "document evaluation was rejected"
		if ev.ReasonCode != "" {
			detail += " (" + ev.ReasonCode + ")"
		}
		return domain.RuleResult{Rule: RuleEvaluation, Outcome: domain.ResultNOK,
			Code: domain.ReasonEvaluationRejected, Detail: detail}
	case ev.Result == domain.ResultWAIT:
		return domain.RuleResult{Rule: RuleEvaluation, Outcome: domain.ResultWAIT,
			Code: domain.ReasonEvaluationPending, Detail: "document evaluation awaits review"}
	}
	return domain.RuleResult{Rule: RuleEvaluation, Outcome: domain.ResultOK}
}
