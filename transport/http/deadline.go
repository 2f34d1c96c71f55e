package httptransport

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// lazyDeadline is the request's context below ring 1: the request state's
// context with Config.RequestTimeout as its deadline, like
// context.WithDeadline, except that the timer (and the registration with the
// cancellable parent) is only set up when something waits on the context:
// Done, context.AfterFunc or a cancellable context derived from it.
//
// Most requests never wait: in the in-memory mode no service selects on
// Done, and a context.WithTimeout per request (a timer in the runtime's
// heap, a child in the parent's map, both undone at the end) cost about 4%
// of the CPU of a small request (docs/performance.md). A service that does
// wait (pgx on every query, the OTP sender) gets a real deadline context,
// made on its first wait.
//
// Its Err is what the real context's would be: the parent's error, else
// DeadlineExceeded once the deadline has passed, else Canceled after the
// request ended (release), as after the `defer cancel()` of WithTimeout.
type lazyDeadline struct {
	parent   context.Context
	deadline time.Time
	real     atomic.Pointer[deadlineContext] // set once something waits
	mu       sync.Mutex                      // serialises creating real
	released bool                            // the request ended; guarded by mu
}

// deadlineContext is the real context a lazyDeadline becomes.
type deadlineContext struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// set makes the zero c the request's deadline context, in place (the
// request scope keeps it inside its requestState: no allocation of its
// own); its release is to be deferred like WithTimeout's cancel. The
// deadline is the earlier of the parent's and start+timeout (start being
// now, or the request's start a moment ago), as with context.WithTimeout.
func (c *lazyDeadline) set(parent context.Context, start time.Time, timeout time.Duration) {
	d := start.Add(timeout)
	if pd, ok := parent.Deadline(); ok && pd.Before(d) {
		d = pd
	}
	c.parent, c.deadline = parent, d
}

// wait returns the real context, creating it (and its timer) on first use.
func (c *lazyDeadline) wait() context.Context {
	if r := c.real.Load(); r != nil {
		return r.ctx
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.real.Load(); r != nil {
		return r.ctx
	}
	ctx, cancel := context.WithDeadline(c.parent, c.deadline)
	if c.released {
		cancel() // waited on after the request: already over
	}
	c.real.Store(&deadlineContext{ctx: ctx, cancel: cancel})
	return ctx
}

// release ends the context when the request is done, like the cancel of
// WithTimeout; the timer is stopped if one was started.
func (c *lazyDeadline) release() {
	c.mu.Lock()
	c.released = true
	r := c.real.Load()
	c.mu.Unlock()
	if r != nil {
		r.cancel()
	}
}

// Deadline implements context.Context.
func (c *lazyDeadline) Deadline() (time.Time, bool) { return c.deadline, true }

// Done implements context.Context; it starts the timer.
func (c *lazyDeadline) Done() <-chan struct{} { return c.wait().Done() }

// Err implements context.Context without starting the timer.
func (c *lazyDeadline) Err() error {
	if r := c.real.Load(); r != nil {
		return r.ctx.Err()
	}
	if err := c.parent.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	c.mu.Lock()
	released := c.released
	c.mu.Unlock()
	if released {
		return context.Canceled
	}
	return nil
}

// Value implements context.Context. Once the real context exists, values
// come from it, so a context derived later finds its cancellation (the
// context package's own key) there and registers with it instead of
// watching it from a goroutine.
func (c *lazyDeadline) Value(key any) any {
	if r := c.real.Load(); r != nil {
		return r.ctx.Value(key)
	}
	return c.parent.Value(key)
}

// String names the context.
func (c *lazyDeadline) String() string { return "httptransport.lazyDeadline" }
