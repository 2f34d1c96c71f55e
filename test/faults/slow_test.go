package faults

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/adapters/postgres"
	"github.com/bankkit/onboarding-adapter/adapters/sms"
	"github.com/bankkit/onboarding-adapter/domain/approval"
	"github.com/bankkit/onboarding-adapter/domain/consent"
	"github.com/bankkit/onboarding-adapter/domain/evaluation"
	"github.com/bankkit/onboarding-adapter/domain/events"
	"github.com/bankkit/onboarding-adapter/domain/lookup"
	"github.com/bankkit/onboarding-adapter/domain/otp"
	"github.com/bankkit/onboarding-adapter/domain/policy"
	"github.com/bankkit/onboarding-adapter/test/testkit"
	httptransport "github.com/bankkit/onboarding-adapter/transport/http"
)

// slowLatency is the delay the proxy adds to every packet: far beyond
// the request deadline the tests set.
const slowLatency = 3 * time.Second

// burst sends every DB request n times at once and returns, per request,
// the status (0: no answer) and how long it took.
func burst(ctx context.Context, client *http.Client, base, run string, n int) (statuses []int, took []time.Duration) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		for _, r := range dbRequests(fmt.Sprintf("%s-%d", run, i)) {
			wg.Go(func() {
				start := time.Now()
				got, err := testkit.Do(ctx, client, base+r.path, r.body, nil)
				d := time.Since(start)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					statuses = append(statuses, 0)
				} else {
					statuses = append(statuses, got.Status)
				}
				took = append(took, d)
			})
		}
	}
	wg.Wait()
	return statuses, took
}

// TestPostgresSlow puts 3 s of latency on every PostgreSQL packet with a
// request deadline of 1 s (ONBOARDING_REQUEST_TIMEOUT): every request,
// 24 at once, answers 503 within the deadline (plus scheduling slack), none
// waits for the database; /readyz turns 503; without the latency the
// service serves again on its own.
func TestPostgresSlow(t *testing.T) {
	t.Parallel()
	dsn, _ := seededDatabase(t)
	proxied, proxy := viaProxy(t, dsn)
	svc := startService(t, map[string]string{
		"ONBOARDING_DATABASE_URL":    proxied,
		"ONBOARDING_REQUEST_TIMEOUT": "1s",
	})
	run := runID()
	for _, r := range dbRequests(run + "-warm") {
		if got := testkit.Call(t, svc.API+r.path, r.body, nil); got.Status != http.StatusOK {
			t.Fatalf("%s before the fault: %d %s", r.path, got.Status, got.Raw)
		}
	}
	proxy.SetLatency(slowLatency)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	statuses, took := burst(ctx, nil, svc.API, run+"-slow", 8)
	for i := range statuses {
		if statuses[i] != http.StatusServiceUnavailable {
			t.Errorf("request %d with a slow database: status %d, want 503", i, statuses[i])
		}
		if took[i] > 1500*time.Millisecond {
			t.Errorf("request %d with a slow database took %v, want the 1s deadline", i, took[i])
		}
	}
	if !waitFor(t, readinessBound, func() bool { return testkit.Get(svc.Admin+"/readyz") == http.StatusServiceUnavailable }) {
		t.Errorf("/readyz with a slow database: not 503 within %v", readinessBound)
	}
	proxy.SetLatency(0)
	if !waitFor(t, 5*time.Second, func() bool {
		got, err := testkit.Do(ctx, nil, svc.API+"/user/lookup", dbRequests(run + "-back")[0].body, nil)
		return err == nil && got.Status == http.StatusOK
	}) {
		t.Errorf("the service did not serve again within 5s of the latency ending")
	}
}

// TestPostgresSlowNoGoroutineLeak is TestPostgresSlow in process, where
// goleak can see: the transport, the domain services and the PostgreSQL
// adapter as serve wires them, requests cut off by the deadline while
// queries hang, then everything closed. No goroutine may outlive it. It
// runs alone (no t.Parallel), so the other tests' goroutines are not
// counted.
func TestPostgresSlowNoGoroutineLeak(t *testing.T) {
	dsn, direct := seededDatabase(t)
	direct.Close() // only the proxied pool below may run
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	proxied, proxy := viaProxy(t, dsn)
	defer proxy.Close()
	// A connect time-out a loaded machine's connections fit in: the leak,
	// not the time-out, is what this test is about.
	pool, err := postgres.NewPool(context.Background(), proxied, postgres.PoolConfig{MaxConns: 4, ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	clock, ids := memory.SystemClock{}, memory.NewRandomIDs()
	st := postgres.New(pool, clock, ids)
	pol := policy.Default()
	guard := memory.NewOTPGuard(clock)
	services := httptransport.Services{
		Lookup:     lookup.New(st.Registry, st.Ledger, st.ConsentTexts, pol.Lookup, pol.Consent),
		Approval:   approval.New(st.Decisions, st.Registry, clock, ids, pol.Decision),
		Evaluation: evaluation.New(st.Decisions, st.Registry, clock, ids, pol.Decision, pol.Evaluation),
		OTP:        otp.New(st.Registry, guard, guard, sms.NewLogSender(slog.New(slog.DiscardHandler)), []byte("goleak-test-otp-hash-key-0123456789"), pol.OTP),
		Consent:    consent.New(st.ConsentTexts, st.Servings, st.Ledger, clock, pol.Consent),
		Events:     events.New(st.Events, clock),
	}
	h, err := httptransport.NewHandler(services, httptransport.Config{RequestTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := srv.Client()
	defer client.CloseIdleConnections()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run := runID() + "-leak"
	// Every request served before the fault, once the pool's connections
	// are open: the first requests' 500 ms deadline may end before a loaded
	// machine has opened them (they go on opening in the background).
	var warm []int
	attempt := 0
	if !waitFor(t, 10*time.Second, func() bool {
		attempt++
		warm, _ = burst(ctx, client, srv.URL, fmt.Sprintf("%s-warm-%d", run, attempt), 1)
		return allEqual(warm, http.StatusOK)
	}) {
		t.Fatalf("before the fault: %v", warm)
	}
	proxy.SetLatency(slowLatency)
	statuses, took := burst(ctx, client, srv.URL, run+"-slow", 6)
	for i := range statuses {
		// 2 s: the 500 ms deadline and a loaded machine's scheduling, and
		// still below the 3 s a request waiting for the database would take.
		if statuses[i] != http.StatusServiceUnavailable || took[i] > 2*time.Second {
			t.Errorf("request %d with a slow database: %d after %v, want 503 within the 500ms deadline", i, statuses[i], took[i])
		}
	}
	proxy.SetLatency(0)
	// Connections being opened when the latency ended still take up to its
	// 3 s, and hold the pool's four slots meanwhile.
	if !waitFor(t, 10*time.Second, func() bool {
		s, _ := burst(ctx, client, srv.URL, run+"-back", 1)
		return allEqual(s, http.StatusOK)
	}) {
		t.Errorf("no recovery after the latency ended")
	}
}

func allEqual(xs []int, v int) bool {
	for _, x := range xs {
		if x != v {
			return false
		}
	}
	return len(xs) > 0
}
