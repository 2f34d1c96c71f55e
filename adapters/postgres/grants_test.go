package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/adapters/postgres"
	"github.com/bankkit/onboarding-adapter/adapters/postgres/pgtest"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
	"github.com/bankkit/onboarding-adapter/ports/porttest"
)

// runtimeRole creates a login role that owns nothing, on a fresh migrated
// database to which GrantRuntime gave it the service's privileges, and
// returns the owner's pool and one connected as the role. The role is
// dropped after the database (cleanups run last first).
func runtimeRole(t *testing.T) (owner, app *pgxpool.Pool) {
	t.Helper()
	admin := pgtest.AdminURL()
	u, err := url.Parse(admin)
	if err != nil || u.Scheme == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and the runtime-role test needs a URL-form %s", pgtest.EnvURL)
		}
		t.Skipf("SKIPPED LOUDLY: the runtime-role test needs a URL-form %s", pgtest.EnvURL)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	role := "onboarding_app_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		pgtest.Unreachable(t, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE ROLE "+role+" LOGIN"); err != nil {
		t.Fatalf("creating the role: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			t.Errorf("dropping role %s: %v", role, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP ROLE IF EXISTS "+role); err != nil {
			t.Errorf("dropping role %s: %v", role, err)
		}
	})
	dsn := pgtest.NewDatabase(t)
	owner = pgtest.Pool(t, dsn)
	if err := postgres.GrantRuntime(ctx, owner, role); err != nil {
		t.Fatalf("GrantRuntime: %v", err)
	}
	// Twice: it is run by every migrate Job.
	if err := postgres.GrantRuntime(ctx, owner, role); err != nil {
		t.Fatalf("GrantRuntime again: %v", err)
	}
	du, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	du.User = url.User(role) // trust authentication on the test server
	return owner, pgtest.Pool(t, du.String())
}

