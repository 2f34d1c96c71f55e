package gcfloor

import (
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"
)

const mib = 1 << 20

func TestPercent(t *testing.T) {
	for _, c := range []struct {
		name                 string
		floor, live, scanned uint64
		base, want           int
	}{
		{"small live heap: the runtime minimum's bound", 16 * mib, 2 * mib, 3 * mib, 100, 400},
		{"goal from the live heap", 64 * mib, 8 * mib, 8 * mib, 100, 700},
		{"stacks and globals count in the percentage, not the goal's base", 16 * mib, 6 * mib, 8 * mib, 100, 125},
		{"live heap near the floor: GOGC's", 16 * mib, 10 * mib, 10 * mib, 100, 100},
		{"live heap past the floor: GOGC's", 16 * mib, 40 * mib, 41 * mib, 100, 100},
		{"a higher GOGC is kept", 16 * mib, 2 * mib, 3 * mib, 500, 500},
		{"floor 0", 0, 2 * mib, 3 * mib, 100, 100},
		{"nothing measured yet", 16 * mib, 0, 0, 100, 100},
		{"GOGC=off", 16 * mib, 2 * mib, 3 * mib, -1, -1},
		{"exactly the floor's goal", 12 * mib, 6 * mib, 6 * mib, 50, 100},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Percent(c.floor, c.live, c.scanned, c.base)
			if got != c.want {
				t.Errorf("Percent(%d MiB, %d MiB, %d MiB, %d) = %d, want %d", c.floor/mib, c.live/mib, c.scanned/mib, c.base, got, c.want)
			}
			// The goal it gives, as the runtime computes it, is the floor
			// (within rounding) whenever the floor raised the percentage.
			if got > c.base && got < int(c.floor*100/runtimeMinimum) {
				if goal := c.live + c.scanned*uint64(got)/100; goal > c.floor || c.floor-goal > c.scanned/100 {
					t.Errorf("goal %d, want the floor %d", goal, c.floor)
				}
			}
		})
	}
}

// fakeGC records the percentages set, starting from GOGC's base.
type fakeGC struct {
	mu   sync.Mutex
	cur  int
	sets []int
}

func (g *fakeGC) set(p int) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.cur
	g.cur = p
	g.sets = append(g.sets, p)
	return old
}

func (g *fakeGC) get() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cur
}

// TestFloorFollowsCollections: after a collection the percentage is the
// floor's (a test binary's live heap is far below 64 MiB), the floor re-arms
// itself so later collections adjust it again, and Stop puts GOGC's back
// and ends the adjustments.
func TestFloorFollowsCollections(t *testing.T) {
	g := &fakeGC{cur: 100}
	f := start(64*mib, 100, g.set)
	waitFor(t, func() bool { runtime.GC(); return g.get() > 100 })
	// Each adjustment needs the sentinel of the one before collected: five
	// more mean the floor re-armed itself every time.
	after := f.adjustments.Load()
	waitFor(t, func() bool { runtime.GC(); return f.adjustments.Load() >= after+5 })
	if got := f.percent(); got != g.get() || got > 64*mib*100/runtimeMinimum {
		t.Fatalf("current %d, set %d; want the same, at most %d", got, g.get(), 64*mib*100/runtimeMinimum)
	}
	f.Stop()
	if g.get() != 100 {
		t.Fatalf("after Stop the percentage is %d, want GOGC's 100", g.get())
	}
	n := len(g.sets)
	for range 3 {
		runtime.GC()
	}
	time.Sleep(50 * time.Millisecond)
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.sets) != n {
		t.Errorf("percentages set after Stop: %v", g.sets[n:])
	}
}

func TestFloorOff(t *testing.T) {
	for _, c := range []struct {
		name  string
		floor uint64
		base  int
	}{{"floor 0", 0, 100}, {"GOGC=off", 64 * mib, -1}} {
		t.Run(c.name, func(t *testing.T) {
			g := &fakeGC{cur: c.base}
			f := start(c.floor, c.base, g.set)
			for range 3 {
				runtime.GC()
			}
			time.Sleep(50 * time.Millisecond)
			f.Stop()
			if g.get() != c.base || f.percent() != c.base || len(g.sets) != 0 || f.adjustments.Load() != 0 {
				t.Errorf("percentage %d (current %d, %d set, %d adjustments), want %d untouched", g.get(), f.percent(), len(g.sets), f.adjustments.Load(), c.base)
			}
		})
	}
}

// TestStartSetsTheRuntime: the real collector's percentage follows, and is
// restored by Stop.
func TestStartSetsTheRuntime(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	f := Start(64 * mib)
	defer f.Stop()
	waitFor(t, func() bool { runtime.GC(); return f.percent() > 100 })
	if got := debug.SetGCPercent(f.percent()); got != f.percent() {
		t.Errorf("the runtime's percentage is %d, the floor's %d", got, f.percent())
	}
	f.Stop()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("after Stop the runtime's percentage is %d, want 100", got)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("not within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// percent is the GC percentage the floor has set (GOGC's when none).
func (f *Floor) percent() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.current
}
