package telemetry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

var (
	_ ports.ClientRegistry = fakePorts{}
	_ ports.SMSSender      = fakePorts{}
)

// fakePorts implements every driven port; err, when set, is what every
// call returns.
type fakePorts struct {
	err     error
	claimed bool
	allowed bool
	stored  bool
	send    domain.SendResult
}

var janaClient = domain.Client{UserID: "u-1", GivenNames: "Jana", Surname: "Nováková", PersonalNumber: personalNumber, Phone: phone}

func (f fakePorts) FindClient(context.Context, domain.Identification) (domain.Client, error) {
	return janaClient, f.err
}
func (f fakePorts) ClientByUserID(context.Context, string) (domain.Client, error) {
	return janaClient, f.err
}
func (f fakePorts) RegisterProspect(context.Context, domain.Identification) (domain.Client, error) {
	return janaClient, f.err
}
func (f fakePorts) Decision(context.Context, domain.DecisionKind, string, string) (domain.Decision, error) {
	return domain.Decision{}, f.err
}
func (f fakePorts) VerificationDecisions(context.Context, string, string) (ports.VerificationDecisions, error) {
	return ports.VerificationDecisions{}, f.err
}
func (f fakePorts) LatestConsents(context.Context, string, []string) (map[string]domain.ConsentRecord, error) {
	return nil, f.err
}
func (f fakePorts) SaveDecision(_ context.Context, d domain.Decision, _ *domain.ReviewCase) (domain.Decision, bool, error) {
	return d, f.stored, f.err
}
func (f fakePorts) AppendConsent(_ context.Context, r domain.ConsentRecord) (domain.ConsentRecord, bool, error) {
	return r, f.stored, f.err
}
func (f fakePorts) LatestConsent(context.Context, string, string) (domain.ConsentRecord, error) {
	return domain.ConsentRecord{}, f.err
}
func (f fakePorts) LatestConsentText(_ context.Context, t, l string) (domain.ConsentText, error) {
	return domain.ConsentText{Type: t, Language: l, Version: 3, HTML: "<p>text</p>"}, f.err
}
func (f fakePorts) RecordServing(context.Context, domain.ConsentServing) error { return f.err }
func (f fakePorts) LastServing(context.Context, string, string) (domain.ConsentServing, error) {
	return domain.ConsentServing{}, f.err
}
func (f fakePorts) BeginOTP(context.Context, string, time.Duration) (bool, domain.OTPOutcome, error) {
	return f.claimed, domain.OTPSent, f.err
}
func (f fakePorts) FinishOTP(context.Context, string, domain.OTPOutcome, time.Duration) error {
	return f.err
}
func (f fakePorts) ReleaseOTP(context.Context, string) (bool, error) { return f.claimed, f.err }
func (f fakePorts) AllowOTP(context.Context, string, string, int, time.Duration) (bool, error) {
	return f.allowed, f.err
}
func (f fakePorts) RefundOTP(context.Context, string, string) error { return f.err }
func (f fakePorts) SendSMS(context.Context, domain.SMS) (domain.SendResult, error) {
	return f.send, f.err
}
func (f fakePorts) RecordProcessEvent(context.Context, domain.ProcessEvent) error { return f.err }

// newTestInstruments records spans in memory and metrics in a manual reader.
func newTestInstruments(t *testing.T) (*Instruments, *tracetest.SpanRecorder, *sdkmetric.ManualReader) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()); _ = mp.Shutdown(context.Background()) })
	i, err := New(tp, mp)
	if err != nil {
		t.Fatal(err)
	}
	return i, rec, reader
}

func spanAttrs(s sdktrace.ReadOnlySpan) map[attribute.Key]string {
	m := map[attribute.Key]string{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value.String()
	}
	return m
}

