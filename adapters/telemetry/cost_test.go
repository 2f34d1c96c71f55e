package telemetry

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

// TestDrivenDecoratorsUnderAnUntracedRequest: under a span that is not
// recording (no exporter, an unsampled caller), a port call opens no span
// and the trace context in ctx reaches the adapter unchanged.
func TestDrivenDecoratorsUnderAnUntracedRequest(t *testing.T) {
	i, rec, _ := newTestInstruments(t)
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, Remote: true})
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), sc)
	if trace.SpanFromContext(ctx).IsRecording() {
		t.Fatal("the test's parent records")
	}
	var seen trace.SpanContext
	probe := probePorts{onCall: func(ctx context.Context) { seen = trace.SpanContextFromContext(ctx) }}
	reg, dec, led, texts, sender := i.Registry(probe), i.Decisions(probe), i.Ledger(probe), i.ConsentTexts(probe), i.SMSSender(probe)
	calls := map[string]func(){
		SpanFindClient:        func() { _, _ = reg.FindClient(ctx, domain.Identification{}) },
		SpanDecision:          func() { _, _ = dec.Decision(ctx, domain.KindApproval, "p", "iv") },
		SpanSaveDecision:      func() { _, _, _ = dec.SaveDecision(ctx, domain.Decision{Kind: domain.KindApproval}, nil) },
		SpanLatestConsent:     func() { _, _ = led.LatestConsent(ctx, "u", "GDPR") },
		SpanLatestConsentText: func() { _, _ = texts.LatestConsentText(ctx, "GDPR", "cs") },
		SpanSendSMS:           func() { _, _ = sender.SendSMS(ctx, domain.SMS{}) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			seen = trace.SpanContext{}
			call()
			if !seen.Equal(sc) {
				t.Errorf("the adapter saw span context %v, want the caller's %v", seen, sc)
			}
			if n := len(rec.Ended()) + len(rec.Started()); n != 0 {
				t.Errorf("%d spans made under a non-recording parent", n)
			}
			if n := testing.AllocsPerRun(50, call); n != 0 {
				t.Errorf("the decorator allocates %v times under a non-recording parent", n)
			}
		})
	}
}

// probePorts answers every port used above and reports the context the
// adapter got.
type probePorts struct {
	fakePorts
	onCall func(context.Context)
}

func (p probePorts) FindClient(ctx context.Context, id domain.Identification) (domain.Client, error) {
	p.onCall(ctx)
	return p.fakePorts.FindClient(ctx, id)
}

func (p probePorts) Decision(ctx context.Context, k domain.DecisionKind, pid, iv string) (domain.Decision, error) {
	p.onCall(ctx)
	return p.fakePorts.Decision(ctx, k, pid, iv)
}

func (p probePorts) SaveDecision(ctx context.Context, d domain.Decision, rc *domain.ReviewCase) (domain.Decision, bool, error) {
	p.onCall(ctx)
	return p.fakePorts.SaveDecision(ctx, d, rc)
}

func (p probePorts) LatestConsent(ctx context.Context, u, ct string) (domain.ConsentRecord, error) {
	p.onCall(ctx)
	return p.fakePorts.LatestConsent(ctx, u, ct)
}

func (p probePorts) LatestConsentText(ctx context.Context, ct, l string) (domain.ConsentText, error) {
	p.onCall(ctx)
	return p.fakePorts.LatestConsentText(ctx, ct, l)
}

func (p probePorts) SendSMS(ctx context.Context, s domain.SMS) (domain.SendResult, error) {
	p.onCall(ctx)
	return p.fakePorts.SendSMS(ctx, s)
}

// TestBusinessMetricsCostNoAllocation: counting a decision or an OTP
// outcome under an untraced request reuses the label set built the first
// time (and the counts stay right).
func TestBusinessMetricsCostNoAllocation(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tracetest.NewSpanRecorder()))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()); _ = mp.Shutdown(context.Background()) })
	i, err := New(tp, mp)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	approval := i.ApprovalService(fakeServices{decision: domain.Decision{Result: domain.ResultWAIT, ReasonCode: domain.ReasonScoreBorderline}})
	otp := i.OTPService(fakeServices{otp: ports.OTPResult{Outcome: domain.OTPSent}})
	runs := 0
	for name, call := range map[string]func(){
		"decision": func() { _, _ = approval.Approve(ctx, ports.ApprovalRequest{}); runs++ },
		"otp":      func() { _, _ = otp.SendOTP(ctx, ports.OTPRequest{}); runs++ },
		"fallback": func() { i.RedisFallback("otp_guard", "begin") },
	} {
		call() // the first call builds the set
		if n := testing.AllocsPerRun(100, call); n != 0 {
			t.Errorf("%s: %v allocations per measurement", name, n)
		}
	}
	decisions := sums(t, reader, MetricDecisions)
	if got := decisions["kind=approval,reason=SCORE_BORDERLINE,result=WAIT"]; got != 102 {
		t.Errorf("decisions counted %d, want 102 (%v)", got, decisions)
	}
	if got := sums(t, reader, MetricRedisFallbacks)["component=otp_guard,op=begin"]; got != 102 {
		t.Errorf("fallbacks counted %d, want 102", got)
	}
}

func TestLabelSetsAreBounded(t *testing.T) {
	l := newLabelSets("kind", "result", "reason")
	first := l.options("approval", "OK", "none")
	if again := l.options("approval", "OK", "none"); &again[0] != &first[0] {
		t.Errorf("the same labels built a second set")
	}
	for n := range maxLabelSets + 10 {
		l.options("approval", "NOK", strings.Repeat("R", n%50)+string(rune('A'+n%26)))
	}
	if got := len(*l.sets.Load()); got > maxLabelSets {
		t.Errorf("%d cached sets, want at most %d", got, maxLabelSets)
	}
	if o := l.options("evaluation", "NOK", "BEYOND_THE_BOUND"); len(o) != 1 {
		t.Errorf("beyond the bound a measurement still needs its set, got %v", o)
	}
}

