package faults

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/test/testkit"
)

// EnvPGRestart turns on TestPostgresRestart, which restarts the shared
// PostgreSQL server: `make test-restart` sets it and runs the test alone,
// after every other package, because a restart breaks whatever else uses
// the server at that moment.
const EnvPGRestart = "ONBOARDING_TEST_PG_RESTART"

// TestPostgresRestart restarts the real PostgreSQL server (pg_ctlcluster
// ... restart, fast shutdown) while 8 clients keep storing consents and
// looking users up: requests during the restart fail with a retryable 503,
// never a 500; the same service process (no restart, no new pool) serves
// again within 5 s of the server being back; /readyz follows.
func TestPostgresRestart(t *testing.T) {
	if os.Getenv(EnvPGRestart) != "1" {
		t.Skipf("restarts the shared PostgreSQL server: run with %s=1 (make test-restart)", EnvPGRestart)
	}
	versions, _ := filepath.Glob("/etc/postgresql/*/main")
	_, lookErr := exec.LookPath("pg_ctlcluster")
	if len(versions) != 1 || lookErr != nil {
		msg := fmt.Sprintf("no single local Debian cluster to restart (/etc/postgresql/*/main: %v; pg_ctlcluster: %v)", versions, lookErr)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg + ": SKIPPED")
	}
	version := filepath.Base(filepath.Dir(versions[0]))
	dsn, _ := seededDatabase(t)
	svc := startService(t, map[string]string{"ONBOARDING_DATABASE_URL": dsn})
	pid := svc.PID()
	run := runID()

	var (
		stop    atomic.Bool
		mu      sync.Mutex
		counts  = map[int]int{}
		lastBad time.Time
		wg      sync.WaitGroup
	)
	for c := range 8 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				r := dbRequests(fmt.Sprintf("%s-%d-%d", run, c, i))[i%3]
				ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
				got, err := testkit.Do(ctx, nil, svc.API+r.path, r.body, nil)
				cancel()
				status := got.Status
				if err != nil {
					status = 0
				}
				mu.Lock()
				counts[status]++
				if status != http.StatusOK {
					lastBad = time.Now()
				}
				mu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	out, err := exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart", "-m", "fast").CombinedOutput()
	restarted := time.Now()
	if err != nil {
		stop.Store(true)
		wg.Wait()
		t.Fatalf("pg_ctlcluster restart: %v\n%s", err, out)
	}
	t.Logf("PostgreSQL %s restarted in %v", version, restarted.Sub(start))
	time.Sleep(5 * time.Second)
	stop.Store(true)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("answers during the run: %v; last failure %v after the restart returned", counts, lastBad.Sub(restarted))
	for status, n := range counts {
		if status != http.StatusOK && status != http.StatusServiceUnavailable {
			t.Errorf("%d answers with status %d (0: none); want only 200 and retryable 503", n, status)
		}
	}
	if counts[http.StatusServiceUnavailable] == 0 {
		t.Errorf("no request failed during the restart: did it happen?")
	}
	if lastBad.After(restarted.Add(3 * time.Second)) {
		t.Errorf("requests still failed %v after PostgreSQL was back, want recovery within 3s", lastBad.Sub(restarted))
	}
	if !waitFor(t, readinessBound, func() bool { return testkit.Get(svc.Admin+"/readyz") == http.StatusOK }) {
		t.Errorf("/readyz after the restart: not 200 within %v", readinessBound)
	}
	if svc.PID() != pid {
		t.Errorf("the service process changed")
	}
}
