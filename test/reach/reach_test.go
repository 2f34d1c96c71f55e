package reach

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
)

// blackhole accepts connections and never answers, as an overloaded
// server's listen queue or a dropped network does.
func blackhole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// refusing is an address nothing listens on.
func refusing(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func pgAttempt(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, "postgres://postgres@"+addr+"/postgres?sslmode=disable")
		if err == nil {
			conn.Close(ctx)
		}
		return err
	}
}

func redisAttempt(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		c := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1, ContextTimeoutEnabled: true})
		defer c.Close()
		return c.Ping(ctx).Err()
	}
}

// TestTryTheDrivers: the real drivers' errors are told apart. A server
// that never answers is tried until the budget ends and reported as a
// time-out after several attempts; a refusal is reported at once, after one.
func TestTryTheDrivers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		attempt func(string) func(context.Context) error
	}{{"pgx", pgAttempt}, {"go-redis", redisAttempt}} {
		t.Run(tc.name+"/unanswered", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 1200*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := Try(ctx, 300*time.Millisecond, tc.attempt(blackhole(t)))
			took := time.Since(start)
			if err == nil || !Timeout(err) || !strings.Contains(err.Error(), "attempts, the last") {
				t.Fatalf("Try against a server that never answers: %v, want a time-out after several attempts", err)
			}
			if took < time.Second || took > 3*time.Second {
				t.Errorf("gave up after %v, want when the 1.2 s budget ended", took)
			}
		})
		t.Run(tc.name+"/refused", func(t *testing.T) {
			calls := 0
			attempt := tc.attempt(refusing(t))
			start := time.Now()
			err := Try(context.Background(), time.Second, func(ctx context.Context) error { calls++; return attempt(ctx) })
			if err == nil || Timeout(err) || calls != 1 {
				t.Fatalf("Try against a refusing port: %v after %d attempts, want the refusal after one", err, calls)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("a refusal took %v to report", took)
			}
		})
	}
}

// TestTryRetriesOnlyTimeouts: time-outs are retried until an attempt
// succeeds; any other error ends the trying with that error.
func TestTryRetriesOnlyTimeouts(t *testing.T) {
	refused := errors.New("connection refused")
	for _, tc := range []struct {
		name      string
		errs      []error // what the attempts return, in order
		wantCalls int
		wantErr   error
	}{
		{"first succeeds", []error{nil}, 1, nil},
		{"two time-outs, then up", []error{context.DeadlineExceeded, context.DeadlineExceeded, nil}, 3, nil},
		{"a time-out, then refused", []error{context.DeadlineExceeded, refused}, 2, refused},
		{"refused at once", []error{refused, nil}, 1, refused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := Try(context.Background(), time.Second, func(context.Context) error {
				calls++
				return tc.errs[calls-1]
			})
			if calls != tc.wantCalls || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Errorf("%d calls, %v; want %d calls, %v", calls, err, tc.wantCalls, tc.wantErr)
			}
		})
	}
}
