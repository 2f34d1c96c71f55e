package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/adapters/postgres"
	"github.com/bankkit/onboarding-adapter/adapters/postgres/pgtest"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/migrations"
)

func status(t *testing.T, pool *pgxpool.Pool) (int32, int32) {
	t.Helper()
	cur, latest, err := postgres.MigrationStatus(context.Background(), pool)
	if err != nil {
		t.Fatalf("migration status: %v", err)
	}
	return cur, latest
}

func TestMigrateFromEmptyTwice(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.Pool(t, pgtest.NewEmptyDatabase(t))

	cur, latest := status(t, pool)
	if cur != 0 || latest < 2 {
		t.Fatalf("empty database: version %d of %d, want 0 of at least 2", cur, latest)
	}
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('schema_version') IS NOT NULL`).Scan(&exists); err != nil || exists {
		t.Fatalf("status created the version table (exists %v, err %v)", exists, err)
	}

	var log bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&log, nil))
	if err := postgres.Migrate(ctx, pool, logger); err != nil {
		t.Fatalf("first migration: %v", err)
	}
	if cur, _ := status(t, pool); cur != latest {
		t.Fatalf("after migrating: version %d, want %d", cur, latest)
	}
	if n := strings.Count(log.String(), "applying migration"); n != int(latest) {
		t.Fatalf("first run applied %d migrations, want %d:\n%s", n, latest, log.String())
	}
	tables := schemaSnapshot(t, pool)

	log.Reset()
	if err := postgres.Migrate(ctx, pool, logger); err != nil {
		t.Fatalf("second migration: %v", err)
	}
	if strings.Contains(log.String(), "applying migration") || !strings.Contains(log.String(), "up to date") {
		t.Fatalf("second run was not a no-op:\n%s", log.String())
	}
	if cur, _ := status(t, pool); cur != latest {
		t.Fatalf("after the second run: version %d, want %d", cur, latest)
	}
	if again := schemaSnapshot(t, pool); again != tables {
		t.Fatalf("the second run changed the schema:\n%s\nthen\n%s", tables, again)
	}
}

// schemaSnapshot lists the tables, columns and indexes, to compare runs.
func schemaSnapshot(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var s string
	err := pool.QueryRow(context.Background(), `SELECT string_agg(x, E'\n' ORDER BY x) FROM (
    SELECT table_name || '.' || column_name || ' ' || data_type AS x FROM information_schema.columns WHERE table_schema = 'public'
    UNION ALL SELECT indexname || ' ' || indexdef FROM pg_indexes WHERE schemaname = 'public') q`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn := pgtest.NewEmptyDatabase(t)
	const pods = 4
	errs := make([]error, pods)
	logs := make([]bytes.Buffer, pods)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range pods {
		pool := pgtest.Pool(t, dsn) // one pool per "pod"
		if err := pool.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		logger := slog.New(slog.NewTextHandler(&logs[i], nil))
		wg.Go(func() {
			<-start
			errs[i] = postgres.Migrate(ctx, pool, logger)
		})
	}
	close(start)
	wg.Wait()
	applied := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
		applied += strings.Count(logs[i].String(), "applying migration")
	}
	pool := pgtest.Pool(t, dsn)
	cur, latest := status(t, pool)
	if cur != latest {
		t.Fatalf("after concurrent runs: version %d, want %d", cur, latest)
	}
	if applied != int(latest) {
		t.Fatalf("the pods applied %d migrations in all, want each of the %d once", applied, latest)
	}
	var rows int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM schema_version`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("schema_version has %d rows (err %v), want 1", rows, err)
	}
}

