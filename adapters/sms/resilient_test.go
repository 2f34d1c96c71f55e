package sms_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/bankkit/onboarding-adapter/adapters/sms"
	"github.com/bankkit/onboarding-adapter/domain"
)

// stubGateway answers from a function and counts its calls.
type stubGateway struct {
	calls atomic.Int32
	fn    func(ctx context.Context, n int) sms.Attempt
}

func (g *stubGateway) Name() string { return "stub" }

func (g *stubGateway) Attempt(ctx context.Context, _ domain.SMS) sms.Attempt {
	return g.fn(ctx, int(g.calls.Add(1)))
}

func sent() sms.Attempt {
	return sms.Attempt{Outcome: domain.OTPSent, Reason: sms.ReasonAccepted, MessageID: "id-1", Status: 201}
}

func failing(r sms.Reason) sms.Attempt {
	return sms.Attempt{Outcome: domain.OTPFailedTransient, Reason: r, Detail: string(r), Err: errors.New(string(r))}
}

func newStubSender(t *testing.T, cfg sms.ResilienceConfig, fn func(ctx context.Context, n int) sms.Attempt) (*sms.Resilient, *stubGateway, *logCapture) {
	t.Helper()
	gw := &stubGateway{fn: fn}
	logs := &logCapture{}
	r, err := sms.NewResilient(gw, sms.Options{Resilience: cfg, Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	return r, gw, logs
}

func TestResilientRefusesUndeliverableMessages(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name       string
		ctx        context.Context
		msg        domain.SMS
		want       domain.OTPOutcome
		wantReason sms.Reason
	}{
		{"no recipient", context.Background(), domain.SMS{Text: "code " + testCode}, domain.OTPFailedPermanent, sms.ReasonInvalid},
		{"no text", context.Background(), domain.SMS{To: testPhone}, domain.OTPFailedPermanent, sms.ReasonInvalid},
		{"not E.164", context.Background(), domain.SMS{To: "777123456", Text: testText}, domain.OTPFailedPermanent, sms.ReasonInvalid},
		{"E.164 with spaces", context.Background(), domain.SMS{To: "+420 777 123 456", Text: testText}, domain.OTPFailedPermanent, sms.ReasonInvalid},
		{"cancelled before sending", cancelled, testSMS(), domain.OTPFailedTransient, sms.ReasonCancelled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, gw, logs := newStubSender(t, fastResilience(), func(context.Context, int) sms.Attempt { return sent() })
			res, err := r.SendSMS(tc.ctx, tc.msg)
			var se *sms.SendError
			if res.Outcome != tc.want || !errors.As(err, &se) || se.Reason != tc.wantReason {
				t.Fatalf("result %+v, %v; want %s/%s", res, err, tc.want, tc.wantReason)
			}
			if gw.calls.Load() != 0 {
				t.Fatalf("the gateway was called %d times", gw.calls.Load())
			}
			if !res.NotSubmitted {
				t.Fatal("a message refused before any request is not marked NotSubmitted")
			}
			assertNoSecrets(t, logs.String(), err.Error())
		})
	}
}

// TestResilientRetriesOnlyWhatWasNotTaken: only failures where the gateway
// provably did not take the message are retried, and only those mark the
// result NotSubmitted (the OTP throttle refunds such a send).
func TestResilientRetriesOnlyWhatWasNotTaken(t *testing.T) {
	for _, tc := range []struct {
		reason           sms.Reason
		wantCalls        int32
		wantNotSubmitted bool
	}{
		{sms.ReasonConnect, 3, true},
		{sms.ReasonUnavailable, 3, true},
		{sms.ReasonThrottled, 3, false}, // the gateway is up and asks for less: the OTP throttle keeps counting
		{sms.ReasonTimeout, 1, false},
		{sms.ReasonNetwork, 1, false},
		{sms.ReasonServerError, 1, false},
		{sms.ReasonBadResponse, 1, false},
		{sms.ReasonConfig, 1, false},
		{sms.ReasonRejected, 1, false},
	} {
		t.Run(string(tc.reason), func(t *testing.T) {
			r, gw, _ := newStubSender(t, fastResilience(), func(context.Context, int) sms.Attempt { return failing(tc.reason) })
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			res, _ := r.SendSMS(ctx, testSMS())
			if res.Outcome == domain.OTPSent || gw.calls.Load() != tc.wantCalls {
				t.Fatalf("outcome %s after %d calls, want failure after %d", res.Outcome, gw.calls.Load(), tc.wantCalls)
			}
			if res.NotSubmitted != tc.wantNotSubmitted {
				t.Fatalf("NotSubmitted = %v, want %v", res.NotSubmitted, tc.wantNotSubmitted)
			}
		})
	}
}

