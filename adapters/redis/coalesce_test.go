package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// tripHook records what a client sends: single commands and pipelines with
// their sizes and the deadline each ran under.
type tripHook struct {
	mu        sync.Mutex
	singles   int
	pipelines []int
	deadlines []time.Time
}

func (h *tripHook) DialHook(next goredis.DialHook) goredis.DialHook { return next }

// setUp tells the commands go-redis sends on a new connection.
func setUp(cmd goredis.Cmder) bool {
	switch cmd.Name() {
	case "hello", "client", "ping", "select", "auth":
		return true
	}
	return false
}

func (h *tripHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if setUp(cmd) {
			return next(ctx, cmd)
		}
		h.mu.Lock()
		h.singles++
		h.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (h *tripHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		if len(cmds) > 0 && setUp(cmds[0]) {
			return next(ctx, cmds)
		}
		dl, _ := ctx.Deadline()
		h.mu.Lock()
		h.pipelines = append(h.pipelines, len(cmds))
		h.deadlines = append(h.deadlines, dl)
		h.mu.Unlock()
		return next(ctx, cmds)
	}
}

func (h *tripHook) counts() (singles int, pipelines []int, deadlines []time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.singles, append([]int(nil), h.pipelines...), append([]time.Time(nil), h.deadlines...)
}

// newTestCoalescer returns a Coalescer with lanes over a client of the test
// Redis whose round trips hook records, and a key prefix of the test's own.
func newTestCoalescer(t *testing.T, lanes int) (*Coalescer, *goredis.Client, string, *tripHook) {
	t.Helper()
	rdb := testClient(t)
	hook := &tripHook{}
	rdb.AddHook(hook)
	return NewCoalescer(rdb, lanes), rdb, testPrefix(t, rdb), hook
}

// takeLane marks one of c's lanes busy, as a round trip in flight does;
// freeLane ends it as that round trip's end would.
func takeLane(c *Coalescer) {
	c.mu.Lock()
	c.busy++
	c.mu.Unlock()
}

func freeLane(c *Coalescer) { c.next() }

// queued is how many callers wait for a lane.
func (c *Coalescer) queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

func TestCoalescerAloneGoesAtOnce(t *testing.T) {
	c, _, prefix, hook := newTestCoalescer(t, 1)
	ctx := context.Background()

	set := goredis.NewStatusCmd(ctx, "set", prefix+"k", "v")
	if err := c.Process(ctx, set); err != nil || set.Val() != "OK" {
		t.Fatalf("SET: %q, %v", set.Val(), err)
	}
	get, missing := goredis.NewStringCmd(ctx, "get", prefix+"k"), goredis.NewStringCmd(ctx, "get", prefix+"none")
	if err := c.Process(ctx, get, missing); err != nil {
		t.Fatalf("a missing key is an answer, not an error: %v", err)
	}
	if get.Val() != "v" || !errors.Is(missing.Err(), goredis.Nil) {
		t.Fatalf("GET = %q, missing key err %v", get.Val(), missing.Err())
	}
	singles, pipelines, _ := hook.counts()
	if singles != 1 || len(pipelines) != 1 || pipelines[0] != 2 {
		t.Fatalf("sent %d single commands and pipelines %v, want 1 and [2] (an idle coalescer waits for nobody)", singles, pipelines)
	}
}

