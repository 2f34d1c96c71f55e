package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/bankkit/onboarding-adapter/test/reach"
)

// TestMain fails the package when a test leaves a goroutine behind: the
// subscriber, the proxy and every client must stop when told to.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testRedisURL is the Redis the tests use.
func testRedisURL() string {
	if u := os.Getenv("ONBOARDING_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

var (
	redisUpOnce sync.Once
	redisUpErr  error
)

// requireRedis skips the test, loudly, when the test Redis does not answer,
// except under CI=true, where a missing Redis is a failure.
func requireRedis(t testing.TB) {
	t.Helper()
	redisUpOnce.Do(func() {
		c, err := NewClient(testRedisURL(), ClientConfig{DialTimeout: time.Second, ReadTimeout: time.Second})
		if err != nil {
			redisUpErr = err
			return
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		redisUpErr = reach.Try(ctx, 2*time.Second, func(ctx context.Context) error { return c.Ping(ctx).Err() })
	})
	if redisUpErr == nil {
		return
	}
	msg := "!!! REDIS NOT REACHABLE at ONBOARDING_TEST_REDIS_URL (default redis://127.0.0.1:6379/0): " +
		redisUpErr.Error() + " — the Redis adapter tests did NOT run !!!"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// testClient returns a client of the test Redis with patientTimeout,
// closed after the test.
func testClient(t testing.TB) *goredis.Client {
	t.Helper()
	requireRedis(t)
	return patientClientAt(t, testRedisURL())
}

// clientAt returns a client of url with the production defaults, closed
// after the test: for the outage tests (a refused or silent Redis), whose
// bounds those time-outs are part of.
func clientAt(t testing.TB, url string) *goredis.Client {
	t.Helper()
	return newTestClient(t, url, ClientConfig{})
}

// patientTimeout is the dial, read, write and pool time-out of the clients
// of tests that count what Redis answered: with the production 150 ms, one
// round trip that a loaded machine (the parallel -race run on two cores)
// did not schedule in time falls back to the store or the in-process
// guard, and the counts change.
const patientTimeout = 2 * time.Second

// patientClientAt returns a client of url with patientTimeout, closed after
// the test.
func patientClientAt(t testing.TB, url string) *goredis.Client {
	t.Helper()
	return newTestClient(t, url, ClientConfig{DialTimeout: patientTimeout, ReadTimeout: patientTimeout,
		WriteTimeout: patientTimeout, PoolTimeout: patientTimeout})
}

func newTestClient(t testing.TB, url string, cfg ClientConfig) *goredis.Client {
	t.Helper()
	c, err := NewClient(url, cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// viaAddr returns the test Redis URL with its host and port replaced.
func viaAddr(t testing.TB, addr string) string {
	t.Helper()
	u := testRedisURL()
	opt, err := goredis.ParseURL(u)
	if err != nil {
		t.Fatalf("test Redis URL: %v", err)
	}
	return strings.Replace(u, opt.Addr, addr, 1)
}

// testPrefix returns a key prefix of this test alone, and deletes its keys
// after the test, so tests and packages can share one Redis in parallel.
func testPrefix(t testing.TB, rdb *goredis.Client) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, t.Name())
	if len(name) > 60 {
		name = name[:60]
	}
	prefix := "test:redis-adapter:" + name + ":" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+"*", 100).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("scan test keys: %v", err)
			return
		}
		if len(keys) > 0 {
			if err := rdb.Del(ctx, keys...).Err(); err != nil {
				t.Errorf("delete test keys: %v", err)
			}
		}
	})
	return prefix
}

// testBreaker is a breaker that trips and recovers quickly, and whose call
// time-out (patientCallTimeout) leaves the patient clients' time-outs to
// decide when Redis is too slow.
func testBreaker(t testing.TB) *Breaker {
	t.Helper()
	return NewBreaker(BreakerConfig{Name: t.Name(), FailureThreshold: 3, OpenTimeout: 150 * time.Millisecond, CallTimeout: patientCallTimeout})
}

// patientCallTimeout is the call time-out of the breakers of tests that
// count what Redis answered (the production 300 ms would turn a slow round
// trip on a loaded machine into a fallback).
const patientCallTimeout = 5 * time.Second

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// tcpProxy forwards a loopback port to a target, and can be stopped (every
// connection cut, the port closed) and started again on the same port: a
// Redis outage and recovery without touching the shared Redis.
type tcpProxy struct {
	t      testing.TB
	target string
	addr   string
	hold   bool // accept connections but never forward: a hung server

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// proxied returns a client of the shared Redis (to check what is
// stored), a fresh key prefix, and a client of the same Redis through a
// proxy the test can stop and start: an outage and a recovery. Both
// clients have patientTimeout: a stopped proxy refuses connections at once,
// so the outage does not wait for it.
func proxied(t testing.TB) (direct *goredis.Client, prefix string, proxy *tcpProxy, rdb *goredis.Client) {
	t.Helper()
	direct = testClient(t)
	prefix = testPrefix(t, direct)
	proxy = newProxy(t, mustAddr(t))
	return direct, prefix, proxy, patientClientAt(t, viaAddr(t, proxy.addr))
}

// newProxy starts a proxy to target; it is stopped after the test.
func newProxy(t testing.TB, target string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{t: t, target: target, addr: "127.0.0.1:0", conns: map[net.Conn]struct{}{}}
	p.start()
	t.Cleanup(func() {
		p.stop()
		p.wg.Wait()
	})
	return p
}

// newHangingServer returns the address of a server that accepts
// connections and never answers.
func newHangingServer(t testing.TB) string {
	t.Helper()
	p := &tcpProxy{t: t, addr: "127.0.0.1:0", hold: true, conns: map[net.Conn]struct{}{}}
	p.start()
	t.Cleanup(func() {
		p.stop()
		p.wg.Wait()
	})
	return p.addr
}

func (p *tcpProxy) start() {
	p.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the old port may take a moment to be free again
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("proxy listen %s: %v", p.addr, err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	p.wg.Go(func() { p.accept(ln) })
}

func (p *tcpProxy) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			return
		}
		if p.hold {
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, time.Second)
		if err != nil || !p.track(up) {
			_ = c.Close()
			continue
		}
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			_ = dst.Close()
			_ = src.Close()
		}
		p.wg.Go(func() { pipe(up, c) })
		p.wg.Go(func() { pipe(c, up) })
	}
}

// track remembers c for stop; false (c closed) when the proxy is stopped.
func (p *tcpProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

// stop closes the port and cuts every connection.
func (p *tcpProxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
		delete(p.conns, c)
	}
}

// eventually polls cond every 10 ms until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runSubscriber runs c's subscriber until the test ends and waits for its
// first subscription.
func runSubscriber(t testing.TB, c *ConsentTextCache) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context was cancelled")
		}
	})
	eventually(t, 5*time.Second, "subscribed to invalidations", func() bool { return c.Stats().Subscriptions >= 1 })
}
