package redis

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/bankkit/onboarding-adapter/domain"
)

// opLog records OnFallback calls.
type opLog struct {
	mu  sync.Mutex
	ops map[string]int
}

func (l *opLog) record(op string, err error) {
	if err == nil {
		panic("OnFallback without an error")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ops == nil {
		l.ops = map[string]int{}
	}
	l.ops[op]++
}

func (l *opLog) count(op string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ops[op]
}

// within fails the test when fn takes longer than d: every call must stay
// far inside the 4 s request budget while Redis is down. The bounds leave
// room for a loaded machine (the parallel -race run on two cores): what
// they catch is a call waiting for the request's budget, not for the call
// time-out.
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	start := time.Now()
	fn()
	if took := time.Since(start); took > d {
		t.Fatalf("%s took %s, want at most %s", what, took, d)
	}
}

// TestOutageRedisUnreachable points the adapters at a closed port: consent
// texts come from the store without an error, the throttle and dedupe
// still bound sends (per replica), and everything is counted.
func TestOutageRedisUnreachable(t *testing.T) {
	for _, tc := range []struct {
		name string
		addr func(t *testing.T) string
		// bound of a read before the breaker opens: a refused connection
		// fails at once, a silent server costs the call timeout (300 ms);
		// either is far below the 4 s budget a hanging read would take.
		bound time.Duration
	}{
		{"closed port", func(t *testing.T) string { return closedAddr(t) }, time.Second},
		{"server that never answers", func(t *testing.T) string { return newHangingServer(t) }, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The production time-outs: what they bound is tested here.
			rdb := clientAt(t, "redis://"+tc.addr(t)+"/0")
			trips := &roundTrips{}
			rdb.AddHook(trips)
			var changes []string
			var mu sync.Mutex
			b := NewBreaker(BreakerConfig{FailureThreshold: 3, OpenTimeout: time.Minute,
				OnStateChange: func(_ string, from, to gobreaker.State) {
					mu.Lock()
					defer mu.Unlock()
					changes = append(changes, from.String()+">"+to.String())
				}})
			store := newFakeStore()
			v1 := store.publish("GDPR", "en", "<p>one</p>")
			var cacheOps, otpOps opLog
			c := NewConsentTextCache(rdb, b, store, ConsentTextCacheConfig{L1TTL: -1, OnFallback: cacheOps.record})
			g := NewOTPGuard(rdb, b, OTPGuardConfig{OnFallback: otpOps.record})
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
			defer cancel()

			for i := range 5 {
				within(t, tc.bound, "consent text read", func() {
					got, err := c.LatestConsentText(ctx, "GDPR", "en")
					if err != nil {
						t.Fatalf("read %d: %v, want the store's text", i+1, err)
					}
					sameText(t, got, v1)
				})
			}
			if n := cacheOps.count("read"); n != 5 {
				t.Fatalf("OnFallback(read) called %d times, want 5", n)
			}
			if s := c.Stats(); s.Fallbacks != 5 || s.L2Hits != 0 {
				t.Fatalf("stats = %+v, want 5 fallbacks", s)
			}
			if b.State() != gobreaker.StateOpen {
				t.Fatalf("breaker %s after 5 failures, want open", b.State())
			}
			// With the breaker open nothing is sent to Redis: no command
			// (and so no time-out) is paid for, whatever the machine's load.
			sent := trips.n.Load()
			if _, err := c.LatestConsentText(ctx, "GDPR", "en"); err != nil {
				t.Fatal(err)
			}
			if n := trips.n.Load() - sent; n != 0 {
				t.Fatalf("a read with the breaker open sent %d commands to Redis, want none", n)
			}

			for i := range 6 {
				ok, err := g.AllowOTP(ctx, "proc", rand.Text(), 5, 15*time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				if want := i < 5; ok != want {
					t.Fatalf("send %d allowed = %v, want %v (fallback limiter)", i+1, ok, want)
				}
			}
			if n := trips.n.Load() - sent; n != 0 {
				t.Fatalf("throttle checks with the breaker open sent %d commands to Redis, want none", n)
			}
			claimed, _, err := g.BeginOTP(ctx, "k", time.Minute)
			if err != nil || !claimed {
				t.Fatalf("first BeginOTP = %v, %v; want claimed", claimed, err)
			}
			claimed, prior, err := g.BeginOTP(ctx, "k", time.Minute)
			if err != nil || claimed || prior != domain.OTPPending {
				t.Fatalf("second BeginOTP = %v %q %v; want not claimed, pending", claimed, prior, err)
			}
			if err := g.FinishOTP(ctx, "k", domain.OTPSent, time.Minute); err != nil {
				t.Fatalf("FinishOTP: %v, want nil (recorded in the fallback)", err)
			}
			if _, prior, _ := g.BeginOTP(ctx, "k", time.Minute); prior != domain.OTPSent {
				t.Fatalf("BeginOTP after FinishOTP saw %q, want sent", prior)
			}
			if s := g.Stats(); s.Fallbacks != 10 {
				t.Fatalf("OTP fallbacks = %d, want 10", s.Fallbacks)
			}
			if otpOps.count("allow") != 6 || otpOps.count("begin") != 3 || otpOps.count("finish") != 1 {
				t.Fatalf("OnFallback calls = %v", otpOps.ops)
			}

			err = NewPinger(rdb, b).Ping(ctx)
			if domain.CodeOf(err) != domain.CodeUnavailable || !errors.Is(err, ErrCircuitOpen) {
				t.Fatalf("Ping = %v, want unavailable, circuit open", err)
			}
			if err := c.InvalidateConsentText(ctx, "GDPR", "en"); domain.CodeOf(err) != domain.CodeUnavailable {
				t.Fatalf("InvalidateConsentText = %v, want unavailable: the publisher must know", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(changes) != 1 || changes[0] != "closed>open" {
				t.Fatalf("state changes = %v, want [closed>open]", changes)
			}
		})
	}
}

// TestOutageRedisStopsAndComesBack cuts Redis off mid-test through a proxy
// and brings it back: the adapters fall back during the outage and use
// Redis again afterwards, with the same client.
func TestOutageRedisStopsAndComesBack(t *testing.T) {
	ctx := context.Background()
	direct, prefix, proxy, rdb := proxied(t)
	b := NewBreaker(BreakerConfig{FailureThreshold: 3, OpenTimeout: 200 * time.Millisecond, CallTimeout: patientCallTimeout})
	store := newFakeStore()
	v1 := store.publish("GDPR", "en", "<p>one</p>")
	c := NewConsentTextCache(rdb, b, store, ConsentTextCacheConfig{KeyPrefix: prefix, L1TTL: -1})
	g := NewOTPGuard(rdb, b, OTPGuardConfig{KeyPrefix: prefix})

	// Before: Redis serves, and three sends of the process are logged there.
	sameText(t, read(t, c, "GDPR", "en"), v1)
	sameText(t, read(t, c, "GDPR", "en"), v1)
	for range 3 {
		if ok, err := g.AllowOTP(ctx, "proc", rand.Text(), 5, 15*time.Minute); err != nil || !ok {
			t.Fatalf("AllowOTP before the outage = %v, %v", ok, err)
		}
	}
	if claimed, _, err := g.BeginOTP(ctx, "in-flight", time.Minute); err != nil || !claimed {
		t.Fatalf("BeginOTP before the outage = %v, %v", claimed, err)
	}
	before := c.Stats()
	if before.L2Hits != 1 || before.Fallbacks != 0 {
		t.Fatalf("stats before the outage = %+v, want one Redis hit", before)
	}

	proxy.stop()
	for i := range 5 {
		within(t, time.Second, "read during the outage", func() {
			got, err := c.LatestConsentText(ctx, "GDPR", "en")
			if err != nil {
				t.Fatalf("read %d during the outage: %v", i+1, err)
			}
			sameText(t, got, v1)
		})
	}
	if s := c.Stats(); s.Fallbacks != 5 {
		t.Fatalf("fallbacks during the outage = %d, want 5", s.Fallbacks)
	}
	// The fallback knew the three sends Redis allowed: two more, not five.
	for i := range 3 {
		ok, err := g.AllowOTP(ctx, "proc", rand.Text(), 5, 15*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if want := i < 2; ok != want {
			t.Fatalf("send %d during the outage allowed = %v, want %v", i+4, ok, want)
		}
	}
	// A retry of the send claimed before the outage is still deduplicated.
	if claimed, prior, err := g.BeginOTP(ctx, "in-flight", time.Minute); err != nil || claimed || prior != domain.OTPPending {
		t.Fatalf("retry during the outage = %v %q %v; want not claimed, pending", claimed, prior, err)
	}

	proxy.start()
	eventually(t, 3*time.Second, "Redis used again", func() bool {
		_, _ = c.LatestConsentText(ctx, "GDPR", "en")
		return c.Stats().L2Hits > before.L2Hits
	})
	if b.State() != gobreaker.StateClosed {
		t.Fatalf("breaker %s after recovery, want closed", b.State())
	}
	readsBefore := store.count("GDPR", "en")
	sameText(t, read(t, c, "GDPR", "en"), v1)
	if store.count("GDPR", "en") != readsBefore {
		t.Fatal("after recovery the store was read again, want a Redis hit")
	}
	if claimed, _, err := g.BeginOTP(ctx, "after", time.Minute); err != nil || !claimed {
		t.Fatalf("BeginOTP after recovery = %v, %v", claimed, err)
	}
	if n, _ := direct.Exists(ctx, prefix+"otp:dedupe:after").Result(); n != 1 {
		t.Fatal("after recovery the claim was not made in Redis")
	}
	if err := NewPinger(rdb, b).Ping(ctx); err != nil {
		t.Fatalf("Ping after recovery: %v", err)
	}
}
