package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
)

// replyError is an error reply of the server, as go-redis reports one.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

var _ goredis.Error = replyError("")

func TestBreakerCountsOnlyRedisFailures(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name     string
		ctx      context.Context
		err      error
		wantOpen bool // after three such calls
	}{
		{"network errors open it", context.Background(), io.EOF, true},
		{"timeouts open it", context.Background(), context.DeadlineExceeded, true},
		{"loading replies open it", context.Background(), replyError("LOADING Redis is loading the dataset in memory"), true},
		{"read-only replies open it", context.Background(), replyError("READONLY You can't write against a read only replica."), true},
		{"a cache miss is a success", context.Background(), goredis.Nil, false},
		{"a command error means Redis is up", context.Background(), replyError("WRONGTYPE Operation against a key holding the wrong kind of value"), false},
		{"the caller's cancellation is not counted", canceled, context.Canceled, false},
		{"a failure after the caller left is not counted", canceled, io.EOF, false},
		{"a cancellation wrapped is not counted", context.Background(), fmt.Errorf("eval: %w", context.Canceled), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBreaker(BreakerConfig{FailureThreshold: 3, OpenTimeout: time.Minute})
			for i := range 3 {
				err := b.Do(tc.ctx, func(context.Context) error { return tc.err })
				if !errors.Is(err, tc.err) {
					t.Fatalf("call %d returned %v, want the call's own error", i+1, err)
				}
			}
			if open := b.State() == gobreaker.StateOpen; open != tc.wantOpen {
				t.Fatalf("breaker %s after three calls, want open %v", b.State(), tc.wantOpen)
			}
		})
	}
}

func TestBreakerOpenFailsAtOnceThenProbes(t *testing.T) {
	var mu sync.Mutex
	var changes []string
	b := NewBreaker(BreakerConfig{Name: "r", FailureThreshold: 2, OpenTimeout: 100 * time.Millisecond,
		OnStateChange: func(name string, from, to gobreaker.State) {
			mu.Lock()
			defer mu.Unlock()
			changes = append(changes, name+":"+from.String()+">"+to.String())
		}})
	ctx := context.Background()
	fail := func(context.Context) error { return io.EOF }
	calls := 0
	count := func(context.Context) error { calls++; return nil }

	_ = b.Do(ctx, fail)
	_ = b.Do(ctx, fail)
	err := b.Do(ctx, count)
	if !errors.Is(err, ErrCircuitOpen) || !errors.Is(err, gobreaker.ErrOpenState) || calls != 0 {
		t.Fatalf("call with the breaker open: %v, %d calls made; want ErrCircuitOpen without a call", err, calls)
	}
	time.Sleep(120 * time.Millisecond)
	if err := b.Do(ctx, count); err != nil || calls != 1 {
		t.Fatalf("probe after the open timeout: %v, %d calls; want it made and passed", err, calls)
	}
	if b.State() != gobreaker.StateClosed {
		t.Fatalf("breaker %s after a good probe, want closed", b.State())
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"r:closed>open", "r:open>half-open", "r:half-open>closed"}
	if fmt.Sprint(changes) != fmt.Sprint(want) {
		t.Fatalf("state changes %v, want %v", changes, want)
	}
}

func TestBreakerBoundsEachCall(t *testing.T) {
	b := NewBreaker(BreakerConfig{CallTimeout: 50 * time.Millisecond})
	start := time.Now()
	err := b.Do(context.Background(), func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the call's deadline exceeded", err)
	}
	if took := time.Since(start); took < 50*time.Millisecond || took > time.Second {
		t.Fatalf("call took %s, want about the 50 ms call timeout", took)
	}
}

func TestBreakerSurvivesAPanickingCall(t *testing.T) {
	b := NewBreaker(BreakerConfig{FailureThreshold: 1, OpenTimeout: 10 * time.Millisecond})
	_ = b.Do(context.Background(), func(context.Context) error { return io.EOF })
	time.Sleep(20 * time.Millisecond)
	func() {
		defer func() { _ = recover() }()
		_ = b.Do(context.Background(), func(context.Context) error { panic("boom") })
	}()
	// The panicking probe counted as a failure and the breaker is open
	// again; it must not stay stuck half-open.
	time.Sleep(20 * time.Millisecond)
	if err := b.Do(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Fatalf("call after a panicking probe: %v", err)
	}
}

func TestBreakerNeedsAFailureRatioUnderTraffic(t *testing.T) {
	for _, tc := range []struct {
		name                string
		successes, failures int
		wantOpen            bool
	}{
		{"little traffic: five failures in a row open it", 3, 5, true},
		{"little traffic: four do not", 3, 4, false},
		{"under traffic a burst of failures does not", 100, 32, false},
		{"under traffic half failing does", 30, 30, true},
		{"just under half does not", 30, 29, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBreaker(BreakerConfig{FailureThreshold: 5, MinRequests: 20, FailureRatio: 0.5, Window: time.Minute, OpenTimeout: time.Minute})
			ctx := context.Background()
			for range tc.successes {
				_ = b.Do(ctx, func(context.Context) error { return nil })
			}
			for range tc.failures {
				_ = b.Do(ctx, func(context.Context) error { return io.EOF })
			}
			if open := b.State() == gobreaker.StateOpen; open != tc.wantOpen {
				t.Fatalf("breaker %s after %d successes and %d failures, want open %v",
					b.State(), tc.successes, tc.failures, tc.wantOpen)
			}
		})
	}
}

func TestBreakerWindowForgetsOldSuccesses(t *testing.T) {
	b := NewBreaker(BreakerConfig{FailureThreshold: 5, MinRequests: 20, Window: 200 * time.Millisecond, OpenTimeout: time.Minute})
	ctx := context.Background()
	for range 100 {
		_ = b.Do(ctx, func(context.Context) error { return nil })
	}
	time.Sleep(250 * time.Millisecond) // the successes leave the window
	for range 5 {
		_ = b.Do(ctx, func(context.Context) error { return io.EOF })
	}
	if b.State() != gobreaker.StateOpen {
		t.Fatalf("breaker %s: five failures after the successes left the window, want open", b.State())
	}
}