// A DBA's checklist, enforced: every table has a primary key and a
// comment, every time is a timestamptz, every enum-like column a CHECK.
func TestSchemaConventions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	rows, err := pool.Query(ctx, `SELECT c.relname,
    obj_description(c.oid, 'pg_class') IS NOT NULL,
    EXISTS (SELECT 1 FROM pg_constraint p WHERE p.conrelid = c.oid AND p.contype = 'p')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'schema_version'`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var (
			name            string
			comment, hasKey bool
		)
		if err := rows.Scan(&name, &comment, &hasKey); err != nil {
			t.Fatal(err)
		}
		n++
		if !comment || !hasKey {
			t.Errorf("table %s: comment %v, primary key %v; want both", name, comment, hasKey)
		}
	}
	if rows.Err() != nil || n < 8 {
		t.Fatalf("found %d tables (err %v), want at least 8", n, rows.Err())
	}
	var bad []string
	if err := pool.QueryRow(ctx, `SELECT coalesce(array_agg(table_name || '.' || column_name), '{}') FROM information_schema.columns
WHERE table_schema = 'public' AND data_type IN ('timestamp without time zone', 'time without time zone')`).Scan(&bad); err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Fatalf("columns without time zone: %v", bad)
	}
	for _, col := range []string{"clients.status", "decisions.kind", "decisions.result", "decisions.score",
		"review_cases.status", "review_cases.kind", "review_cases.resolution"} {
		table, column, _ := strings.Cut(col, ".")
		var checked bool
		err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.constraint_column_usage u
JOIN information_schema.check_constraints c USING (constraint_schema, constraint_name)
WHERE u.table_schema = 'public' AND u.table_name = $1 AND u.column_name = $2)`, table, column).Scan(&checked)
		if err != nil || !checked {
			t.Errorf("%s has no CHECK constraint (err %v)", col, err)
		}
	}
}

// The digest checks (rewritten by migrations 004 and 005 to cost PostgreSQL
// less) accept exactly lower-case 64-digit hex, and every constraint of the
// schema is validated: none is left NOT VALID.
func TestDigestChecks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	var notValid []string
	if err := pool.QueryRow(ctx, `SELECT coalesce(array_agg(conname::text), '{}') FROM pg_constraint c
JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'public' AND NOT c.convalidated`).Scan(&notValid); err != nil {
		t.Fatal(err)
	}
	if len(notValid) > 0 {
		t.Fatalf("constraints left NOT VALID: %v", notValid)
	}
	good := strings.Repeat("0123456789abcdef", 4)
	for _, tc := range []struct {
		digest string
		ok     bool
	}{
		{good, true},
		{strings.ToUpper(good), false},
		{good[:63], false},
		{good + "0", false},
		{good[:63] + "g", false},
		{good[:63] + " ", false},
		{good[:62] + "é", false}, // 64 bytes, 63 characters
		{"", false},
	} {
		_, err := pool.Exec(ctx, `INSERT INTO consent_servings (process_id, consent_type, language, version, sha256, served_at)
VALUES ($1, 'GDPR', 'en', 1, $2, now())`, "digest-"+tc.digest, tc.digest)
		if (err == nil) != tc.ok {
			t.Errorf("consent_servings.sha256 %q: err %v, want accepted %v", tc.digest, err, tc.ok)
		}
		_, err = pool.Exec(ctx, `INSERT INTO clients (user_id, status, identification_fingerprint) VALUES ($1, 'PROSPECT', $2)`,
			"digest-"+tc.digest, tc.digest)
		if (err == nil) != tc.ok {
			t.Errorf("clients.identification_fingerprint %q: err %v, want accepted %v", tc.digest, err, tc.ok)
		}
		_, err = pool.Exec(ctx, `INSERT INTO consent_ledger (process_id, user_id, consent_type, seq, approved, language, text_version, text_sha256, recorded_at)