func TestDrivenDecoratorSpans(t *testing.T) {
	id := domain.Identification{
		Scheme: []domain.IdentificationKey{domain.KeyClientNumber, domain.KeyBirthDate},
		Values: map[domain.IdentificationKey]string{domain.KeyClientNumber: "1000001", domain.KeyBirthDate: "1985-04-12"},
	}
	sms := domain.SMS{To: phone, Text: "Your code is " + otpCode, Segments: 1, Encoding: domain.EncodingGSM7}
	unavailable := domain.Unavailable(errors.New("dial tcp 10.0.0.5:5432: connection refused"), "database unavailable")
	notFound := domain.NotFound("userId", "client not found")

	tests := []struct {
		name       string
		ports      fakePorts
		call       func(context.Context, *Instruments, fakePorts)
		span       string
		wantAttrs  map[attribute.Key]string
		wantStatus codes.Code
	}{
		{"FindClient", fakePorts{}, func(ctx context.Context, i *Instruments, f fakePorts) {
			_, _ = i.Registry(f).FindClient(ctx, id)
		}, SpanFindClient, map[attribute.Key]string{AttrIDScheme: "clientNumber+birthDate"}, codes.Unset},
		{"ClientByUserID not found is an answer", fakePorts{err: notFound}, func(ctx context.Context, i *Instruments, f fakePorts) {
			_, _ = i.Registry(f).ClientByUserID(ctx, "u-1")
		}, SpanClientByUserID, map[attribute.Key]string{AttrErrorType: "not_found"}, codes.Unset},
		{"RegisterProspect unavailable is a failure", fakePorts{err: unavailable}, func(ctx context.Context, i *Instruments, f fakePorts) {
			_, _ = i.Registry(f).RegisterProspect(ctx, id)
		}, SpanRegisterProspect, map[attribute.Key]string{AttrErrorType: "unavailable"}, codes.Error},
		{"Decision", fakePorts{}, func(ctx context.Context, i *Instruments, f fakePorts) {
			_, _ = i.Decisions(f).Decision(ctx, domain.KindEvaluation, "p-1", "iv-1")
		}, SpanDecision, map[attribute.Key]string{AttrDecisionKind: "evaluation"}, codes.Unset},
		{"SaveDecision", fakePorts{stored: true}, func(ctx context.Context, i *Instruments, f fakePorts) {
			_, _, _ = i.Decisions(f).SaveDecision(ctx, domain.Decision{Kind: domain.KindApproval}, nil)
		}, SpanSaveDecision, map[attribute.Key]string{AttrDecisionKind: "approval", AttrDecisionStored: "true"}, codes.Unset},
		{"AppendConsent", fakePorts{stored: false}, func(ctx context.Context, i *Instruments, f fakePorts) {
			_, _, _ = i.Ledger(f).AppendConsent(ctx, domain.ConsentRecord{ConsentType: "GDPR", UserID: "u-1"})
		}, SpanAppendConsent, map[attribute.Key]string{AttrConsentType: "GDPR", AttrConsentAppended: "false"}, codes.Unset},
		{"LatestConsent", fakePorts{}, func(ctx context.Context, i *Instruments, f fakePorts) {
			_, _ = i.Ledger(f).LatestConsent(ctx, "u-1", "GDPR")
		}, SpanLatestConsent, map[attribute.Key]string{AttrConsentType: "GDPR"}, codes.Unset},
		{"LatestConsentText", fakePorts{}, func(ctx context.Context, i *Instruments, f fakePorts) {
			_, _ = i.ConsentTexts(f).LatestConsentText(ctx, "GDPR", strings.Repeat("x", 500))
		}, SpanLatestConsentText, map[attribute.Key]string{AttrConsentType: "GDPR", AttrConsentVersion: "3",
			AttrConsentLanguage: strings.Repeat("x", maxAttrLength)}, codes.Unset},
		{"RecordServing", fakePorts{}, func(ctx context.Context, i *Instruments, f fakePorts) {
			_ = i.Servings(f).RecordServing(ctx, domain.ConsentServing{ConsentType: "GDPR"})
		}, SpanRecordServing, map[attribute.Key]string{AttrConsentType: "GDPR"}, codes.Unset},
		{"LastServing", fakePorts{err: notFound}, func(ctx context.Context, i *Instruments, f fakePorts) {
			_, _ = i.Servings(f).LastServing(ctx, "p-1", "GDPR")
		}, SpanLastServing, map[attribute.Key]string{AttrErrorType: "not_found"}, codes.Unset},
		{"BeginOTP deduplicated", fakePorts{claimed: false}, func(ctx context.Context, i *Instruments, f fakePorts) {
			_, _, _ = i.OTPDedupe(f).BeginOTP(ctx, "hmac-of-code", time.Minute)
		}, SpanBeginOTP, map[attribute.Key]string{AttrOTPClaimed: "false", AttrOTPOutcome: "sent"}, codes.Unset},
		{"FinishOTP", fakePorts{}, func(ctx context.Context, i *Instruments, f fakePorts) {
			_ = i.OTPDedupe(f).FinishOTP(ctx, "hmac-of-code", domain.OTPFailedTransient, time.Minute)
		}, SpanFinishOTP, map[attribute.Key]string{AttrOTPOutcome: "failed_transient"}, codes.Unset},
		{"ReleaseOTP", fakePorts{claimed: true}, func(ctx context.Context, i *Instruments, f fakePorts) {
			_, _ = i.OTPDedupe(f).ReleaseOTP(ctx, "hmac-of-code")
		}, SpanReleaseOTP, map[attribute.Key]string{AttrOTPReleased: "true"}, codes.Unset},
		{"AllowOTP", fakePorts{allowed: true}, func(ctx context.Context, i *Instruments, f fakePorts) {
			_, _ = i.OTPThrottle(f).AllowOTP(ctx, "p-1", "s-1", 5, time.Minute)
		}, SpanAllowOTP, map[attribute.Key]string{AttrOTPAllowed: "true"}, codes.Unset},
		{"RefundOTP", fakePorts{}, func(ctx context.Context, i *Instruments, f fakePorts) {
			_ = i.OTPThrottle(f).RefundOTP(ctx, "p-1", "s-1")
		}, SpanRefundOTP, map[attribute.Key]string{}, codes.Unset},
		{"SendSMS sent", fakePorts{send: domain.SendResult{Outcome: domain.OTPSent}}, func(ctx context.Context, i *Instruments, f fakePorts) {
			_, _ = i.SMSSender(f).SendSMS(ctx, sms)
		}, SpanSendSMS, map[attribute.Key]string{AttrOTPOutcome: "sent", AttrSMSSegments: "1", AttrSMSEncoding: "GSM-7"}, codes.Unset},
		{"SendSMS failed", fakePorts{send: domain.SendResult{Outcome: domain.OTPFailedPermanent, Detail: "invalid number " + phone},
			err: errors.New("gateway said: invalid number " + phone)}, func(ctx context.Context, i *Instruments, f fakePorts) {
			_, _ = i.SMSSender(f).SendSMS(ctx, sms)
		}, SpanSendSMS, map[attribute.Key]string{AttrOTPOutcome: "failed_permanent", AttrErrorType: "failed_permanent"}, codes.Error},
		{"RecordProcessEvent", fakePorts{}, func(ctx context.Context, i *Instruments, f fakePorts) {
			_ = i.Events(f).RecordProcessEvent(ctx, domain.ProcessEvent{Type: "FINISHED", Data: map[string]any{"otpCode": otpCode}})
		}, SpanRecordProcessEvent, map[attribute.Key]string{AttrEventType: "FINISHED"}, codes.Unset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i, rec, _ := newTestInstruments(t)
			parentCtx, parent := i.Tracer().Start(context.Background(), "client_approve")
			tt.call(parentCtx, i, tt.ports)
			parent.End()
			var got sdktrace.ReadOnlySpan
			for _, s := range rec.Ended() {
				if s.Name() == tt.span {
					got = s
				}
			}
			if got == nil {
				t.Fatalf("no span %s", tt.span)
			}
			if got.Parent().SpanID() != parent.SpanContext().SpanID() {
				t.Errorf("span is not a child of the span in ctx")
			}
			a := spanAttrs(got)
			for k, v := range tt.wantAttrs {
				if a[k] != v {
					t.Errorf("%s = %q, want %q (all: %v)", k, a[k], v, a)
				}
			}
			if got.Status().Code != tt.wantStatus {
				t.Errorf("status %v, want %v", got.Status(), tt.wantStatus)
			}
			if tt.wantStatus == codes.Error && strings.Contains(got.Status().Description, "10.0.0.5") {
				t.Errorf("status carries the driver error: %q", got.Status().Description)
			}
			all := got.Status().Description
			for k, v := range a {
				all += string(k) + "=" + v + " "
			}
			for _, ev := range got.Events() {
				all += ev.Name
			}
			for _, s := range append(secrets, "Nováková", "1985-04-12", "1000001", "hmac-of-code", "connection refused") {
				if strings.Contains(all, s) {
					t.Errorf("span carries %q: %s", s, all)
				}
			}
		})
	}
}

