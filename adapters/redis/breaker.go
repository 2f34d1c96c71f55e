package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
)

// Defaults of BreakerConfig.
const (
	DefaultBreakerName      = "redis"
	DefaultFailureThreshold = 5
	DefaultFailureRatio     = 0.5
	DefaultMinRequests      = 20
	DefaultWindow           = 5 * time.Second
	DefaultOpenTimeout      = 5 * time.Second
	DefaultCallTimeout      = 300 * time.Millisecond
)

// windowBuckets is the number of buckets of the rolling window, so old
// results leave it gradually rather than all at once.
const windowBuckets = 10

// ErrCircuitOpen is returned (wrapped together with gobreaker's own error)
// for a call the breaker refused without touching the network.
var ErrCircuitOpen = errors.New("redis: circuit breaker open")

// errCallerGone marks a call whose caller cancelled or ran out of time
// first: it says nothing about Redis, so the breaker neither counts it as a
// failure nor as a success.
var errCallerGone = errors.New("redis: caller gone")

// BreakerConfig configures the circuit breaker in front of Redis. The zero
// value gives the defaults above.
type BreakerConfig struct {
	// Name labels the breaker in OnStateChange ("" means "redis").
	Name string
	// FailureThreshold is the number of consecutive failed calls that
	// opens the breaker, as long as fewer than MinRequests calls were made
	// in the window.
	FailureThreshold uint32
	// FailureRatio is, once MinRequests calls were made in the window,
	// the share of them that must have failed (besides FailureThreshold
	// consecutive ones) to open the breaker. Under load a stall makes every
	// call in flight time out at once; that burst alone must not send all
	// the traffic to the store.
	FailureRatio float64
	// MinRequests is the number of calls in the window from which
	// FailureRatio applies.
	MinRequests uint32
	// Window is the rolling window the counts are taken over.
	Window time.Duration
	// OpenTimeout is how long the breaker stays open before it lets one
	// probe call through (half-open); a successful probe closes it.
	OpenTimeout time.Duration
	// CallTimeout bounds one guarded call, retries included, so a Redis
	// that accepts connections but never answers costs at most this much
	// per request before the adapter falls back.
	CallTimeout time.Duration
	// OnStateChange, when set, is called on every transition (closed ->
	// open -> half-open -> closed) for logs and metrics. It runs under the
	// breaker's lock: it must be quick and must not call the breaker.
	OnStateChange func(name string, from, to gobreaker.State)
}

// Breaker is a circuit breaker (sony/gobreaker) around Redis calls, shared
// by every adapter talking to one Redis: after FailureThreshold consecutive
// failures (and, under traffic, a failure ratio of FailureRatio over the
// rolling window) it fails calls at once for OpenTimeout, so a dead Redis
// costs the request path nothing instead of a timeout per call.
//
// A cache miss (redis.Nil) and an error reply that means Redis is up but
// refused one command (WRONGTYPE, a script error) count as successes;
// network errors, timeouts and replies that mean the server cannot serve
// (LOADING, READONLY, MASTERDOWN, BUSY, OOM...) count as failures; a call
// whose caller cancelled or ran out of time is not counted at all.
type Breaker struct {
	cb          *gobreaker.CircuitBreaker[struct{}]
	callTimeout time.Duration
}

// NewBreaker returns a closed breaker.
func NewBreaker(c BreakerConfig) *Breaker {
	if c.Name == "" {
		c.Name = DefaultBreakerName
	}
	if c.FailureThreshold == 0 {
		c.FailureThreshold = DefaultFailureThreshold
	}
	if c.FailureRatio <= 0 || c.FailureRatio > 1 {
		c.FailureRatio = DefaultFailureRatio
	}
	if c.MinRequests == 0 {
		c.MinRequests = DefaultMinRequests
	}
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.OpenTimeout <= 0 {
		c.OpenTimeout = DefaultOpenTimeout
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	return &Breaker{
		callTimeout: c.CallTimeout,
		cb: gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
			Name:          c.Name,
			MaxRequests:   1,
			Interval:      c.Window,
			BucketPeriod:  max(c.Window/windowBuckets, time.Millisecond),
			Timeout:       c.OpenTimeout,
			ReadyToTrip:   readyToTrip(c.FailureThreshold, c.MinRequests, c.FailureRatio),
			OnStateChange: c.OnStateChange,
			IsExcluded:    func(err error) bool { return errors.Is(err, errCallerGone) },
		}),
	}
}

// readyToTrip opens the breaker on threshold consecutive failures, and
// once the window holds minRequests results, only if ratio of them failed.
func readyToTrip(threshold, minRequests uint32, ratio float64) func(gobreaker.Counts) bool {
	return func(c gobreaker.Counts) bool {
		if c.ConsecutiveFailures < threshold {
			return false
		}
		total := c.TotalSuccesses + c.TotalFailures
		return total < minRequests || float64(c.TotalFailures) >= ratio*float64(total)
	}
}

// Do runs fn with a context bounded by the call timeout, unless the breaker
// is open, in which case it returns an error wrapping ErrCircuitOpen at
// once. fn's own error is returned unchanged.
func (b *Breaker) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	var callErr error
	ran := false
	_, err := b.cb.Execute(func() (struct{}, error) {
		ran = true
		cctx, cancel := context.WithTimeout(ctx, b.callTimeout)
		defer cancel()
		callErr = fn(cctx)
		return struct{}{}, classify(ctx, callErr)
	})
	if !ran {
		return fmt.Errorf("%w: %w", ErrCircuitOpen, err)
	}
	return callErr
}

// State returns the breaker's state, for a gauge or a readiness detail.
func (b *Breaker) State() gobreaker.State { return b.cb.State() }

// classify turns a call's result into what the breaker counts: nil for a
// success, errCallerGone for a call the caller abandoned, else the failure.
func classify(parent context.Context, err error) error {
	switch {
	case err == nil, errors.Is(err, goredis.Nil):
		return nil
	case parent.Err() != nil, errors.Is(err, context.Canceled):
		return fmt.Errorf("%w: %w", errCallerGone, err)
	case serverUnavailable(err):
		return err
	}
	var reply goredis.Error
	if errors.As(err, &reply) {
		// Redis answered: it is up, whatever it thought of the command.
		return nil
	}
	return err
}

// serverUnavailable reports error replies that mean the server cannot
// serve commands right now.
func serverUnavailable(err error) bool {
	return goredis.IsLoadingError(err) || goredis.IsReadOnlyError(err) ||
		goredis.IsMasterDownError(err) || goredis.IsClusterDownError(err) ||
		goredis.IsTryAgainError(err) || goredis.IsOOMError(err) ||
		goredis.IsMaxClientsError(err) || goredis.HasErrorPrefix(err, "BUSY")
}
