package faults

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/test/testkit"
)

// slowSMSService is a service whose OTP sends are slow: the Twilio fake
// behind a proxy adding latency to every packet, which the test can count
// the service's connections at.
func slowSMSService(t *testing.T, latency time.Duration, extra map[string]string) (*testkit.Service, *testkit.FakeTwilio, *testkit.Proxy) {
	t.Helper()
	gw, proxy, env := proxiedTwilio(t)
	proxy.SetLatency(latency)
	env["ONBOARDING_SMS_ATTEMPT_TIMEOUT"] = "3500ms"
	for k, v := range extra {
		env[k] = v
	}
	return startService(t, env), gw, proxy
}

// atGateway waits until n OTP sends have connected to the slow gateway: they
// are inside the service, past its limits, and held there by the latency.
// No keep-alive connection to it exists before: each send opens its own.
func atGateway(t *testing.T, proxy *testkit.Proxy, n int) {
	t.Helper()
	if !waitFor(t, 10*time.Second, func() bool { return proxy.Accepted() >= n }) {
		t.Fatalf("%d of %d OTP sends reached the gateway within 10s", proxy.Accepted(), n)
	}
}

func otpBody(run string, i int) map[string]any {
	return map[string]any{"processId": "ol-" + run + "-" + strconv.Itoa(i), "userId": "u-1000001", "language": "en",
		"otpCode": strconv.Itoa(31000000 + i), "otpType": "ACTIVATION"}
}

// TestOverloadSheds fills ONBOARDING_MAX_IN_FLIGHT=4 with OTP sends held
// by a slow gateway and sends 24 more requests at once: each of them is
// answered 503 ERROR_GENERIC with Retry-After at once, instead of waiting
// in a queue past the caller's 5 s; the held requests complete normally;
// the admin listener (probes, metrics) is not limited; afterwards the
// replica serves as before.
func TestOverloadSheds(t *testing.T) {
	t.Parallel()
	svc, _, gwProxy := slowSMSService(t, 700*time.Millisecond, map[string]string{"ONBOARDING_MAX_IN_FLIGHT": "4"})
	run := runID()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var held sync.WaitGroup
	heldStatus := make([]int, 4)
	for i := range 4 {
		held.Go(func() {
			r, err := testkit.Do(ctx, nil, svc.API+"/otp/send", otpBody(run, i), nil)
			if err == nil && r.Body["otpSent"] == true {
				heldStatus[i] = r.Status
			}
		})
	}
	atGateway(t, gwProxy, 4) // the four are inside, waiting for the gateway

	var shed sync.WaitGroup
	var mu sync.Mutex
	var statuses []int
	var slowest time.Duration
	for i := range 24 {
		shed.Go(func() {
			start := time.Now()
			path, body := "/consent/text", any(map[string]any{"processId": "ol-" + run, "consentType": "GDPR", "language": "en"})
			if i%2 == 1 {
				path, body = "/otp/send", otpBody(run, 100+i)
			}
			r, err := testkit.Do(ctx, nil, svc.API+path, body, nil)
			took := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			slowest = max(slowest, took)
			if err != nil {
				statuses = append(statuses, 0)
				return
			}
			statuses = append(statuses, r.Status)
			if r.Status == http.StatusServiceUnavailable &&
				(r.Header.Get("Retry-After") != "1" || r.Body["errorCode"] != "ERROR_GENERIC") {
				t.Errorf("shed answer without Retry-After: 1 or ERROR_GENERIC: %v %s", r.Header, r.Raw)
			}
		})
	}
	if st := testkit.Get(svc.Admin + "/readyz"); st != http.StatusOK {
		t.Errorf("/readyz during overload: %d", st)
	}
	shed.Wait()
	for i, s := range statuses {
		if s != http.StatusServiceUnavailable {
			t.Errorf("request %d over the limit: %d, want 503", i, s)
		}
	}
	// At once, on a loaded machine: well before a held request (1.4 s or
	// more at the gateway) would free a place for it.
	if slowest > time.Second {
		t.Errorf("the slowest shed answer took %v, want it at once", slowest)
	}
	held.Wait()
	for i, s := range heldStatus {
		if s != http.StatusOK {
			t.Errorf("held request %d: status %d, want 200 otpSent:true", i, s)
		}
	}
	for range 6 {
		if r := testkit.Call(t, svc.API+"/consent/text", map[string]any{"processId": "ol-" + run, "consentType": "GDPR", "language": "en"}, nil); r.Status != http.StatusOK {
			t.Fatalf("after the overload: %d %s", r.Status, r.Raw)
		}
	}
	shedLines := 0
	for _, l := range svc.Logs.Lines(t) {
		if l["msg"] == "request" && l["status"] == float64(http.StatusServiceUnavailable) {
			shedLines++
		}
	}
	if shedLines != 24 {
		t.Errorf("%d access-log lines with 503, want one per shed request (24)", shedLines)
	}
}

