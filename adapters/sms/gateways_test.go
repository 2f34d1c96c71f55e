package sms_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/bankkit/onboarding-adapter/adapters/sms"
	"github.com/bankkit/onboarding-adapter/domain"
)

// scenario is one gateway behaviour, run against both dialects. Every
// scenario asserts the exact number of requests that reached the
// gateway: a request too many is a second SMS on somebody's phone.
type scenario struct {
	name         string
	script       func(d dialect) []reply // answers in order, then d.ok
	deadline     time.Duration           // the caller's deadline; 10s when zero
	refuseFirst  bool                    // the first dial is refused
	wantOutcome  domain.OTPOutcome
	wantReason   sms.Reason
	wantRequests int
	wantDetail   string        // a substring of the result's detail
	minElapsed   time.Duration // the send must take at least this long
	maxElapsed   time.Duration // and at most this long (generous: no timing asserts beyond "within the deadline")
	followUp     bool          // a later send must succeed with exactly one more request
}

func scenarios() []scenario {
	return []scenario{
		{
			name: "success", script: func(d dialect) []reply { return nil },
			wantOutcome: domain.OTPSent, wantReason: sms.ReasonAccepted, wantRequests: 1,
		},
		{
			name: "429 with Retry-After, then success after waiting",
			script: func(d dialect) []reply {
				r := d.throttled
				r.retryAfter = "1"
				return []reply{r}
			},
			wantOutcome: domain.OTPSent, wantReason: sms.ReasonAccepted, wantRequests: 2, minElapsed: time.Second,
		},
		{
			name: "429 with a Retry-After beyond the cap is not retried",
			script: func(d dialect) []reply {
				r := d.throttled
				r.retryAfter = "30"
				return []reply{r}
			},
			wantOutcome: domain.OTPFailedTransient, wantReason: sms.ReasonThrottled, wantRequests: 1,
			wantDetail: "throttled by gateway", maxElapsed: 1500 * time.Millisecond, // under the 2 s cap
		},
		{
			name: "429 whose Retry-After does not fit the deadline is not waited for",
			script: func(d dialect) []reply {
				r := d.throttled
				r.retryAfter = "2" // within the 2 s cap, beyond the deadline
				return []reply{r}
			},
			deadline:    1800 * time.Millisecond,
			wantOutcome: domain.OTPFailedTransient, wantReason: sms.ReasonThrottled, wantRequests: 1,
			wantDetail: "throttled by gateway", maxElapsed: 1200 * time.Millisecond,
		},
		{
			name:        "429 on every attempt ends as throttled",
			script:      func(d dialect) []reply { return []reply{d.throttled, d.throttled, d.throttled} },
			wantOutcome: domain.OTPFailedTransient, wantReason: sms.ReasonThrottled, wantRequests: 3,
			wantDetail: "throttled by gateway",
		},
		{
			name:        "500 is not resent, a later send succeeds",
			script:      func(d dialect) []reply { return []reply{d.serverError} },
			wantOutcome: domain.OTPFailedTransient, wantReason: sms.ReasonServerError, wantRequests: 1,
			wantDetail: "not resent", followUp: true,
		},
		{
			name: "502 is not resent",
			script: func(d dialect) []reply {
				return []reply{{status: http.StatusBadGateway, body: "bad gateway"}}
			},
			wantOutcome: domain.OTPFailedTransient, wantReason: sms.ReasonServerError, wantRequests: 1,
		},
		{
			name: "504 is not resent",
			script: func(d dialect) []reply {
				return []reply{{status: http.StatusGatewayTimeout, body: "upstream timeout"}}
			},
			wantOutcome: domain.OTPFailedTransient, wantReason: sms.ReasonServerError, wantRequests: 1,
		},
		{
			name:        "503 before acceptance, then success",
			script:      func(d dialect) []reply { return []reply{d.unavailable} },
			wantOutcome: domain.OTPSent, wantReason: sms.ReasonAccepted, wantRequests: 2,
		},
		{
			name:        "503 on every attempt stops at the attempt limit",
			script:      func(d dialect) []reply { return []reply{d.unavailable, d.unavailable, d.unavailable} },
			wantOutcome: domain.OTPFailedTransient, wantReason: sms.ReasonUnavailable, wantRequests: 3,
		},
		{
			name: "408 from a proxy was not processed: sent again, then success",
			script: func(d dialect) []reply {
				return []reply{{status: http.StatusRequestTimeout, body: "request timeout"}}
			},
			wantOutcome: domain.OTPSent, wantReason: sms.ReasonAccepted, wantRequests: 2,
		},
		{
			name: "425 was not processed: sent again, then success",
			script: func(d dialect) []reply {
				return []reply{{status: http.StatusTooEarly, body: "too early"}}
			},
			wantOutcome: domain.OTPSent, wantReason: sms.ReasonAccepted, wantRequests: 2,
		},
		{
			name: "409 is not resent and blames no number",
			script: func(d dialect) []reply {
				return []reply{{status: http.StatusConflict, body: "conflict"}}
			},
			wantOutcome: domain.OTPFailedTransient, wantReason: sms.ReasonServerError, wantRequests: 1,
		},
		{
			name:        "permanent 400 is not retried",
			script:      func(d dialect) []reply { return []reply{d.invalidNumber} },
			wantOutcome: domain.OTPFailedPermanent, wantReason: sms.ReasonRejected, wantRequests: 1,
		},
		{
			name: "401 is a configuration failure, not retried",
			script: func(d dialect) []reply {
				return []reply{{status: http.StatusUnauthorized, body: `{"code":20003,"message":"Authenticate","status":401}`}}
			},
			wantOutcome: domain.OTPFailedTransient, wantReason: sms.ReasonConfig, wantRequests: 1,
		},
		{
			name: "a redirect is not followed",
			script: func(d dialect) []reply {
				return []reply{{status: http.StatusTemporaryRedirect, body: ""}}
			},
			wantOutcome: domain.OTPFailedTransient, wantReason: sms.ReasonConfig, wantRequests: 1,
		},
		{
			name:        "a gateway hanging past the attempt timeout gets no second request",
			script:      func(d dialect) []reply { return []reply{{hang: true}} },
			wantOutcome: domain.OTPFailedTransient, wantReason: sms.ReasonTimeout, wantRequests: 1,
			wantDetail: "not resent", followUp: true,
			// Ended by the attempt time-out, well before the caller's 10 s.
			minElapsed: scenarioAttemptTimeout - 50*time.Millisecond, maxElapsed: 3 * scenarioAttemptTimeout,
		},
		{
			name:        "a connection dropped after the request was read is not resent",
			script:      func(d dialect) []reply { return []reply{{reset: true}} },
			wantOutcome: domain.OTPFailedTransient, wantReason: sms.ReasonNetwork, wantRequests: 1,
			wantDetail: "not resent", followUp: true,
		},
		{
			name:        "connection refused, then success on retry",
			script:      func(d dialect) []reply { return nil },
			refuseFirst: true,
			wantOutcome: domain.OTPSent, wantReason: sms.ReasonAccepted, wantRequests: 1,
		},
		{
			name: "a success status with an unreadable body is ambiguous, not resent",
			script: func(d dialect) []reply {
				r := d.ok
				r.body = "<html>ok</html>"
				return []reply{r}
			},
			wantOutcome: domain.OTPFailedTransient, wantReason: sms.ReasonBadResponse, wantRequests: 1,
		},
	}
}