func TestCoalescerSendsWaitingCallersInOneRoundTrip(t *testing.T) {
	c, _, prefix, hook := newTestCoalescer(t, 1)

	takeLane(c)
	const callers = 40
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	// The first caller queued has the earliest deadline.
	deadline := func(i int) time.Duration {
		if i == 0 {
			return 3 * time.Second
		}
		return 10 * time.Second
	}
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), deadline(i))
			defer cancel()
			key, val := fmt.Sprintf("%sk%d", prefix, i), fmt.Sprintf("v%d", i)
			set := goredis.NewStatusCmd(ctx, "set", key, val)
			get := goredis.NewStringCmd(ctx, "get", key)
			if err := c.Process(ctx, set, get); err != nil {
				errs <- err
				return
			}
			if get.Val() != val {
				errs <- fmt.Errorf("caller %d read %q, want %q: replies mixed up", i, get.Val(), val)
			}
		}()
		if i == 0 {
			eventually(t, time.Second, "the first caller queued", func() bool { return c.queued() == 1 })
		}
	}
	eventually(t, 2*time.Second, "every caller queued behind the busy lane", func() bool { return c.queued() == callers })
	if st := c.Stats(); st.Waiting != callers || st.RoundTrips != 0 {
		t.Fatalf("stats %+v, want %d calls waiting and nothing sent yet", st, callers)
	}
	freeLane(c)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	_, pipelines, deadlines := hook.counts()
	if len(pipelines) != 1 || pipelines[0] != 2*callers {
		t.Fatalf("pipelines %v, want one of %d commands", pipelines, 2*callers)
	}
	// The batch runs until the latest deadline among its callers, not its
	// first caller's.
	if left := time.Until(deadlines[0]); left < 5*time.Second {
		t.Fatalf("the batch ran under a deadline %v away, want the latest caller's (about 10s)", left)
	}
	eventually(t, time.Second, "the lane free after the batch", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.busy == 0 && len(c.queue) == 0
	})
	if st := c.Stats(); st != (CoalescerStats{RoundTrips: 1, Commands: 2 * callers}) {
		t.Fatalf("stats %+v, want one round trip of %d commands and nobody waiting", st, 2*callers)
	}
}

func TestCoalescerCallerGoneWhileQueued(t *testing.T) {
	rdb := testClient(t)
	prefix := testPrefix(t, rdb)
	c := NewCoalescer(rdb, 1)
	takeLane(c)

	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan error, 1)
	set := goredis.NewStatusCmd(ctx, "set", prefix+"gone", "v")
	go func() { gone <- c.Process(ctx, set) }()
	stays := goredis.NewStatusCmd(context.Background(), "set", prefix+"stays", "v")
	staysErr := make(chan error, 1)
	go func() { staysErr <- c.Process(context.Background(), stays) }()
	eventually(t, time.Second, "both callers queued", func() bool { return c.queued() == 2 })

	cancel()
	select {
	case err := <-gone:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("a caller gone while queued: err %v, want context.Canceled", err)
		}
	case <-time.After(time.Second):
		t.Fatal("a caller gone while queued waited for the lane")
	}
	freeLane(c)
	if err := <-staysErr; err != nil {
		t.Fatalf("the other caller of the batch: %v", err)
	}
	if n, err := rdb.Exists(context.Background(), prefix+"gone", prefix+"stays").Result(); err != nil || n != 1 {
		t.Fatalf("keys written: %d (%v), want 1: a command of a caller gone before its batch is not sent", n, err)
	}
}

// holdHook holds every pipeline until release is closed, after telling
// sent: a batch the Coalescer has taken and handed to go-redis.
type holdHook struct {
	sent, release chan struct{}
}

func (h *holdHook) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (h *holdHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return next
}
func (h *holdHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		if len(cmds) > 0 && setUp(cmds[0]) {
			return next(ctx, cmds)
		}
		h.sent <- struct{}{}
		<-h.release
		return next(ctx, cmds)
	}
}