// onlyEnglish has a text in English only; with or it also reads a language
// and its fallback in one call, counted.
type onlyEnglish struct {
	calls, orCalls *int
}

func (o onlyEnglish) LatestConsentText(_ context.Context, typ, lang string) (domain.ConsentText, error) {
	*o.calls++
	if lang != "en" {
		return domain.ConsentText{}, domain.NotFound("consentType", "none")
	}
	return domain.ConsentText{Type: typ, Language: lang, Version: 2}, nil
}

type onlyEnglishOr struct{ onlyEnglish }

func (o onlyEnglishOr) LatestConsentTextOr(ctx context.Context, typ, lang, fallback string) (domain.ConsentText, error) {
	*o.orCalls++
	t, err := o.onlyEnglish.LatestConsentText(ctx, typ, lang)
	if domain.IsNotFound(err) {
		return o.onlyEnglish.LatestConsentText(ctx, typ, fallback)
	}
	return t, err
}

// The consent text decorator reads a language and its fallback in one call
// of a reader that can, in two of one that cannot, and names the language
// served on its single span.
func TestConsentTextsFallback(t *testing.T) {
	for _, tc := range []struct {
		name        string
		next        func(calls, orCalls *int) ports.ConsentTextReader
		wantOrCalls int
	}{
		{"reader without LatestConsentTextOr", func(c, o *int) ports.ConsentTextReader { return onlyEnglish{c, o} }, 0},
		{"reader with LatestConsentTextOr", func(c, o *int) ports.ConsentTextReader { return onlyEnglishOr{onlyEnglish{c, o}} }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i, rec, _ := newTestInstruments(t)
			var calls, orCalls int
			texts := i.ConsentTexts(tc.next(&calls, &orCalls)).(ports.ConsentTextFallbackReader)
			ctx, parent := i.Tracer().Start(context.Background(), "consent_text")
			got, err := texts.LatestConsentTextOr(ctx, "GDPR", "de", "en")
			parent.End()
			if err != nil || got.Language != "en" || got.Version != 2 {
				t.Fatalf("LatestConsentTextOr = %+v, %v; want the English text", got, err)
			}
			if calls != 2 || orCalls != tc.wantOrCalls {
				t.Fatalf("%d reads, %d fallback reads; want 2 and %d", calls, orCalls, tc.wantOrCalls)
			}
			var spans []sdktrace.ReadOnlySpan
			for _, s := range rec.Ended() {
				if s.Name() == SpanLatestConsentText {
					spans = append(spans, s)
				}
			}
			if len(spans) != 1 {
				t.Fatalf("%d %s spans, want 1", len(spans), SpanLatestConsentText)
			}
			if a := spanAttrs(spans[0]); a[AttrConsentLanguage] != "en" || a[AttrConsentVersion] != "2" {
				t.Fatalf("span attributes %v, want the served language en and version 2", a)
			}
		})
	}
}

