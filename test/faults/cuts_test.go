package faults

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/test/testkit"
)

// TestConsentsUnderConnectionCuts has 32 clients store consents while the
// proxy cuts every PostgreSQL connection every 50 ms. Nothing is lost and
// nothing is doubled: every request answered 200 has its ledger row, a
// failed request is a 503 the caller may retry (never a 500), and after
// re-sending every failed request, and then every request once more as a
// caller that lost an answer would, the ledger holds exactly one row per
// (process, user, consent type) decision.
func TestConsentsUnderConnectionCuts(t *testing.T) {
	t.Parallel()
	const (
		clients    = 32
		perClient  = 16
		cutEvery   = 50 * time.Millisecond
		maxResends = 20
	)
	dsn, direct := seededDatabase(t)
	proxied, proxy := viaProxy(t, dsn)
	svc := startService(t, map[string]string{"ONBOARDING_DATABASE_URL": proxied})
	run := runID()

	type decision struct {
		body   map[string]any
		status int // of the first attempt; 0 when there was no answer
	}
	decisions := make([]decision, 0, clients*perClient)
	for c := range clients {
		for i := range perClient {
			decisions = append(decisions, decision{body: map[string]any{
				"processId":   fmt.Sprintf("cut-%s-%d-%d", run, c, i),
				"userId":      "u-1000001",
				"consentType": []string{"GDPR", "MARKETING"}[i%2],
				"approved":    i%3 != 0,
			}})
		}
	}
	store := func(body map[string]any) int {
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
		defer cancel()
		got, err := testkit.Do(ctx, nil, svc.API+"/consent/storage", body, nil)
		if err != nil {
			return 0
		}
		return got.Status
	}

	stop := make(chan struct{})
	var cuts atomic.Int64
	var cutter sync.WaitGroup
	cutter.Go(func() {
		tick := time.NewTicker(cutEvery)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				proxy.Cut()
				cuts.Add(1)
			}
		}
	})
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := range perClient {
				d := &decisions[c*perClient+i]
				d.status = store(d.body)
			}
		})
	}
	wg.Wait()
	close(stop)
	cutter.Wait()

	counts := func() map[string]int {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rows, err := direct.Query(ctx, `SELECT process_id, user_id, consent_type, count(*) FROM consent_ledger
WHERE process_id LIKE $1 GROUP BY 1, 2, 3`, "cut-"+run+"-%")
		if err != nil {
			t.Fatalf("reading the ledger: %v", err)
		}
		defer rows.Close()
		out := map[string]int{}
		for rows.Next() {
			var p, u, ct string
			var n int
			if err := rows.Scan(&p, &u, &ct, &n); err != nil {
				t.Fatal(err)
			}
			out[p+"/"+u+"/"+ct] = n
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	key := func(b map[string]any) string {
		return fmt.Sprintf("%s/%s/%s", b["processId"], b["userId"], b["consentType"])
	}

	ok, failed, committed := 0, 0, 0
	stored := counts()
	for _, d := range decisions {
		switch d.status {
		case http.StatusOK:
			ok++
			if stored[key(d.body)] != 1 {
				t.Errorf("%s was answered 200 but has %d ledger rows", key(d.body), stored[key(d.body)])
			}
		case http.StatusServiceUnavailable, 0:
			failed++
			committed += stored[key(d.body)]
			if stored[key(d.body)] > 1 {
				t.Errorf("%s failed but has %d ledger rows", key(d.body), stored[key(d.body)])
			}
		default:
			t.Errorf("%s: status %d, want 200 or a retryable 503", key(d.body), d.status)
		}
	}
	t.Logf("%d connection cuts: %d stored at once, %d failed (503 or no answer; %d of them committed before the cut) and re-sent",
		cuts.Load(), ok, failed, committed)
	// On a fast machine the first phase takes a few hundred milliseconds:
	// a cut every 50 ms still gives it several.
	if cuts.Load() < 3 || failed == 0 {
		t.Fatalf("%d cuts and %d failed requests: the run did not test anything", cuts.Load(), failed)
	}

	// The caller re-sends what failed until it succeeds ...
	for _, d := range decisions {
		if d.status == http.StatusOK {
			continue
		}
		for attempt := 1; store(d.body) != http.StatusOK; attempt++ {
			if attempt == maxResends {
				t.Fatalf("%s still fails after %d re-sends with the connections intact", key(d.body), maxResends)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// ... and re-sends everything once more, as after a lost answer. A
	// pooled connection the proxy cut while it sat idle is found dead only
	// when a request uses it (which then resets the pool, at most once a
	// second), so a re-send may still meet one: that request gets a
	// retryable 503 and the caller sends it again. Any other status, or no 200 within maxResends
	// (more than the pool's connections), fails the test.
	late := 0
	for _, d := range decisions {
		st := store(d.body)
		for attempt := 1; st == http.StatusServiceUnavailable && attempt < maxResends; attempt++ {
			late++
			st = store(d.body)
		}
		if st != http.StatusOK {
			t.Errorf("re-sending %s: %d", key(d.body), st)
		}
	}
	if late > 0 {
		t.Logf("%d re-sends met a connection cut before the end of the run and were sent again", late)
	}
	final := counts()
	if len(final) != len(decisions) {
		t.Errorf("the ledger has %d decisions, want %d", len(final), len(decisions))
	}
	for _, d := range decisions {
		if n := final[key(d.body)]; n != 1 {
			t.Errorf("%s has %d ledger rows, want exactly 1", key(d.body), n)
		}
	}
}
