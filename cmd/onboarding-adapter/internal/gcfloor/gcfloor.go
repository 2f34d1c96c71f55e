// Package gcfloor keeps the garbage collector's heap goal from falling below
// a floor while the live heap is small.
//
// With GOGC=100 the collector starts a cycle when the heap has grown by what
// was live after the last one, and at 4 MiB at least. This service's live
// heap is a few MiB (the in-memory default's is about 2), while each request
// allocates a few KiB, so under load it collected 15 times a second and
// spent about a tenth of its CPU on it: marking, assists, sweeping, returning
// pages, and regrowing the connections' goroutine stacks the collector had
// shrunk. A floor of a few MiB of heap removes most of those cycles; above it
// GOGC applies unchanged, so memory still follows the live heap, and a
// memory limit (GOMEMLIMIT, which the Helm chart sets from the container's)
// still caps it.
//
// After each collection the floor sets the GC percentage to the larger of
// GOGC's and the one whose goal is the floor: goal = 4 MiB × p/100 at least
// (the collector's minimum, which scales with the percentage too) and
// (live heap + stacks + globals) × (1 + p/100).
package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// runtimeMinimum is the collector's minimum heap goal at GOGC=100
// (defaultHeapMinimum in the runtime); it scales with the percentage.
const runtimeMinimum = 4 << 20

// Floor is a running floor; Stop ends it and restores GOGC's percentage.
type Floor struct {
	floor   uint64
	base    int // the percentage GOGC set
	samples []metrics.Sample

	mu      sync.Mutex
	stopped bool
	current int // the percentage in force
	set     func(int) int
}

// Start keeps the heap goal at floor bytes at least, from the next
// collection on. It does nothing (and Stop is a no-op) when floor is 0 or
// when GOGC=off: with the collector off, or driven by a memory limit alone,
// there is no percentage to raise.
func Start(floor uint64) *Floor {
	return start(floor, debug.SetGCPercent)
}

func start(floor uint64, set func(int) int) *Floor {
	base := set(100)
	set(base)
	f := &Floor{floor: floor, base: base, current: base, set: set, samples: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"},
	}}
	if floor == 0 || base < 0 {
		f.stopped = true
		return f
	}
	f.arm()
	return f
}

// sentinel is garbage from birth: its cleanup runs once after each
// collection, which re-arms a new one. It holds a pointer so it is never a
// tiny allocation, whose memory other objects could keep alive.
type sentinel struct{ f *Floor }

func (f *Floor) arm() {
	s := &sentinel{f: f}
	runtime.AddCleanup(s, func(f *Floor) {
		if f.adjust() {
			f.arm()
		}
	}, f)
}

// adjust sets the percentage for the heap measured by the last collection;
// it reports false once stopped.
func (f *Floor) adjust() bool {
	metrics.Read(f.samples)
	var scanned uint64
	for _, s := range f.samples {
		if s.Value.Kind() == metrics.KindUint64 {
			scanned += s.Value.Uint64()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return false
	}
	if p := Percent(f.floor, scanned, f.base); p != f.current {
		f.current = p
		f.set(p)
	}
	return true
}

// Percent is the GC percentage that puts the heap goal at floor bytes for
// scanned bytes of live heap, stacks and globals, and never below base.
func Percent(floor, scanned uint64, base int) int {
	if scanned == 0 || base < 0 {
		return base
	}
	p := uint64(0)
	if floor > scanned {
		p = (floor - scanned) * 100 / scanned
	}
	// The runtime's minimum goal grows with the percentage: past this
	// one it alone would put the goal above the floor.
	if limit := floor * 100 / runtimeMinimum; p > limit {
		p = limit
	}
	if p <= uint64(base) {
		return base
	}
	return int(p)
}

// Current is the GC percentage the floor has set (GOGC's when none).
func (f *Floor) Current() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.current
}

// Stop ends the floor and puts GOGC's percentage back.
func (f *Floor) Stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return
	}
	f.stopped = true
	if f.current != f.base {
		f.set(f.base)
		f.current = f.base
	}
}