VALUES ($1, 'u-1', 'GDPR', 1, true, 'en', 1, $2, now())`, "digest-"+tc.digest, tc.digest)
		if (err == nil) != (tc.ok || tc.digest == "") {
			t.Errorf("consent_ledger.text_sha256 %q: err %v, want accepted %v", tc.digest, err, tc.ok || tc.digest == "")
		}
	}
}

// lockedAtVersion2 is a fresh database migrated to version 2 (which has
// review_cases; 003 alters it, ACCESS EXCLUSIVE) and a transaction holding
// a lock on review_cases that a migration past 2 waits for: its DSN, a
// pool, and the transaction, which the caller rolls back.
func lockedAtVersion2(t *testing.T, ctx context.Context) (string, *pgxpool.Pool, pgx.Tx) {
	t.Helper()
	dsn := pgtest.NewEmptyDatabase(t)
	pool := pgtest.Pool(t, dsn)
	if err := postgres.MigrateTo(ctx, pool, 2, time.Second); err != nil {
		t.Fatal(err)
	}
	reader, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reader.Exec(ctx, `SELECT count(*) FROM review_cases`); err != nil {
		t.Fatal(err)
	}
	return dsn, pool, reader
}

// A migration queued for a table lock behind another session's long
// transaction gives up after its lock timeout, changing nothing, instead
// of queuing every reader of that table behind itself; run again once the
// table is free, it applies.
func TestMigrationGivesUpOnALockedTable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn, pool, reader := lockedAtVersion2(t, ctx)
	defer reader.Rollback(ctx)
	start := time.Now()
	err := postgres.MigrateTo(ctx, pool, -1, 200*time.Millisecond)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "55P03" || !strings.Contains(err.Error(), "lock_timeout") {
		t.Fatalf("migrating past a locked table: %v, want lock_not_available (55P03) explained", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("gave up after %s, want about the 200ms lock timeout", took)
	}
	if cur, _ := status(t, pool); cur != 2 {
		t.Fatalf("after giving up: version %d, want 2 (nothing applied)", cur)
	}
	if err := reader.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// On a pool of one connection, so the session checked afterwards is
	// the one that migrated: the lock timeout ended with each migration.
	one, err := postgres.NewPool(ctx, dsn, postgres.PoolConfig{MaxConns: 1, ConnectTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	if err := postgres.Migrate(ctx, one, nil); err != nil {
		t.Fatalf("migrating once the table is free: %v", err)
	}
	if cur, latest := status(t, pool); cur != latest {
		t.Fatalf("version %d, want %d", cur, latest)
	}
	var timeout string
	if err := one.QueryRow(ctx, `SHOW lock_timeout`).Scan(&timeout); err != nil || timeout != "0" {
		t.Errorf("the migrating session's lock_timeout is %q (%v) after migrating, want the default 0", timeout, err)
	}
}

// TestMigrationRetriesALockedTable: Migrate gives up a locked table after
// MigrationLockTimeout, well inside the request deadline, and tries again
// until the table is free, applying everything then.
func TestMigrationRetriesALockedTable(t *testing.T) {
	t.Parallel()
	if postgres.MigrationLockTimeout > 2*time.Second {
		t.Fatalf("MigrationLockTimeout %s: requests queued behind a waiting migration would reach the 4 s deadline", postgres.MigrationLockTimeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, pool, reader := lockedAtVersion2(t, ctx)
	const held = 2500 * time.Millisecond
	released := make(chan struct{})
	go func() {
		defer close(released)
		time.Sleep(held)
		_ = reader.Rollback(context.Background())
	}()
	defer func() { <-released }()
	var log bytes.Buffer
	start := time.Now()
	if err := postgres.Migrate(ctx, pool, slog.New(slog.NewTextHandler(&log, nil))); err != nil {
		t.Fatalf("migrating once the table is free: %v\n%s", err, log.String())
	}
	if took := time.Since(start); took < held {
		t.Fatalf("migrated in %s, before the table was free", took)
	}
	if cur, latest := status(t, pool); cur != latest {
		t.Fatalf("version %d, want %d", cur, latest)
	}
	if n := strings.Count(log.String(), "trying again"); n < 1 {
		t.Fatalf("no retry logged:\n%s", log.String())
	}
}

// ternDisableTx is tern's own pattern for the marker (migrate.go).
var ternDisableTx = regexp.MustCompile(`(?m)^---- tern: disable-tx ----$`)

// setsLockTimeout matches a statement (not a comment) that sets it.
var setsLockTimeout = regexp.MustCompile(`(?im)^\s*SET\s+(SESSION\s+)?lock_timeout\b`)

// unboundedLockWait returns why a migration's SQL could wait for a table
// lock without limit, or "" when it cannot: Migrate bounds the lock wait of
// a migration run in a transaction (SET LOCAL lock_timeout), but a file
// marked with tern's disable-tx (for CREATE INDEX CONCURRENTLY) runs
// outside one and must set lock_timeout itself, for its session.
func unboundedLockWait(sql string) string {
	if !ternDisableTx.MatchString(sql) {
		return ""
	}
	if !setsLockTimeout.MatchString(sql) {
		return "runs outside a transaction (disable-tx) without setting lock_timeout for its session"
	}
	return ""
}

// TestMigrationFilesBoundTheirLockWaits checks every embedded migration
// with unboundedLockWait, and the rule itself on examples.
func TestMigrationFilesBoundTheirLockWaits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		sql       string
		unbounded bool
	}{
		{"ALTER TABLE clients ADD COLUMN x text;", false},
		{"---- tern: disable-tx ----\nCREATE INDEX CONCURRENTLY i ON clients (phone);", true},
		{"---- tern: disable-tx ----\n-- SET lock_timeout = '10s' would be needed here\nCREATE INDEX CONCURRENTLY i ON clients (phone);", true},
		{"---- tern: disable-tx ----\nSET lock_timeout = '10s';\nCREATE INDEX CONCURRENTLY i ON clients (phone);\nRESET lock_timeout;", false},
	} {
		if got := unboundedLockWait(tc.sql) != ""; got != tc.unbounded {
			t.Errorf("unboundedLockWait(%q) reports %v, want %v", tc.sql, got, tc.unbounded)
		}
	}
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migration files (%v)", err)
	}
	for _, name := range files {
		b, err := fs.ReadFile(migrations.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		if why := unboundedLockWait(string(b)); why != "" {
			t.Errorf("%s %s", name, why)
		}
	}
}

// Migration 009 leaves the records stored before it with text_served NULL
// (unknown: the ledger is append-only and nobody said), which the ledger
// reads as not served; records appended after it say which they are.
func TestMigrationKeepsOlderRecordsTextServedUnknown(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.Pool(t, pgtest.NewEmptyDatabase(t))
	if err := postgres.MigrateTo(ctx, pool, 8, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO consent_ledger (process_id, user_id, consent_type, seq, approved, language,
    text_version, text_sha256, recorded_at) VALUES ('p-old', 'u-old', 'GDPR', 1, true, 'en', 1, '', now())`); err != nil {
		t.Fatal(err)
	}
	if err := postgres.MigrateTo(ctx, pool, -1, time.Second); err != nil {
		t.Fatal(err)
	}
	var old *bool
	if err := pool.QueryRow(ctx, `SELECT text_served FROM consent_ledger WHERE process_id = 'p-old'`).Scan(&old); err != nil || old != nil {
		t.Fatalf("text_served of a record older than the migration: %v, %v; want NULL", old, err)
	}
	s := postgres.New(pool, memory.SystemClock{}, memory.NewRandomIDs())
	t.Cleanup(s.Close)
	rec, err := s.Ledger.LatestConsent(ctx, "u-old", "GDPR")
	if err != nil || rec.ProcessID != "p-old" || rec.TextServed {
		t.Fatalf("the older record through the ledger: %+v, %v; want it, not served", rec, err)
	}
	again, added, err := s.Ledger.AppendConsent(ctx, domain.ConsentRecord{ProcessID: "p-old", UserID: "u-old",
		ConsentType: "GDPR", Approved: false, Language: "en", TextVersion: 1, TextServed: true})
	if err != nil || !added || !again.TextServed {
		t.Fatalf("a revocation after the migration: %+v added %v, %v; want it added, served", again, added, err)
	}
	hist, err := s.Ledger.ConsentHistory(ctx, "u-old", "", 10)
	if err != nil || len(hist) != 2 || hist[0].ServedKnown || !hist[1].ServedKnown || !hist[1].Record.TextServed {
		t.Fatalf("ConsentHistory: %+v, %v; want the older record unknown, then the revocation served", hist, err)
	}
	for _, bad := range []struct {
		user  string
		limit int
	}{{"", 10}, {"u-old", 0}, {"u-old", postgres.MaxConsentHistory + 1}} {
		if _, err := s.Ledger.ConsentHistory(ctx, bad.user, "", bad.limit); domain.CodeOf(err) != domain.CodeInvalid {
			t.Errorf("ConsentHistory(%q, limit %d): %v, want invalid", bad.user, bad.limit, err)
		}
	}
}

