package telemetry

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

// fakeServices implements the driving ports with fixed answers.
type fakeServices struct {
	decision domain.Decision
	otp      ports.OTPResult
	err      error
}

func (f fakeServices) Lookup(context.Context, ports.LookupRequest) (ports.LookupResult, error) {
	return ports.LookupResult{UserID: "u-1", Consent: ports.ConsentRequired}, f.err
}
func (f fakeServices) Approve(context.Context, ports.ApprovalRequest) (domain.Decision, error) {
	return f.decision, f.err
}
func (f fakeServices) Evaluate(context.Context, ports.EvaluationRequest) (domain.Decision, error) {
	return f.decision, f.err
}
func (f fakeServices) SendOTP(context.Context, ports.OTPRequest) (ports.OTPResult, error) {
	return f.otp, f.err
}
func (f fakeServices) ConsentText(_ context.Context, r ports.ConsentTextRequest) (domain.ConsentText, error) {
	return domain.ConsentText{Type: r.ConsentType, Version: 2}, f.err
}
func (f fakeServices) StoreConsent(context.Context, ports.ConsentStorageRequest) (domain.ConsentRecord, error) {
	return domain.ConsentRecord{}, f.err
}

// sums returns the int64 sum points of a metric as label text -> value.
func sums(t *testing.T, r *sdkmetric.ManualReader, name string) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out[labelText(p.Attributes)] = p.Value
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out[labelText(p.Attributes)] = p.Value
				}
			default:
				t.Fatalf("%s is a %T", name, m.Data)
			}
		}
	}
	return out
}

// labelText renders a label set sorted by key: "k1=v1,k2=v2".
func labelText(s attribute.Set) string {
	var parts []string
	for _, kv := range s.ToSlice() {
		parts = append(parts, string(kv.Key)+"="+kv.Value.String())
	}
	return strings.Join(parts, ",")
}

func TestDecisionMetricAndSpan(t *testing.T) {
	tests := []struct {
		name       string
		kind       domain.DecisionKind
		decision   domain.Decision
		err        error
		wantLabels string // "" when nothing is counted
		wantReason string
	}{
		{"approval OK", domain.KindApproval, domain.Decision{Result: domain.ResultOK},
			nil, "kind=approval,reason=none,result=OK", "none"},
		{"evaluation NOK with a reason", domain.KindEvaluation,
			domain.Decision{Result: domain.ResultNOK, ReasonCode: domain.ReasonDocumentExpired, ReasonText: "document expired on 2024-01-31"},
			nil, "kind=evaluation,reason=DOCUMENT_EXPIRED,result=NOK", "DOCUMENT_EXPIRED"},
		{"WAIT", domain.KindApproval, domain.Decision{Result: domain.ResultWAIT, ReasonCode: domain.ReasonScoreBorderline},
			nil, "kind=approval,reason=SCORE_BORDERLINE,result=WAIT", "SCORE_BORDERLINE"},
		{"malformed reason is bounded", domain.KindEvaluation, domain.Decision{Result: domain.ResultNOK, ReasonCode: "free text " + phone},
			nil, "kind=evaluation,reason=OTHER,result=NOK", "OTHER"},
		{"an error is no decision", domain.KindApproval, domain.Decision{}, domain.Unavailable(nil, "down"), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i, rec, reader := newTestInstruments(t)
			ctx, span := i.Tracer().Start(context.Background(), "endpoint")
			svc := fakeServices{decision: tt.decision, err: tt.err}
			var err error
			if tt.kind == domain.KindApproval {
				_, err = i.ApprovalService(svc).Approve(ctx, ports.ApprovalRequest{})
			} else {
				_, err = i.EvaluationService(svc).Evaluate(ctx, ports.EvaluationRequest{})
			}
			span.End()
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v passed through", err, tt.err)
			}
			got := sums(t, reader, MetricDecisions)
			if tt.wantLabels == "" {
				if len(got) != 0 {
					t.Errorf("counted %v for an error", got)
				}
				return
			}
			if len(got) != 1 || got[tt.wantLabels] != 1 {
				t.Errorf("decisions %v, want %s = 1", got, tt.wantLabels)
			}
			a := spanAttrs(rec.Ended()[0])
			if a[AttrDecisionReason] != tt.wantReason || a[AttrDecisionResult] != string(tt.decision.Result) || a[AttrDecisionKind] != string(tt.kind) {
				t.Errorf("span attributes %v", a)
			}
			for _, v := range a {
				if strings.Contains(v, "2024-01-31") || strings.Contains(v, phone) {
					t.Errorf("span carries the reason text: %v", a)
				}
			}
		})
	}
}

