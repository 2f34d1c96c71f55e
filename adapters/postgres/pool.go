package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The pool defaults: sized for a replica on two cores (every request holds a
// connection for one short statement), connections recycled every 15
// minutes (with jitter, so replicas do not reconnect in step) so a failover
// or a new read-write host is picked up even without an error, idle ones
// closed after 5 minutes, and a dead peer noticed within 15 seconds.
const (
	DefaultMaxConns              = 16
	DefaultMaxConnLifetime       = 15 * time.Minute
	DefaultMaxConnLifetimeJitter = time.Minute
	DefaultMaxConnIdleTime       = 5 * time.Minute
	DefaultHealthCheckPeriod     = 15 * time.Second
	DefaultConnectTimeout        = 2 * time.Second
)

// PoolConfig tunes the connection pool. A zero field takes its Default*
// value and overrides any pool_* parameter of the DSN; ConnectTimeout keeps
// the DSN's connect_timeout when the DSN sets one.
type PoolConfig struct {
	MaxConns              int32
	MinConns              int32
	MaxConnLifetime       time.Duration
	MaxConnLifetimeJitter time.Duration
	MaxConnIdleTime       time.Duration
	HealthCheckPeriod     time.Duration
	// ConnectTimeout bounds one connection attempt per host of a
	// multi-host DSN, and the liveness ping of an idle connection.
	ConnectTimeout time.Duration
	// Tracer, when not nil, traces every query (otelpgx plugs in here),
	// and the batches, connects, prepares and acquires when it traces
	// those too. The errors it is handed carry a text of the service's
	// making, never PostgreSQL's message or pgx's text, which can quote a
	// value (see redactingTracer and traceSafe).
	Tracer pgx.QueryTracer
}

func (c PoolConfig) withDefaults() PoolConfig {
	def := func(v, d time.Duration) time.Duration {
		if v <= 0 {
			return d
		}
		return v
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	c.MinConns = max(0, min(c.MinConns, c.MaxConns))
	c.MaxConnLifetime = def(c.MaxConnLifetime, DefaultMaxConnLifetime)
	c.MaxConnLifetimeJitter = def(c.MaxConnLifetimeJitter, DefaultMaxConnLifetimeJitter)
	c.MaxConnIdleTime = def(c.MaxConnIdleTime, DefaultMaxConnIdleTime)
	c.HealthCheckPeriod = def(c.HealthCheckPeriod, DefaultHealthCheckPeriod)
	return c
}

// NewPool parses dsn (URL or key=value form, with pgx's full syntax:
// several hosts with target_session_attrs=read-write for a primary behind
// failover, sslmode, default_query_exec_mode, …) and returns a pool tuned
// by c.
//
// It does not connect: the first query does (MinConns > 0 starts
// connecting in the background), so the service starts while the database
// is down and readiness reports it instead. Queries use pgx's default
// statement cache: each statement is prepared once per connection and a
// hot query is then one round trip.
//
// The returned error never contains the DSN, which may hold a password.
func NewPool(ctx context.Context, dsn string, c PoolConfig) (*pgxpool.Pool, error) {
	cfg, err := ParsePoolConfig(dsn, c)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the database pool: %w", err)
	}
	return pool, nil
}

// ParsePoolConfig is NewPool's configuration without the pool: what a
// configuration check validates without a connection, not even one
// started in the background.
func ParsePoolConfig(dsn string, c PoolConfig) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// A pgconn.ParseConfigError, and the url.Error it may wrap, print
		// the DSN; pgx masks passwords only on a best-effort basis. Say
		// what is wrong without it.
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) {
			return nil, errors.New("parsing the database URL: it is malformed (the URL is not shown, as it may contain a password)")
		}
		return nil, fmt.Errorf("parsing the database URL: %w", err)
	}
	c = c.withDefaults()
	cfg.MaxConns = c.MaxConns
	cfg.MinConns = c.MinConns
	cfg.MaxConnLifetime = c.MaxConnLifetime
	cfg.MaxConnLifetimeJitter = c.MaxConnLifetimeJitter
	cfg.MaxConnIdleTime = c.MaxConnIdleTime
	cfg.HealthCheckPeriod = c.HealthCheckPeriod
	switch {
	case c.ConnectTimeout > 0:
		cfg.ConnConfig.ConnectTimeout = c.ConnectTimeout
	case cfg.ConnConfig.ConnectTimeout <= 0:
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	// A ping that hangs (a peer gone without a FIN) must not hold a request
	// for longer than a connect would.
	cfg.PingTimeout = cfg.ConnConfig.ConnectTimeout
	if c.Tracer != nil {
		cfg.ConnConfig.Tracer = redactErrors(c.Tracer)
	}
	return cfg, nil
}