// TestReadinessWaitsForTheSchema: Health.Schema fails, saying both
// versions, while the schema is behind the binary's migrations (none run,
// or all but the last), passes once it is current, and accepts a newer
// schema (a rolled-back binary).
func TestReadinessWaitsForTheSchema(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.Pool(t, pgtest.NewEmptyDatabase(t))
	_, latest := status(t, pool)
	h := postgres.NewHealth(pool)
	if err := h.Ping(ctx); err != nil {
		t.Fatalf("ping of an empty database: %v", err)
	}
	for _, target := range []int32{0, latest - 1} {
		if target > 0 {
			if err := postgres.MigrateTo(ctx, pool, target, time.Second); err != nil {
				t.Fatal(err)
			}
		}
		err := h.Schema(ctx)
		want := fmt.Sprintf("schema is at version %d and this binary needs %d", target, latest)
		if domain.CodeOf(err) != domain.CodeUnavailable || !strings.Contains(err.Error(), want) {
			t.Fatalf("schema at version %d: %v, want unavailable saying %q", target, err, want)
		}
	}
	if err := postgres.Migrate(ctx, pool, nil); err != nil {
		t.Fatal(err)
	}
	if err := h.Schema(ctx); err != nil {
		t.Fatalf("current schema: %v", err)
	}
	// A newer schema than this binary knows: a rollback runs on it.
	if _, err := pool.Exec(ctx, `UPDATE `+postgres.VersionTable+` SET version = $1`, latest+1); err != nil {
		t.Fatal(err)
	}
	if err := postgres.NewHealth(pool).Schema(ctx); err != nil {
		t.Fatalf("newer schema: %v", err)
	}
}

