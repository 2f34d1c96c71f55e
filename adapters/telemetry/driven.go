package telemetry

import (
	"context"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

// Span names of the driven-port calls: "<port>.<method>".
const (
	SpanFindClient            = "registry.FindClient"
	SpanClientByUserID        = "registry.ClientByUserID"
	SpanRegisterProspect      = "registry.RegisterProspect"
	SpanDecision              = "decisions.Decision"
	SpanVerificationDecisions = "decisions.VerificationDecisions"
	SpanSaveDecision          = "decisions.SaveDecision"
	SpanAppendConsent         = "ledger.AppendConsent"
	SpanLatestConsent         = "ledger.LatestConsent"
	SpanLatestConsents        = "ledger.LatestConsents"
	SpanLatestConsentText     = "consent_texts.LatestConsentText"
	SpanRecordServing         = "servings.RecordServing"
	SpanLastServing           = "servings.LastServing"
	SpanBeginOTP              = "otp_guard.BeginOTP"
	SpanFinishOTP             = "otp_guard.FinishOTP"
	SpanReleaseOTP            = "otp_guard.ReleaseOTP"
	SpanAllowOTP              = "otp_guard.AllowOTP"
	SpanRefundOTP             = "otp_guard.RefundOTP"
	SpanSendSMS               = "sms.SendSMS"
	SpanRecordProcessEvent    = "events.RecordProcessEvent"
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
	_ ports.ClientRegistry            = registry{}
	_ ports.DecisionStore             = decisions{}
	_ ports.DecisionsWithClientFinder = decisionsWithClient{}
	_ ports.ConsentLedger             = ledger{}
	_ ports.ServedConsentAppender     = servedLedger{}
	_ ports.ClientConsentsFinder      = registryWithConsents{}
	_ ports.ConsentTextReader         = consentTexts{}
	_ ports.ConsentTextFallbackReader = consentTexts{}
	_ ports.ConsentServings           = servings{}
	_ ports.OTPDedupe                 = otpDedupe{}
	_ ports.OTPThrottle               = otpThrottle{}
	_ ports.SMSSender                 = smsSender{}
	_ ports.ProcessEventRecorder      = eventRecorder{}
)

// Every decorator below opens its span with Instruments.start, which opens
// none when the span in ctx is not recording (no exporter, or an unsampled
// request): its attributes are then never built either, so an untraced
// request pays an interface call per port call and nothing else.

// Registry wraps the client registry: one span per call, with the
// identification scheme (key names, never values).
//
// When next also reads consents with the client (ports.ClientConsentsFinder),
// so does the decorator; otherwise it does not claim to.
func (i *Instruments) Registry(next ports.ClientRegistry) ports.ClientRegistry {
	if f, ok := next.(ports.ClientConsentsFinder); ok {
		return registryWithConsents{registry: registry{i: i, next: next}, finder: f}
	}
	return registry{i: i, next: next}
}

// registryWithConsents is the decorator of a registry that is also a
// ports.ClientConsentsFinder.
type registryWithConsents struct {
	registry
	finder ports.ClientConsentsFinder
}

// FindClientWithConsents spans as FindClient does (same span name).
func (r registryWithConsents) FindClientWithConsents(ctx context.Context, id domain.Identification, consentTypes []string) (domain.Client, map[string]domain.ConsentRecord, error) {
	ctx, span := r.i.start(ctx, SpanFindClient)
	if span.IsRecording() {
		span.SetAttributes(schemeAttr(id))
	}
	c, consents, err := r.finder.FindClientWithConsents(ctx, id, consentTypes)
	end(span, err)
	return c, consents, err
}

type registry struct {
	i    *Instruments
	next ports.ClientRegistry
}

// schemeAttr names the identification's keys, joined with "+" (no
// allocation for a one-key scheme).
func schemeAttr(id domain.Identification) attribute.KeyValue {
	if len(id.Scheme) == 1 {
		return AttrIDScheme.String(string(id.Scheme[0]))
	}
	keys := make([]string, len(id.Scheme))
	for n, k := range id.Scheme {
		keys[n] = string(k)
	}
	return AttrIDScheme.String(strings.Join(keys, "+"))
}

func (r registry) FindClient(ctx context.Context, id domain.Identification) (domain.Client, error) {
	ctx, span := r.i.start(ctx, SpanFindClient)
	if span.IsRecording() {
		span.SetAttributes(schemeAttr(id))
	}
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
	ctx, span := r.i.start(ctx, SpanRegisterProspect)
	if span.IsRecording() {
		span.SetAttributes(schemeAttr(id))
	}
	c, err := r.next.RegisterProspect(ctx, id)
	end(span, err)
	return c, err
}

// Decisions wraps the decision store.
//
// When next also reads the user's registry record with the decisions
// (ports.DecisionsWithClientFinder), so does the decorator; otherwise it
// does not claim to.
func (i *Instruments) Decisions(next ports.DecisionStore) ports.DecisionStore {
	if f, ok := next.(ports.DecisionsWithClientFinder); ok {
		return decisionsWithClient{decisions: decisions{i: i, next: next}, finder: f}
	}
	return decisions{i: i, next: next}
}

// decisionsWithClient is the decorator of a decision store that is also a
// ports.DecisionsWithClientFinder.
type decisionsWithClient struct {
	decisions
	finder ports.DecisionsWithClientFinder
}

// VerificationDecisionsWithClient spans as VerificationDecisions does (same
// span name; the trace shows no separate registry read because there is
// none), telling whether the user was found.
func (d decisionsWithClient) VerificationDecisionsWithClient(ctx context.Context, processID, identityVerificationID, userID string) (ports.VerificationDecisions, *domain.Client, error) {
	ctx, span := d.i.start(ctx, SpanVerificationDecisions)
	both, c, err := d.finder.VerificationDecisionsWithClient(ctx, processID, identityVerificationID, userID)
	if span.IsRecording() && err == nil {
		span.SetAttributes(AttrUserFound.Bool(c != nil))
	}
	end(span, err)
	return both, c, err
}

type decisions struct {
	i    *Instruments
	next ports.DecisionStore
}

func (d decisions) Decision(ctx context.Context, kind domain.DecisionKind, processID, identityVerificationID string) (domain.Decision, error) {
	ctx, span := d.i.start(ctx, SpanDecision)
	if span.IsRecording() {
		span.SetAttributes(AttrDecisionKind.String(string(kind)))
	}
	dec, err := d.next.Decision(ctx, kind, processID, identityVerificationID)
	end(span, err)
	return dec, err
}

func (d decisions) VerificationDecisions(ctx context.Context, processID, identityVerificationID string) (ports.VerificationDecisions, error) {
	ctx, span := d.i.start(ctx, SpanVerificationDecisions)
	both, err := d.next.VerificationDecisions(ctx, processID, identityVerificationID)
	end(span, err)
	return both, err
}

func (d decisions) SaveDecision(ctx context.Context, dec domain.Decision, rc *domain.ReviewCase) (domain.Decision, bool, error) {
	ctx, span := d.i.start(ctx, SpanSaveDecision)
	out, stored, err := d.next.SaveDecision(ctx, dec, rc)
	if span.IsRecording() {
		if err == nil {
			span.SetAttributes(AttrDecisionKind.String(string(dec.Kind)), AttrDecisionStored.Bool(stored))
		} else {
			span.SetAttributes(AttrDecisionKind.String(string(dec.Kind)))
		}
	}
	end(span, err)
	return out, stored, err
}

// Ledger wraps the consent ledger.
//
// When next also looks servings up itself (ports.ServedConsentAppender), so
// does the decorator; otherwise it does not claim to.
func (i *Instruments) Ledger(next ports.ConsentLedger) ports.ConsentLedger {
	if served, ok := next.(ports.ServedConsentAppender); ok {
		return servedLedger{ledger: ledger{i: i, next: next}, served: served}
	}
	return ledger{i: i, next: next}
}

// servedLedger is the decorator of a ledger that is also a
// ports.ServedConsentAppender.
type servedLedger struct {
	ledger
	served ports.ServedConsentAppender
}

// AppendServedConsent spans as AppendConsent does (same span name).
func (l servedLedger) AppendServedConsent(ctx context.Context, rec domain.ConsentRecord) (domain.ConsentRecord, bool, error) {
	ctx, span := l.i.start(ctx, SpanAppendConsent)
	out, appended, err := l.served.AppendServedConsent(ctx, rec)
	l.endAppend(span, rec, appended, err)
	return out, appended, err
}

type ledger struct {
	i    *Instruments
	next ports.ConsentLedger
}

func (l ledger) AppendConsent(ctx context.Context, rec domain.ConsentRecord) (domain.ConsentRecord, bool, error) {
	ctx, span := l.i.start(ctx, SpanAppendConsent)
	out, appended, err := l.next.AppendConsent(ctx, rec)
	l.endAppend(span, rec, appended, err)
	return out, appended, err
}

// endAppend sets an append's attributes and ends its span.
func (l ledger) endAppend(span trace.Span, rec domain.ConsentRecord, appended bool, err error) {
	if span.IsRecording() {
		if err == nil {
			span.SetAttributes(AttrConsentType.String(short(rec.ConsentType)), AttrConsentAppended.Bool(appended))
		} else {
			span.SetAttributes(AttrConsentType.String(short(rec.ConsentType)))
		}
	}
	end(span, err)
}

func (l ledger) LatestConsent(ctx context.Context, userID, consentType string) (domain.ConsentRecord, error) {
	ctx, span := l.i.start(ctx, SpanLatestConsent)
	if span.IsRecording() {
		span.SetAttributes(AttrConsentType.String(short(consentType)))
	}
	rec, err := l.next.LatestConsent(ctx, userID, consentType)
	end(span, err)
	return rec, err
}

func (l ledger) LatestConsents(ctx context.Context, userID string, consentTypes []string) (map[string]domain.ConsentRecord, error) {
	ctx, span := l.i.start(ctx, SpanLatestConsents)
	recs, err := l.next.LatestConsents(ctx, userID, consentTypes)
	end(span, err)
	return recs, err
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
	ctx, span := c.i.start(ctx, SpanLatestConsentText)
	t, err := c.next.LatestConsentText(ctx, consentType, language)
	if span.IsRecording() {
		if err == nil {
			span.SetAttributes(AttrConsentType.String(short(consentType)), AttrConsentLanguage.String(short(language)),
				AttrConsentVersion.Int(t.Version))
		} else {
			span.SetAttributes(AttrConsentType.String(short(consentType)), AttrConsentLanguage.String(short(language)))
		}
	}
	end(span, err)
	return t, err
}

// LatestConsentTextOr is one span for the language and its fallback, read
// in one call when the reader can (else in two); the span names the
// language served.
func (c consentTexts) LatestConsentTextOr(ctx context.Context, consentType, language, fallback string) (domain.ConsentText, error) {
	ctx, span := c.i.start(ctx, SpanLatestConsentText)
	t, err := ports.LatestConsentTextOr(ctx, c.next, consentType, language, fallback)
	if span.IsRecording() {
		if err == nil {
			span.SetAttributes(AttrConsentType.String(short(consentType)), AttrConsentLanguage.String(short(t.Language)),
				AttrConsentVersion.Int(t.Version))
		} else {
			span.SetAttributes(AttrConsentType.String(short(consentType)), AttrConsentLanguage.String(short(language)))
		}
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
	ctx, span := s.i.start(ctx, SpanRecordServing)
	if span.IsRecording() {
		span.SetAttributes(AttrConsentType.String(short(sv.ConsentType)))
	}
	err := s.next.RecordServing(ctx, sv)
	end(span, err)
	return err
}

func (s servings) LastServing(ctx context.Context, processID, consentType string) (domain.ConsentServing, error) {
	ctx, span := s.i.start(ctx, SpanLastServing)
	if span.IsRecording() {
		span.SetAttributes(AttrConsentType.String(short(consentType)))
	}
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
	if err == nil && span.IsRecording() {
		if claimed {
			span.SetAttributes(AttrOTPClaimed.Bool(true))
		} else {
			span.SetAttributes(AttrOTPClaimed.Bool(false), AttrOTPOutcome.String(string(prior)))
		}
	}
	end(span, err)
	return claimed, prior, err
}

func (d otpDedupe) FinishOTP(ctx context.Context, key string, outcome domain.OTPOutcome, ttl time.Duration) error {
	ctx, span := d.i.start(ctx, SpanFinishOTP)
	if span.IsRecording() {
		span.SetAttributes(AttrOTPOutcome.String(string(outcome)))
	}
	err := d.next.FinishOTP(ctx, key, outcome, ttl)
	end(span, err)
	return err
}

func (d otpDedupe) ReleaseOTP(ctx context.Context, key string) (bool, error) {
	ctx, span := d.i.start(ctx, SpanReleaseOTP)
	released, err := d.next.ReleaseOTP(ctx, key)
	if err == nil && span.IsRecording() {
		span.SetAttributes(AttrOTPReleased.Bool(released))
	}
	end(span, err)
	return released, err
}

// OTPThrottle wraps the throttle half of the OTP guard.
func (i *Instruments) OTPThrottle(next ports.OTPThrottle) ports.OTPThrottle {
	return otpThrottle{i: i, next: next}
}

type otpThrottle struct {
	i    *Instruments
	next ports.OTPThrottle
}

func (t otpThrottle) AllowOTP(ctx context.Context, processID, sendID string, limit int, window time.Duration) (bool, error) {
	ctx, span := t.i.start(ctx, SpanAllowOTP)
	ok, err := t.next.AllowOTP(ctx, processID, sendID, limit, window)
	if err == nil && span.IsRecording() {
		span.SetAttributes(AttrOTPAllowed.Bool(ok))
	}
	end(span, err)
	return ok, err
}

func (t otpThrottle) RefundOTP(ctx context.Context, processID, sendID string) error {
	ctx, span := t.i.start(ctx, SpanRefundOTP)
	err := t.next.RefundOTP(ctx, processID, sendID)
	end(span, err)
	return err
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
	ctx, span := s.i.start(ctx, SpanSendSMS)
	res, err := s.next.SendSMS(ctx, sms)
	if !span.IsRecording() {
		span.End()
		return res, err
	}
	span.SetAttributes(AttrSMSSegments.Int(sms.Segments), AttrSMSEncoding.String(string(sms.Encoding)),
		AttrOTPOutcome.String(string(res.Outcome)))
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
	ctx, span := e.i.start(ctx, SpanRecordProcessEvent)
	if span.IsRecording() {
		span.SetAttributes(AttrEventType.String(short(ev.Type)))
	}
	err := e.next.RecordProcessEvent(ctx, ev)
	end(span, err)
	if err != nil {
		// Not known to be stored: the service answers 200 all the same
		// (it validated the request before asking the store).
		e.i.events.Add(ctx, 1, e.i.eventFailed...)
	} else {
		e.i.events.Add(ctx, 1, e.i.eventStored...)
	}
	return err
}
