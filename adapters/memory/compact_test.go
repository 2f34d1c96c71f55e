package memory

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
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
		{"at the threshold", 10, 2*10 + compactSlack, false, 2*10 + compactSlack},
		{"past the threshold", 10, 2*10 + compactSlack + 1, true, 0},
		{"empty map past the slack", 0, compactSlack + 1, true, 0},
		{"large map below twice its size", 10_000, 20_000, false, 20_000},
		{"large map past twice its size", 10_000, 20_000 + compactSlack + 1, true, 0},
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
// three quarters once full (measured at a bound of 10,000, after 200,000
// entries: the OTP guard from 2.5 to 4.4 MB, the servings 2.6 to 4.7, the
// ledger 4.7 to 7.3, the decisions 4.1 to 5.1; the OTP guard is the
// in-process mirror of every send on PostgreSQL + Redis too). Each store is
// filled to its bound, measured, then taken through twenty times as many
// fresh entries and measured again; with compaction none grows by more
// than 3%.
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
		store func() (add func(t *testing.T, i int), keep any)
	}{
		{"OTP guard", func() (func(*testing.T, int), any) {
			g := NewOTPGuardLimits(clock, limit, limit)
			return func(t *testing.T, i int) {
				key, process := sendKey(i), fmt.Sprintf("%08x-4b1d-4c3e-9f00-%012x", i, i*7919)
				if claimed, _, err := g.BeginOTP(ctx, key, time.Minute); err != nil || !claimed {
					t.Fatalf("claim %d: %v %v", i, claimed, err)
				}
				if err := g.FinishOTP(ctx, key, domain.OTPSent, time.Minute); err != nil {
					t.Fatal(err)
				}
				if ok, err := g.AllowOTP(ctx, process, 5, 15*time.Minute); err != nil || !ok {
					t.Fatalf("send %d refused: %v", i, err)
				}
			}, g
		}},
		{"consent servings", func() (func(*testing.T, int), any) {
			s := NewConsentServingsLimit(limit)
			return func(t *testing.T, i int) {
				if err := s.RecordServing(ctx, domain.ConsentServing{ProcessID: fmt.Sprintf("p-%09d", i), ConsentType: "GDPR", Language: "en", Version: 1}); err != nil {
					t.Fatal(err)
				}
			}, s
		}},
		{"consent ledger", func() (func(*testing.T, int), any) {
			l := NewConsentLedgerLimit(clock, limit)
			return func(t *testing.T, i int) {
				rec := domain.ConsentRecord{ProcessID: fmt.Sprintf("p-%09d", i), UserID: fmt.Sprintf("u-%09d", i), ConsentType: "GDPR", Approved: true, RecordedAt: at}
				if _, _, err := l.AppendConsent(ctx, rec); err != nil {
					t.Fatal(err)
				}
			}, l
		}},
		{"decisions", func() (func(*testing.T, int), any) {
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
			for i := limit; i < limit*rounds; i++ {
				add(t, i)
			}
			churned := liveHeap() - before
			runtime.KeepAlive(store)
			t.Logf("%.1f MB when full, %.1f MB after %d entries", float64(full)/(1<<20), float64(churned)/(1<<20), limit*rounds)
			if float64(churned) > 1.1*float64(full) {
				t.Errorf("the store grew from %.1f to %.1f MB while holding %d entries", float64(full)/(1<<20), float64(churned)/(1<<20), limit)
			}
		})
	}
}
