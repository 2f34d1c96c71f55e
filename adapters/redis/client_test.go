package redis

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bankkit/onboarding-adapter/domain"
)

func TestNewClientFromURL(t *testing.T) {
	for _, tc := range []struct {
		name           string
		url            string
		addr           string
		db             int
		user, password string
		tls            bool
		serverName     string
	}{
		{"plain", "redis://127.0.0.1:6379/0", "127.0.0.1:6379", 0, "", "", false, ""},
		{"default port and database", "redis://cache.internal", "cache.internal:6379", 0, "", "", false, ""},
		{"database number", "redis://cache.internal:6380/3", "cache.internal:6380", 3, "", "", false, ""},
		{"ACL user and password", "redis://svc:s3cr%40t@cache.internal:6379/1", "cache.internal:6379", 1, "svc", "s3cr@t", false, ""},
		{"password only", "redis://:pw@cache.internal", "cache.internal:6379", 0, "", "pw", false, ""},
		{"TLS", "rediss://svc:pw@cache.example.com:6380", "cache.example.com:6380", 0, "svc", "pw", true, "cache.example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(tc.url, ClientConfig{})
			if err != nil {
				t.Fatalf("NewClient: %v", err)
			}
			defer c.Close()
			o := c.Options()
			if o.Addr != tc.addr || o.DB != tc.db || o.Username != tc.user || o.Password != tc.password {
				t.Fatalf("options addr %q db %d user %q password %q, want %q %d %q %q",
					o.Addr, o.DB, o.Username, o.Password, tc.addr, tc.db, tc.user, tc.password)
			}
			if (o.TLSConfig != nil) != tc.tls {
				t.Fatalf("TLS config %v, want TLS %v", o.TLSConfig, tc.tls)
			}
			if tc.tls && (o.TLSConfig.ServerName != tc.serverName || o.TLSConfig.MinVersion < tls.VersionTLS12 || o.TLSConfig.InsecureSkipVerify) {
				t.Fatalf("TLS config server %q min %x skip %v, want %q, TLS 1.2+, verified",
					o.TLSConfig.ServerName, o.TLSConfig.MinVersion, o.TLSConfig.InsecureSkipVerify, tc.serverName)
			}
		})
	}
}

func TestNewClientTuning(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  ClientConfig
		url  string
		want func(t *testing.T, read, write, dial, pool time.Duration, retries, dialRetries int, ctxTimeout bool)
	}{
		{"defaults win over the URL's options", ClientConfig{}, "redis://h/0?read_timeout=5s&dial_timeout=5s&max_retries=5",
			func(t *testing.T, read, write, dial, pool time.Duration, retries, dialRetries int, ctxTimeout bool) {
				if read != DefaultReadTimeout || write != DefaultWriteTimeout || dial != DefaultDialTimeout ||
					pool != DefaultPoolTimeout || retries != DefaultMaxRetries || dialRetries != DefaultDialerRetries || !ctxTimeout {
					t.Fatalf("read %s write %s dial %s pool %s retries %d dial retries %d ctx %v", read, write, dial, pool, retries, dialRetries, ctxTimeout)
				}
			}},
		{"configured values", ClientConfig{ReadTimeout: 80 * time.Millisecond, WriteTimeout: 90 * time.Millisecond,
			DialTimeout: time.Second, PoolTimeout: 300 * time.Millisecond, MaxRetries: -1, DialerRetries: 1}, "redis://h", // -1: no retries
			func(t *testing.T, read, write, dial, pool time.Duration, retries, dialRetries int, ctxTimeout bool) {
				if read != 80*time.Millisecond || write != 90*time.Millisecond || dial != time.Second ||
					pool != 300*time.Millisecond || retries > 0 || dialRetries != 1 || !ctxTimeout {
					t.Fatalf("read %s write %s dial %s pool %s retries %d dial retries %d ctx %v", read, write, dial, pool, retries, dialRetries, ctxTimeout)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(tc.url, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			o := c.Options()
			tc.want(t, o.ReadTimeout, o.WriteTimeout, o.DialTimeout, o.PoolTimeout, o.MaxRetries, o.DialerRetries, o.ContextTimeoutEnabled)
			if o.ClientName != DefaultClientName {
				t.Fatalf("client name %q, want %q", o.ClientName, DefaultClientName)
			}
		})
	}
}

func TestNewClientTLSBaseConfig(t *testing.T) {
	base := &tls.Config{ServerName: "redis.internal", InsecureSkipVerify: true}
	c, err := NewClient("rediss://10.0.0.5:6380", ClientConfig{TLSConfig: base})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := c.Options().TLSConfig
	if got.ServerName != "redis.internal" || got.InsecureSkipVerify || got.MinVersion < tls.VersionTLS12 {
		t.Fatalf("TLS config server %q skip %v min %x, want the base's server name, verified, TLS 1.2+",
			got.ServerName, got.InsecureSkipVerify, got.MinVersion)
	}
	if !base.InsecureSkipVerify {
		t.Fatal("the caller's TLS config was modified")
	}
}

func TestNewClientRejects(t *testing.T) {
	const secret = "hunter2-secret"
	for _, tc := range []struct {
		name, url, want string
	}{
		{"empty", " ", "empty"},
		{"unparsable, with a password", "redis://user:" + secret + "@host:port:bad/0", "does not parse"},
		{"wrong scheme", "http://host:6379", "scheme"},
		{"unix socket", "unix:///tmp/redis.sock", "scheme"},
		{"no host", "redis:///0", "no host"},
		{"skip_verify", "rediss://user:" + secret + "@host?skip_verify=true", "skip_verify"},
		{"bad database", "redis://user:" + secret + "@host/abc", "database"},
		{"unknown option", "redis://user:" + secret + "@host/0?frobnicate=1", "frobnicate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(tc.url, ClientConfig{})
			if err == nil {
				_ = c.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error %q repeats the password", err)
			}
		})
	}
}

func TestPinger(t *testing.T) {
	rdb := testClient(t)
	if err := NewPinger(rdb, testBreaker(t)).Ping(context.Background()); err != nil {
		t.Fatalf("Ping of a live Redis: %v", err)
	}
	down := clientAt(t, "redis://"+closedAddr(t))
	err := NewPinger(down, testBreaker(t)).Ping(context.Background())
	if domain.CodeOf(err) != domain.CodeUnavailable {
		t.Fatalf("Ping of a closed port: %v, want unavailable", err)
	}
}

func TestLoggerAdaptsGoRedisMessages(t *testing.T) {
	var buf bytes.Buffer
	var l interface {
		Printf(ctx context.Context, format string, v ...any)
	} = Logger{L: slog.New(slog.NewJSONHandler(&buf, nil))}
	l.Printf(context.Background(), "pool: dial %s failed after %d attempts", "127.0.0.1:1", 2)
	out := buf.String()
	if !strings.Contains(out, `"level":"WARN"`) || !strings.Contains(out, "go-redis: pool: dial 127.0.0.1:1 failed after 2 attempts") {
		t.Fatalf("log line %s", out)
	}
}

// Logger must be what goredis.SetLogger takes; this checks it at compile
// time without touching go-redis' global logger.
var _ = func() { goredis.SetLogger(Logger{}) }