// TestLogHandlerFastPathMatchesRedaction: a record with nothing to redact
// takes the fast path; its output is what the attribute-by-attribute copy
// produces, and a record with something to redact is still redacted.
func TestLogHandlerFastPathMatchesRedaction(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	records := []struct {
		name  string
		attrs []slog.Attr
		clean bool
	}{
		{"access line", accessLine(), true},
		{"typed values", []slog.Attr{slog.Any("to", Phone(phone)), slog.String("k", "v")}, true},
		{"group without secrets", []slog.Attr{slog.Group("req", slog.String("processId", "p-1"), slog.Int("n", 3))}, true},
		{"sensitive key", []slog.Attr{slog.String("status", "ok"), slog.String("otpCode", otpCode)}, false},
		{"sensitive key in a group", []slog.Attr{slog.Group("req", slog.String("phone", phone))}, false},
		{"map", []slog.Attr{slog.Any("data", map[string]any{"locale": "cs"})}, false},
	}
	for _, tt := range records {
		t.Run(tt.name, func(t *testing.T) {
			r := slog.NewRecord(at, slog.LevelInfo, "request", 0)
			r.AddAttrs(tt.attrs...)
			if got := !anyNeedsRedaction(r); got != tt.clean {
				t.Fatalf("clean = %v, want %v", got, tt.clean)
			}
			var fast, slow bytes.Buffer
			if err := NewLogHandler(slog.NewJSONHandler(&fast, nil)).Handle(ctx, r); err != nil {
				t.Fatal(err)
			}
			// The reference: every attribute through redactAttr, as
			// the handler did before the fast path.
			ref := slog.NewRecord(at, slog.LevelInfo, "request", 0)
			r.Attrs(func(a slog.Attr) bool { ref.AddAttrs(redactAttr(a)); return true })
			ref.AddAttrs(slog.String(LogTraceID, tid.String()), slog.String(LogSpanID, sid.String()))
			if err := slog.NewJSONHandler(&slow, nil).Handle(ctx, ref); err != nil {
				t.Fatal(err)
			}
			if fast.String() != slow.String() {
				t.Errorf("handler wrote\n%s\nwant\n%s", fast.String(), slow.String())
			}
			assertNoSecret(t, fast.String())
		})
	}
}

func anyNeedsRedaction(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = needsRedaction(a, 0)
		return !found
	})
	return found
}

// accessLine is the transport's access line (ten attributes: more than a
// record holds inline).
func accessLine() []slog.Attr {
	return []slog.Attr{
		slog.String("method", "POST"), slog.String("route", "POST /client/approve"), slog.Int("status", 200),
		slog.Float64("duration_ms", 1.25), slog.String("correlation_id", "c-1"), slog.String("request_id", "r-1"),
		slog.String("process_id", "p-1"), slog.Int64("bytes", 57),
	}
}

// TestLogHandlerLeavesSharedRecordsAlone: the trace ids the handler
// appends never land in storage another copy of the record shares.
func TestLogHandlerLeavesSharedRecordsAlone(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
	r.AddAttrs(accessLine()...)
	copyOfR := r // e.g. a fan-out handler passing r to two handlers
	if err := NewLogHandler(slog.NewJSONHandler(io.Discard, nil)).Handle(ctx, r); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	copyOfR.AddAttrs(slog.String("extra", "x"))
	if err := slog.NewJSONHandler(&buf, nil).Handle(ctx, copyOfR); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); strings.Contains(out, "!BUG") || strings.Contains(out, LogTraceID) || !strings.Contains(out, `"extra":"x"`) {
		t.Errorf("the other copy of the record changed: %s", out)
	}
}

func TestSensitiveKeyNormalises(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"otpCode", true}, {"OTP_CODE", true}, {"otp-code", true}, {"personal.number", true}, {"Phone Number", true},
		{"code", false}, {"status", false}, {"", false},
		{strings.Repeat("x", 200), false}, {strings.Repeat("_", 200) + "password", true},
	}
	for _, tt := range tests {
		if got := SensitiveKey(tt.key); got != tt.want {
			t.Errorf("SensitiveKey(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { SensitiveKey("correlation_id") }); n != 0 {
		t.Errorf("SensitiveKey allocates %v times", n)
	}
}

// TestLogHandlerCost: an access line with trace ids costs the inner
// handler's work plus the two id strings and one copy of the attributes;
// a disabled level costs nothing.
func TestLogHandlerCost(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
	attrs := accessLine()
	inner := slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})
	plain, wrapped := slog.New(inner), slog.New(NewLogHandler(inner))
	base := testing.AllocsPerRun(200, func() { plain.LogAttrs(ctx, slog.LevelInfo, "request", attrs...) })
	got := testing.AllocsPerRun(200, func() { wrapped.LogAttrs(ctx, slog.LevelInfo, "request", attrs...) })
	t.Logf("access line: %v allocations with the wrapper, %v without", got, base)
	if got > base+3 {
		t.Errorf("the wrapper adds %v allocations per access line (plain handler %v), want at most 3", got-base, base)
	}
	if n := testing.AllocsPerRun(200, func() { wrapped.LogAttrs(ctx, slog.LevelDebug, "request", attrs...) }); n != 0 {
		t.Errorf("a disabled level allocates %v times", n)
	}
}