func TestOTPMetric(t *testing.T) {
	tests := []struct {
		res  ports.OTPResult
		want string // the series' labels
	}{
		{ports.OTPResult{Sent: true, Outcome: domain.OTPSent}, "outcome=sent"},
		{ports.OTPResult{Outcome: domain.OTPFailedPermanent}, "outcome=failed_permanent"},
		{ports.OTPResult{Outcome: domain.OTPFailedTransient}, "outcome=failed_transient"},
		{ports.OTPResult{Outcome: domain.OTPThrottled, ThrottledBy: domain.OTPBoundPhone}, "bound=phone,outcome=throttled"},
		{ports.OTPResult{Outcome: domain.OTPThrottled, ThrottledBy: domain.OTPBoundProcess}, "bound=process,outcome=throttled"},
		{ports.OTPResult{Outcome: domain.OTPThrottled}, "outcome=throttled"},
		{ports.OTPResult{Outcome: domain.OTPThrottled, ThrottledBy: "tenant"}, "outcome=throttled"}, // a bound not known here
		{ports.OTPResult{Outcome: domain.OTPThrottled, ThrottledBy: domain.OTPBoundPhone, Deduped: true}, "outcome=deduped"},
		{ports.OTPResult{Sent: true, Outcome: domain.OTPSent, Deduped: true}, "outcome=deduped"},
		{ports.OTPResult{Outcome: domain.OTPPending, Deduped: true}, "outcome=deduped"},
		{ports.OTPResult{Outcome: "weird"}, "outcome=other"},
	}
	i, _, reader := newTestInstruments(t)
	want := map[string]int64{}
	for _, tt := range tests {
		want[tt.want] = 0
	}
	// Every outcome, and each throttle's, is there from the start at 0;
	// a throttled send without its throttle is not.
	start := sums(t, reader, MetricOTPSends)
	if _, ok := start["outcome=throttled"]; ok || len(start) != len(want)-1 || start["outcome=failed_permanent"] != 0 || start["bound=phone,outcome=throttled"] != 0 {
		t.Errorf("otp sends before any: %v, want every outcome but a bare throttled at 0", start)
	}
	for _, tt := range tests {
		if _, err := i.OTPService(fakeServices{otp: tt.res}).SendOTP(context.Background(), ports.OTPRequest{Code: otpCode}); err != nil {
			t.Fatal(err)
		}
		want[tt.want]++
	}
	// Errors are not outcomes.
	if _, err := i.OTPService(fakeServices{err: domain.NotFound("userId", "unknown")}).SendOTP(context.Background(), ports.OTPRequest{}); err == nil {
		t.Fatal("error swallowed")
	}
	got := sums(t, reader, MetricOTPSends)
	if len(got) != len(want) {
		t.Errorf("otp sends %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d", k, got[k], v)
		}
	}
}

// TestOTPSpanNamesTheThrottle: a throttled send's span says which throttle
// refused it; other outcomes carry no bound.
func TestOTPSpanNamesTheThrottle(t *testing.T) {
	for _, tc := range []struct {
		res  ports.OTPResult
		want string
	}{
		{ports.OTPResult{Outcome: domain.OTPThrottled, ThrottledBy: domain.OTPBoundPhone}, "phone"},
		{ports.OTPResult{Outcome: domain.OTPThrottled, ThrottledBy: domain.OTPBoundProcess}, "process"},
		{ports.OTPResult{Outcome: domain.OTPThrottled, ThrottledBy: domain.OTPBoundPhone, Deduped: true}, ""},
		{ports.OTPResult{Sent: true, Outcome: domain.OTPSent}, ""},
	} {
		i, rec, _ := newTestInstruments(t)
		ctx, span := i.Tracer().Start(context.Background(), "endpoint")
		if _, err := i.OTPService(fakeServices{otp: tc.res}).SendOTP(ctx, ports.OTPRequest{Code: otpCode}); err != nil {
			t.Fatal(err)
		}
		span.End()
		if got := spanAttrs(rec.Ended()[0])[AttrOTPBound]; got != tc.want {
			t.Errorf("%+v: span bound %q, want %q", tc.res, got, tc.want)
		}
	}
}

