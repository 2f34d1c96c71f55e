// Package pgtest gives integration tests a database of their own: a fresh
// PostgreSQL database, migrated to the latest schema and dropped when the
// test ends, on the server named by ONBOARDING_TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable).
//
// When that server cannot be reached the test is skipped with a loud
// message, so `go test ./...` works on a laptop without PostgreSQL; under
// CI=true it fails instead, so a CI run can never pass by skipping.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/adapters/postgres"
	"github.com/bankkit/onboarding-adapter/test/reach"
)

// EnvURL names the environment variable with the administrative DSN: a
// role that may create and drop databases.
const EnvURL = "ONBOARDING_TEST_DATABASE_URL"

// DefaultURL is the server of the development machines and CI.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminURL returns the administrative DSN from EnvURL or DefaultURL.
func AdminURL() string {
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return DefaultURL
}

// Unreachable skips t, or fails it under CI=true, because the server is not
// reachable; why is the connection error.
func Unreachable(t testing.TB, why error) {
	t.Helper()
	msg := "\n\n" + strings.Repeat("*", 78) + "\n" +
		"*** PostgreSQL is not reachable at " + redact(AdminURL()) + "\n" +
		"*** (" + why.Error() + ")\n" +
		"*** Start it or set " + EnvURL + ". The PostgreSQL tests are SKIPPED.\n" +
		strings.Repeat("*", 78) + "\n"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "CI=true: failing instead of skipping.")
	}
	t.Skip(msg)
}

// NewDatabase creates a database with a random name, migrates it to the
// latest schema and returns its DSN; the database is dropped (its
// connections terminated) when t's cleanup runs.
func NewDatabase(t testing.TB) string {
	t.Helper()
	dsn := NewEmptyDatabase(t)
	pool := Pool(t, dsn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := postgres.Migrate(ctx, pool, nil); err != nil {
		t.Fatalf("migrating the test database: %v", err)
	}
	return dsn
}

// NewEmptyDatabase is NewDatabase without the migration, for tests of the
// migrations themselves.
func NewEmptyDatabase(t testing.TB) string {
	t.Helper()
	admin := AdminURL()
	conn, err := connect(admin)
	if err != nil {
		Unreachable(t, err)
	}
	defer conn.Close(context.Background())
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "onboarding_test_" + hex.EncodeToString(b[:])
	if err := exec(conn, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating test database %s: %v", name, err)
	}
	t.Cleanup(func() {
		conn, err := connect(admin)
		if err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if err := exec(conn, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
		}
	})
	dsn, err := withDatabase(admin, name)
	if err != nil {
		t.Fatalf("test database URL: %v", err)
	}
	return dsn
}

// Pool returns a pool on dsn with the adapter's production settings but
// for a connect time-out of 10 s instead of 2 s, closed when t's cleanup
// runs: the tests' own set-up and checks must not fail when a loaded
// machine answers a connection slowly (see package reach). Tests of the
// time-out itself build their pools with postgres.NewPool.
func Pool(t testing.TB, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.NewPool(context.Background(), dsn, postgres.PoolConfig{ConnectTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("test database pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// NewPool is NewDatabase and Pool in one call: a pool on a fresh, migrated
// database.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return Pool(t, NewDatabase(t))
}

// exec runs an administrative statement with 30 s of its own.
func exec(conn *pgx.Conn, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := conn.Exec(ctx, sql)
	return err
}

// connect opens an administrative connection within 30 s; an attempt that
// times out is made again meanwhile (see package reach), a refusal is final.
func connect(dsn string) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > 5*time.Second {
		cfg.ConnectTimeout = 5 * time.Second
	}
	var conn *pgx.Conn
	err = reach.Try(ctx, cfg.ConnectTimeout, func(ctx context.Context) error {
		conn, err = pgx.ConnectConfig(ctx, cfg)
		return err
	})
	return conn, err
}

// withDatabase returns dsn naming database name instead of its own, for
// both DSN forms.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", err
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	// key=value form: a later keyword overrides an earlier one.
	return dsn + " dbname=" + name, nil
}

// redact hides the password of a URL-form DSN for messages.
func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return "the configured server"
}
