// Package gcfloor keeps the garbage collector's heap goal from falling below
// a floor while the live heap is small.
//
// With GOGC=100 the collector starts a cycle when the heap has grown by what
// was live after the last one, and at 4 MiB at least. This service's live
// heap is a few MiB (the in-memory default's is about 2), while each request
// allocates a few KiB, so under load it collected dozens of times a second
// and spent about an eighth of its CPU on it: marking, assists, sweeping,
// returning pages, and regrowing the connections' goroutine stacks the
// collector had shrunk. A floor of a few MiB of heap removes most of those cycles; above it
// GOGC applies unchanged, so memory still follows the live heap, and a
// memory limit (GOMEMLIMIT, which the Helm chart sets from the container's)
// still caps it.
//
// After a collection (at most once per cycle, possibly a cycle late: the
// adjustment runs in a cleanup of an object that cycle freed) the floor sets
// the GC percentage to the larger of GOGC's and the one whose goal is the
// floor. The runtime's goal is live + (live + stacks + globals) × p/100, and
// 4 MiB × p/100 at least (its minimum, which scales with the percentage too).
// Between two adjustments the percentage set for the last live heap applies
// to the next, so a heap that grows fast can pass the floor by up to that
// percentage for a cycle; GOMEMLIMIT still caps it.
package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// runtimeMinimum is the collector's minimum heap goal at GOGC=100
// (defaultHeapMinimum in the runtime); it scales with the percentage.
const runtimeMinimum = 4 << 20

// Floor is a running floor; Stop ends it and restores GOGC's percentage.
type Floor struct {
	floor   uint64
	base    int // the percentage GOGC set
	samples []metrics.Sample

	// adjustments counts the adjustments made (tests).
	adjustments atomic.Int64

	mu      sync.Mutex
	stopped bool
	current int // the percentage in force
	set     func(int) int
}

// Start keeps the heap goal at floor bytes at least, from the next
// collection on. It does nothing (and Stop is a no-op) when floor is 0 or
// when GOGC=off: with the collector off, or driven by a memory limit alone,
// there is no percentage to raise. One Floor per process: a second would
// take the first's raised percentage for GOGC's.
func Start(floor uint64) *Floor {
	gogc := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(gogc)
	base := 100
	if gogc[0].Value.Kind() == metrics.KindUint64 {
		base = int(int64(gogc[0].Value.Uint64())) // GOGC=off reads as -1
	}
	return start(floor, base, debug.SetGCPercent)
}

func start(floor uint64, base int, set func(int) int) *Floor {
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
	var v [3]uint64
	for i, s := range f.samples {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = s.Value.Uint64()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return false
	}
	f.adjustments.Add(1)
	if p := Percent(f.floor, v[0], v[0]+v[1]+v[2], f.base); p != f.current {
		f.current = p
		f.set(p)
	}
	return true
}

// Percent is the GC percentage that puts the heap goal at floor bytes for
// live bytes of heap and scanned bytes of heap, stacks and globals (the
// runtime's goal: live + scanned × p/100), never below base.
func Percent(floor, live, scanned uint64, base int) int {
	if scanned == 0 || base < 0 {
		return base
	}
	p := uint64(0)
	if floor > live {
		p = (floor - live) * 100 / scanned
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
