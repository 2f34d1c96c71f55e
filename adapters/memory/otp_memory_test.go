package memory

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
)

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestOTPGuardBytesPerSend: what one OTP send leaves in the guard (a dedupe
// key with its outcome and a process's send log) stays small, because on
// PostgreSQL + Redis the guard is the in-process mirror every send is
// recorded in, up to DefaultOTPGuardEntries of each. Holding the caller's
// strings and time.Time values it took 368 bytes a send here (each process
// sending once), half of the service's live heap after an OTP load; 232 as
// it is. The keys are built
// inside the measured loop, as requests build them, so a guard that keeps
// the caller's strings pays for them.
func TestOTPGuardBytesPerSend(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation sizes")
	}
	const n, budget = DefaultOTPGuardEntries, 260
	ctx := context.Background()
	g := NewOTPGuard(NewFakeClock(time.Unix(1_700_000_000, 0)))
	before := liveHeap()
	for i := range n {
		key := fmt.Sprintf("%064x", uint64(i)*0x9E3779B97F4A7C15) // the domain's keyed hash, hex
		process := fmt.Sprintf("%08x-4b1d-4c3e-9f00-%012x", i, i*7919)
		if claimed, _, err := g.BeginOTP(ctx, key, time.Minute); err != nil || !claimed {
			t.Fatalf("claim %d: %v %v", i, claimed, err)
		}
		if err := g.FinishOTP(ctx, key, domain.OTPSent, time.Minute); err != nil {
			t.Fatal(err)
		}
		if ok, err := g.AllowOTP(ctx, process, 5, 15*time.Minute); err != nil || !ok {
			t.Fatalf("send %d refused: %v", i, err)
		}
	}
	per := float64(liveHeap()-before) / n
	if keys, procs := g.Len(); keys != n || procs != n {
		t.Fatalf("holds %d keys and %d processes, want %d each", keys, procs, n)
	}
	t.Logf("%.0f bytes per send (a dedupe key and a process)", per)
	if per > budget {
		t.Errorf("%.0f bytes per send, budget %d", per, budget)
	}
}

// TestOTPGuardHugeTTL: no policy bounds the dedupe TTL or the throttle
// window, and times are offsets from the guard's start, so their sums must
// saturate rather than wrap around to an entry that expired before it was
// written (a review caught the first version of the offsets doing so).
func TestOTPGuardHugeTTL(t *testing.T) {
	ctx := context.Background()
	clock := NewFakeClock(time.Unix(1_700_000_000, 0))
	g := NewOTPGuard(clock)
	clock.Advance(time.Hour)
	if claimed, _, err := g.BeginOTP(ctx, "k", math.MaxInt64); err != nil || !claimed {
		t.Fatalf("first claim: %v %v", claimed, err)
	}
	if claimed, outcome, err := g.BeginOTP(ctx, "k", math.MaxInt64); err != nil || claimed || outcome != domain.OTPPending {
		t.Errorf("second claim within a huge TTL: claimed %v, %q, %v; want the pending outcome", claimed, outcome, err)
	}
	for i := range 2 {
		if ok, err := g.AllowOTP(ctx, "p", 1, math.MaxInt64); err != nil || ok != (i == 0) {
			t.Errorf("send %d in a huge window: allowed %v, %v", i+1, ok, err)
		}
	}
	early := NewOTPGuard(clock)
	clock.Set(time.Unix(1_600_000_000, 0)) // a clock set back before the guard started
	for i := range 2 {
		if ok, err := early.AllowOTP(ctx, "p", 1, math.MaxInt64); err != nil || ok != (i == 0) {
			t.Errorf("send %d before the guard's start: allowed %v, %v", i+1, ok, err)
		}
	}
}