func TestGatewayScenarios(t *testing.T) {
	for _, d := range dialects() {
		for _, sc := range scenarios() {
			t.Run(d.name+"/"+sc.name, func(t *testing.T) {
				t.Parallel()
				gw := newFakeGateway(t, d.ok, sc.script(d)...)
				var logs logCapture
				var reports []sms.SendReport
				var repMu sync.Mutex
				opts := sms.Options{Resilience: fastResilience(), Logger: logs.logger(),
					OnSend: func(r sms.SendReport) { repMu.Lock(); reports = append(reports, r); repMu.Unlock() }}
				var dials func() int
				if sc.refuseFirst {
					opts.Client, dials = refusingFirstDial(t)
				}
				sender := d.newSender(t, gw.srv.URL, opts)

				deadline := sc.deadline
				if deadline == 0 {
					deadline = 10 * time.Second
				}
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				defer cancel()
				start := time.Now()
				res, err := sender.SendSMS(ctx, testSMS())
				took := time.Since(start)

				if res.Outcome != sc.wantOutcome {
					t.Fatalf("outcome %s (%s), want %s", res.Outcome, res.Detail, sc.wantOutcome)
				}
				if got := gw.count(); got != sc.wantRequests {
					t.Fatalf("the gateway got %d requests, want %d", got, sc.wantRequests)
				}
				if took >= deadline {
					t.Errorf("took %s, not within the %s deadline", took, deadline)
				}
				if sc.minElapsed > 0 && took < sc.minElapsed {
					t.Errorf("took %s, want at least %s", took, sc.minElapsed)
				}
				if sc.maxElapsed > 0 && took > sc.maxElapsed {
					t.Errorf("took %s, want at most %s", took, sc.maxElapsed)
				}
				if !strings.Contains(res.Detail, sc.wantDetail) {
					t.Errorf("detail %q, want it to contain %q", res.Detail, sc.wantDetail)
				}
				if sc.wantOutcome == domain.OTPSent {
					if err != nil || res.MessageID == "" {
						t.Errorf("sent with error %v, message id %q", err, res.MessageID)
					}
				} else {
					var se *sms.SendError
					if !errors.As(err, &se) || se.Reason != sc.wantReason || se.Gateway != d.name {
						t.Errorf("error %v, want a *SendError with reason %s", err, sc.wantReason)
					}
				}
				repMu.Lock()
				if len(reports) != 1 || reports[0].Reason != sc.wantReason || reports[0].Outcome != sc.wantOutcome {
					t.Errorf("reports %+v, want one with reason %s", reports, sc.wantReason)
				}
				repMu.Unlock()
				for i := range gw.count() {
					d.checkRequest(t, gw.request(i))
				}
				if sc.refuseFirst && dials() != 2 {
					t.Errorf("%d dials, want 2 (refused, then the gateway)", dials())
				}
				errText := ""
				if err != nil {
					errText = err.Error()
				}
				texts := []string{errText, res.Detail}

				if sc.followUp {
					ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel2()
					res2, err2 := sender.SendSMS(ctx2, testSMS())
					if res2.Outcome != domain.OTPSent || err2 != nil {
						t.Fatalf("the later send: %+v, %v", res2, err2)
					}
					if got := gw.count(); got != sc.wantRequests+1 {
						t.Fatalf("after the later send the gateway got %d requests, want %d", got, sc.wantRequests+1)
					}
				}
				out := logs.String()
				if !strings.Contains(out, domain.MaskPhone(testPhone)) {
					t.Errorf("logs do not name the masked recipient: %s", out)
				}
				assertNoSecrets(t, out, texts...)
			})
		}
	}
}

