package httptransport

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

type ctxKey struct{}

// newLazyDeadline is a set lazyDeadline of its own, for the tests.
func newLazyDeadline(parent context.Context, start time.Time, timeout time.Duration) *lazyDeadline {
	c := &lazyDeadline{}
	c.set(parent, start, timeout)
	return c
}

// TestLazyDeadlineBehavesLikeWithTimeout checks lazyDeadline against what
// context.WithTimeout promises, for contexts that are waited on and for
// those that are not.
func TestLazyDeadlineBehavesLikeWithTimeout(t *testing.T) {
	t.Run("deadline and values without a timer", func(t *testing.T) {
		parent := context.WithValue(context.Background(), ctxKey{}, "v")
		before := time.Now()
		c := newLazyDeadline(parent, time.Now(), time.Hour)
		defer c.release()
		if d, ok := c.Deadline(); !ok || d.Before(before.Add(time.Hour)) || d.After(time.Now().Add(time.Hour)) {
			t.Errorf("Deadline() = %v %v, want now+1h", d, ok)
		}
		if c.Value(ctxKey{}) != "v" || c.Err() != nil {
			t.Errorf("Value %v Err %v", c.Value(ctxKey{}), c.Err())
		}
		if c.real.Load() != nil {
			t.Errorf("a timer was started without anyone waiting")
		}
	})
	t.Run("parent's earlier deadline wins", func(t *testing.T) {
		parent, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c := newLazyDeadline(parent, time.Now(), time.Hour)
		defer c.release()
		if d, _ := c.Deadline(); d != func() time.Time { pd, _ := parent.Deadline(); return pd }() {
			t.Errorf("Deadline() = %v, want the parent's", d)
		}
	})
	t.Run("expiry without waiting", func(t *testing.T) {
		c := newLazyDeadline(context.Background(), time.Now(), time.Millisecond)
		defer c.release()
		time.Sleep(5 * time.Millisecond)
		if !errors.Is(c.Err(), context.DeadlineExceeded) {
			t.Errorf("Err() = %v, want DeadlineExceeded", c.Err())
		}
	})
	t.Run("Done closes at the deadline", func(t *testing.T) {
		c := newLazyDeadline(context.Background(), time.Now(), 10*time.Millisecond)
		defer c.release()
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("Done never closed")
		}
		if !errors.Is(c.Err(), context.DeadlineExceeded) || !errors.Is(context.Cause(c), context.DeadlineExceeded) {
			t.Errorf("Err %v Cause %v, want DeadlineExceeded", c.Err(), context.Cause(c))
		}
	})
	t.Run("parent cancelled, waited on before and after", func(t *testing.T) {
		for _, waitFirst := range []bool{true, false} {
			parent, cancel := context.WithCancel(context.Background())
			c := newLazyDeadline(parent, time.Now(), time.Hour)
			if waitFirst {
				_ = c.Done()
			}
			cancel()
			if !errors.Is(c.Err(), context.Canceled) {
				t.Errorf("waitFirst %v: Err() = %v, want Canceled", waitFirst, c.Err())
			}
			select {
			case <-c.Done():
			case <-time.After(5 * time.Second):
				t.Fatalf("waitFirst %v: Done never closed", waitFirst)
			}
			c.release()
		}
	})
	t.Run("released", func(t *testing.T) {
		for _, waitFirst := range []bool{true, false} {
			c := newLazyDeadline(context.Background(), time.Now(), time.Hour)
			if waitFirst {
				_ = c.Done()
			}
			c.release()
			if !errors.Is(c.Err(), context.Canceled) {
				t.Errorf("waitFirst %v: Err() = %v, want Canceled", waitFirst, c.Err())
			}
			select {
			case <-c.Done():
			default:
				t.Errorf("waitFirst %v: Done open after release", waitFirst)
			}
		}
	})
	t.Run("derived contexts register without goroutines", func(t *testing.T) {
		parent, cancelParent := context.WithCancel(context.Background())
		defer cancelParent()
		c := newLazyDeadline(parent, time.Now(), 20*time.Millisecond)
		defer c.release()
		before := runtime.NumGoroutine()
		child, cancel := context.WithCancel(c)
		defer cancel()
		fired := make(chan struct{})
		stop := context.AfterFunc(c, func() { close(fired) })
		defer stop()
		if n := runtime.NumGoroutine(); n > before {
			t.Errorf("%d goroutines after deriving, %d before", n, before)
		}
		select {
		case <-child.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("child never cancelled at the deadline")
		}
		<-fired
		if !errors.Is(child.Err(), context.DeadlineExceeded) {
			t.Errorf("child Err() = %v", child.Err())
		}
	})
}
