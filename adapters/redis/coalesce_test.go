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
	rdb := testClient(t)
	prefix := testPrefix(t, rdb)
	hook := &tripHook{}
	rdb.AddHook(hook)
	c := NewCoalescer(rdb, 1)
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
	rdb := testClient(t)
	prefix := testPrefix(t, rdb)
	hook := &tripHook{}
	rdb.AddHook(hook)
	c := NewCoalescer(rdb, 1)

	takeLane(c)
	const callers = 40
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	// The first caller queued has the earliest deadline.
	deadline := func(i int) time.Duration {
		if i == 0 {
			return time.Second
		}
		return 4 * time.Second
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
	eventually(t, time.Second, "every caller queued behind the busy lane", func() bool { return c.queued() == callers })
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
	if left := time.Until(deadlines[0]); left < 2*time.Second {
		t.Fatalf("the batch ran under a deadline %v away, want the latest caller's (about 4s)", left)
	}
	eventually(t, time.Second, "the lane free after the batch", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.busy == 0 && len(c.queue) == 0
	})
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

func TestCoalescerLanes(t *testing.T) {
	rdb := testClient(t)
	prefix := testPrefix(t, rdb)
	c := NewCoalescer(rdb, 2)
	ctx := context.Background()

	takeLane(c)
	// One lane busy: the second goes out at once.
	start := time.Now()
	if err := c.Process(ctx, goredis.NewStatusCmd(ctx, "set", prefix+"a", "v")); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited > 150*time.Millisecond {
		t.Fatalf("with a lane free a command waited %v", waited)
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
	script := goredis.NewScript(`redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])`)

	// Redis forgot its scripts (a restart, SCRIPT FLUSH): loaded and run.
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	cmd, err := c.runScript(ctx, script, []string{prefix + "s"}, "x")
	if err != nil || cmd.Val() != "x" {
		t.Fatalf("after SCRIPT FLUSH: %v, %v", cmd, err)
	}
	nilScript := goredis.NewScript(`return false`)
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
