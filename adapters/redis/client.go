package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Defaults of ClientConfig, sized for a service whose requests have a 4 s
// budget and for whom Redis is an optional accelerator: a Redis that does
// not answer within a few hundred milliseconds is treated as down (the
// adapters then fall back) rather than waited for.
const (
	DefaultDialTimeout     = 150 * time.Millisecond
	DefaultReadTimeout     = 150 * time.Millisecond
	DefaultWriteTimeout    = 150 * time.Millisecond
	DefaultPoolTimeout     = 200 * time.Millisecond
	DefaultMaxRetries      = 1
	DefaultMinRetryBackoff = 8 * time.Millisecond
	DefaultMaxRetryBackoff = 50 * time.Millisecond
	DefaultDialerRetries   = 2
	DefaultDialerBackoff   = 25 * time.Millisecond
	DefaultClientName      = "onboarding-adapter"
)

// ClientConfig tunes the go-redis client. The zero value gives the defaults
// above; the address, database, ACL user and password and TLS come from the
// URL. The timeouts here override the URL's query parameters of the same
// meaning, so the service's latency budget is decided in one place.
type ClientConfig struct {
	// DialTimeout bounds one connection attempt.
	DialTimeout time.Duration
	// ReadTimeout and WriteTimeout bound one socket read or write. The
	// client also honours the context deadline (ContextTimeoutEnabled).
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// PoolTimeout bounds the wait for a free connection when all are busy.
	PoolTimeout time.Duration
	// PoolSize is the number of pooled connections; 0 keeps go-redis'
	// default of 10 per GOMAXPROCS.
	PoolSize int
	// MinIdleConns keeps that many connections open, so the first requests
	// after a quiet period do not pay for a dial.
	MinIdleConns int
	// MaxRetries is how often a failed command is retried on a network
	// error: 0 means DefaultMaxRetries, -1 disables retries.
	MaxRetries int
	// DialerRetries is the number of dial attempts per new connection
	// (0 means DefaultDialerRetries).
	DialerRetries int
	// ClientName is sent with CLIENT SETNAME so operators can tell this
	// service's connections apart ("" means DefaultClientName).
	ClientName string
	// TLSConfig is the base TLS configuration for rediss:// URLs (a private
	// CA, a client certificate). Its ServerName defaults to the URL's host,
	// it never allows less than TLS 1.2 and its InsecureSkipVerify is
	// ignored: certificates are always verified. Unused for redis:// URLs.
	TLSConfig *tls.Config
}

func (c ClientConfig) withDefaults() ClientConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.DialTimeout, DefaultDialTimeout)
	def(&c.ReadTimeout, DefaultReadTimeout)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	def(&c.PoolTimeout, DefaultPoolTimeout)
	if c.MaxRetries == 0 {
		c.MaxRetries = DefaultMaxRetries
	}
	if c.DialerRetries <= 0 {
		c.DialerRetries = DefaultDialerRetries
	}
	if c.ClientName == "" {
		c.ClientName = DefaultClientName
	}
	return c
}

// NewClient builds a go-redis client from a redis:// or rediss:// URL
// (ONBOARDING_REDIS_URL): redis://[user[:password]@]host[:port][/db].
// rediss:// turns TLS on with certificate verification; the URL's
// skip_verify option is refused, since a bank's cache must not be open to
// a man in the middle. Errors never repeat the URL, which may contain a
// password.
//
// NewClient does not connect: a Redis that is down at start-up is a
// degraded service, not a failed one. Close the client on shutdown.
func NewClient(rawURL string, c ClientConfig) (*goredis.Client, error) {
	opt, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	c = c.withDefaults()
	opt.DialTimeout = c.DialTimeout
	opt.ReadTimeout = c.ReadTimeout
	opt.WriteTimeout = c.WriteTimeout
	opt.PoolTimeout = c.PoolTimeout
	opt.ContextTimeoutEnabled = true
	opt.MaxRetries = c.MaxRetries
	opt.MinRetryBackoff = DefaultMinRetryBackoff
	opt.MaxRetryBackoff = DefaultMaxRetryBackoff
	opt.DialerRetries = c.DialerRetries
	opt.DialerRetryTimeout = DefaultDialerBackoff
	if c.PoolSize > 0 {
		opt.PoolSize = c.PoolSize
	}
	opt.MinIdleConns = c.MinIdleConns
	opt.ClientName = c.ClientName
	// Maintenance notifications are a Redis Cloud feature; on other servers
	// "auto" only adds a command to every new connection.
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	if opt.TLSConfig != nil {
		opt.TLSConfig = tlsConfig(c.TLSConfig, opt.TLSConfig.ServerName)
	}
	return goredis.NewClient(opt), nil
}

// parseURL checks the scheme and options itself so that no error carries
// the URL (url.Parse and go-redis quote it, password included).
func parseURL(rawURL string) (*goredis.Options, error) {
	if strings.TrimSpace(rawURL) == "" {
		return nil, errors.New("redis: URL is empty")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("redis: URL does not parse (not repeated here: it may contain a password)")
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("redis: URL scheme must be redis or rediss, not %q", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, errors.New("redis: URL has no host")
	}
	if u.Query().Has("skip_verify") {
		return nil, errors.New("redis: URL option skip_verify is not allowed: TLS certificates are always verified")
	}
	opt, err := goredis.ParseURL(rawURL)
	if err != nil {
		// go-redis errors name an option or the database, never the
		// password, but the URL parsed above so only options can fail.
		return nil, fmt.Errorf("redis: URL: %s", redactedError(err, u))
	}
	return opt, nil
}

// redactedError returns err's text with the URL's password removed, in
// case a future go-redis quotes it.
func redactedError(err error, u *url.URL) string {
	s := err.Error()
	if p, ok := u.User.Password(); ok && p != "" {
		s = strings.ReplaceAll(s, p, "xxxxx")
	}
	return s
}

// tlsConfig returns a copy of base (or a new config) verifying serverName
// with at least TLS 1.2.
func tlsConfig(base *tls.Config, serverName string) *tls.Config {
	var c *tls.Config
	if base != nil {
		c = base.Clone()
	} else {
		c = &tls.Config{}
	}
	if c.ServerName == "" {
		c.ServerName = serverName
	}
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	c.InsecureSkipVerify = false
	return c
}

// Logger adapts a slog.Logger to go-redis' internal logging (dial
// failures, pool and pub/sub notices), which otherwise writes plain lines
// to stderr. go-redis keeps it in a package variable, so cmd sets it once
// at start-up: goredis.SetLogger(redis.Logger{L: logger}).
type Logger struct {
	L *slog.Logger
}

// Printf logs one go-redis message at warning level (go-redis only logs
// what went wrong).
func (l Logger) Printf(ctx context.Context, format string, v ...any) {
	l.L.LogAttrs(ctx, slog.LevelWarn, "go-redis: "+fmt.Sprintf(format, v...), slog.String("component", "go-redis"))
}
