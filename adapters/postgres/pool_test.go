package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bankkit/onboarding-adapter/adapters/postgres"
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
