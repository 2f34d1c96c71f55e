package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/bankkit/onboarding-adapter/adapters/postgres"
	"github.com/bankkit/onboarding-adapter/adapters/postgres/pgtest"
	"github.com/bankkit/onboarding-adapter/domain"
)

type nopTracer struct{}

func (nopTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}
func (nopTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func TestNewPool(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("defaults", func(t *testing.T) {
		pool, err := postgres.NewPool(ctx, "postgres://u@127.0.0.1:1/db?pool_max_conns=3", postgres.PoolConfig{})
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		c := pool.Config()
		if c.MaxConns != postgres.DefaultMaxConns || c.MaxConnLifetime != 15*time.Minute ||
			c.MaxConnLifetimeJitter != time.Minute || c.MaxConnIdleTime != 5*time.Minute ||
			c.HealthCheckPeriod != 15*time.Second || c.ConnConfig.ConnectTimeout != 2*time.Second ||
			c.ConnConfig.Tracer != nil {
			t.Fatalf("config = %+v", c)
		}
	})
	t.Run("explicit values and a tracer", func(t *testing.T) {
		pool, err := postgres.NewPool(ctx, "postgres://u@127.0.0.1:1/db", postgres.PoolConfig{
			MaxConns: 40, MinConns: 50, MaxConnLifetime: time.Hour, ConnectTimeout: 3 * time.Second, Tracer: nopTracer{}})
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		c := pool.Config()
		if c.MaxConns != 40 || c.MinConns != 40 || c.MaxConnLifetime != time.Hour ||
			c.ConnConfig.ConnectTimeout != 3*time.Second || c.ConnConfig.Tracer == nil {
			t.Fatalf("config = %+v", c)
		}
	})
	t.Run("the DSN's connect_timeout is kept", func(t *testing.T) {
		pool, err := postgres.NewPool(ctx, "host=127.0.0.1 port=1 user=u connect_timeout=7", postgres.PoolConfig{})
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		if got := pool.Config().ConnConfig.ConnectTimeout; got != 7*time.Second {
			t.Fatalf("connect timeout = %v, want 7s", got)
		}
	})
	t.Run("multi-host read-write DSN", func(t *testing.T) {
		pool, err := postgres.NewPool(ctx,
			"postgres://u:secret@db-a:5432,db-b:5433/onboarding?target_session_attrs=read-write&sslmode=disable", postgres.PoolConfig{})
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		c := pool.Config().ConnConfig
		if len(c.Fallbacks) != 1 || c.Host != "db-a" || c.Fallbacks[0].Host != "db-b" || c.Fallbacks[0].Port != 5433 ||
			c.ValidateConnect == nil {
			t.Fatalf("hosts %s + %+v, validate %v: want db-a then db-b with a read-write check", c.Host, c.Fallbacks, c.ValidateConnect != nil)
		}
	})
	t.Run("a malformed DSN is refused without echoing it", func(t *testing.T) {
		_, err := postgres.NewPool(ctx, "postgres://u:hunter2@db:notaport/x", postgres.PoolConfig{})
		if err == nil {
			t.Fatal("a malformed DSN was accepted")
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("the error %q shows the password", err)
		}
	})
	t.Run("an unreachable server is unavailable", func(t *testing.T) {
		pool, err := postgres.NewPool(ctx, "postgres://u@127.0.0.1:1/db?sslmode=disable", postgres.PoolConfig{})
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		err = postgres.NewHealth(pool).Ping(ctx)
		if domain.CodeOf(err) != domain.CodeUnavailable {
			t.Fatalf("ping = %v, want CodeUnavailable", err)
		}
		_, err = postgres.NewClientRegistry(pool, nil).ClientByUserID(ctx, "u-1")
		if domain.CodeOf(err) != domain.CodeUnavailable {
			t.Fatalf("lookup = %v, want CodeUnavailable", err)
		}
	})
}

// TestSessionSettingsFromTheURL: docs/operations.md tells a bank to bound
// statements on the server by adding statement_timeout to the database
// URL (pgx sends a parameter it does not know as a session setting). With
// a table locked by another session, a registry lookup then ends at that
// bound (query_canceled, 57014) as CodeUnavailable (503) instead of waiting
// for the request's own deadline, and the pool stays usable.
func TestSessionSettingsFromTheURL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	pool, err := postgres.NewPool(ctx, dsn+sep+"statement_timeout=1000&idle_in_transaction_session_timeout=60000", postgres.PoolConfig{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var timeout, idle string
	if err := pool.QueryRow(ctx, `SELECT current_setting('statement_timeout'), current_setting('idle_in_transaction_session_timeout')`).Scan(&timeout, &idle); err != nil {
		t.Fatal(err)
	}
	if timeout != "1s" || idle != "1min" {
		t.Fatalf("session settings %q and %q, want 1s and 1min from the URL", timeout, idle)
	}

	owner := pgtest.Pool(t, dsn)
	tx, err := owner.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `LOCK TABLE clients IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	reg := postgres.NewClientRegistry(pool, nil)
	id := domain.Identification{Scheme: []domain.IdentificationKey{domain.KeyPersonalNumber},
		Values: map[domain.IdentificationKey]string{domain.KeyPersonalNumber: "8001011234"}}
	lookupCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err = reg.FindClient(lookupCtx, id)
	took := time.Since(start)
	var pe *pgconn.PgError
	if domain.CodeOf(err) != domain.CodeUnavailable || !errors.As(err, &pe) || pe.Code != "57014" || took > 5*time.Second {
		t.Fatalf("lookup behind a locked table: %v after %v, want CodeUnavailable from query_canceled (57014) at the 1 s statement_timeout", err, took)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.FindClient(ctx, id); err != nil && !domain.IsNotFound(err) {
		t.Fatalf("after the lock: %v", err)
	}
}
