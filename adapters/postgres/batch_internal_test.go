package postgres

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// burstGroup is a group with one lane and the given burst (a read group's
// shape, with a smaller burst and a 10 s window, so only the lane and the
// burst decide), whose flush records each batch's size and holds it until
// released.
type burstGroup struct {
	g       *group[int, int]
	mu      sync.Mutex
	started []int           // sizes of the batches flushed so far, in order
	release chan struct{}   // closed to let every held flush end
	once    sync.Once       // closes release once
	began   chan int        // a batch's size, sent when its flush starts
	wg      sync.WaitGroup  // the calls
	outs    map[int]int     // call -> its answer
	errs    map[int]error   // call -> its error
	outMu   sync.Mutex      // guards outs and errs
	ctx     context.Context // the callers'
}

func newBurstGroup(t *testing.T, burst int, abandon bool) *burstGroup {
	t.Helper()
	bg := &burstGroup{release: make(chan struct{}), began: make(chan int, 16), outs: map[int]int{}, errs: map[int]error{}}
	var cancel context.CancelFunc
	bg.ctx, cancel = context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(func() {
		bg.releaseAll() // a failed test leaves no flush held
		bg.wg.Wait()
		cancel()
	})
	flush := func(_ context.Context, calls []*call[int, int]) {
		bg.mu.Lock()
		bg.started = append(bg.started, len(calls))
		bg.mu.Unlock()
		bg.began <- len(calls)
		<-bg.release
		for _, c := range calls {
			c.finish(c.in*10, nil)
		}
	}
	alone := func(_ context.Context, in int) (int, error) {
		flush(context.Background(), []*call[int, int]{{in: in}})
		return in * 10, nil
	}
	cfg := BatchConfig{Window: 10 * time.Second, MaxItems: 64, Lanes: 1, burst: burst, abandon: abandon}
	bg.g = newGroup(cfg, flush, alone)
	return bg
}

// releaseAll lets every held flush, and those to come, end.
func (bg *burstGroup) releaseAll() { bg.once.Do(func() { close(bg.release) }) }

// read submits in and records its answer when it comes.
func (bg *burstGroup) read(in int) {
	bg.wg.Go(func() {
		out, _, err := bg.g.do(bg.ctx, in)
		bg.outMu.Lock()
		bg.outs[in], bg.errs[in] = out, err
		bg.outMu.Unlock()
	})
}

// waitQueued waits until n calls are in the open batch.
func (bg *burstGroup) waitQueued(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		bg.g.mu.Lock()
		queued := 0
		if bg.g.open != nil {
			queued = len(bg.g.open.calls)
		}
		bg.g.mu.Unlock()
		if queued == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued, want %d", queued, n)
		}
	}
}

// releaseAndCheck lets the held flushes end, expects the calls that waited
// to go as one batch of last, and checks that calls 1…n were answered.
func (bg *burstGroup) releaseAndCheck(t *testing.T, last, n int) {
	t.Helper()
	bg.releaseAll()
	if got := bg.nextFlush(5 * time.Second); got != last {
		t.Fatalf("the calls gathered behind the busy lanes went as %d, want one batch of %d", got, last)
	}
	bg.wg.Wait()
	for in := 1; in <= n; in++ {
		if bg.errs[in] != nil || bg.outs[in] != in*10 {
			t.Errorf("call %d: %d, %v; want %d", in, bg.outs[in], bg.errs[in], in*10)
		}
	}
}

// nextFlush returns the size of the next batch whose flush starts, or 0 when
// none starts within d.
func (bg *burstGroup) nextFlush(d time.Duration) int {
	select {
	case n := <-bg.began:
		return n
	case <-time.After(d):
		return 0
	}
}

// TestReadBurstTakesASecondLane: with its one lane busy, a read batch waits
// for it while it is small, and goes on a second lane as soon as it holds
// the burst's number of reads; with both lanes busy, the next batch waits
// however large it grows (only MaxItems ends that wait).
func TestReadBurstTakesASecondLane(t *testing.T) {
	bg := newBurstGroup(t, 3, true)
	bg.read(1) // the lane is free: goes at once, alone
	if n := bg.nextFlush(5 * time.Second); n != 1 {
		t.Fatalf("the first read went in a batch of %d, want 1 at once", n)
	}

	bg.read(2)
	bg.read(3)
	bg.waitQueued(t, 2)
	if n := bg.nextFlush(50 * time.Millisecond); n != 0 {
		t.Fatalf("a batch of %d went with the lane busy and fewer reads than the burst", n)
	}
	bg.read(4) // the third: the burst
	if n := bg.nextFlush(5 * time.Second); n != 3 {
		t.Fatalf("the burst went as a batch of %d, want 3", n)
	}

	for i := 5; i <= 9; i++ { // both lanes busy: these wait
		bg.read(i)
	}
	bg.waitQueued(t, 5)
	if n := bg.nextFlush(50 * time.Millisecond); n != 0 {
		t.Fatalf("a third batch of %d went while two were being read", n)
	}

	bg.releaseAndCheck(t, 5, 9)
	bg.mu.Lock()
	defer bg.mu.Unlock()
	if got := bg.started; !slices.Equal(got, []int{1, 3, 5}) {
		t.Errorf("batches %v, want [1 3 5]", got)
	}
}

// TestWriteWithoutBurstWaitsForItsLane: without a burst (the writes'
// groups), a batch waits for the one lane however many calls it holds.
func TestWriteWithoutBurstWaitsForItsLane(t *testing.T) {
	bg := newBurstGroup(t, 0, false)
	bg.read(1)
	if n := bg.nextFlush(5 * time.Second); n != 1 {
		t.Fatalf("the first call went in a batch of %d, want 1 at once", n)
	}
	for i := 2; i <= 9; i++ {
		bg.read(i)
	}
	bg.waitQueued(t, 8)
	if n := bg.nextFlush(50 * time.Millisecond); n != 0 {
		t.Fatalf("a batch of %d went with the only lane busy", n)
	}
	bg.releaseAndCheck(t, 8, 9)
}