func TestWebhookFailureField(t *testing.T) {
	for _, d := range dialects() {
		if d.failureField == nil {
			continue
		}
		t.Run(d.name, func(t *testing.T) {
			gw := newFakeGateway(t, d.ok, *d.failureField)
			var logs logCapture
			sender := d.newSender(t, gw.srv.URL, sms.Options{Resilience: fastResilience(), Logger: logs.logger()})
			res, err := sender.SendSMS(context.Background(), testSMS())
			if res.Outcome != domain.OTPFailedPermanent || err == nil {
				t.Fatalf("result %+v, %v; want failed_permanent", res, err)
			}
			if gw.count() != 1 {
				t.Fatalf("%d requests, want 1", gw.count())
			}
			if !strings.Contains(res.Detail, `messages.0.status = "3"`) {
				t.Errorf("detail %q does not name the failure field", res.Detail)
			}
			assertNoSecrets(t, logs.String(), err.Error(), res.Detail)
		})
	}
}

func TestBreakerOpensAndCloses(t *testing.T) {
	for _, d := range dialects() {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			gw := newFakeGateway(t, d.serverError)
			var logs logCapture
			var mu sync.Mutex
			var changes []string
			cfg := fastResilience()
			// The open period must outlast the five sends below on a
			// loaded machine (at 300 ms it could end among them, and a
			// send then reached the gateway).
			cfg.BreakerFailures, cfg.BreakerOpen = 3, 4*time.Second
			sender := d.newSender(t, gw.srv.URL, sms.Options{Resilience: cfg, Logger: logs.logger(),
				OnStateChange: func(name string, from, to gobreaker.State) {
					mu.Lock()
					defer mu.Unlock()
					changes = append(changes, name+":"+from.String()+">"+to.String())
				}})
			send := func() (domain.SendResult, error) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				return sender.SendSMS(ctx, testSMS())
			}
			for i := range 3 {
				if res, _ := send(); res.Outcome != domain.OTPFailedTransient {
					t.Fatalf("send %d: %+v", i, res)
				}
			}
			if gw.count() != 3 || sender.State() != gobreaker.StateOpen {
				t.Fatalf("after 3 failures: %d requests, breaker %s; want 3 and open", gw.count(), sender.State())
			}
			for range 5 {
				start := time.Now()
				res, err := send()
				var se *sms.SendError
				if res.Outcome != domain.OTPFailedTransient || !errors.As(err, &se) || se.Reason != sms.ReasonBreakerOpen {
					t.Fatalf("while open: %+v, %v", res, err)
				}
				if took := time.Since(start); took > 500*time.Millisecond {
					t.Errorf("an open breaker answered after %s, not at once", took)
				}
			}
			if gw.count() != 3 {
				t.Fatalf("%d requests reached the gateway while the breaker was open", gw.count()-3)
			}
			gw.setFallback(d.ok)
			time.Sleep(cfg.BreakerOpen + 50*time.Millisecond)
			if res, err := send(); res.Outcome != domain.OTPSent || err != nil {
				t.Fatalf("after the open period: %+v, %v", res, err)
			}
			if gw.count() != 4 || sender.State() != gobreaker.StateClosed {
				t.Fatalf("after the probe: %d requests, breaker %s; want 4 and closed", gw.count(), sender.State())
			}
			mu.Lock()
			got := strings.Join(changes, " ")
			mu.Unlock()
			want := d.name + ":closed>open " + d.name + ":open>half-open " + d.name + ":half-open>closed"
			if got != want {
				t.Errorf("state changes %q, want %q", got, want)
			}
			if !strings.Contains(logs.String(), "circuit breaker changed state") {
				t.Errorf("no breaker log line: %s", logs.String())
			}
			assertNoSecrets(t, logs.String())
		})
	}
}