func TestLookupAndConsentSpanAttributes(t *testing.T) {
	i, rec, _ := newTestInstruments(t)
	ctx, span := i.Tracer().Start(context.Background(), "endpoint")
	if _, err := i.LookupService(fakeServices{}).Lookup(ctx, ports.LookupRequest{Identification: map[string]string{"personalNumber": personalNumber}}); err != nil {
		t.Fatal(err)
	}
	if _, err := i.ConsentService(fakeServices{}).ConsentText(ctx, ports.ConsentTextRequest{ConsentType: "GDPR", Language: "cs"}); err != nil {
		t.Fatal(err)
	}
	span.End()
	a := spanAttrs(rec.Ended()[0])
	if a[AttrLookupConsent] != ports.ConsentRequired || a[AttrConsentType] != "GDPR" || a[AttrConsentLanguage] != "cs" || a[AttrConsentVersion] != "2" {
		t.Errorf("span attributes %v", a)
	}
}

func TestBreakerAndFallbackMetrics(t *testing.T) {
	i, _, reader := newTestInstruments(t)
	state := gobreaker.StateClosed
	i.ObserveBreaker("redis", func() gobreaker.State { return state })
	i.ObserveBreaker("sms", func() gobreaker.State { return gobreaker.StateHalfOpen })
	if got := sums(t, reader, MetricBreakerState); got["breaker=redis"] != BreakerClosed || got["breaker=sms"] != BreakerHalfOpen {
		t.Errorf("breaker states %v", got)
	}
	state = gobreaker.StateOpen
	i.BreakerChanged("redis", gobreaker.StateOpen)
	i.BreakerChanged("redis", gobreaker.StateOpen)
	if got := sums(t, reader, MetricBreakerState); got["breaker=redis"] != BreakerOpen {
		t.Errorf("breaker state after opening %v", got)
	}
	if got := sums(t, reader, MetricBreakerTransitions); got["breaker=redis,state=open"] != 2 {
		t.Errorf("transitions %v", got)
	}
	// Declared breakers and fallbacks start at 0, so their first increment
	// shows in rate().
	if got, ok := sums(t, reader, MetricBreakerTransitions)["breaker=sms,state=open"]; !ok || got != 0 {
		t.Errorf("transitions of a breaker that never changed: %v (present %v), want 0", got, ok)
	}
	if got := sums(t, reader, MetricRedisFallbacks); len(got) != 0 {
		t.Errorf("fallbacks before any is declared: %v", got)
	}
	i.DeclareRedisFallbacks("otp_guard", "begin", "finish", "allow")
	if got := sums(t, reader, MetricRedisFallbacks); len(got) != 3 || got["component=otp_guard,op=finish"] != 0 {
		t.Errorf("declared fallbacks %v, want three at 0", got)
	}
	i.RedisFallback("consent_text_cache", "read")
	i.RedisFallback("otp_guard", "allow")
	if got := sums(t, reader, MetricRedisFallbacks); got["component=consent_text_cache,op=read"] != 1 || got["component=otp_guard,op=allow"] != 1 {
		t.Errorf("fallbacks %v", got)
	}
}

