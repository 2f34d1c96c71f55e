package redis

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// DefaultCoalescerLanes is how many round trips a Coalescer keeps in
// flight at once. Redis runs one command at a time, so more lanes than a
// few only add connections and system calls; fewer make callers wait for
// each other's round trips.
const DefaultCoalescerLanes = 2

// maxBatch bounds the commands of one round trip: the replies of a batch
// share one read deadline, and go-redis retries a batch that failed
// midway as a whole, so a batch stays small enough to be answered well
// within the read timeout. What is left waits for the next lane.
const maxBatch = 128

// Coalescer sends the commands that concurrent requests issue while its
// lanes are busy in one pipeline: one round trip on one connection (a
// write and a read, a few for a large batch) for all of them instead of
// one each (what other clients call auto-pipelining). Under load most of
// the CPU a small Redis command costs, on both sides, is the system calls
// and event-loop turns of its round trip; a pipeline of n commands pays
// them once. When a lane is free a command goes out at once, alone, so an
// idle service adds no latency.
//
// Each command keeps its own reply and error, as in a go-redis pipeline.
// A caller whose context ends while its commands wait for a lane is
// answered at once with that error, and its commands are never sent. Once
// a batch has taken them they may be on the wire, and the caller waits for
// their replies (within the batch's deadline), as a plain go-redis call
// does, whose cancellation does not abort its round trip: a write its
// caller never learned of (an OTP claim) would otherwise stay behind,
// claimed for nobody.
//
// Only idempotent commands belong here (reads, or writes whose repeat
// changes nothing): go-redis retries a pipeline that failed midway (a read
// timeout) as a whole, so a retry repeats the commands of other callers
// that Redis had already run.
//
// A batch runs under a context of its own that carries the values of its
// first caller (so a trace records the round trip under that caller's
// span) and the latest deadline among its callers, so one caller giving up
// does not fail the others' commands.
type Coalescer struct {
	rdb   goredis.UniversalClient
	lanes int

	mu    sync.Mutex
	busy  int // round trips in flight
	queue []*coalesced

	roundTrips, commands atomic.Uint64
}

// CoalescerStats are a Coalescer's counters since it was built, for the
// metrics an SRE tunes ONBOARDING_REDIS_LANES by.
type CoalescerStats struct {
	// RoundTrips and Commands count what was sent: Commands/RoundTrips is
	// the mean batch.
	RoundTrips, Commands uint64
	// Waiting is the calls queued now, every lane being busy.
	Waiting int
}

// Stats returns c's counters.
func (c *Coalescer) Stats() CoalescerStats {
	c.mu.Lock()
	waiting := len(c.queue)
	c.mu.Unlock()
	return CoalescerStats{
		RoundTrips: c.roundTrips.Load(), Commands: c.commands.Load(), Waiting: waiting,
	}
}

// coalesced is one caller's commands waiting for a lane.
type coalesced struct {
	ctx   context.Context
	cmds  []goredis.Cmder
	done  chan struct{} // closed when the replies are in (or the commands were dropped)
	taken bool          // a batch took them (under Coalescer.mu): they may be on the wire
}

// NewCoalescer returns a Coalescer sending through rdb with lanes round
// trips at most in flight (DefaultCoalescerLanes when not positive).
func NewCoalescer(rdb goredis.UniversalClient, lanes int) *Coalescer {
	if lanes <= 0 {
		lanes = DefaultCoalescerLanes
	}
	return &Coalescer{rdb: rdb, lanes: lanes}
}

// Process sends cmds and waits for their replies, or for ctx while they
// wait for a lane. The error is ctx's when it ended before they were sent,
// else the first command error other than redis.Nil (each command's own is
// on the command). When it is ctx's the commands must not be read.
func (c *Coalescer) Process(ctx context.Context, cmds ...goredis.Cmder) error {
	c.mu.Lock()
	if c.busy < c.lanes {
		c.busy++
		c.mu.Unlock()
		func() {
			defer c.next() // the lane is given back even if send panics
			c.send(ctx, cmds)
		}()
		return firstError(cmds)
	}
	q := &coalesced{ctx: ctx, cmds: cmds, done: make(chan struct{})}
	c.queue = append(c.queue, q)
	c.mu.Unlock()
	select {
	case <-q.done:
		return firstError(cmds)
	case <-ctx.Done():
	}
	c.mu.Lock()
	taken := q.taken
	c.mu.Unlock()
	if !taken {
		return ctx.Err() // flush leaves out a caller whose context has ended
	}
	<-q.done // flush may have sent them before ctx ended: wait for the replies
	return firstError(cmds)
}

