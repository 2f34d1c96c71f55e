package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// runtimePrivileges are the only privileges the service, the review and
// purge commands and `consent publish` need on each table. The records a
// bank must keep (the ledger, consent texts, decisions, the review audit,
// process events) get SELECT and INSERT only; review cases are updated
// (claims, resolutions, the purge of evidence), consent servings upserted.
// Keep in step with the statements of this package: TestRuntimeRole runs
// every store's suite under a role holding exactly these.
var runtimePrivileges = []struct {
	table string
	privs string
}{
	{"clients", "SELECT, INSERT"},
	{"consent_texts", "SELECT, INSERT"},
	{"consent_ledger", "SELECT, INSERT"},
	{"consent_servings", "SELECT, INSERT, UPDATE"},
	{"decisions", "SELECT, INSERT"},
	{"review_cases", "SELECT, INSERT, UPDATE"},
	{"review_audit", "SELECT, INSERT"},
	{"process_events", "SELECT, INSERT"},
	{VersionTable, "SELECT"},
}

// GrantRuntime gives role exactly the privileges the service needs on the
// schema's tables and sequences, taking back any others it had on them.
// It is run by the tables' owner (the migrate command, after migrating).
//
// Why: the append-only triggers bind the owner too, but the owner may
// disable or drop them. A service that connects as a role which does not
// own the tables cannot: UPDATE, DELETE and TRUNCATE of the records are
// then refused by privileges as well as by the triggers, and so are
// ALTER TABLE and DROP. role must exist (CREATE ROLE is the DBA's).
func GrantRuntime(ctx context.Context, pool *pgxpool.Pool, role string) error {
	if strings.TrimSpace(role) == "" {
		return errors.New("grant: the role is empty")
	}
	r := pgx.Identifier{role}.Sanitize()
	var owner bool
	if err := pool.QueryRow(ctx, `SELECT pg_has_role($1, current_user, 'MEMBER')`, role).Scan(&owner); err != nil {
		return fmt.Errorf("grant: role %s: %w", r, err)
	}
	if owner {
		// The migrating role itself, or a member of it: it holds the
		// owner's rights whatever is granted or revoked.
		return fmt.Errorf("grant: %s is the migrating role or a member of it; the service must connect as a role that is not", r)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("grant: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	// The tables are unqualified (see VersionTable): they live in the
	// first schema of the search path.
	var schema string
	if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("grant: reading the schema: %w", err)
	}
	stmts := []string{"GRANT USAGE ON SCHEMA " + pgx.Identifier{schema}.Sanitize() + " TO " + r}
	for _, p := range runtimePrivileges {
		t := pgx.Identifier{p.table}.Sanitize()
		stmts = append(stmts, "REVOKE ALL ON "+t+" FROM "+r, "GRANT "+p.privs+" ON "+t+" TO "+r)
	}
	stmts = append(stmts, "GRANT USAGE ON ALL SEQUENCES IN SCHEMA "+pgx.Identifier{schema}.Sanitize()+" TO "+r)
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fmt.Errorf("grant: %s: %w", s, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("grant: %w", err)
	}
	return nil
}