// TestGracefulShutdownUnderLoad sends SIGTERM while six OTP sends wait for
// a slow gateway, with ONBOARDING_SHUTDOWN_DELAY=1s: /readyz answers 503 at
// once while the API still serves new requests (readiness false before
// the listener closes); after the delay new connections are refused; the
// six in-flight requests complete with their answers; the process exits 0.
func TestGracefulShutdownUnderLoad(t *testing.T) {
	t.Parallel()
	svc, gw, gwProxy := slowSMSService(t, time.Second, map[string]string{
		"ONBOARDING_SHUTDOWN_DELAY":   "1s",
		"ONBOARDING_SHUTDOWN_TIMEOUT": "10s",
	})
	run := runID()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var inflight sync.WaitGroup
	results := make([]string, 6)
	done := make([]time.Time, 6)
	for i := range 6 {
		inflight.Go(func() {
			r, err := testkit.Do(ctx, nil, svc.API+"/otp/send", otpBody(run, i), nil)
			done[i] = time.Now()
			switch {
			case err != nil:
				results[i] = "error: " + err.Error()
			case r.Status != http.StatusOK || r.Body["otpSent"] != true:
				results[i] = strconv.Itoa(r.Status) + " " + r.Raw
			}
		})
	}
	atGateway(t, gwProxy, 6) // the six are in flight

	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 3 * time.Second}
	text := map[string]any{"processId": "sd-" + run, "consentType": "GDPR", "language": "en"}
	sigterm := time.Now()
	svc.Terminate(t)
	if !waitFor(t, time.Second, func() bool { return testkit.Get(svc.Admin+"/readyz") == http.StatusServiceUnavailable }) {
		t.Fatalf("/readyz did not turn 503 within 1s of SIGTERM")
	}
	notReady := time.Since(sigterm)
	// Readiness is false, the listener still open: a new request is served.
	if r, err := testkit.Do(ctx, fresh, svc.API+"/consent/text", text, nil); err != nil || r.Status != http.StatusOK {
		t.Errorf("a new request %v after SIGTERM, inside the shutdown delay: %v %v", time.Since(sigterm), r.Status, err)
	}
	// After the delay the listener is closed: new connections are refused.
	time.Sleep(time.Until(sigterm.Add(1300 * time.Millisecond)))
	_, err := testkit.Do(ctx, fresh, svc.API+"/consent/text", text, nil)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("a new request after the shutdown delay: %v, want connection refused", err)
	}
	refused := time.Now()
	inflight.Wait()
	for i, res := range results {
		if res != "" {
			t.Errorf("in-flight request %d did not complete: %s", i, res)
		}
		if done[i].Before(refused) {
			t.Errorf("in-flight request %d ended before the listener closed: the test did not drain anything", i)
		}
	}
	if got := len(gw.Sent()); got != 6 {
		t.Errorf("the gateway got %d messages, want the 6 in flight", got)
	}
	if err := svc.Wait(15 * time.Second); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
	t.Logf("readiness false %v after SIGTERM; in-flight requests done %v after it", notReady, time.Since(sigterm))
	var order []string
	for _, l := range svc.Logs.Lines(t) {
		if m, _ := l["msg"].(string); m == "not ready, serving until the shutdown delay ends" || m == "shutting down" || m == "stopped" {
			order = append(order, m)
		}
	}
	if strings.Join(order, " | ") != "not ready, serving until the shutdown delay ends | shutting down | stopped" {
		t.Errorf("shutdown log order %q", order)
	}
}