// TestRuntimeRole: every store's behavioural suite passes connected as a
// role holding only what GrantRuntime gives, and that role can neither
// change nor remove a kept record, nor switch the append-only triggers
// off, nor alter or drop a table.
func TestRuntimeRole(t *testing.T) {
	t.Parallel()
	owner, app := runtimeRole(t)
	s := postgres.New(app, memory.SystemClock{}, memory.NewRandomIDs())
	t.Cleanup(s.Close)
	t.Run("suites", func(t *testing.T) {
		porttest.ClientRegistry(t, func(t *testing.T, clients ...domain.Client) ports.ClientRegistry {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// The registry is loaded by the owner (seed, the bank's sync),
			// and read and extended with prospects by the service.
			if err := postgres.New(owner, memory.SystemClock{}, memory.NewRandomIDs()).Registry.AddClients(ctx, clients...); err != nil {
				t.Fatalf("adding the suite's clients: %v", err)
			}
			return s.Registry
		})
		porttest.ConsentTextStore(t, func(*testing.T) ports.ConsentTextStore { return s.ConsentTexts })
		porttest.ConsentLedger(t, func(*testing.T) ports.ConsentLedger { return s.Ledger })
		porttest.ConsentServings(t, func(*testing.T) ports.ConsentServings { return s.Servings })
		porttest.DecisionStore(t, func(*testing.T) (ports.DecisionStore, ports.ReviewCases) { return s.Decisions, s.Decisions })
		porttest.ProcessEvents(t, func(*testing.T) porttest.ProcessEventsFixture { return eventsFixture(s, owner) })
	})
	t.Run("operator commands", func(t *testing.T) {
		ctx := context.Background()
		if _, err := s.Decisions.PurgeReviewEvidence(ctx, time.Now(), "retention test"); err != nil {
			t.Errorf("purge as the runtime role: %v", err)
		}
		if cur, latest, err := postgres.MigrationStatus(ctx, app); err != nil || cur != latest {
			t.Errorf("migration status as the runtime role: %d of %d, %v", cur, latest, err)
		}
	})
	t.Run("role risks", func(t *testing.T) {
		ctx := context.Background()
		role, risks, err := postgres.RoleRisks(ctx, app)
		if err != nil || len(risks) != 0 || !strings.HasPrefix(role, "onboarding_app_") {
			t.Errorf("the runtime role: %q, %v, %v; want its name and no risk", role, risks, err)
		}
		// The suite's owner (the test server's administrator: a superuser,
		// or a plain owner as in TestRoleRisksOfAPlainOwner).
		_, risks, err = postgres.RoleRisks(ctx, owner)
		if err != nil || len(risks) == 0 {
			t.Errorf("the owner: %v, %v; want its risks named", risks, err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		ctx := context.Background()
		for _, stmt := range []string{
			`UPDATE consent_ledger SET approved = NOT approved`,
			`DELETE FROM consent_ledger`,
			`TRUNCATE consent_ledger`,
			`DELETE FROM decisions`,
			`UPDATE consent_texts SET html = ''`,
			`DELETE FROM review_audit`,
			`DELETE FROM review_cases`,
			`UPDATE review_cases SET decision_id = decision_id`,
			`UPDATE review_cases SET answered = answered`,
			`UPDATE review_cases SET created_at = created_at`,
			`ALTER TABLE consent_ledger DISABLE TRIGGER USER`,
			`DROP TRIGGER IF EXISTS consent_ledger_append_only ON consent_ledger`,
			`DROP TABLE process_events`,
			`CREATE TABLE mine (id int)`,
			// A registry client of its own making (migration 008): the
			// role registers prospects only, and changes no status.
			`INSERT INTO clients (user_id, client_number, birth_date, status) VALUES ('forged', '99999999', '1980-01-02', 'ACTIVE')`,
			`INSERT INTO clients (user_id, personal_number, status, identification_fingerprint) VALUES ('forged2', '8001011234', 'BLOCKED', repeat('a', 64))`,
			`UPDATE clients SET status = 'ACTIVE' WHERE status = 'PROSPECT'`,
		} {
			_, err := app.Exec(ctx, stmt)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "42501" {
				t.Errorf("%s as the runtime role: %v, want insufficient_privilege (42501)", stmt, err)
			}
		}
	})
	t.Run("a privilege held through PUBLIC fails the grant", func(t *testing.T) {
		ctx := context.Background()
		if _, err := owner.Exec(ctx, `GRANT DELETE ON process_events TO PUBLIC`); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if _, err := owner.Exec(ctx, `REVOKE DELETE ON process_events FROM PUBLIC`); err != nil {
				t.Fatal(err)
			}
		}()
		err := postgres.GrantRuntime(ctx, owner, roleOf(t, app))
		if err == nil || !strings.Contains(err.Error(), "has DELETE on process_events") {
			t.Errorf("GrantRuntime with DELETE granted to PUBLIC: %v, want it named", err)
		}
	})
	t.Run("the owner is refused as the runtime role", func(t *testing.T) {
		var me string
		if err := owner.QueryRow(context.Background(), `SELECT current_user`).Scan(&me); err != nil {
			t.Fatal(err)
		}
		err := postgres.GrantRuntime(context.Background(), owner, me)
		if err == nil || !strings.Contains(err.Error(), "must connect as a role that is not") {
			t.Errorf("granting to the owner itself: %v", err)
		}
		// A member of the owner holds its rights as well.
		member := roleOf(t, app) + "_owner_member"
		adminExec(t, "CREATE ROLE "+member+" IN ROLE "+pgx.Identifier{me}.Sanitize())
		t.Cleanup(func() { adminExec(t, "DROP ROLE IF EXISTS "+member) })
		err = postgres.GrantRuntime(context.Background(), owner, member)
		if err == nil || !strings.Contains(err.Error(), "must connect as a role that is not") {
			t.Errorf("granting to a member of the owner: %v", err)
		}
	})
	t.Run("a role that could give itself rights is refused", func(t *testing.T) {
		creator := roleOf(t, app) + "_creator"
		adminExec(t, "CREATE ROLE "+creator+" CREATEROLE")
		t.Cleanup(func() { adminExec(t, "DROP ROLE IF EXISTS "+creator) })
		err := postgres.GrantRuntime(context.Background(), owner, creator)
		if err == nil || !strings.Contains(err.Error(), "plain role") {
			t.Errorf("granting to a role with CREATEROLE: %v", err)
		}
	})
}

// roleOf is the role pool connects as.
func roleOf(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var r string
	if err := pool.QueryRow(context.Background(), `SELECT current_user`).Scan(&r); err != nil {
		t.Fatal(err)
	}
	return r
}

// adminExec runs a statement as the test server's administrator.
func adminExec(t *testing.T, stmt string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// TestRoleRisksOfAPlainOwner: a role that owns the tables and their schema
// without being a superuser is named for both (a superuser, for which
// pg_has_role holds of every role, is reported as one instead), and the
// runtime role it grants has none; in a schema whose name is mixed-case
// and dotted, which a cast to regnamespace would misread.
func TestRoleRisksOfAPlainOwner(t *testing.T) {
	t.Parallel()
	admin := pgtest.AdminURL()
	if u, err := url.Parse(admin); err != nil || u.Scheme == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and the role test needs a URL-form %s", pgtest.EnvURL)
		}
		t.Skipf("SKIPPED LOUDLY: the role test needs a URL-form %s", pgtest.EnvURL)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	owner, app := "onboarding_app_"+hex.EncodeToString(b[:])+"_owner", "onboarding_app_"+hex.EncodeToString(b[:])+"_rt"
	for _, r := range []string{owner, app} {
		adminExec(t, "CREATE ROLE "+r+" LOGIN")
		t.Cleanup(func() { adminExec(t, "DROP ROLE IF EXISTS "+r) }) // after the database's cleanup: it runs first
	}
	dsn := pgtest.NewEmptyDatabase(t)
	const schema = "App.Records"
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()+" AUTHORIZATION "+owner)
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	as := func(role string) *pgxpool.Pool {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.User(role) // trust authentication on the test server
		q := u.Query()
		q.Set("search_path", pgx.Identifier{schema}.Sanitize())
		u.RawQuery = q.Encode()
		return pgtest.Pool(t, u.String())
	}
	ownerPool, appPool := as(owner), as(app)
	if err := postgres.Migrate(ctx, ownerPool, nil); err != nil {
		t.Fatalf("migrating as the plain owner: %v", err)
	}
	role, risks, err := postgres.RoleRisks(ctx, ownerPool)
	if err != nil || role != owner || !slices.Equal(risks, []string{"owns the tables", "owns their schema"}) {
		t.Errorf("the plain owner: %q, %v, %v; want %s owning the tables and their schema", role, risks, err, owner)
	}
	if err := postgres.GrantRuntime(ctx, ownerPool, app); err != nil {
		t.Fatalf("GrantRuntime in schema %s: %v", schema, err)
	}
	if role, risks, err := postgres.RoleRisks(ctx, appPool); err != nil || role != app || len(risks) != 0 {
		t.Errorf("the runtime role: %q, %v, %v; want %s with no risk", role, risks, err, app)
	}
	if err := postgres.GrantRuntime(ctx, ownerPool, owner); err == nil || !strings.Contains(err.Error(), "must connect as a role that is not") {
		t.Errorf("granting to the plain owner itself: %v", err)
	}

	// PostgreSQL 15 and later can let a plain role set
	// session_replication_role, which stops ordinary triggers firing.
	var version int
	if err := ownerPool.QueryRow(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version < 150000 {
		return
	}
	adminExec(t, "GRANT SET ON PARAMETER session_replication_role TO "+app)
	// Before the role's cleanup (they run last first): DROP ROLE fails while
	// the cluster-wide grant names it.
	t.Cleanup(func() { adminExec(t, "REVOKE SET ON PARAMETER session_replication_role FROM "+app) })
	if _, risks, err := postgres.RoleRisks(ctx, appPool); err != nil || !slices.Equal(risks, []string{"may set session_replication_role"}) {
		t.Errorf("a runtime role that may set session_replication_role: %v, %v; want it named", risks, err)
	}
	if err := postgres.GrantRuntime(ctx, ownerPool, app); err == nil || !strings.Contains(err.Error(), "session_replication_role") {
		t.Errorf("granting to a role that may set session_replication_role: %v, want it refused", err)
	}
}