// TestResilientNotSubmittedFollowsTheLastAttempt: a retry that ends
// ambiguously (the request went out) is not NotSubmitted even though the
// first attempt was refused unprocessed; a sent message never is; and a
// send the open breaker refused without a request is.
func TestResilientNotSubmittedFollowsTheLastAttempt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r, _, _ := newStubSender(t, fastResilience(), func(_ context.Context, n int) sms.Attempt {
		if n == 1 {
			return failing(sms.ReasonConnect)
		}
		return failing(sms.ReasonTimeout)
	})
	if res, _ := r.SendSMS(ctx, testSMS()); res.NotSubmitted || res.Outcome == domain.OTPSent {
		t.Fatalf("connect, then timeout: %+v; want failed, not NotSubmitted", res)
	}
	r, _, _ = newStubSender(t, fastResilience(), func(_ context.Context, n int) sms.Attempt {
		if n == 1 {
			return failing(sms.ReasonUnavailable)
		}
		return sent()
	})
	if res, _ := r.SendSMS(ctx, testSMS()); res.NotSubmitted || res.Outcome != domain.OTPSent {
		t.Fatalf("503, then sent: %+v; want sent", res)
	}
	cfg := fastResilience()
	cfg.MaxAttempts = 1
	r, gw, _ := newStubSender(t, cfg, func(context.Context, int) sms.Attempt { return failing(sms.ReasonServerError) })
	for r.State() != gobreaker.StateOpen {
		if res, _ := r.SendSMS(ctx, testSMS()); res.NotSubmitted {
			t.Fatalf("a 500 is NotSubmitted: %+v", res)
		}
		if gw.calls.Load() > 100 {
			t.Fatal("the breaker never opened")
		}
	}
	calls := gw.calls.Load()
	res, _ := r.SendSMS(ctx, testSMS())
	if !res.NotSubmitted || gw.calls.Load() != calls {
		t.Fatalf("breaker open: %+v after %d more calls; want NotSubmitted, no call", res, gw.calls.Load()-calls)
	}
}

func TestResilientMaxAttemptsOne(t *testing.T) {
	cfg := fastResilience()
	cfg.MaxAttempts = 1
	r, gw, _ := newStubSender(t, cfg, func(context.Context, int) sms.Attempt { return failing(sms.ReasonConnect) })
	if res, _ := r.SendSMS(context.Background(), testSMS()); res.Outcome != domain.OTPFailedTransient || gw.calls.Load() != 1 {
		t.Fatalf("outcome %s after %d calls, want one call", res.Outcome, gw.calls.Load())
	}
}

func TestResilientSuccessAfterRetryReportsAttempts(t *testing.T) {
	var report sms.SendReport
	gw := &stubGateway{fn: func(_ context.Context, n int) sms.Attempt {
		if n == 1 {
			return failing(sms.ReasonConnect)
		}
		return sent()
	}}
	r, err := sms.NewResilient(gw, sms.Options{Resilience: fastResilience(), Logger: (&logCapture{}).logger(),
		OnSend: func(rep sms.SendReport) { report = rep }})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.SendSMS(context.Background(), testSMS())
	if err != nil || res.Outcome != domain.OTPSent || res.MessageID != "id-1" {
		t.Fatalf("%+v, %v", res, err)
	}
	if report.Attempts != 2 || report.Outcome != domain.OTPSent || report.Gateway != "stub" ||
		report.Encoding != domain.EncodingGSM7 || report.Segments != 1 || report.Status != 201 {
		t.Fatalf("report %+v", report)
	}
}