// TestCoalescerCallerGoneAfterItsBatchLeft: a caller whose context ends
// once its batch has been taken waits for the replies and gets them, as a
// plain go-redis call would: its commands run, and a caller answered
// "gone" would never learn of a write made for it (an OTP claim left
// pending for the whole dedupe window).
func TestCoalescerCallerGoneAfterItsBatchLeft(t *testing.T) {
	rdb := testClient(t)
	prefix := testPrefix(t, rdb)
	hook := &holdHook{sent: make(chan struct{}, 1), release: make(chan struct{})}
	rdb.AddHook(hook)
	c := NewCoalescer(rdb, 1)
	takeLane(c)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gone := make(chan error, 1)
	set := goredis.NewStatusCmd(ctx, "set", prefix+"gone", "v")
	go func() { gone <- c.Process(ctx, set) }()
	other := make(chan error, 1)
	go func() {
		other <- c.Process(context.Background(), goredis.NewStatusCmd(context.Background(), "set", prefix+"other", "v"))
	}()
	eventually(t, time.Second, "both callers queued", func() bool { return c.queued() == 2 })
	freeLane(c)
	<-hook.sent // the batch is taken and in go-redis's hands
	cancel()
	select {
	case err := <-gone:
		t.Fatalf("a caller gone after its batch left was answered before the replies: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(hook.release)
	if err := <-gone; err != nil || set.Val() != "OK" {
		t.Fatalf("the caller gone after its batch left: %q, %v; want the reply", set.Val(), err)
	}
	if err := <-other; err != nil {
		t.Fatal(err)
	}
	if n, err := rdb.Exists(context.Background(), prefix+"gone", prefix+"other").Result(); err != nil || n != 2 {
		t.Fatalf("keys written: %d (%v), want both", n, err)
	}
}

func TestCoalescerLanes(t *testing.T) {
	rdb := testClient(t)
	prefix := testPrefix(t, rdb)
	c := NewCoalescer(rdb, 2)
	ctx := context.Background()

	takeLane(c)
	// One lane busy: the second goes out at once. Had it queued, it would
	// wait for the taken lane, which nothing frees, until its deadline.
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := c.Process(short, goredis.NewStatusCmd(short, "set", prefix+"a", "v")); err != nil {
		t.Fatalf("with a lane free: %v", err)
	}
	takeLane(c)
	// Both busy: the next waits for one of them.
	done := make(chan error, 1)
	go func() { done <- c.Process(ctx, goredis.NewStatusCmd(ctx, "set", prefix+"b", "v")) }()
	eventually(t, time.Second, "the third caller queued", func() bool { return c.queued() == 1 })
	select {
	case err := <-done:
		t.Fatalf("answered while both lanes were busy (%v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	freeLane(c)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	freeLane(c)
	eventually(t, time.Second, "every lane free", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.busy == 0
	})
}

func TestCoalescerScripts(t *testing.T) {
	rdb := testClient(t)
	prefix := testPrefix(t, rdb)
	c := NewCoalescer(rdb, 1)
	ctx := context.Background()
	script := newLuaScript(`redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])`)

	// Redis forgot its scripts (a restart, SCRIPT FLUSH): sent with their
	// source, which caches them again.
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	cmd, err := c.runScript(ctx, script, []string{prefix + "s"}, "x")
	if err != nil || cmd.Val() != "x" {
		t.Fatalf("after SCRIPT FLUSH: %v, %v", cmd, err)
	}
	if known, err := rdb.ScriptExists(ctx, script.sha).Result(); err != nil || !known[0] {
		t.Fatalf("after the EVAL Redis knows the script: %v, %v", known, err)
	}
	nilScript := newLuaScript(`return false`)
	if _, err := c.runScript(ctx, nilScript, nil); !errors.Is(err, goredis.Nil) {
		t.Fatalf("a script returning nil: err %v, want redis.Nil", err)
	}
}

func TestCoalescerRedisDown(t *testing.T) {
	requireRedis(t)
	rdb := clientAt(t, "redis://"+closedAddr(t))
	c := NewCoalescer(rdb, 1)
	ctx := context.Background()
	var failed atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			get := goredis.NewStringCmd(ctx, "get", "k")
			err := c.Process(ctx, get)
			var op *net.OpError
			if errors.As(err, &op) && errors.Is(get.Err(), err) {
				failed.Add(1)
			} else {
				t.Errorf("Redis down: err %v, command err %v, want the dial error on both", err, get.Err())
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 8 {
		t.Fatalf("%d of 8 callers got the failure", failed.Load())
	}
}

// panicHook panics on a GET of key, as a faulty hook or client might.
type panicHook struct{ key string }

func (h panicHook) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h panicHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if cmd.Name() == "get" && len(cmd.Args()) > 1 && cmd.Args()[1] == h.key {
			panic("hook failed")
		}
		return next(ctx, cmd)
	}
}

func (h panicHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}

func TestCoalescerGivesTheLaneBackAfterAPanic(t *testing.T) {
	rdb := testClient(t)
	prefix := testPrefix(t, rdb)
	rdb.AddHook(panicHook{key: prefix + "boom"})
	c := NewCoalescer(rdb, 1)
	ctx := context.Background()
	for range 3 { // more panics than lanes
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("the hook's panic did not reach the caller")
				}
			}()
			_ = c.Process(ctx, goredis.NewStringCmd(ctx, "get", prefix+"boom"))
		}()
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := c.Process(ctx, goredis.NewStatusCmd(ctx, "set", prefix+"after", "v")); err != nil {
		t.Fatalf("after the panics: %v (the lane was not given back)", err)
	}
}

