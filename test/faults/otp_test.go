package faults

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/test/testkit"
)

// TestOTPOutcomeReachesRedisAfterAnOutage runs two replicas on one Redis,
// the first through a proxy. A send claimed on the first replica is held at
// the gateway while the proxy refuses Redis, then let through: the SMS goes
// out, but the replica cannot write its outcome, so Redis still holds the
// claim. The replica reports the outcome as owed
// (onboarding_otp_owed_outcomes 1) and writes it once Redis answers it
// again (0), after which a retry of the code on the second replica is
// answered otpSent true at once, with no second SMS. Before this was
// mended, that retry waited out its poll and answered otpSent false.
func TestOTPOutcomeReachesRedisAfterAnOutage(t *testing.T) {
	t.Parallel()
	rurl := testkit.RedisURL(t)
	prefix := testkit.NewRedisKeyPrefix(t, rurl)
	u, err := url.Parse(rurl)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testkit.NewProxy(t, u.Host)
	viaProxy := *u
	viaProxy.Host = proxy.Addr()

	gw := &testkit.FakeTwilio{}
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	gwSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { // the first request waits, the test's hold on the send
			close(arrived)
			<-release
		})
		gw.ServeHTTP(w, r)
	}))
	t.Cleanup(gwSrv.Close)
	env := func(redisURL string) map[string]string {
		e := testkit.TwilioEnv(gwSrv.URL)
		e["ONBOARDING_REDIS_URL"] = redisURL
		e["ONBOARDING_REDIS_KEY_PREFIX"] = prefix
		e["ONBOARDING_OTP_HASH_KEY"] = "otp-owed-fault-test-hash-key-0123456789"
		return e
	}
	first := startService(t, env(viaProxy.String()))
	second := startService(t, env(rurl))

	send := map[string]any{"processId": "owed-" + runID(), "userId": "u-1000001", "language": "en",
		"otpCode": "31415926", "otpType": "ACTIVATION"}
	type reply struct {
		testkit.Reply
		err error
	}
	answered := make(chan reply, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		r, err := testkit.Do(ctx, nil, first.API+"/otp/send", send, nil)
		answered <- reply{r, err}
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the send never reached the gateway")
	}
	proxy.Refuse()
	close(release)
	if r := <-answered; r.err != nil || r.Status != http.StatusOK || r.Body["otpSent"] != true {
		t.Fatalf("the held send: %d %s %v, want otpSent true", r.Status, r.Raw, r.err)
	}
	if v, _ := testkit.FindMetric(testkit.ScrapeMetrics(t, first), "onboarding_otp_owed_outcomes", nil); v != 1 {
		t.Fatalf("onboarding_otp_owed_outcomes = %v with Redis away, want 1", v)
	}
	keys := testkit.RedisKeys(t, rurl, prefix+"otp:dedupe:*")
	if len(keys) != 1 {
		t.Fatalf("dedupe keys in Redis: %v, want the one claim", keys)
	}

	proxy.Restore()
	// The Redis breaker probes once per open period (5 s); allow three.
	if !waitFor(t, 20*time.Second, func() bool {
		v, _ := testkit.FindMetric(testkit.ScrapeMetrics(t, first), "onboarding_otp_owed_outcomes", nil)
		return v == 0
	}) {
		t.Fatal("the owed outcome was not written within 20 s of Redis coming back")
	}
	sent := len(gw.Sent())
	start := time.Now()
	r := testkit.Call(t, second.API+"/otp/send", send, nil)
	if r.Status != http.StatusOK || r.Body["otpSent"] != true {
		t.Fatalf("the retry on the other replica: %d %s, want otpSent true", r.Status, r.Raw)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("the retry took %v: it waited for a claim instead of reading the outcome", took)
	}
	if len(gw.Sent()) != sent {
		t.Errorf("the retry sent a second SMS")
	}
}

