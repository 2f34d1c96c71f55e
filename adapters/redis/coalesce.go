package redis

import (
	"context"
	"errors"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// DefaultCoalescerLanes is how many round trips a Coalescer keeps in
// flight at once. Redis runs one command at a time, so more lanes than a
// few only add connections and system calls; fewer make callers wait for
// each other's round trips.
const DefaultCoalescerLanes = 2

// Coalescer sends the commands that concurrent requests issue while its
// lanes are busy in one pipeline: one write and one read on one connection
// for all of them instead of a round trip each (what other clients call
// auto-pipelining). Under load most of the CPU a small Redis command costs,
// on both sides, is the system calls and event-loop turns of its round
// trip; a pipeline of n commands pays them once. When a lane is free a
// command goes out at once, alone, so an idle service adds no latency.
//
// Each command keeps its own reply and error, as in a go-redis pipeline.
// A caller whose context ends while its commands wait is answered at once
// with that error and its commands are not sent; once sent, a command runs
// whatever becomes of its caller, as with a plain go-redis call.
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
}

// coalesced is one caller's commands waiting for a lane.
type coalesced struct {
	ctx  context.Context
	cmds []goredis.Cmder
	done chan struct{} // closed when the replies are in (or the commands were dropped)
}

// NewCoalescer returns a Coalescer sending through rdb with lanes round
// trips at most in flight (DefaultCoalescerLanes when not positive).
func NewCoalescer(rdb goredis.UniversalClient, lanes int) *Coalescer {
	if lanes <= 0 {
		lanes = DefaultCoalescerLanes
	}
	return &Coalescer{rdb: rdb, lanes: lanes}
}

// Process sends cmds and waits for their replies, or for ctx. The error is
// ctx's when it ended first, else the first command error other than
// redis.Nil (each command's own is on the command).
func (c *Coalescer) Process(ctx context.Context, cmds ...goredis.Cmder) error {
	c.mu.Lock()
	if c.busy < c.lanes {
		c.busy++
		c.mu.Unlock()
		c.send(ctx, cmds)
		c.next()
		return firstError(cmds)
	}
	q := &coalesced{ctx: ctx, cmds: cmds, done: make(chan struct{})}
	c.queue = append(c.queue, q)
	c.mu.Unlock()
	select {
	case <-q.done:
		return firstError(cmds)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// next hands the lane just freed to the commands queued meanwhile, all in
// one batch, or gives it back when none are.
func (c *Coalescer) next() {
	c.mu.Lock()
	batch := c.queue
	if len(batch) == 0 {
		c.busy--
		c.mu.Unlock()
		return
	}
	c.queue = nil
	c.mu.Unlock()
	go c.flush(batch)
}

// flush sends a batch in one round trip, answers its callers and passes
// the lane on.
func (c *Coalescer) flush(batch []*coalesced) {
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
		c.send(ctx, cmds)
		cancel()
	}
	for _, q := range batch {
		close(q.done)
	}
	c.next()
}

// send runs cmds in one round trip: a plain command when there is one, a
// pipeline otherwise. Errors land on the commands.
func (c *Coalescer) send(ctx context.Context, cmds []goredis.Cmder) {
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

// evalCmd is script's EVALSHA with keys and args, to be sent by a
// Coalescer (runScripts loads the script when Redis has forgotten it).
func evalCmd(ctx context.Context, script *goredis.Script, keys []string, args ...any) *goredis.Cmd {
	a := make([]any, 0, 3+len(keys)+len(args))
	a = append(a, "evalsha", script.Hash(), len(keys))
	for _, k := range keys {
		a = append(a, k)
	}
	a = append(a, args...)
	return goredis.NewCmd(ctx, a...)
}

// runScripts sends the EVALSHA commands build makes and, when Redis
// answers NOSCRIPT (it restarted or flushed its scripts), loads scripts
// and sends a new set once more. It returns the commands sent last; when
// the error is not nil they must not be read (a caller whose context
// ended may return before its commands are answered).
func (c *Coalescer) runScripts(ctx context.Context, build func() []goredis.Cmder, scripts ...*goredis.Script) ([]goredis.Cmder, error) {
	cmds := build()
	err := c.Process(ctx, cmds...)
	if err == nil || !goredis.HasErrorPrefix(err, "NOSCRIPT") {
		return cmds, err
	}
	for _, s := range scripts {
		if err := s.Load(ctx, c.rdb).Err(); err != nil {
			return nil, err
		}
	}
	cmds = build()
	return cmds, c.Process(ctx, cmds...)
}

// runScript is script.Run through c: its reply, with redis.Nil as the
// error when the script returned nil.
func (c *Coalescer) runScript(ctx context.Context, script *goredis.Script, keys []string, args ...any) (*goredis.Cmd, error) {
	var cmd *goredis.Cmd
	_, err := c.runScripts(ctx, func() []goredis.Cmder {
		cmd = evalCmd(ctx, script, keys, args...)
		return []goredis.Cmder{cmd}
	}, script)
	if err != nil {
		return nil, err
	}
	return cmd, cmd.Err()
}
