package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/trace"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

// The driving-port decorators make no span of their own: the transport's
// endpoint span already covers the service call. They put the business
// outcome on that span (the span in ctx) and count it.

// OTP outcome labels besides the domain outcomes: a request answered from
// the dedupe record, and an outcome this package does not know.
const (
	otpDeduped = "deduped"
	otpOther   = "other"
)

var (
	_ ports.LookupService     = lookupService{}
	_ ports.ApprovalService   = approvalService{}
	_ ports.EvaluationService = evaluationService{}
	_ ports.OTPService        = otpService{}
	_ ports.ConsentService    = consentService{}
)

// LookupService puts the consent answer on the span.
func (i *Instruments) LookupService(next ports.LookupService) ports.LookupService {
	return lookupService{next: next}
}

type lookupService struct{ next ports.LookupService }

func (s lookupService) Lookup(ctx context.Context, r ports.LookupRequest) (ports.LookupResult, error) {
	res, err := s.next.Lookup(ctx, r)
	if err == nil {
		if span := trace.SpanFromContext(ctx); span.IsRecording() {
			span.SetAttributes(AttrLookupConsent.String(res.Consent))
		}
	}
	return res, err
}

// ApprovalService counts approval decisions and puts the result and the
// reason code on the span.
func (i *Instruments) ApprovalService(next ports.ApprovalService) ports.ApprovalService {
	return approvalService{i: i, next: next}
}

type approvalService struct {
	i    *Instruments
	next ports.ApprovalService
}

func (s approvalService) Approve(ctx context.Context, r ports.ApprovalRequest) (domain.Decision, error) {
	d, err := s.next.Approve(ctx, r)
	if err == nil {
		s.i.decided(ctx, domain.KindApproval, d)
	}
	return d, err
}

// EvaluationService counts evaluation decisions like ApprovalService.
func (i *Instruments) EvaluationService(next ports.EvaluationService) ports.EvaluationService {
	return evaluationService{i: i, next: next}
}

type evaluationService struct {
	i    *Instruments
	next ports.EvaluationService
}

func (s evaluationService) Evaluate(ctx context.Context, r ports.EvaluationRequest) (domain.Decision, error) {
	d, err := s.next.Evaluate(ctx, r)
	if err == nil {
		s.i.decided(ctx, domain.KindEvaluation, d)
	}
	return d, err
}

// decided records one answered decision. The kind is the endpoint's, so a
// decision store returning a decision without its kind still counts right.
// Only the reason code is used: the reason text can quote document data.
func (i *Instruments) decided(ctx context.Context, kind domain.DecisionKind, d domain.Decision) {
	reason := ReasonLabel(d.ReasonCode)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(
			AttrDecisionKind.String(string(kind)),
			AttrDecisionResult.String(string(d.Result)),
			AttrDecisionReason.String(reason),
		)
	}
	i.decisions.Add(ctx, 1, i.decisionSets.options(string(kind), resultLabel(d.Result), reason)...)
}

// resultLabel bounds the result label to the contract's three values.
func resultLabel(r domain.Result) string {
	if r.Valid() {
		return string(r)
	}
	return "OTHER"
}

// OTPService counts /otp/send answers by outcome and puts the outcome on
// the span. Requests that fail with an error (unknown user, dependency
// down) are not OTP outcomes: the HTTP metrics count them.
func (i *Instruments) OTPService(next ports.OTPService) ports.OTPService {
	return otpService{i: i, next: next}
}

type otpService struct {
	i    *Instruments
	next ports.OTPService
}

func (s otpService) SendOTP(ctx context.Context, r ports.OTPRequest) (ports.OTPResult, error) {
	res, err := s.next.SendOTP(ctx, r)
	if err != nil {
		return res, err
	}
	outcome := OTPOutcomeLabel(res)
	var bound domain.OTPBound
	if outcome == string(domain.OTPThrottled) {
		bound = res.ThrottledBy
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(
			AttrOTPOutcome.String(outcome),
			AttrOTPType.String(short(string(r.Type))),
		)
		if bound != "" {
			span.SetAttributes(AttrOTPBound.String(string(bound)))
		}
	}
	opts, ok := s.i.otpSets[otpSetKey(outcome, bound)]
	if !ok { // a bound this package does not know yet
		opts = s.i.otpSets[outcome]
	}
	s.i.otpSends.Add(ctx, 1, opts...)
	return res, nil
}

// otpSetKey is the key of an /otp/send outcome's attribute set: the
// outcome, and for a throttled send the throttle that refused it.
func otpSetKey(outcome string, bound domain.OTPBound) string {
	if bound == "" {
		return outcome
	}
	return outcome + "/" + string(bound)
}

// OTPOutcomeLabel is the outcome label of one answered /otp/send: deduped
// for an answer taken from an earlier identical request, else the domain
// outcome (sent, failed_permanent, failed_transient, throttled).
func OTPOutcomeLabel(res ports.OTPResult) string {
	if res.Deduped {
		return otpDeduped
	}
	switch res.Outcome {
	case domain.OTPSent, domain.OTPFailedPermanent, domain.OTPFailedTransient, domain.OTPThrottled:
		return string(res.Outcome)
	}
	return otpOther
}

// ConsentService puts the consent type, language and served version on the
// span.
func (i *Instruments) ConsentService(next ports.ConsentService) ports.ConsentService {
	return consentService{next: next}
}

type consentService struct{ next ports.ConsentService }

func (s consentService) ConsentText(ctx context.Context, r ports.ConsentTextRequest) (domain.ConsentText, error) {
	t, err := s.next.ConsentText(ctx, r)
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return t, err
	}
	if err == nil {
		span.SetAttributes(AttrConsentType.String(short(r.ConsentType)), AttrConsentLanguage.String(short(r.Language)),
			AttrConsentVersion.Int(t.Version))
	} else {
		span.SetAttributes(AttrConsentType.String(short(r.ConsentType)), AttrConsentLanguage.String(short(r.Language)))
	}
	return t, err
}

func (s consentService) StoreConsent(ctx context.Context, r ports.ConsentStorageRequest) (domain.ConsentRecord, error) {
	rec, err := s.next.StoreConsent(ctx, r)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(AttrConsentType.String(short(r.ConsentType)))
	}
	return rec, err
}