func TestConsentTextCacheMetric(t *testing.T) {
	tests := []struct {
		name     string
		counts   CacheCounts
		want     map[string]int64
		rejected map[string]int64
	}{
		{"L1 only", CacheCounts{HasL1: true, L1Hits: 7, L1Misses: 3}, map[string]int64{
			"level=l1,result=hit": 7, "level=l1,result=miss": 3}, map[string]int64{}},
		{"Redis without L1", CacheCounts{HasL2: true, L2Hits: 5, L2Misses: 2, L2Errors: 1, L2Tampered: 1}, map[string]int64{
			"level=l2,result=hit": 5, "level=l2,result=miss": 2, "level=l2,result=error": 1},
			map[string]int64{"reason=tampered": 1, "reason=unreadable": 0}},
		{"both", CacheCounts{HasL1: true, HasL2: true, L1Hits: 1, L1Misses: 1, L2Hits: 1, L2Unreadable: 4}, map[string]int64{
			"level=l1,result=hit": 1, "level=l1,result=miss": 1, "level=l2,result=hit": 1,
			"level=l2,result=miss": 0, "level=l2,result=error": 0},
			map[string]int64{"reason=tampered": 0, "reason=unreadable": 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i, _, reader := newTestInstruments(t)
			if err := i.ObserveConsentTextCache(func() CacheCounts { return tt.counts }); err != nil {
				t.Fatal(err)
			}
			for name, want := range map[string]map[string]int64{
				MetricConsentTextCacheRequests: tt.want, MetricConsentTextCacheRejected: tt.rejected,
			} {
				got := sums(t, reader, name)
				if len(got) != len(want) {
					t.Errorf("%s: series %v, want %v", name, got, want)
				}
				for k, v := range want {
					if g, ok := got[k]; !ok || g != v {
						t.Errorf("%s: %s = %d (present %v), want %d", name, k, g, ok, v)
					}
				}
			}
		})
	}
}

func TestObserveRedisCoalescer(t *testing.T) {
	i, _, reader := newTestInstruments(t)
	counts := CoalescerCounts{RoundTrips: 40, Commands: 130, Waiting: 3}
	if err := i.ObserveRedisCoalescer(func() CoalescerCounts { return counts }); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int64{MetricRedisRoundTrips: 40, MetricRedisCoalescedCommands: 130, MetricRedisWaiting: 3} {
		if got := sums(t, reader, name); len(got) != 1 || got[""] != want {
			t.Errorf("%s = %v, want one unlabelled point of %d", name, got, want)
		}
	}
	counts.Waiting = 0 // the gauge follows the queue down
	if got := sums(t, reader, MetricRedisWaiting); got[""] != 0 {
		t.Errorf("%s = %v after the queue emptied, want 0", MetricRedisWaiting, got)
	}
}

func TestObserveOTPOwedOutcomes(t *testing.T) {
	i, _, reader := newTestInstruments(t)
	owed := int64(7)
	if err := i.ObserveOTPOwedOutcomes(func() int64 { return owed }); err != nil {
		t.Fatal(err)
	}
	if got := sums(t, reader, MetricOTPOwedOutcomes); len(got) != 1 || got[""] != 7 {
		t.Errorf("%s = %v, want one unlabelled point of 7", MetricOTPOwedOutcomes, got)
	}
	owed = 0 // written to Redis: the gauge follows
	if got := sums(t, reader, MetricOTPOwedOutcomes); got[""] != 0 {
		t.Errorf("%s = %v after the outcomes were written, want 0", MetricOTPOwedOutcomes, got)
	}
}

func TestReasonLabel(t *testing.T) {
	for in, want := range map[string]string{
		"":                                "none",
		"SCORE_TOO_LOW":                   "SCORE_TOO_LOW",
		"lower":                           "OTHER",
		"WITH SPACE":                      "OTHER",
		strings.Repeat("A", 41):           "OTHER",
		strings.Repeat("A", 40):           strings.Repeat("A", 40),
		domain.ReasonPersonalNumberDiffer: domain.ReasonPersonalNumberDiffer,
	} {
		if got := ReasonLabel(in); got != want {
			t.Errorf("ReasonLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFailureCodes(t *testing.T) {
	for code, want := range map[domain.ErrorCode]bool{
		domain.CodeInvalid: false, domain.CodeNotFound: false, domain.CodeNotEligible: false, domain.CodeConflict: false,
		domain.CodeUnavailable: true, domain.CodeInternal: true, "": false,
	} {
		if Failure(code) != want {
			t.Errorf("Failure(%q) = %v, want %v", code, !want, want)
		}
	}
}
