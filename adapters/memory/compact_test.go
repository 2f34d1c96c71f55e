package memory

import (
	"context"
	"crypto/rand"
	"fmt"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

func TestCompact(t *testing.T) {
	for _, tc := range []struct {
		name      string
		size      int
		deletes   int
		rebuilt   bool
		deletesTo int
	}{
		{"no deletions", 10, 0, false, 0},
		{"at the threshold", 10, 10/4 + compactSlack, false, 10/4 + compactSlack},
		{"past the threshold", 10, 10/4 + compactSlack + 1, true, 0},
		{"empty map past the slack", 0, compactSlack + 1, true, 0},
		{"large map below a quarter of its size", 10_000, 2_499, false, 2_499},
		{"large map at the threshold", 10_000, 2_500 + compactSlack, false, 2_500 + compactSlack},
		{"large map past the threshold", 10_000, 2_500 + compactSlack + 1, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := make(map[int]string, tc.size)
			for i := range tc.size {
				m[i] = fmt.Sprint(i)
			}
			c := churn{deletes: tc.deletes}
			got := compact(m, &c)
			if rebuilt := reflect.ValueOf(got).UnsafePointer() != reflect.ValueOf(m).UnsafePointer(); rebuilt != tc.rebuilt {
				t.Errorf("rebuilt %v, want %v", rebuilt, tc.rebuilt)
			}
			if c.deletes != tc.deletesTo {
				t.Errorf("deletions counted after: %d, want %d", c.deletes, tc.deletesTo)
			}
			if !reflect.DeepEqual(got, m) {
				t.Error("the compacted map lost or changed entries")
			}
		})
	}
}

// TestBoundedStoresKeepTheirSizeUnderChurn: a bounded store, once full,
// deletes an entry for every one it adds. Go's maps keep the slots of
// deleted entries, so without compaction such a store grew by a quarter to
// four fifths once full (at a bound of 10,000, the most live heap seen over
// 200,000 entries: the OTP guard 2.54 -> 4.42 MB, the servings 2.59 ->
// 4.72, the ledger 4.75 -> 7.31, the decisions 4.11 -> 5.11; the OTP guard
// is the in-process mirror of every send on PostgreSQL + Redis too). Each
// store is filled to its bound, measured, then taken through twenty times
// as many fresh entries, measured every twentieth of its bound. Rebuilt
// after twice their size in deletions, the stores reached 15%, 21%, 10%
// and 4% above full; after a quarter of it (rebuildAfter), at most 1.3%.
// The allowance of 5% fails the first for three of the four stores (the
// decisions, at 4%, fail only without any rebuild).
func TestBoundedStoresKeepTheirSizeUnderChurn(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation sizes")
	}
	const limit, rounds = 10_000, 20
	ctx := context.Background()
	clock := NewFakeClock(time.Unix(1_700_000_000, 0))
	at := time.Unix(1_700_000_000, 0).UTC()
	for _, tc := range []struct {
		name  string
		bound float64 // the most live heap allowed over the churn, as a multiple of full
		store func() (add func(t *testing.T, i int), keep any)
	}{
		{"OTP guard", 1.05, func() (func(*testing.T, int), any) {
			g := NewOTPGuardLimits(clock, limit, limit)
			return func(t *testing.T, i int) { sendOne(t, g, i) }, g
		}},
		{"consent servings", 1.05, func() (func(*testing.T, int), any) {
			s := NewConsentServingsLimit(limit)
			return func(t *testing.T, i int) {
				if err := s.RecordServing(ctx, domain.ConsentServing{ProcessID: fmt.Sprintf("p-%09d", i), ConsentType: "GDPR", Language: "en", Version: 1}); err != nil {
					t.Fatal(err)
				}
			}, s
		}},
		{"consent ledger", 1.05, func() (func(*testing.T, int), any) {
			l := NewConsentLedgerLimit(clock, limit)
			return func(t *testing.T, i int) {
				rec := domain.ConsentRecord{ProcessID: fmt.Sprintf("p-%09d", i), UserID: fmt.Sprintf("u-%09d", i), ConsentType: "GDPR", Approved: true, RecordedAt: at}
				if _, _, err := l.AppendConsent(ctx, rec); err != nil {
					t.Fatal(err)
				}
			}, l
		}},
		{"decisions", 1.05, func() (func(*testing.T, int), any) {
			s := NewDecisionStoreLimit(limit)
			return func(t *testing.T, i int) {
				d := domain.Decision{Kind: domain.KindApproval, ProcessID: fmt.Sprintf("p-%09d", i), IdentityVerificationID: fmt.Sprintf("v-%09d", i), Result: domain.ResultOK, DecidedAt: at}
				if _, _, err := s.SaveDecision(ctx, d, nil); err != nil {
					t.Fatal(err)
				}
			}, s
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := liveHeap()
			add, store := tc.store()
			for i := range limit {
				add(t, i)
			}
			full := liveHeap() - before
			// Sampled every twentieth of the bound: a rebuild comes every
			// rebuildAfter(limit) deletions (3,524), so the samples see
			// each cycle's map near its largest, just before its rebuild.
			var most uint64
			for i := limit; i < limit*rounds; i++ {
				add(t, i)
				if (i+1)%(limit/20) == 0 {
					most = max(most, liveHeap()-before)
				}
			}
			runtime.KeepAlive(store)
			t.Logf("%.2f MB when full, at most %.2f MB over %d entries", float64(full)/(1<<20), float64(most)/(1<<20), limit*rounds)
			if float64(most) > tc.bound*float64(full) {
				t.Errorf("the store grew from %.2f to %.2f MB while holding %d entries", float64(full)/(1<<20), float64(most)/(1<<20), limit)
			}
		})
	}
}

