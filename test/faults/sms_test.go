package faults

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/test/testkit"
)

// proxiedTwilio starts a fake Twilio gateway behind a fault proxy, and
// returns both with the service environment that sends SMS through the
// proxy.
func proxiedTwilio(t *testing.T) (*testkit.FakeTwilio, *testkit.Proxy, map[string]string) {
	t.Helper()
	gw := &testkit.FakeTwilio{}
	gwSrv := httptest.NewServer(gw)
	t.Cleanup(gwSrv.Close)
	proxy := testkit.NewProxy(t, strings.TrimPrefix(gwSrv.URL, "http://"))
	return gw, proxy, testkit.TwilioEnv("http://" + proxy.Addr())
}

// TestSMSGatewayFaults sends OTPs through the Twilio sender while the
// gateway hangs, fails, refuses connections and recovers. The caller always
// gets its answer in time (otpSent:false when the SMS did not go out, never
// an error status); three failed requests open the breaker, which then
// answers at once without calling the gateway; after the open period one
// probe closes it again once the gateway is healthy. The breaker state is
// read from onboarding_circuit_breaker_state{breaker="sms"}.
func TestSMSGatewayFaults(t *testing.T) {
	t.Parallel()
	gw, proxy, env := proxiedTwilio(t)
	// 1 s, so an answer within the open breaker's 500 ms bound below
	// cannot have waited for the hanging gateway.
	env["ONBOARDING_SMS_ATTEMPT_TIMEOUT"] = "1s"
	env["ONBOARDING_SMS_BREAKER_FAILURES"] = "3"
	// The open period must outlast the five sends checking it on a loaded
	// machine (at 1 s a late one could meet the half-open breaker).
	env["ONBOARDING_SMS_BREAKER_OPEN"] = "3s"
	svc := startService(t, env)
	run := runID()
	n := 0
	send := func(phase string, wantSent bool, within time.Duration) {
		t.Helper()
		n++
		start := time.Now()
		r := testkit.Call(t, svc.API+"/otp/send", map[string]any{
			"processId": "sms-" + run + "-" + strconv.Itoa(n), "userId": "u-1000001", "language": "en",
			"otpCode": strconv.Itoa(90000000 + n), "otpType": "ACTIVATION",
		}, nil)
		took := time.Since(start)
		if r.Status != http.StatusOK || r.Body["otpSent"] != wantSent {
			t.Errorf("%s: %d %s, want 200 otpSent:%v", phase, r.Status, r.Raw, wantSent)
		}
		if took > within {
			t.Errorf("%s: answered after %v, want within %v", phase, took, within)
		}
	}
	wantBreaker := func(phase string, want float64) {
		t.Helper()
		if st := breakerState(t, svc, "sms"); st != want {
			t.Errorf("%s: sms breaker state %v, want %v (0 closed, 1 half-open, 2 open)", phase, st, want)
		}
	}

	send("healthy", true, 2*time.Second)
	wantBreaker("healthy", 0)

	// Hanging: each attempt ends at the 1 s attempt time-out and, being
	// ambiguous (the gateway may have sent it), is not retried.
	gw.SetMode(testkit.GatewayHang)
	for range 3 {
		send("gateway hanging", false, 3*time.Second) // 3x the attempt time-out, under the 4 s request deadline
	}
	wantBreaker("after 3 hangs", 2)
	before := gw.Attempts()
	for range 5 {
		send("breaker open", false, 500*time.Millisecond)
	}
	if gw.Attempts() != before {
		t.Errorf("the open breaker let %d requests through to the gateway", gw.Attempts()-before)
	}

	// Failing: after the open period the probe meets a 500 and the breaker
	// opens again.
	gw.SetMode(testkit.GatewayError)
	time.Sleep(3100 * time.Millisecond)
	send("half-open probe, gateway failing", false, 2*time.Second)
	wantBreaker("after a failed probe", 2)

	// Unreachable: connections refused (retried, since provably not sent,
	// then given up).
	proxy.Refuse()
	time.Sleep(3100 * time.Millisecond)
	send("gateway unreachable", false, 3*time.Second)
	wantBreaker("after an unreachable probe", 2)

	// Recovering: healthy again; the next probe closes the breaker.
	proxy.Restore()
	gw.SetMode(testkit.GatewayOK)
	sent := len(gw.Sent())
	time.Sleep(3100 * time.Millisecond)
	send("recovered", true, 2*time.Second)
	wantBreaker("recovered", 0)
	send("recovered, breaker closed", true, 2*time.Second)
	if got := len(gw.Sent()) - sent; got != 2 {
		t.Errorf("the gateway accepted %d messages after recovering, want 2", got)
	}
}