func TestCoalescerBoundsABatch(t *testing.T) {
	c, _, prefix, hook := newTestCoalescer(t, 1)
	takeLane(c)
	var wg sync.WaitGroup
	for i := range 3 { // 60 commands each: two callers fit in a batch of maxBatch, the third waits
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			cmds := make([]goredis.Cmder, 60)
			for j := range cmds {
				cmds[j] = goredis.NewStatusCmd(ctx, "set", fmt.Sprintf("%sk%d-%d", prefix, i, j), "v")
			}
			if err := c.Process(ctx, cmds...); err != nil {
				t.Error(err)
			}
		}()
		eventually(t, time.Second, "the caller queued", func() bool { return c.queued() == i+1 })
	}
	freeLane(c)
	wg.Wait()
	if _, pipelines, _ := hook.counts(); len(pipelines) != 2 || pipelines[0] != 120 || pipelines[1] != 60 {
		t.Fatalf("pipelines %v, want [120 60]: at most %d commands a round trip, a caller's never split", pipelines, maxBatch)
	}
}

// TestCoalescerUnderLoad runs many callers with deadlines short enough
// that some end while queued, some while their batch is out: every caller
// is answered, every answer read is its own, and every lane comes back.
func TestCoalescerUnderLoad(t *testing.T) {
	rdb := testClient(t)
	prefix := testPrefix(t, rdb)
	c := NewCoalescer(rdb, 2)
	var wg sync.WaitGroup
	var answered, gone atomic.Int32
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				// Every other call has time enough; the rest 1.1 or 3.1 ms.
				patient := (g+i)%2 == 0
				timeout := time.Duration((g+i)%4)*time.Millisecond + 100*time.Microsecond
				if patient {
					timeout = 5 * time.Second
				}
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				key, val := fmt.Sprintf("%sk%d", prefix, g), fmt.Sprintf("v%d-%d", g, i)
				set, get := goredis.NewStatusCmd(ctx, "set", key, val), goredis.NewStringCmd(ctx, "get", key)
				err := c.Process(ctx, set, get)
				cancel()
				switch {
				case err == nil:
					answered.Add(1)
					if get.Val() != val {
						t.Errorf("read %q, want %q", get.Val(), val)
					}
				case patient:
					t.Errorf("a call with 5 s to spare: %v", err)
				case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
					gone.Add(1)
				default:
					t.Errorf("unexpected error: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	eventually(t, 2*time.Second, "every lane back", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.busy == 0 && len(c.queue) == 0
	})
	if answered.Load() < 64*30/2 {
		t.Fatalf("%d calls answered, want at least the %d patient ones", answered.Load(), 64*30/2)
	}
	t.Logf("%d answered, %d gone before their answer", answered.Load(), gone.Load())
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