// servedFake is a ledger that looks servings up itself.
type servedFake struct {
	fakePorts
	served *int
}

func (s servedFake) AppendServedConsent(ctx context.Context, rec domain.ConsentRecord) (domain.ConsentRecord, bool, error) {
	*s.served++
	return rec, true, nil
}

// The ledger decorator claims ports.ServedConsentAppender exactly when the
// ledger it wraps does, and spans its appends as AppendConsent's.
func TestLedgerDecoratorServedAppender(t *testing.T) {
	i, rec, _ := newTestInstruments(t)
	if _, ok := i.Ledger(fakePorts{}).(ports.ServedConsentAppender); ok {
		t.Fatal("the decorator of a plain ledger claims ServedConsentAppender")
	}
	var served int
	l, ok := i.Ledger(servedFake{served: &served}).(ports.ServedConsentAppender)
	if !ok {
		t.Fatal("the decorator of a ServedConsentAppender does not claim it")
	}
	ctx, parent := i.Tracer().Start(context.Background(), "consent_storage")
	if _, added, err := l.AppendServedConsent(ctx, domain.ConsentRecord{ConsentType: "GDPR", UserID: "u-1"}); err != nil || !added {
		t.Fatalf("AppendServedConsent: added %v, %v", added, err)
	}
	parent.End()
	if served != 1 {
		t.Fatalf("the wrapped ledger's AppendServedConsent ran %d times, want 1", served)
	}
	for _, s := range rec.Ended() {
		if s.Name() == SpanAppendConsent {
			if a := spanAttrs(s); a[AttrConsentType] != "GDPR" || a[AttrConsentAppended] != "true" {
				t.Fatalf("span attributes %v", a)
			}
			return
		}
	}
	t.Fatalf("no %s span", SpanAppendConsent)
}