// next hands the lane just freed to the callers queued meanwhile, in one
// batch of at most maxBatch commands (a caller's commands are never split),
// or gives it back when none wait.
func (c *Coalescer) next() {
	c.mu.Lock()
	if len(c.queue) == 0 {
		c.busy--
		c.mu.Unlock()
		return
	}
	n, cmds := 0, 0
	for n < len(c.queue) && (n == 0 || cmds+len(c.queue[n].cmds) <= maxBatch) {
		cmds += len(c.queue[n].cmds)
		n++
	}
	batch := c.queue[:n:n]
	for _, q := range batch {
		q.taken = true
	}
	if n == len(c.queue) {
		c.queue = nil
	} else {
		c.queue = c.queue[n:]
	}
	c.mu.Unlock()
	go c.flush(batch)
}

// flush sends a batch in one round trip, answers its callers and passes
// the lane on (also when sending panics: the panic then ends the process,
// as in any goroutine, but nobody is left waiting meanwhile).
func (c *Coalescer) flush(batch []*coalesced) {
	defer func() {
		for _, q := range batch {
			close(q.done)
		}
		c.next()
	}()
	var (
		cmds     []goredis.Cmder
		first    context.Context
		deadline time.Time
		bounded  = true
	)
	for _, q := range batch {
		if err := q.ctx.Err(); err != nil {
			for _, cmd := range q.cmds {
				cmd.SetErr(err)
			}
			continue
		}
		if first == nil {
			first = q.ctx
		}
		if dl, ok := q.ctx.Deadline(); !ok {
			bounded = false
		} else if dl.After(deadline) {
			deadline = dl
		}
		cmds = append(cmds, q.cmds...)
	}
	if len(cmds) > 0 {
		ctx := context.WithoutCancel(first)
		cancel := context.CancelFunc(func() {})
		if bounded {
			ctx, cancel = context.WithDeadline(ctx, deadline)
		}
		defer cancel()
		c.send(ctx, cmds)
	}
}

// send runs cmds in one round trip: a plain command when there is one, a
// pipeline otherwise. Errors land on the commands.
func (c *Coalescer) send(ctx context.Context, cmds []goredis.Cmder) {
	c.roundTrips.Add(1)
	c.commands.Add(uint64(len(cmds)))
	if len(cmds) == 1 {
		_ = c.rdb.Process(ctx, cmds[0])
		return
	}
	_, _ = c.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, cmd := range cmds {
			_ = p.Process(ctx, cmd)
		}
		return nil
	})
}

// firstError is the first error among cmds other than redis.Nil (a missing
// key is an answer, not a failure).
func firstError(cmds []goredis.Cmder) error {
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil && !errors.Is(err, goredis.Nil) {
			return err
		}
	}
	return nil
}

// luaScript is a Lua script a Coalescer sends as EVALSHA, and as EVAL
// (which also caches it) when Redis does not know it, as goredis.Script.Run
// does: the ACL user needs EVAL and EVALSHA, not SCRIPT LOAD.
type luaScript struct{ src, sha string }

func newLuaScript(src string) *luaScript {
	return &luaScript{src: src, sha: goredis.NewScript(src).Hash()}
}

// cmd is the script run with keys and args: EVALSHA, or EVAL with its
// source when withSource.
func (s *luaScript) cmd(ctx context.Context, withSource bool, keys []string, args ...any) *goredis.Cmd {
	a := make([]any, 0, 3+len(keys)+len(args))
	if withSource {
		a = append(a, "eval", s.src, len(keys))
	} else {
		a = append(a, "evalsha", s.sha, len(keys))
	}
	for _, k := range keys {
		a = append(a, k)
	}
	a = append(a, args...)
	return goredis.NewCmd(ctx, a...)
}

// runScripts sends the commands build makes with EVALSHA and, when Redis
// answers NOSCRIPT (it restarted or flushed its scripts), those it makes
// with EVAL once more. It returns the commands sent last; when the error is
// not nil they must not be read (see Process).
func (c *Coalescer) runScripts(ctx context.Context, build func(withSource bool) []goredis.Cmder) ([]goredis.Cmder, error) {
	cmds := build(false)
	err := c.Process(ctx, cmds...)
	if err == nil || !goredis.HasErrorPrefix(err, "NOSCRIPT") {
		return cmds, err
	}
	cmds = build(true)
	return cmds, c.Process(ctx, cmds...)
}

// runScript is script.Run through c: its reply, with redis.Nil as the
// error when the script returned nil.
func (c *Coalescer) runScript(ctx context.Context, script *luaScript, keys []string, args ...any) (*goredis.Cmd, error) {
	var cmd *goredis.Cmd
	_, err := c.runScripts(ctx, func(withSource bool) []goredis.Cmder {
		cmd = script.cmd(ctx, withSource, keys, args...)
		return []goredis.Cmder{cmd}
	})
	if err != nil {
		return nil, err
	}
	return cmd, cmd.Err()
}
