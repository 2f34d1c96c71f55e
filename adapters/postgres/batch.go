package postgres

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bankkit/onboarding-adapter/domain"
)

// Group commit defaults: a write waits at most DefaultBatchWindow for
// others to join its batch, and a batch flushes early at
// DefaultBatchMaxItems writes. One millisecond is a fraction of the WAL
// flush every commit pays anyway (about 1-3 ms here under load), and 64
// rows keep a statement's arrays small.
const (
	DefaultBatchWindow   = time.Millisecond
	DefaultBatchMaxItems = 64
	// DefaultBatchLanes lets one batch of a store be written at a time
	// and the next go out the moment it commits (see BatchConfig.Lanes).
	DefaultBatchLanes = 1
)

// batchTimeout bounds a batch none of whose callers has a deadline (tests,
// the seeding commands; every request has one). A batch otherwise runs
// until the latest deadline among its callers.
const batchTimeout = 30 * time.Second

// BatchConfig tunes group commit: concurrent durable writes (consent
// ledger appends, decisions with their review cases, process events)
// arriving within Window of the first are written in one statement and one
// commit, and consent servings are written in the background in batches.
type BatchConfig struct {
	// Window is the longest a write waits for others to join its batch;
	// a write to an idle store does not wait at all (see group.collect).
	// Zero or negative turns batching off: every write is its own
	// statement and commit, and a serving is written before RecordServing
	// returns.
	Window time.Duration
	// MaxItems flushes a batch as soon as it holds this many writes
	// (DefaultBatchMaxItems when not positive).
	MaxItems int
	// Lanes, when positive, lets a batch go early: as soon as fewer than
	// Lanes batches of its store are being written. The writes that
	// arrive while a batch commits then go together the moment it has,
	// so a batch holds what one commit's time gathers, whatever the
	// disk's flush latency. It is not a cap: a batch still goes when
	// Window has passed, lane or not, so more batches overlap when a
	// commit takes longer than the window. Zero makes every batch under
	// load wait out Window from its first write, which adds that wait to
	// every write when the commits, not the CPU, are the limit. The
	// consent servings, written in the background, never take lanes.
	// Reads may take one lane more for a burst (see burst).
	Lanes int

	// burst lets one batch more than Lanes go while every lane is busy,
	// once it holds this many calls (zero: never). A read batch waits for
	// its lane so that one statement serves many reads; when that many
	// already wait, they are worth a statement of their own, and the
	// database's second core answers it meanwhile.
	burst int

	// fixed makes every batch wait out the whole window, even when no
	// other batch is being flushed: tests use it to know which calls
	// share a batch.
	fixed bool
	// abandon cancels a batch once every one of its callers has given up
	// (reads: nobody is left to read the answer; a write commits with its
	// batch whatever its caller does).
	abandon bool
}

// DefaultBatchConfig is group commit as New turns it on.
func DefaultBatchConfig() BatchConfig {
	return BatchConfig{Window: DefaultBatchWindow, MaxItems: DefaultBatchMaxItems, Lanes: DefaultBatchLanes}
}

func (c BatchConfig) enabled() bool { return c.Window > 0 }

func (c BatchConfig) withDefaults() BatchConfig {
	if c.MaxItems <= 0 {
		c.MaxItems = DefaultBatchMaxItems
	}
	return c
}

// call is one write waiting for its batch.
type call[In, Out any] struct {
	ctx      context.Context
	detached bool // nobody waits for the call (a serving): ctx does not bound it
	in       In
	// Set by the batch before done is closed.
	out  Out
	err  error
	solo bool // the batch could not decide this write: the caller writes it alone
	done chan struct{}
}

// finish records the outcome of c; the group closes done.
func (c *call[In, Out]) finish(out Out, err error) { c.out, c.err = out, err }

// retrySolo asks the caller to write c on its own: the batch lost a race for
// it, or failed for a reason that may be this write's alone.
func (c *call[In, Out]) retrySolo() { c.solo = true }

// batch is the calls collected in one window.
type batch[In, Out any] struct {
	calls  []*call[In, Out]
	full   chan struct{} // closed when calls reaches MaxItems
	enough chan struct{} // closed when calls reaches BatchConfig.burst; nil without one
}