// finderFake is a registry that reads consents with the client.
type finderFake struct {
	fakePorts
	calls *int
}

func (f finderFake) FindClientWithConsents(context.Context, domain.Identification, []string) (domain.Client, map[string]domain.ConsentRecord, error) {
	*f.calls++
	return domain.Client{UserID: "u-1"}, map[string]domain.ConsentRecord{}, nil
}

// The registry decorator claims ports.ClientConsentsFinder exactly when the
// registry it wraps does, and spans the combined read as FindClient.
func TestRegistryDecoratorConsentsFinder(t *testing.T) {
	i, rec, _ := newTestInstruments(t)
	if _, ok := i.Registry(fakePorts{}).(ports.ClientConsentsFinder); ok {
		t.Fatal("the decorator of a plain registry claims ClientConsentsFinder")
	}
	var calls int
	f, ok := i.Registry(finderFake{calls: &calls}).(ports.ClientConsentsFinder)
	if !ok {
		t.Fatal("the decorator of a ClientConsentsFinder does not claim it")
	}
	id := domain.Identification{Scheme: []domain.IdentificationKey{domain.KeyPersonalNumber},
		Values: map[domain.IdentificationKey]string{domain.KeyPersonalNumber: "8554121234"}}
	ctx, parent := i.Tracer().Start(context.Background(), "user_lookup")
	if c, _, err := f.FindClientWithConsents(ctx, id, []string{"GDPR"}); err != nil || c.UserID != "u-1" || calls != 1 {
		t.Fatalf("FindClientWithConsents = %+v, %v after %d calls", c, err, calls)
	}
	parent.End()
	for _, s := range rec.Ended() {
		if s.Name() == SpanFindClient {
			if a := spanAttrs(s); a[AttrIDScheme] != "personalNumber" || strings.Contains(fmt.Sprint(a), "8554121234") {
				t.Fatalf("span attributes %v", a)
			}
			return
		}
	}
	t.Fatalf("no %s span", SpanFindClient)
}