// TestOTPThrottleRefundsSendsTheGatewayNeverTook: while the gateway refuses
// connections (and then its breaker is open), every send of one process
// answers otpSent false and is refunded to the throttle (5 per 15 minutes
// by default), so after seven of them, once the gateway is back, the
// process still gets its code. Before this was mended, the sixth send on
// was throttled for the rest of the window.
func TestOTPThrottleRefundsSendsTheGatewayNeverTook(t *testing.T) {
	t.Parallel()
	gw, proxy, env := proxiedTwilio(t)
	env["ONBOARDING_SMS_BREAKER_OPEN"] = "1s"
	svc := startService(t, env)
	process := "refund-" + runID()
	n := 0
	send := func() testkit.Reply {
		n++
		return testkit.Call(t, svc.API+"/otp/send", map[string]any{"processId": process, "userId": "u-1000001",
			"language": "en", "otpCode": strconv.Itoa(27180000 + n), "otpType": "ACTIVATION"}, nil)
	}
	proxy.Refuse()
	for i := range 7 {
		if r := send(); r.Status != http.StatusOK || r.Body["otpSent"] != false {
			t.Fatalf("send %d with the gateway refusing: %d %s, want otpSent false", i+1, r.Status, r.Raw)
		}
	}
	if gw.Attempts() != 0 {
		t.Fatalf("the gateway saw %d requests through a refusing proxy", gw.Attempts())
	}
	proxy.Restore()
	// After the breaker's open period its probe is the next send.
	if !waitFor(t, 10*time.Second, func() bool {
		r := send()
		if r.Status != http.StatusOK {
			t.Fatalf("send after the gateway came back: %d %s", r.Status, r.Raw)
		}
		return r.Body["otpSent"] == true
	}) {
		t.Fatal("the process got no code once the gateway was back: its failed sends were counted")
	}
	if len(gw.Sent()) != 1 {
		t.Errorf("the gateway took %d messages, want 1", len(gw.Sent()))
	}
}

// TestOTPRetryAfterTheCallerLeftSends: the caller gives up on a send while
// the SMS gateway refuses connections (the service is between its retries,
// nothing submitted) and sends the same code again once the gateway is
// back. The retry sends the code: the abandoned send released its claim.
// Before, the retry was answered otpSent false from the first send's
// outcome, for an SMS nobody had tried to send, and the user got no code.
// In memory and on Redis.
func TestOTPRetryAfterTheCallerLeftSends(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"memory", "redis"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			gw, proxy, env := proxiedTwilio(t)
			env["ONBOARDING_SMS_MAX_ATTEMPTS"] = "10"      // retrying for seconds: the caller leaves first
			env["ONBOARDING_SMS_BREAKER_FAILURES"] = "100" // the retry must find the breaker closed
			if mode == "redis" {
				rurl := testkit.RedisURL(t)
				env["ONBOARDING_REDIS_URL"] = rurl
				env["ONBOARDING_REDIS_KEY_PREFIX"] = testkit.NewRedisKeyPrefix(t, rurl)
			}
			svc := startService(t, env)
			body := map[string]any{"processId": "left-" + runID(), "userId": "u-1000001", "language": "en",
				"otpCode": "31415926", "otpType": "ACTIVATION"}

			proxy.Refuse()
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			_, err := testkit.Do(ctx, nil, svc.API+"/otp/send", body, nil)
			cancel()
			if err == nil {
				t.Fatal("the first send answered within 300 ms while the gateway refused connections and 10 attempts were allowed")
			}
			if !strings.Contains(svc.Logs.String(), "sms gateway did not take the message, retrying") {
				t.Fatalf("the first send never reached the gateway's retries:\n%s", svc.Logs.String())
			}
			proxy.Restore()
			r := testkit.Call(t, svc.API+"/otp/send", body, nil)
			if r.Status != http.StatusOK || r.Body["otpSent"] != true {
				t.Fatalf("the caller's retry of the code: %d %s, want otpSent true", r.Status, r.Raw)
			}
			if n := len(gw.Sent()); n != 1 {
				t.Fatalf("the gateway took %d messages, want 1", n)
			}
		})
	}
}