func TestResilientCallerDeadlineDoesNotTripBreaker(t *testing.T) {
	cfg := fastResilience()
	cfg.BreakerFailures, cfg.AttemptTimeout = 1, time.Second
	r, gw, logs := newStubSender(t, cfg, func(ctx context.Context, _ int) sms.Attempt {
		<-ctx.Done()
		return failing(sms.ReasonTimeout)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	res, err := r.SendSMS(ctx, testSMS())
	var se *sms.SendError
	if res.Outcome != domain.OTPFailedTransient || !errors.As(err, &se) || se.Reason != sms.ReasonCancelled {
		t.Fatalf("%+v, %v; want cancelled", res, err)
	}
	if r.State() != gobreaker.StateClosed {
		t.Fatalf("the caller's deadline opened the breaker")
	}
	// The same failure within the caller's deadline is the gateway's.
	// (A deadline of its own: without one the send's budget is its
	// attempts', 130 ms, which a loaded machine could let pass before the
	// first attempt's verdict, making it the caller's.)
	cfg.AttemptTimeout = 30 * time.Millisecond
	r2, _, _ := newStubSender(t, cfg, gw.fn)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if res, _ := r2.SendSMS(ctx2, testSMS()); res.Outcome != domain.OTPFailedTransient || r2.State() != gobreaker.StateOpen {
		t.Fatalf("%+v, breaker %s; want failure and an open breaker", res, r2.State())
	}
	assertNoSecrets(t, logs.String())
}

// Throttling is the gateway asking for less, not failing: a burst of 429s
// does not open the breaker (it once refused every send for its open
// period after five).
func TestResilientThrottlingDoesNotTripBreaker(t *testing.T) {
	cfg := fastResilience()
	cfg.BreakerFailures, cfg.MaxAttempts = 2, 1
	r, gw, _ := newStubSender(t, cfg, func(context.Context, int) sms.Attempt { return failing(sms.ReasonThrottled) })
	for range 5 {
		if res, _ := r.SendSMS(context.Background(), testSMS()); res.Outcome != domain.OTPFailedTransient {
			t.Fatalf("%+v, want a transient failure", res)
		}
	}
	if r.State() != gobreaker.StateClosed || gw.calls.Load() != 5 {
		t.Fatalf("breaker %s after %d throttled calls, want closed and every send tried", r.State(), gw.calls.Load())
	}
	// Gateway failures open it, and throttling between them does not
	// count as a success that would reset their count.
	r2, _, _ := newStubSender(t, cfg, func(_ context.Context, n int) sms.Attempt {
		if n == 2 {
			return failing(sms.ReasonThrottled)
		}
		return failing(sms.ReasonServerError)
	})
	for range 3 {
		_, _ = r2.SendSMS(context.Background(), testSMS())
	}
	if r2.State() != gobreaker.StateOpen {
		t.Fatalf("breaker %s after failure, throttling, failure; want open", r2.State())
	}
}

func TestResilientWithoutDeadlineStillEnds(t *testing.T) {
	cfg := fastResilience()
	cfg.MaxConcurrency, cfg.MaxAttempts, cfg.AttemptTimeout = 1, 1, 200*time.Millisecond
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	// The first send holds the only slot until released, whatever its
	// own timeout says (a gateway ignoring its context).
	r, _, _ := newStubSender(t, cfg, func(context.Context, int) sms.Attempt {
		select {
		case entered <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		return sent()
	})
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = r.SendSMS(context.Background(), testSMS()) })
	select {
	case <-entered: // the first send is at the gateway: it holds the slot
	case <-time.After(5 * time.Second):
		t.Fatal("the first send did not reach the gateway")
	}
	start := time.Now()
	res, err := r.SendSMS(context.Background(), testSMS())
	took := time.Since(start)
	close(release)
	wg.Wait()
	var se *sms.SendError
	if res.Outcome != domain.OTPFailedTransient || !errors.As(err, &se) || se.Reason != sms.ReasonOverloaded {
		t.Fatalf("%+v, %v; want overloaded", res, err)
	}
	if took > 3*time.Second { // its budget is 200 ms; without one it waits the 5 s release
		t.Fatalf("a send without a deadline waited %s for a slot", took)
	}
}

func TestResilientRetryAfterBeyondDeadline(t *testing.T) {
	r, gw, _ := newStubSender(t, fastResilience(), func(context.Context, int) sms.Attempt {
		a := failing(sms.ReasonThrottled)
		a.RetryAfter = 2 * time.Second // within the 2 s cap, beyond the deadline
		return a
	})
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, _ := r.SendSMS(ctx, testSMS())
	if res.Outcome != domain.OTPFailedTransient || res.Detail != "throttled by gateway" || gw.calls.Load() != 1 {
		t.Fatalf("%+v after %d calls", res, gw.calls.Load())
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("waited %s for a retry that could not fit", took)
	}
}

func TestNewResilientValidates(t *testing.T) {
	gw := &stubGateway{fn: func(context.Context, int) sms.Attempt { return sent() }}
	for _, tc := range []struct {
		cfg  sms.ResilienceConfig
		want string
	}{
		{sms.ResilienceConfig{AttemptTimeout: -time.Second}, sms.EnvAttemptTimeout},
		{sms.ResilienceConfig{MaxAttempts: 11}, sms.EnvMaxAttempts},
		{sms.ResilienceConfig{MaxConcurrency: -1}, sms.EnvMaxConcurrency},
		{sms.ResilienceConfig{BreakerFailures: 5000}, sms.EnvBreakerFailures},
		{sms.ResilienceConfig{BreakerOpen: 2 * time.Hour}, sms.EnvBreakerOpen},
	} {
		_, err := sms.NewResilient(gw, sms.Options{Resilience: tc.cfg})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one naming %s", tc.cfg, err, tc.want)
		}
	}
	if _, err := sms.NewResilient(nil, sms.Options{}); err == nil {
		t.Error("a nil gateway was accepted")
	}
	if _, err := sms.NewResilient(gw, sms.Options{}); err != nil {
		t.Errorf("the zero options (all defaults) were refused: %v", err)
	}
}