// decisionsFinderFake is a decision store that reads the user with the
// decisions.
type decisionsFinderFake struct {
	fakePorts
	calls *int
}

func (f decisionsFinderFake) VerificationDecisionsWithClient(context.Context, string, string, string) (ports.VerificationDecisions, *domain.Client, error) {
	*f.calls++
	return ports.VerificationDecisions{}, &domain.Client{UserID: "u-1", Surname: "NOVAKOVA"}, nil
}

// The decision store decorator claims ports.DecisionsWithClientFinder
// exactly when the store it wraps does, spans the combined read as
// VerificationDecisions and records whether the user was found, never who.
func TestDecisionsDecoratorWithClient(t *testing.T) {
	i, rec, _ := newTestInstruments(t)
	if _, ok := i.Decisions(fakePorts{}).(ports.DecisionsWithClientFinder); ok {
		t.Fatal("the decorator of a plain decision store claims DecisionsWithClientFinder")
	}
	var calls int
	f, ok := i.Decisions(decisionsFinderFake{calls: &calls}).(ports.DecisionsWithClientFinder)
	if !ok {
		t.Fatal("the decorator of a DecisionsWithClientFinder does not claim it")
	}
	ctx, parent := i.Tracer().Start(context.Background(), "client_approve")
	if _, c, err := f.VerificationDecisionsWithClient(ctx, "p-1", "iv-1", "u-1"); err != nil || c == nil || c.UserID != "u-1" || calls != 1 {
		t.Fatalf("VerificationDecisionsWithClient = %+v, %v after %d calls", c, err, calls)
	}
	parent.End()
	for _, s := range rec.Ended() {
		if s.Name() == SpanVerificationDecisions {
			if a := spanAttrs(s); a[AttrUserFound] != "true" || strings.Contains(fmt.Sprint(a), "NOVAKOVA") || strings.Contains(fmt.Sprint(a), "u-1") {
				t.Fatalf("span attributes %v", a)
			}
			return
		}
	}
	t.Fatalf("no %s span", SpanVerificationDecisions)
}

// A process event the store did not keep is counted: the caller is
// answered 200 either way, so the counter is where a lost event shows.
func TestProcessEventsMetric(t *testing.T) {
	i, _, reader := newTestInstruments(t)
	if got := sums(t, reader, MetricProcessEvents); len(got) != 2 || got["outcome=stored"] != 0 || got["outcome=failed"] != 0 {
		t.Fatalf("before any event: %v, want both outcomes at 0", got)
	}
	ctx := context.Background()
	ev := domain.ProcessEvent{Type: "FINISHED", ProcessID: "p-1"}
	for _, err := range []error{nil, nil, domain.Unavailable(nil, "database down"), domain.Invalid("data", "cannot be stored as JSON")} {
		if got := i.Events(fakePorts{err: err}).RecordProcessEvent(ctx, ev); got != err {
			t.Fatalf("the decorator returned %v, want %v", got, err)
		}
	}
	got := sums(t, reader, MetricProcessEvents)
	if got["outcome=stored"] != 2 || got["outcome=failed"] != 2 {
		t.Errorf("process events %v, want 2 stored and 2 failed", got)
	}
}

func TestDatabaseRoleMetric(t *testing.T) {
	i, _, reader := newTestInstruments(t)
	var n atomic.Int64
	n.Store(-1)
	if err := i.ObserveDatabaseRole(func() (int, bool) { v := n.Load(); return int(v), v >= 0 }); err != nil {
		t.Fatal(err)
	}
	if got := sums(t, reader, MetricDatabaseRoleRisks); len(got) != 0 {
		t.Fatalf("before the check answered: %v, want no series", got)
	}
	for _, want := range []int64{2, 0} {
		n.Store(want)
		if got := sums(t, reader, MetricDatabaseRoleRisks); len(got) != 1 || got[""] != want {
			t.Errorf("after the check found %d: %v", want, got)
		}
	}
}