// group collects concurrent calls into batches and hands each batch to
// flush, in a goroutine of its own started by the batch's first call: no
// goroutine runs while nothing is written, so a group needs no Close.
//
// flush runs under a context of its own, which carries the values of the
// batch's first caller (its trace) but not its cancellation, bounded by the
// latest deadline among the batch's callers: one caller giving up must not
// abort the others' commit. A read batch (abandon set) is cancelled once
// every one of its callers has given up: nobody is left to read its answer.
// A call whose context ended before its batch was flushed is left out of it
// (never written); one whose context ends during the flush gets an error at
// once, while its write commits or not with the whole batch, atomically.
// flush must finish every call it is given, or mark it for a solo retry.
//
// A batch of one is written or read by alone, the single statement (no
// arrays to plan), when the store has one; it runs in the flush like any
// batch, so the group counts it as a flush in progress and the calls that
// arrive meanwhile gather into the next batch. Sent back to its caller
// instead, a lone write left the group looking idle, and under the load
// harness half the decisions were then saved alone one after the other.
type group[In, Out any] struct {
	cfg   BatchConfig
	flush func(ctx context.Context, calls []*call[In, Out])
	alone func(ctx context.Context, in In) (Out, error) // nil: flush takes batches of one too

	mu        sync.Mutex
	open      *batch[In, Out]
	inflight  int           // batches opened and not yet flushed
	drained   chan struct{} // closed when inflight drops to zero; nil when nobody waits
	flushing  int           // batches being flushed
	flushDone chan struct{} // closed when a flush ends; nil when nobody waits
	lastSize  int           // calls in the batch closed last: more than one means load
}

func newGroup[In, Out any](cfg BatchConfig, flush func(ctx context.Context, calls []*call[In, Out]), alone func(ctx context.Context, in In) (Out, error)) *group[In, Out] {
	return &group[In, Out]{cfg: cfg.withDefaults(), flush: flush, alone: alone}
}

// submit adds a call to the open batch, opening one (and its flusher) when
// there is none.
func (g *group[In, Out]) submit(ctx context.Context, in In) *call[In, Out] {
	return g.add(&call[In, Out]{ctx: ctx, in: in, done: make(chan struct{})})
}

// enqueue adds a call nobody waits for: it is written with its batch
// whatever becomes of the request that made it.
func (g *group[In, Out]) enqueue(in In) {
	g.add(&call[In, Out]{ctx: context.Background(), detached: true, in: in, done: make(chan struct{})})
}

func (g *group[In, Out]) add(c *call[In, Out]) *call[In, Out] {
	g.mu.Lock()
	b := g.open
	if b == nil {
		b = &batch[In, Out]{calls: make([]*call[In, Out], 0, min(g.cfg.MaxItems, 16)), full: make(chan struct{})}
		if g.cfg.burst > 0 {
			b.enough = make(chan struct{})
		}
		g.open = b
		g.inflight++
		go g.collect(b)
	}
	b.calls = append(b.calls, c)
	if len(b.calls) == g.cfg.burst {
		close(b.enough)
	}
	if len(b.calls) >= g.cfg.MaxItems {
		g.open = nil
		close(b.full)
	}
	g.mu.Unlock()
	return c
}

// do submits in and waits for its batch, or for ctx. solo is true when the
// caller must write in on its own.
func (g *group[In, Out]) do(ctx context.Context, in In) (out Out, solo bool, err error) {
	c := g.submit(ctx, in)
	select {
	case <-c.done:
	case <-ctx.Done():
		select {
		case <-c.done: // finished at the same time: the outcome is known
		default:
			var zero Out
			return zero, false, domain.Unavailable(ctx.Err(), "the database did not answer before the request ended; retry")
		}
	}
	return c.out, c.solo, c.err
}

// doOrAlone reads in through g, or with alone when g is nil (batching off)
// or sends the call back to run alone.
func doOrAlone[In, Out any](ctx context.Context, g *group[In, Out], in In, alone func(context.Context, In) (Out, error)) (Out, error) {
	if g != nil {
		out, solo, err := g.do(ctx, in)
		if !solo {
			return out, err
		}
	}
	return alone(ctx, in)
}

// collect closes the batch and flushes it when the window has passed or
// the batch is full, or at once when the group is idle. With Lanes set,
// idle is fewer than Lanes batches being flushed: the batch gathers while
// a lane is busy and goes when one frees, or (with burst set) once it
// holds burst calls and no more than Lanes batches are being flushed.
// Without, idle is no batch being
// flushed and the batch closed last holding a single call, so a lone
// write gets no latency added while under load every batch waits out the
// window. Measured under the load harness (docs/performance.md), one lane
// gained a third on consent storage where each commit's WAL flush, not the
// CPU, was the limit; on a machine whose CPU was the limit, an earlier
// measurement had the full window halve the statements per write.
func (g *group[In, Out]) collect(b *batch[In, Out]) {
	defer g.flushed()
	t := time.NewTimer(g.cfg.Window)
	defer t.Stop()
	expired := false
	enough := b.enough
	for {
		g.mu.Lock()
		idle := g.lastSize <= 1 && g.flushing == 0
		if g.cfg.Lanes > 0 {
			idle = g.flushing < g.cfg.Lanes ||
				(g.cfg.burst > 0 && len(b.calls) >= g.cfg.burst && g.flushing < g.cfg.Lanes+1)
		}
		if (idle && !g.cfg.fixed) || expired || g.open != b {
			break // g.mu stays locked
		}
		if g.flushDone == nil {
			g.flushDone = make(chan struct{})
		}
		done := g.flushDone
		g.mu.Unlock()
		select {
		case <-done:
		case <-b.full:
		case <-enough:
			enough = nil // closed: from now on only a flush ending changes anything
		case <-t.C:
			expired = true
		}
	}
	if g.open == b {
		g.open = nil
	}
	g.flushing++
	calls := b.calls
	g.lastSize = len(calls)
	g.mu.Unlock()
	defer g.flushEnded()

	live := calls[:0:0]
	deadline, bounded := time.Time{}, true
	for _, c := range calls {
		if c.detached {
			bounded = false
			live = append(live, c)
			continue
		}
		if err := c.ctx.Err(); err != nil {
			c.finish(c.out, domain.Unavailable(err, "the request ended before the write"))
			continue
		}
		live = append(live, c)
		if dl, ok := c.ctx.Deadline(); !ok {
			bounded = false
		} else if dl.After(deadline) {
			deadline = dl
		}
	}
	if !bounded || deadline.IsZero() {
		// A caller without a deadline (a serving, or a context without
		// one) gets batchTimeout; one with a later deadline keeps it.
		deadline = later(deadline, time.Now().Add(batchTimeout))
	}
	if len(live) > 0 {
		// The batch carries the values of its first caller, so a trace
		// records its statement under that caller's span.
		base := context.Background()
		if !live[0].detached {
			base = context.WithoutCancel(live[0].ctx)
		}
		ctx, cancel := context.WithDeadline(base, deadline)
		if g.cfg.abandon {
			defer abandonWith(live, cancel)()
		}
		if len(live) == 1 && g.alone != nil {
			live[0].finish(g.alone(ctx, live[0].in))
		} else {
			g.flush(ctx, live)
		}
		cancel()
	}
	for _, c := range calls {
		close(c.done)
	}
}

