// Package faults proves what docs/reliability.md promises: what the
// service does when PostgreSQL, Redis or the SMS gateway fail (a TCP proxy
// inside the test process breaks the connections), when more requests
// arrive than it should take, when it is told to stop under load, and when
// callers send hostile input or credentials. Most tests run the built
// binary, as Kubernetes does; the goroutine-leak test builds the same
// handler in process, since goleak sees only its own process.
package faults

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/adapters/postgres"
	"github.com/bankkit/onboarding-adapter/adapters/postgres/pgtest"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/test/testkit"
)

// binary is the service built once for every test of the package.
var binary string

func TestMain(m *testing.M) { testkit.RunMain(m, "../..", &binary) }

func startService(t *testing.T, env map[string]string) *testkit.Service {
	t.Helper()
	return testkit.StartService(t, binary, env)
}

// seededDatabase is a fresh database with the schema and the demo data,
// and a pool on it that bypasses any proxy, for checking what was stored.
func seededDatabase(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	pool := pgtest.Pool(t, dsn)
	var texts []postgres.SeedText
	for _, tx := range memory.DemoConsentTexts() {
		texts = append(texts, postgres.SeedText{Type: tx.Type, Language: tx.Language, HTML: tx.HTML})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := postgres.Seed(ctx, pool, postgres.SeedData{
		Clients: memory.DemoClients(domain.DateOf(time.Now())), Texts: texts, Consents: memory.DemoConsents(),
	}); err != nil {
		t.Fatalf("seeding: %v", err)
	}
	return dsn, pool
}

// viaProxy returns dsn with its host replaced by a fault proxy's address,
// and the proxy.
func viaProxy(t *testing.T, dsn string) (string, *testkit.Proxy) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	p := testkit.NewProxy(t, u.Host)
	u.Host = p.Addr()
	return u.String(), p
}

// runID makes process ids unique per run: Redis and the throttles may
// outlive a test.
func runID() string { return time.Now().Format("150405.000000") }