func TestBreakerOpeningStopsRetries(t *testing.T) {
	for _, d := range dialects() {
		t.Run(d.name, func(t *testing.T) {
			gw := newFakeGateway(t, d.unavailable)
			cfg := fastResilience()
			cfg.BreakerFailures = 2
			sender := d.newSender(t, gw.srv.URL, sms.Options{Resilience: cfg, Logger: (&logCapture{}).logger()})
			res, err := sender.SendSMS(context.Background(), testSMS())
			var se *sms.SendError
			if res.Outcome != domain.OTPFailedTransient || !errors.As(err, &se) || se.Reason != sms.ReasonBreakerOpen {
				t.Fatalf("result %+v, %v; want the third attempt refused by the breaker", res, err)
			}
			if gw.count() != 2 {
				t.Fatalf("%d requests, want 2", gw.count())
			}
		})
	}
}

func TestConcurrencyBound(t *testing.T) {
	for _, d := range dialects() {
		t.Run(d.name, func(t *testing.T) {
			release := make(chan struct{})
			ok := d.ok
			ok.block = release
			gw := newFakeGateway(t, ok)
			cfg := fastResilience()
			cfg.MaxConcurrency, cfg.AttemptTimeout = 2, 3*time.Second
			var logs logCapture
			sender := d.newSender(t, gw.srv.URL, sms.Options{Resilience: cfg, Logger: logs.logger()})

			var wg sync.WaitGroup
			results := make([]domain.SendResult, 2)
			for i := range 2 {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					results[i], _ = sender.SendSMS(ctx, testSMS())
				})
			}
			for range 2 {
				select {
				case <-gw.inFlight:
				case <-time.After(15 * time.Second):
					t.Fatal("the first two sends did not reach the gateway")
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
			defer cancel()
			res, err := sender.SendSMS(ctx, testSMS())
			var se *sms.SendError
			if res.Outcome != domain.OTPFailedTransient || !errors.As(err, &se) || se.Reason != sms.ReasonOverloaded {
				t.Fatalf("third send: %+v, %v; want overloaded", res, err)
			}
			if gw.count() != 2 {
				t.Fatalf("%d requests while the bound was full, want 2", gw.count())
			}
			close(release)
			wg.Wait()
			for i, r := range results {
				if r.Outcome != domain.OTPSent {
					t.Errorf("send %d: %+v", i, r)
				}
			}
			assertNoSecrets(t, logs.String(), err.Error())
		})
	}
}

// TestNoSecretsInAnyLog runs every scenario, plus the failure-field
// answer first where the dialect has one, into one log at debug level and
// checks the log as a whole, with every result detail and error text.
func TestNoSecretsInAnyLog(t *testing.T) {
	var logs logCapture
	var mu sync.Mutex
	var texts []string
	t.Run("all", func(t *testing.T) {
		for _, d := range dialects() {
			for _, sc := range scenarios() {
				t.Run(d.name+"/"+sc.name, func(t *testing.T) {
					t.Parallel()
					script := sc.script(d)
					if d.failureField != nil {
						script = append([]reply{*d.failureField}, script...)
					}
					gw := newFakeGateway(t, d.ok, script...)
					opts := sms.Options{Resilience: fastResilience(), Logger: logs.logger()}
					if sc.refuseFirst {
						opts.Client, _ = refusingFirstDial(t)
					}
					sender := d.newSender(t, gw.srv.URL, opts)
					for range 2 {
						ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
						res, err := sender.SendSMS(ctx, testSMS())
						cancel()
						mu.Lock()
						texts = append(texts, res.Detail, res.MessageID)
						if err != nil {
							texts = append(texts, err.Error())
						}
						mu.Unlock()
					}
				})
			}
		}
	})
	out := logs.String()
	if strings.Count(out, "\n") < 4*len(scenarios()) {
		t.Fatalf("too few log lines to mean anything: %s", out)
	}
	assertNoSecrets(t, out, texts...)
}