// abandonWith calls cancel once the context of every call has ended, and
// returns the function that stops watching them.
func abandonWith[In, Out any](calls []*call[In, Out], cancel context.CancelFunc) (stop func()) {
	left := atomic.Int64{}
	left.Store(int64(len(calls)))
	stops := make([]func() bool, 0, len(calls))
	for _, c := range calls {
		stops = append(stops, context.AfterFunc(c.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		}))
	}
	return func() {
		for _, s := range stops {
			s()
		}
	}
}

// later is the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// flushEnded counts a flush out and wakes the batches waiting for it.
func (g *group[In, Out]) flushEnded() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.flushing--
	if g.flushDone != nil {
		close(g.flushDone)
		g.flushDone = nil
	}
}

// flushed counts a batch out and wakes wait when none is left.
func (g *group[In, Out]) flushed() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inflight--
	if g.inflight == 0 && g.drained != nil {
		close(g.drained)
		g.drained = nil
	}
}

// wait blocks until no batch is open or being flushed (at once for a nil
// group: batching off). Calls submitted
// while it waits extend the wait; it is for shutdown, once no new calls
// come.
func (g *group[In, Out]) wait() {
	if g == nil {
		return
	}
	g.mu.Lock()
	if g.inflight == 0 {
		g.mu.Unlock()
		return
	}
	if g.drained == nil {
		g.drained = make(chan struct{})
	}
	ch := g.drained
	g.mu.Unlock()
	<-ch
}

// genericPlanSQL makes the statements after it in its transaction use their
// generic plan. The batch statements take arrays, whose length a custom plan
// knows and a generic one does not, so PostgreSQL would keep planning them
// afresh on every run (about half a millisecond of its CPU per batch for
// appendBatchSQL); their plan does not depend on the values (one index
// descent per element), so the generic one is as good.
const genericPlanSQL = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true)`

// batchSender is what a pool and a transaction share for pipelining.
type batchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// sendAfter runs prelude (a SELECT setting transaction-local parameters)
// and then sql in one round trip and one transaction (a pipeline ends its
// implicit transaction at its single Sync, so prelude's settings apply to
// sql and to its commit, and end with it). With scan nil sql's result is
// discarded; otherwise each of its rows is scanned into scan and each is
// called.
func sendAfter(ctx context.Context, q batchSender, prelude, sql string, args []any, scan []any, each func() error) (err error) {
	b := &pgx.Batch{}
	b.Queue(prelude)
	b.Queue(sql, args...)
	br := q.SendBatch(ctx, b)
	defer func() {
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := br.Exec(); err != nil {
		return err
	}
	if scan == nil {
		_, err = br.Exec()
		return err
	}
	rows, err := br.Query()
	if err != nil {
		return err
	}
	_, err = pgx.ForEachRow(rows, scan, each)
	return err
}

// settle finishes the calls of a batch whose statement failed with err: an
// unreachable database (CodeUnavailable) fails them all, since nothing was
// committed or the commit's fate is unknown and every write here is
// idempotent on retry (but a process event's, which has no key and may then
// be stored twice, as after a single insert); any other error may be one
// call's alone (a value the database refuses), so each call is sent back to
// be done on its own.
func settle[In, Out any](calls []*call[In, Out], err error) {
	transient := domain.CodeOf(err) == domain.CodeUnavailable
	for _, c := range calls {
		if transient {
			var zero Out
			c.finish(zero, err)
		} else {
			c.retrySolo()
		}
	}
}