// TestMigrationStopsRetryingWithItsContext: a table that stays locked past
// the caller's deadline ends the retries at that deadline, saying so.
func TestMigrationStopsRetryingWithItsContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, pool, reader := lockedAtVersion2(t, ctx)
	defer reader.Rollback(context.Background())
	// A 100 ms lock wait, then a pause of a minute that the 1 s deadline ends.
	short, stop := context.WithTimeout(ctx, time.Second)
	defer stop()
	start := time.Now()
	err := postgres.MigrateRetrying(short, pool, 100*time.Millisecond, time.Minute)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("returned after %s, want about the 1 s deadline", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "lock_timeout") || !strings.Contains(err.Error(), "stopped retrying") {
		t.Fatalf("err = %v, want the lock wait and the deadline that stopped the retries", err)
	}
	if cur, _ := status(t, pool); cur != 2 {
		t.Fatalf("version %d, want 2 (nothing applied past the locked table)", cur)
	}
}

// TestMigrationKeepsOlderAuditRowsChannelUnknown: audit rows older than
// migration 010 keep a NULL channel (read as ""), and the column takes only
// the channels the service writes.
func TestMigrationKeepsOlderAuditRowsChannelUnknown(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.Pool(t, pgtest.NewEmptyDatabase(t))
	if err := postgres.MigrateTo(ctx, pool, 9, time.Second); err != nil {
		t.Fatal(err)
	}
	s := postgres.New(pool, memory.SystemClock{}, memory.NewRandomIDs(), postgres.WithBatching(postgres.BatchConfig{}))
	t.Cleanup(s.Close)
	d := domain.Decision{Kind: domain.KindEvaluation, ProcessID: "p-old", IdentityVerificationID: "iv-old", UserID: "u-old",
		Result: domain.ResultWAIT, ReasonCode: domain.ReasonNameSimilar, ReviewCaseID: "case-old", DecidedAt: time.Now()}
	rc := &domain.ReviewCase{ID: "case-old", Kind: d.Kind, ProcessID: d.ProcessID, IdentityVerificationID: d.IdentityVerificationID,
		UserID: d.UserID, Status: domain.ReviewOpen, ReasonCodes: []string{domain.ReasonNameSimilar}, Answered: domain.ResultWAIT, CreatedAt: d.DecidedAt}
	if _, _, err := s.Decisions.SaveDecision(ctx, d, rc); err != nil {
		t.Fatal(err)
	}
	// An audit row as the previous release wrote it.
	if _, err := pool.Exec(ctx, `INSERT INTO review_audit (case_id, action, actor, at) VALUES ('case-old', 'PROPOSE', 'alice', now())`); err != nil {
		t.Fatal(err)
	}
	if err := postgres.MigrateTo(ctx, pool, -1, time.Second); err != nil {
		t.Fatal(err)
	}
	trail, err := s.Decisions.ReviewAudit(ctx, "case-old")
	if err != nil || len(trail) != 1 || trail[0].Channel != "" {
		t.Fatalf("the older audit row: %+v, %v; want one, its channel not recorded", trail, err)
	}
	if _, err := s.Decisions.ClaimReviewCase(ctx, "case-old", "bob", domain.ReviewChannelCLI, time.Now()); err != nil {
		t.Fatal(err)
	}
	if trail, err = s.Decisions.ReviewAudit(ctx, "case-old"); err != nil || len(trail) != 2 || trail[1].Channel != domain.ReviewChannelCLI {
		t.Fatalf("after the migration: %+v, %v; want the claim's channel cli", trail, err)
	}
	_, err = pool.Exec(ctx, `INSERT INTO review_audit (case_id, action, actor, at, channel) VALUES ('case-old', 'PROPOSE', 'eve', now(), 'web')`)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23514" {
		t.Fatalf("a channel the service never writes: %v, want a check violation", err)
	}
}