// TestDecisionsAnswerAfterCompaction: the review queue holds the same
// *ReviewCase pointers as the cases map, so a rebuilt map must keep them
// (a claim through the map shows in the queue), and every index must still
// find the kept decisions and cases.
func TestDecisionsAnswerAfterCompaction(t *testing.T) {
	ctx := context.Background()
	const limit = 5
	n := rebuildAfter(limit) + 200
	s := NewDecisionStoreLimit(limit)
	at := time.Unix(1_700_000_000, 0).UTC()
	for i := range n {
		at = at.Add(time.Second)
		p := fmt.Sprintf("p-%05d", i)
		d := domain.Decision{Kind: domain.KindApproval, ProcessID: p, IdentityVerificationID: "iv", Result: domain.ResultWAIT, DecidedAt: at}
		if _, _, err := s.SaveDecision(ctx, d, &domain.ReviewCase{ID: "case-" + p}); err != nil {
			t.Fatal(err)
		}
	}
	if s.decisionsChurn.deletes >= n-limit || s.casesChurn.deletes >= n-limit || s.caseOfChurn.deletes >= n-limit {
		t.Fatalf("deletions counted %d, %d, %d of %d: no map was rebuilt", s.decisionsChurn.deletes, s.casesChurn.deletes, s.caseOfChurn.deletes, n-limit)
	}
	newest := fmt.Sprintf("p-%05d", n-1)
	if _, err := s.ClaimReviewCase(ctx, "case-"+newest, "alice", "", at); err != nil {
		t.Fatal(err)
	}
	cases, err := s.ListReviewCases(ctx, ports.ReviewFilter{})
	if err != nil || len(cases) != limit {
		t.Fatalf("listed %d cases (%v), want %d", len(cases), err, limit)
	}
	for i, c := range cases {
		if want := fmt.Sprintf("case-p-%05d", n-limit+i); c.ID != want {
			t.Errorf("case %d is %s, want %s", i, c.ID, want)
		}
	}
	if last := cases[limit-1]; last.ClaimedBy != "alice" {
		t.Errorf("the claim made through the rebuilt map is not in the queue: %+v", last)
	}
	d, err := s.Decision(ctx, domain.KindApproval, newest, "iv")
	if err != nil || d.ReviewCaseID != "case-"+newest {
		t.Errorf("the newest decision: %+v, %v", d, err)
	}
	if _, err := s.Decision(ctx, domain.KindApproval, fmt.Sprintf("p-%05d", n-limit-1), "iv"); !domain.IsNotFound(err) {
		t.Errorf("the newest forgotten decision: %v, want not found", err)
	}
}

// TestOTPGuardAnswersAfterSweepCompaction: a sweep that drops more than
// compactSlack expired entries rebuilds both maps, and the guard then
// behaves as before: expired keys and windows are free again, live ones
// still count.
func TestOTPGuardAnswersAfterSweepCompaction(t *testing.T) {
	ctx := context.Background()
	clock := NewFakeClock(time.Unix(1_700_000_000, 0))
	g := NewOTPGuard(clock)
	const n = compactSlack + 500
	for i := range n {
		if claimed, _, err := g.BeginOTP(ctx, sendKey(i), time.Minute); err != nil || !claimed {
			t.Fatalf("claim %d: %v %v", i, claimed, err)
		}
		if ok, err := g.AllowOTP(ctx, fmt.Sprint("process-", i), rand.Text(), 1, time.Minute); err != nil || !ok {
			t.Fatalf("send %d: %v %v", i, ok, err)
		}
	}
	clock.Advance(otpSweepInterval + time.Minute) // every entry expired, a sweep due
	if claimed, _, err := g.BeginOTP(ctx, "fresh", time.Minute); err != nil || !claimed {
		t.Fatalf("fresh claim: %v %v", claimed, err)
	}
	if g.dedupeChurn.deletes != 0 || g.sendsChurn.deletes != 0 {
		t.Fatalf("deletions left counted after the sweep: %d, %d; want both maps rebuilt", g.dedupeChurn.deletes, g.sendsChurn.deletes)
	}
	if keys, procs := g.Len(); keys != 1 || procs != 0 {
		t.Fatalf("after the sweep: %d keys and %d processes, want 1 and 0", keys, procs)
	}
	if claimed, _, _ := g.BeginOTP(ctx, "fresh", time.Minute); claimed {
		t.Error("the key claimed after the rebuild is not deduplicated")
	}
	if claimed, _, _ := g.BeginOTP(ctx, sendKey(0), time.Minute); !claimed {
		t.Error("an expired key cannot be claimed again")
	}
	for i, want := range []bool{true, false} {
		if ok, _ := g.AllowOTP(ctx, "process-0", rand.Text(), 1, time.Minute); ok != want {
			t.Errorf("send %d of a process whose window passed: allowed %v, want %v", i+1, ok, want)
		}
	}
}

// BenchmarkCompact is the pause a rebuild adds, under its store's lock, to
// the request that triggers it: the OTP guard's processes (50,000 at the
// default cap, rebuilt about every 13,500 sends) and a 10,000-entry map.
func BenchmarkCompact(b *testing.B) {
	for _, n := range []int{10_000, DefaultOTPProcesses} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			m := make(map[otpKey]sendLog, n)
			for i := range n {
				m[otpKeyOf(fmt.Sprint(i))] = sendLog{times: []sent{{at: time.Duration(i)}}, window: time.Minute}
			}
			for b.Loop() {
				c := churn{deletes: rebuildAfter(n) + 1}
				if fresh := compact(m, &c); len(fresh) != n {
					b.Fatalf("%d entries after the rebuild, want %d", len(fresh), n)
				}
			}
		})
	}
}
