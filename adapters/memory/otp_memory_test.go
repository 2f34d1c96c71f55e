package memory

import (
	"context"
	"crypto/rand"
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

// sendKey is the dedupe key of the i-th send of sendFresh: the domain's
// keyed hash, hex.
func sendKey(i int) string { return fmt.Sprintf("%064x", uint64(i)*0x9E3779B97F4A7C15) }

// sendFresh has g take n sends, each of a fresh process and code, as
// requests do (claim, outcome, throttle), building the keys inside the
// loop so a guard that keeps the caller's strings pays for them.
func sendFresh(t *testing.T, g *OTPGuard, n int) {
	t.Helper()
	for i := range n {
		sendOne(t, g, i)
	}
}

// sendOne has g take the i-th send of sendFresh.
func sendOne(t *testing.T, g *OTPGuard, i int) {
	t.Helper()
	ctx := context.Background()
	key, process := sendKey(i), fmt.Sprintf("%08x-4b1d-4c3e-9f00-%012x", i, i*7919)
	if claimed, _, err := g.BeginOTP(ctx, key, time.Minute); err != nil || !claimed {
		t.Fatalf("claim %d: %v %v", i, claimed, err)
	}
	if err := g.FinishOTP(ctx, key, domain.OTPSent, time.Minute); err != nil {
		t.Fatal(err)
	}
	if ok, err := g.AllowOTP(ctx, process, rand.Text(), 5, 15*time.Minute); err != nil || !ok {
		t.Fatalf("send %d refused: %v", i, err)
	}
}

// TestOTPGuardBytesPerSend: what one OTP send leaves in the guard (a dedupe
// key with its outcome and a process's send log) stays small, because on
// PostgreSQL + Redis the guard is the in-process mirror every send is
// recorded in, up to its caps. Holding the caller's
// strings and time.Time values it took 368 bytes a send here (each process
// sending once), half of the service's live heap after an OTP load; 232 as
// it is. The keys are built
// inside the measured loop, as requests build them, so a guard that keeps
// the caller's strings pays for them.
func TestOTPGuardBytesPerSend(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation sizes")
	}
	const n, budget = DefaultOTPProcesses, 260
	g := NewOTPGuardLimits(NewFakeClock(time.Unix(1_700_000_000, 0)), n, n)
	before := liveHeap()
	sendFresh(t, g, n)
	per := float64(liveHeap()-before) / n
	if keys, procs := g.Len(); keys != n || procs != n {
		t.Fatalf("holds %d keys and %d processes, want %d each", keys, procs, n)
	}
	t.Logf("%.0f bytes per send (a dedupe key and a process)", per)
	if per > budget {
		t.Errorf("%.0f bytes per send, budget %d", per, budget)
	}
}

// TestOTPGuardAtDefaultCaps: a flood of fresh processes, each sending one
// code within the windows (an OTP load test, or an attack), leaves the
// default guard at its caps and no further: DefaultOTPDedupeKeys keys,
// DefaultOTPProcesses processes, under 9 MB in all. With the dedupe keys
// capped like the processes it held about 12 MB, the largest part of the
// service's live heap on PostgreSQL + Redis.
func TestOTPGuardAtDefaultCaps(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation sizes")
	}
	const sends, budget = DefaultOTPProcesses + DefaultOTPProcesses/5, 10 << 20
	ctx := context.Background()
	before := liveHeap()
	g := NewOTPGuard(NewFakeClock(time.Unix(1_700_000_000, 0)))
	sendFresh(t, g, sends)
	held := liveHeap() - before
	if keys, procs := g.Len(); keys != DefaultOTPDedupeKeys || procs != DefaultOTPProcesses {
		t.Fatalf("holds %d keys and %d processes, want the caps %d and %d", keys, procs, DefaultOTPDedupeKeys, DefaultOTPProcesses)
	}
	t.Logf("%.1f MB at the caps", float64(held)/(1<<20))
	if held > budget {
		t.Errorf("%.1f MB at the caps, budget %d MB", float64(held)/(1<<20), budget>>20)
	}
	// The newest key is still deduplicated, the oldest forgotten.
	if claimed, outcome, _ := g.BeginOTP(ctx, sendKey(sends-1), time.Minute); claimed || outcome != domain.OTPSent {
		t.Errorf("the newest key is no longer deduplicated: %v %q", claimed, outcome)
	}
	if claimed, _, _ := g.BeginOTP(ctx, sendKey(0), time.Minute); !claimed {
		t.Error("the oldest key should have been forgotten")
	}
	runtime.KeepAlive(g)
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
		if ok, err := g.AllowOTP(ctx, "p", rand.Text(), 1, math.MaxInt64); err != nil || ok != (i == 0) {
			t.Errorf("send %d in a huge window: allowed %v, %v", i+1, ok, err)
		}
	}
	early := NewOTPGuard(clock)
	clock.Set(time.Unix(1_600_000_000, 0)) // a clock set back before the guard started
	for i := range 2 {
		if ok, err := early.AllowOTP(ctx, "p", rand.Text(), 1, math.MaxInt64); err != nil || ok != (i == 0) {
			t.Errorf("send %d before the guard's start: allowed %v, %v", i+1, ok, err)
		}
	}
}
