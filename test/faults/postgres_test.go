package faults

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/test/testkit"
)

// dbRequests are requests that cannot be answered without PostgreSQL.
// (/process/event is best effort by design: it answers 200 and logs a
// storage failure; /consent/text is served from the cache.)
func dbRequests(run string) []struct {
	path string
	body map[string]any
} {
	return []struct {
		path string
		body map[string]any
	}{
		{"/user/lookup", map[string]any{"processId": "pg-" + run, "identification": map[string]any{"clientNumber": "1000001", "birthDate": "1985-04-12"}}},
		{"/consent/storage", map[string]any{"processId": "pg-" + run, "userId": "u-1000001", "consentType": "MARKETING", "approved": true}},
		{"/client/approve", map[string]any{"processId": "pg-" + run, "userId": "u-1000001", "identityVerificationId": "iv-" + run, "status": "SUCCESS", "score": 8.5}},
	}
}

// TestPostgresUnreachable cuts PostgreSQL off: requests that need it
// answer 503 ERROR_GENERIC within faultBound, not at the caller's 5 s;
// /readyz turns 503 while /livez stays 200; when PostgreSQL is reachable
// again everything recovers by itself, without a restart (polled for up to
// recoveryBound: a loaded machine may take seconds to open the new
// connections). Process events, best effort by design, still answer 200.
//
// "refused" is PostgreSQL down or its Service without endpoints: open
// connections reset, new ones refused. "partitioned" is a network that
// drops packets: connections open but nothing answers, so only the connect
// time-out ends an attempt; the test sets ONBOARDING_DB_CONNECT_TIMEOUT to
// 500ms, the value docs/reliability.md recommends inside a cluster.
func TestPostgresUnreachable(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"refused", "partitioned"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			dsn, _ := seededDatabase(t)
			proxied, proxy := viaProxy(t, dsn)
			env := map[string]string{"ONBOARDING_DATABASE_URL": proxied}
			if mode == "partitioned" {
				env["ONBOARDING_DB_CONNECT_TIMEOUT"] = "500ms"
			}
			svc := startService(t, env)
			run := runID() + "-" + mode
			// Before the fault every request is served, once the pool has
			// its connections (which a loaded machine may not open within
			// the partitioned mode's 500 ms connect time-out at once).
			var last string
			attempt := 0
			if !waitFor(t, recoveryBound, func() bool {
				attempt++
				for _, r := range dbRequests(fmt.Sprintf("%s-warm-%d", run, attempt)) {
					if got := testkit.Call(t, svc.API+r.path, r.body, nil); got.Status != http.StatusOK {
						last = fmt.Sprintf("%s: %d %s", r.path, got.Status, got.Raw)
						return false
					}
				}
				return true
			}) {
				t.Fatalf("before the fault, not every request was served within %v; last: %s", recoveryBound, last)
			}

			if mode == "refused" {
				proxy.Refuse()
			} else {
				proxy.Blackhole()
			}
			for round := range 3 {
				for _, r := range dbRequests(fmt.Sprintf("%s-down-%d", run, round)) {
					start := time.Now()
					got := testkit.Call(t, svc.API+r.path, r.body, nil)
					took := time.Since(start)
					if got.Status != http.StatusServiceUnavailable || got.Body["errorCode"] != "ERROR_GENERIC" {
						t.Errorf("%s with PostgreSQL %s: %d %s, want 503 ERROR_GENERIC", r.path, mode, got.Status, got.Raw)
					}
					if took > faultBound {
						t.Errorf("%s with PostgreSQL %s took %v, want under %v", r.path, mode, took, faultBound)
					}
				}
			}
			// Process events are best effort: the caller only logs a failure.
			start := time.Now()
			ev := testkit.Call(t, svc.API+"/process/event", map[string]any{"processId": "pg-" + run, "userId": "u-1000001", "type": "FINISHED"}, nil)
			if ev.Status != http.StatusOK || time.Since(start) > faultBound {
				t.Errorf("process event with PostgreSQL %s: %d %s after %v, want 200 {} within %v", mode, ev.Status, ev.Raw, time.Since(start), faultBound)
			}
			// Readiness gives an answer for a second (shared by the probes
			// that follow it), so the 503 may come a second after the fault.
			if !waitFor(t, readinessBound, func() bool { return testkit.Get(svc.Admin+"/readyz") == http.StatusServiceUnavailable }) {
				t.Errorf("/readyz with PostgreSQL %s: not 503 within %v", mode, readinessBound)
			}
			if st := testkit.Get(svc.Admin + "/livez"); st != http.StatusOK {
				t.Errorf("/livez with PostgreSQL %s: %d, want 200 (the process is fine)", mode, st)
			}

			proxy.Restore()
			back := time.Now()
			recovered := waitFor(t, recoveryBound, func() bool {
				if testkit.Get(svc.Admin+"/readyz") != http.StatusOK {
					return false
				}
				for _, r := range dbRequests(run + "-back") {
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					got, err := testkit.Do(ctx, nil, svc.API+r.path, r.body, nil)
					cancel()
					if err != nil || got.Status != http.StatusOK {
						return false
					}
				}
				return true
			})
			took := time.Since(back)
			t.Logf("PostgreSQL %s: recovered %v after it came back", mode, took)
			if !recovered {
				t.Errorf("not recovered %v after PostgreSQL came back, want it to recover by itself", took)
			}
		})
	}
}

// faultBound is the most a request needing PostgreSQL may take while it is
// unreachable: the partitioned mode's 500 ms connect time-out plus a loaded
// machine's scheduling, and far below the caller's 5 s that a request
// waiting for the database would reach.
const faultBound = 2 * time.Second

// recoveryBound is how long the service may take to serve again once
// PostgreSQL is back (or before the fault, to open its first connections).
const recoveryBound = 15 * time.Second

// waitFor polls cond every 50 ms until it holds or timeout passes.
// readinessBound is how long /readyz may take to follow a dependency:
// an answer is given for a second, and a round of pings takes up to 1.5 s.
const readinessBound = 4 * time.Second

func waitFor(t *testing.T, timeout time.Duration, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}
