package postgres_test

import (
	"context"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/adapters/postgres"
	"github.com/bankkit/onboarding-adapter/adapters/postgres/pgtest"
	"github.com/bankkit/onboarding-adapter/domain"
)

// After a failover the old primary answers writes with SQLSTATE 25006. The
// adapter reports CodeUnavailable, and drops the pool's connections so the
// next write reaches a writable server instead of failing forever on
// connections to the demoted one. Setting default_transaction_read_only on
// the test database makes every new session behave like one on a demoted
// primary.
func TestReadOnlyServer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.Pool(t, pgtest.NewDatabase(t))
	s := postgres.New(pool, memory.SystemClock{}, memory.NewRandomIDs())
	rec := domain.ConsentRecord{ProcessID: "p-ro", UserID: "u-ro", ConsentType: "GDPR", Approved: true, Language: "en", TextVersion: 1}
	if _, _, err := s.Ledger.AppendConsent(ctx, rec); err != nil {
		t.Fatal(err)
	}
	admin, name := adminOf(ctx, t, pool)
	setReadOnly := func(on bool) {
		t.Helper()
		stmt := "ALTER DATABASE " + name + " RESET default_transaction_read_only"
		if on {
			stmt = "ALTER DATABASE " + name + " SET default_transaction_read_only = on"
		}
		if _, err := admin.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}

	// The failover: from now on the pool's sessions are read-only.
	setReadOnly(true)
	// A pool that asks for a read-write server refuses to connect to it.
	rw := pgtest.Pool(t, multiHost(t, pgtest.AdminURL(), name))
	if err := postgres.NewHealth(rw).Ping(ctx); domain.CodeOf(err) != domain.CodeUnavailable {
		t.Fatalf("ping of a read-write pool on a read-only server = %v, want CodeUnavailable", err)
	}
	pool.Reset()
	before := pool.Stat().NewConnsCount()
	revoke := rec
	revoke.Approved = false
	_, _, err := s.Ledger.AppendConsent(ctx, revoke)
	if domain.CodeOf(err) != domain.CodeUnavailable {
		t.Fatalf("append on a read-only server = %v, want CodeUnavailable", err)
	}
	if opened := pool.Stat().NewConnsCount() - before; opened < 2 {
		t.Fatalf("the pool opened %d connections, want a second one for the retry after dropping the first", opened)
	}
	// Reads keep working on the read-only server.
	if got, err := s.Ledger.LatestConsent(ctx, "u-ro", "GDPR"); err != nil || !got.Approved {
		t.Fatalf("read on a read-only server = %+v, %v", got, err)
	}

	// The new primary is writable; the pool still holds a read-only
	// session, which the first write drops before succeeding on a new one.
	setReadOnly(false)
	time.Sleep(1100 * time.Millisecond) // the reset rate limit
	got, added, err := s.Ledger.AppendConsent(ctx, revoke)
	if err != nil || !added || got.Approved {
		t.Fatalf("append after the failover = %+v added %v, %v; want the revocation stored", got, added, err)
	}
	if err := postgres.NewHealth(rw).Ping(ctx); err != nil {
		t.Fatalf("ping of the read-write pool once the server is writable: %v", err)
	}
}

// A DSN with two hosts, the first of which is down, and
// target_session_attrs=read-write: the pool connects to the second.
func TestMultiHostDSN(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.NewPool(t)
	var name string
	if err := pool.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	rw := pgtest.Pool(t, multiHost(t, pgtest.AdminURL(), name))
	s := postgres.New(rw, memory.SystemClock{}, memory.NewRandomIDs())
	if err := s.Health.Ping(ctx); err != nil {
		t.Fatalf("ping through the second host: %v", err)
	}
	if _, added, err := s.Ledger.AppendConsent(ctx, domain.ConsentRecord{ProcessID: "p-mh", UserID: "u-mh", ConsentType: "GDPR",
		Approved: true}); err != nil || !added {
		t.Fatalf("write through the second host: added %v, %v", added, err)
	}
}

// multiHost returns the URL-form admin DSN for database name, with a dead
// host (port 1) before the real one and target_session_attrs=read-write.
func multiHost(t *testing.T, admin, name string) string {
	t.Helper()
	u, err := url.Parse(admin)
	if err != nil || u.Scheme == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and the multi-host test needs a URL-form %s", pgtest.EnvURL)
		}
		t.Skipf("SKIPPED LOUDLY: the multi-host test needs a URL-form %s", pgtest.EnvURL)
	}
	u.Host = "127.0.0.1:1," + u.Host
	u.Path = "/" + name
	q := u.Query()
	q.Set("target_session_attrs", "read-write")
	u.RawQuery = q.Encode()
	return u.String()
}
