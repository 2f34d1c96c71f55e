package telemetry

import (
	"context"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

// Span names of the driven-port calls: "<port>.<method>".
const (
	SpanFindClient         = "registry.FindClient"
	SpanClientByUserID     = "registry.ClientByUserID"
	SpanRegisterProspect   = "registry.RegisterProspect"
	SpanDecision           = "decisions.Decision"
	SpanSaveDecision       = "decisions.SaveDecision"
	SpanAppendConsent      = "ledger.AppendConsent"
	SpanLatestConsent      = "ledger.LatestConsent"
	SpanLatestConsentText  = "consent_texts.LatestConsentText"
	SpanRecordServing      = "servings.RecordServing"
	SpanLastServing        = "servings.LastServing"
	SpanBeginOTP           = "otp_guard.BeginOTP"
	SpanFinishOTP          = "otp_guard.FinishOTP"
	SpanAllowOTP           = "otp_guard.AllowOTP"
	SpanSendSMS            = "sms.SendSMS"
	SpanRecordProcessEvent = "events.RecordProcessEvent"
)

// maxAttrLength bounds a caller-supplied value (a consent type, a
// language) put into a span attribute.
const maxAttrLength = 64

func short(s string) string {
	if len(s) > maxAttrLength {
		return s[:maxAttrLength]
	}
	return s
}

var (
	_ ports.ClientRegistry       = registry{}
	_ ports.DecisionStore        = decisions{}
	_ ports.ConsentLedger        = ledger{}
	_ ports.ConsentTextReader    = consentTexts{}
	_ ports.ConsentServings      = servings{}
	_ ports.OTPDedupe            = otpDedupe{}
	_ ports.OTPThrottle          = otpThrottle{}
	_ ports.SMSSender            = smsSender{}
	_ ports.ProcessEventRecorder = eventRecorder{}
)

// Registry wraps the client registry: one span per call, with the
// identification scheme (key names, never values).
func (i *Instruments) Registry(next ports.ClientRegistry) ports.ClientRegistry {
	return registry{i: i, next: next}
}

type registry struct {
	i    *Instruments
	next ports.ClientRegistry
}

func schemeAttr(id domain.Identification) attribute.KeyValue {
	keys := make([]string, len(id.Scheme))
	for n, k := range id.Scheme {
		keys[n] = string(k)
	}
	return AttrIDScheme.String(strings.Join(keys, "+"))
}

func (r registry) FindClient(ctx context.Context, id domain.Identification) (domain.Client, error) {
	ctx, span := r.i.start(ctx, SpanFindClient, schemeAttr(id))
	c, err := r.next.FindClient(ctx, id)
	end(span, err)
	return c, err
}

func (r registry) ClientByUserID(ctx context.Context, userID string) (domain.Client, error) {
	ctx, span := r.i.start(ctx, SpanClientByUserID)
	c, err := r.next.ClientByUserID(ctx, userID)
	end(span, err)
	return c, err
}

func (r registry) RegisterProspect(ctx context.Context, id domain.Identification) (domain.Client, error) {
	ctx, span := r.i.start(ctx, SpanRegisterProspect, schemeAttr(id))
	c, err := r.next.RegisterProspect(ctx, id)
	end(span, err)
	return c, err
}

// Decisions wraps the decision store.
func (i *Instruments) Decisions(next ports.DecisionStore) ports.DecisionStore {
	return decisions{i: i, next: next}
}

type decisions struct {
	i    *Instruments
	next ports.DecisionStore
}

func (d decisions) Decision(ctx context.Context, kind domain.DecisionKind, processID, identityVerificationID string) (domain.Decision, error) {
	ctx, span := d.i.start(ctx, SpanDecision, AttrDecisionKind.String(string(kind)))
	dec, err := d.next.Decision(ctx, kind, processID, identityVerificationID)
	end(span, err)
	return dec, err
}

func (d decisions) SaveDecision(ctx context.Context, dec domain.Decision, rc *domain.ReviewCase) (domain.Decision, bool, error) {
	ctx, span := d.i.start(ctx, SpanSaveDecision, AttrDecisionKind.String(string(dec.Kind)))
	out, stored, err := d.next.SaveDecision(ctx, dec, rc)
	if err == nil {
		span.SetAttributes(AttrDecisionStored.Bool(stored))
	}
	end(span, err)
	return out, stored, err
}

// Ledger wraps the consent ledger.
func (i *Instruments) Ledger(next ports.ConsentLedger) ports.ConsentLedger {
	return ledger{i: i, next: next}
}

type ledger struct {
	i    *Instruments
	next ports.ConsentLedger
}

func (l ledger) AppendConsent(ctx context.Context, rec domain.ConsentRecord) (domain.ConsentRecord, bool, error) {
	ctx, span := l.i.start(ctx, SpanAppendConsent, AttrConsentType.String(short(rec.ConsentType)))
	out, appended, err := l.next.AppendConsent(ctx, rec)
	if err == nil {
		span.SetAttributes(AttrConsentAppended.Bool(appended))
	}
	end(span, err)
	return out, appended, err
}

func (l ledger) LatestConsent(ctx context.Context, userID, consentType string) (domain.ConsentRecord, error) {
	ctx, span := l.i.start(ctx, SpanLatestConsent, AttrConsentType.String(short(consentType)))
	rec, err := l.next.LatestConsent(ctx, userID, consentType)
	end(span, err)
	return rec, err
}

// ConsentTexts wraps a consent-text reader (the store or the cache in front
// of it).
func (i *Instruments) ConsentTexts(next ports.ConsentTextReader) ports.ConsentTextReader {
	return consentTexts{i: i, next: next}
}

type consentTexts struct {
	i    *Instruments
	next ports.ConsentTextReader
}

func (c consentTexts) LatestConsentText(ctx context.Context, consentType, language string) (domain.ConsentText, error) {
	ctx, span := c.i.start(ctx, SpanLatestConsentText,
		AttrConsentType.String(short(consentType)), AttrConsentLanguage.String(short(language)))
	t, err := c.next.LatestConsentText(ctx, consentType, language)
	if err == nil {
		span.SetAttributes(AttrConsentVersion.Int(t.Version))
	}
	end(span, err)
	return t, err
}

// Servings wraps the consent-serving memory.
func (i *Instruments) Servings(next ports.ConsentServings) ports.ConsentServings {
	return servings{i: i, next: next}
}

type servings struct {
	i    *Instruments
	next ports.ConsentServings
}

func (s servings) RecordServing(ctx context.Context, sv domain.ConsentServing) error {
	ctx, span := s.i.start(ctx, SpanRecordServing, AttrConsentType.String(short(sv.ConsentType)))
	err := s.next.RecordServing(ctx, sv)
	end(span, err)
	return err
}

func (s servings) LastServing(ctx context.Context, processID, consentType string) (domain.ConsentServing, error) {
	ctx, span := s.i.start(ctx, SpanLastServing, AttrConsentType.String(short(consentType)))
	sv, err := s.next.LastServing(ctx, processID, consentType)
	end(span, err)
	return sv, err
}

// OTPDedupe wraps the dedupe half of the OTP guard. The key is a keyed
// hash of the code; it is not recorded all the same.
func (i *Instruments) OTPDedupe(next ports.OTPDedupe) ports.OTPDedupe {
	return otpDedupe{i: i, next: next}
}

type otpDedupe struct {
	i    *Instruments
	next ports.OTPDedupe
}

func (d otpDedupe) BeginOTP(ctx context.Context, key string, ttl time.Duration) (bool, domain.OTPOutcome, error) {
	ctx, span := d.i.start(ctx, SpanBeginOTP)
	claimed, prior, err := d.next.BeginOTP(ctx, key, ttl)
	if err == nil {
		span.SetAttributes(AttrOTPClaimed.Bool(claimed))
		if !claimed {
			span.SetAttributes(AttrOTPOutcome.String(string(prior)))
		}
	}
	end(span, err)
	return claimed, prior, err
}

func (d otpDedupe) FinishOTP(ctx context.Context, key string, outcome domain.OTPOutcome, ttl time.Duration) error {
	ctx, span := d.i.start(ctx, SpanFinishOTP, AttrOTPOutcome.String(string(outcome)))
	err := d.next.FinishOTP(ctx, key, outcome, ttl)
	end(span, err)
	return err
}

// OTPThrottle wraps the throttle half of the OTP guard.
func (i *Instruments) OTPThrottle(next ports.OTPThrottle) ports.OTPThrottle {
	return otpThrottle{i: i, next: next}
}

type otpThrottle struct {
	i    *Instruments
	next ports.OTPThrottle
}

func (t otpThrottle) AllowOTP(ctx context.Context, processID string, limit int, window time.Duration) (bool, error) {
	ctx, span := t.i.start(ctx, SpanAllowOTP)
	ok, err := t.next.AllowOTP(ctx, processID, limit, window)
	if err == nil {
		span.SetAttributes(AttrOTPAllowed.Bool(ok))
	}
	end(span, err)
	return ok, err
}

// SMSSender wraps the SMS gateway: a span per send with the outcome and the
// message's shape, never its text or recipient. A gateway's HTTP calls are
// child spans when its client goes through otelhttp.
func (i *Instruments) SMSSender(next ports.SMSSender) ports.SMSSender {
	return smsSender{i: i, next: next}
}

type smsSender struct {
	i    *Instruments
	next ports.SMSSender
}

func (s smsSender) SendSMS(ctx context.Context, sms domain.SMS) (domain.SendResult, error) {
	ctx, span := s.i.start(ctx, SpanSendSMS,
		AttrSMSSegments.Int(sms.Segments), AttrSMSEncoding.String(string(sms.Encoding)))
	res, err := s.next.SendSMS(ctx, sms)
	span.SetAttributes(AttrOTPOutcome.String(string(res.Outcome)))
	if err != nil || res.Outcome != domain.OTPSent {
		// A gateway failure is a result, not a domain error: record its
		// class, never the gateway's text.
		span.SetAttributes(AttrErrorType.String(string(res.Outcome)))
		span.SetStatus(codes.Error, "sms not sent")
	}
	span.End()
	return res, err
}

// Events wraps the process-event recorder.
func (i *Instruments) Events(next ports.ProcessEventRecorder) ports.ProcessEventRecorder {
	return eventRecorder{i: i, next: next}
}

type eventRecorder struct {
	i    *Instruments
	next ports.ProcessEventRecorder
}

func (e eventRecorder) RecordProcessEvent(ctx context.Context, ev domain.ProcessEvent) error {
	ctx, span := e.i.start(ctx, SpanRecordProcessEvent, AttrEventType.String(short(ev.Type)))
	err := e.next.RecordProcessEvent(ctx, ev)
	end(span, err)
	return err
}
