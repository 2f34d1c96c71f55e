package redis

import (
	"context"
	"crypto/rand"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
)

// benchHTML is a consent text of a realistic size (about 4 KiB).
var benchHTML = "<h1>Consent</h1>" + strings.Repeat("<p>We process your personal data to open your account.</p>", 70)

func benchCache(b *testing.B, l1TTL time.Duration, lanes int) *ConsentTextCache {
	b.Helper()
	rdb := testClient(b)
	store := newFakeStore()
	store.publish("GDPR", "en", benchHTML)
	c := NewConsentTextCache(rdb, NewBreaker(BreakerConfig{}), store, ConsentTextCacheConfig{
		KeyPrefix: testPrefix(b, rdb), L1TTL: l1TTL, Coalescer: NewCoalescer(rdb, lanes),
	})
	if _, err := c.LatestConsentText(context.Background(), "GDPR", "en"); err != nil {
		b.Fatal(err)
	}
	// Open the pool's connections before measuring: dialing 32 of them on
	// a saturated 2-CPU machine is the warm-up, not the steady state.
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range 50 {
				_, _ = c.LatestConsentText(context.Background(), "GDPR", "en")
			}
		})
	}
	wg.Wait()
	return c
}

// checkFallbacks fails the benchmark when more than 1 % of its reads were
// not answered by the level it measures, and reports the share.
func checkFallbacks(b *testing.B, c *ConsentTextCache, before ConsentTextCacheStats) {
	b.Helper()
	s := c.Stats()
	reads := float64(b.N)
	fallbacks := float64(s.Fallbacks - before.Fallbacks)
	b.ReportMetric(fallbacks/reads, "fallbacks/op")
	if s.L2Misses != before.L2Misses || fallbacks > reads/100 {
		b.Fatalf("stats %+v (before %+v): the benchmark did not measure cache hits", s, before)
	}
}

func benchRead(b *testing.B, c *ConsentTextCache, parallel bool) {
	b.Helper()
	before := c.Stats()
	defer checkFallbacks(b, c, before)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		for b.Loop() {
			if _, err := c.LatestConsentText(ctx, "GDPR", "en"); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.SetParallelism(16) // 32 goroutines on 2 CPUs, like the load test's connections
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.LatestConsentText(ctx, "GDPR", "en"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkLatestConsentTextL1Hit is a warm read answered in process.
func BenchmarkLatestConsentTextL1Hit(b *testing.B) {
	c := benchCache(b, time.Minute, 0)
	b.Run("serial", func(b *testing.B) { benchRead(b, c, false) })
	b.Run("parallel", func(b *testing.B) { benchRead(b, c, true) })
	if s := c.Stats(); s.L2Misses != 1 || s.Fallbacks != 0 {
		b.Fatalf("stats %+v: the benchmark did not measure L1 hits", s)
	}
}

// BenchmarkLatestConsentTextL2Hit is a read answered by Redis (the L1 is
// disabled): one script round trip and the decoding of the text. In
// parallel, with the default lanes concurrent reads share round trips;
// with 64 lanes (more than the 32 goroutines) each makes its own, as
// without a Coalescer.
func BenchmarkLatestConsentTextL2Hit(b *testing.B) {
	c := benchCache(b, -1, 0)
	b.Run("serial", func(b *testing.B) { benchRead(b, c, false) })
	b.Run("parallel", func(b *testing.B) { benchRead(b, c, true) })
	own := benchCache(b, -1, 64)
	b.Run("parallel-own-round-trips", func(b *testing.B) { benchRead(b, own, true) })
}

// BenchmarkOTPBeginFinish is the dedupe work of one OTP send: claim a new
// key, record the outcome.
func BenchmarkOTPBeginFinish(b *testing.B) {
	rdb := testClient(b)
	g := NewOTPGuard(rdb, NewBreaker(BreakerConfig{}), OTPGuardConfig{KeyPrefix: testPrefix(b, rdb)})
	ctx := context.Background()
	var n atomic.Uint64
	b.ReportAllocs()
	for b.Loop() {
		key := strconv.FormatUint(n.Add(1), 16)
		claimed, _, err := g.BeginOTP(ctx, key, time.Minute)
		if err != nil || !claimed {
			b.Fatalf("BeginOTP = %v, %v", claimed, err)
		}
		if err := g.FinishOTP(ctx, key, domain.OTPSent, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
	if s := g.Stats(); s.Fallbacks != 0 {
		b.Fatalf("%d fallbacks: the benchmark did not measure Redis", s.Fallbacks)
	}
}

// BenchmarkOTPAllow is one throttle check of a process.
func BenchmarkOTPAllow(b *testing.B) {
	rdb := testClient(b)
	g := NewOTPGuard(rdb, NewBreaker(BreakerConfig{}), OTPGuardConfig{KeyPrefix: testPrefix(b, rdb)})
	ctx := context.Background()
	var n atomic.Uint64
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.AllowOTP(ctx, strconv.FormatUint(n.Add(1)%1000, 10), rand.Text(), 5, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}
