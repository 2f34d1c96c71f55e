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
// process events) get SELECT and INSERT only; consent servings are
// upserted; review cases are updated only in the columns a claim, a
// proposal, a resolution and the purge of evidence write, so a case's
// decision, answer and creation stay as written. The registry is read and
// extended with prospects; it is loaded by the owner (seed, the bank's
// sync). Identity columns need no sequence privilege. Keep in step with
// the statements of this package: TestRuntimeRole runs every store's
// suite under a role holding exactly these.
var runtimePrivileges = []struct {
	table string
	privs string
}{
	{"clients", "SELECT, INSERT"},
	{"consent_texts", "SELECT, INSERT"},
	{"consent_ledger", "SELECT, INSERT"},
	{"consent_servings", "SELECT, INSERT, UPDATE"},
	{"decisions", "SELECT, INSERT"},
	{"review_cases", "SELECT, INSERT, UPDATE (status, claimed_by, claimed_at, proposed_result, proposed_reason, " +
		"proposed_by, proposed_at, resolution, resolution_reason, resolved_by, second_reviewer, resolved_at, " +
		"evidence, evidence_frame, evidence_purged)"},
	{"review_audit", "SELECT, INSERT"},
	{"process_events", "SELECT, INSERT"},
	{VersionTable, "SELECT"},
}

// tablePrivileges are the table-level privileges GrantRuntime checks the
// role ends up with: exactly what runtimePrivileges grants, whatever it
// holds through PUBLIC or other roles.
var tablePrivileges = []string{"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"}

// GrantRuntime gives role exactly the privileges the service needs on the
// schema's tables, taking back any others it had on them.
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
	// A member of the migrating role, of a table's or the schema's owner
	// holds the owner's rights whatever is granted or revoked; a superuser,
	// a role that can create roles or one that bypasses row security can
	// give itself anything.
	var member bool
	if err := pool.QueryRow(ctx, `SELECT pg_has_role($1, current_user, 'MEMBER')`, role).Scan(&member); err != nil {
		return fmt.Errorf("grant: role %s: %w", r, err)
	}
	st, err := readStanding(ctx, pool, role)
	if err != nil {
		return fmt.Errorf("grant: %w", err)
	}
	if member || st.ownsTables || st.ownsSchema {
		return fmt.Errorf("grant: %s owns the tables or the schema, or is the migrating role or a member of one of them; the service must connect as a role that is not", r)
	}
	if st.super || st.createRole || st.bypassRLS {
		return fmt.Errorf("grant: %s is a superuser or may create roles or bypass row security: it could give itself any right; the service must connect as a plain role", r)
	}
	if st.replicationRole {
		return fmt.Errorf("grant: %s may set session_replication_role, which stops the append-only triggers from firing; the service must connect as a plain role", r)
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
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fmt.Errorf("grant: %s: %w", s, err)
		}
	}
	if err := verifyRuntime(ctx, tx, role, schema); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("grant: %w", err)
	}
	return nil
}

// verifyRuntime checks that role, after the grants, holds on each table
// exactly the table-level privileges runtimePrivileges names (a column
// list counts as none), and may use the schema: privileges it also holds
// through PUBLIC or another role, or a grant the owner could not give
// (which PostgreSQL only warns about), fail the grant.
func verifyRuntime(ctx context.Context, tx pgx.Tx, role, schema string) error {
	var usage bool
	if err := tx.QueryRow(ctx, `SELECT has_schema_privilege($1, $2, 'USAGE')`, role, schema).Scan(&usage); err != nil {
		return fmt.Errorf("grant: checking the schema: %w", err)
	}
	if !usage {
		return fmt.Errorf("grant: %s cannot use schema %s after the grant", pgx.Identifier{role}.Sanitize(), pgx.Identifier{schema}.Sanitize())
	}
	var wrong []string
	for _, p := range runtimePrivileges {
		table := pgx.Identifier{schema, p.table}.Sanitize()
		for _, priv := range tablePrivileges {
			want := strings.Contains(", "+p.privs+",", ", "+priv+",") // a bare name, not "UPDATE (…)"
			var has bool
			if err := tx.QueryRow(ctx, `SELECT has_table_privilege($1, $2, $3)`, role, table, priv).Scan(&has); err != nil {
				return fmt.Errorf("grant: checking %s on %s: %w", priv, p.table, err)
			}
			if has != want {
				wrong = append(wrong, fmt.Sprintf("%s %s on %s", map[bool]string{true: "has", false: "lacks"}[has], priv, p.table))
			}
		}
	}
	if len(wrong) > 0 {
		return fmt.Errorf("grant: after the grants %s still %s (held through PUBLIC or another role?)",
			pgx.Identifier{role}.Sanitize(), strings.Join(wrong, ", "))
	}
	return nil
}

// standing is what a role holds that the service's role must not: the
// tables or their schema (as their owner or a member of it), or the power
// to give itself any right.
type standing struct {
	ownsTables, ownsSchema, super, createRole, bypassRLS bool
	// replicationRole: the role may SET session_replication_role
	// (PostgreSQL 15 and later grant it apart from superuser), which makes
	// ordinary triggers, the append-only ones among them, not fire.
	replicationRole bool
}

// standingSQL reads a role's standing ($1) on the tables named in $2 of
// the first schema of the search path, found by name (a cast to
// regnamespace would parse it as an identifier: a mixed-case or dotted
// schema would fail). pg_has_role is true of a superuser for every role,
// so ownership is read for other roles only; a superuser is reported as
// one.
const standingSQL = `
SELECT NOT r.rolsuper AND EXISTS (
           SELECT 1 FROM pg_class c
           WHERE c.relname = ANY($2)
             AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
             AND pg_has_role($1, c.relowner, 'MEMBER')),
       NOT r.rolsuper AND EXISTS (
           SELECT 1 FROM pg_namespace n
           WHERE n.nspname = current_schema() AND pg_has_role($1, n.nspowner, 'MEMBER')),
       r.rolsuper, r.rolcreaterole, r.rolbypassrls
FROM pg_roles r WHERE r.rolname = $1`

func readStanding(ctx context.Context, pool *pgxpool.Pool, role string) (standing, error) {
	tables := make([]string, len(runtimePrivileges))
	for i, p := range runtimePrivileges {
		tables[i] = p.table
	}
	var st standing
	err := pool.QueryRow(ctx, standingSQL, role, tables).Scan(&st.ownsTables, &st.ownsSchema, &st.super, &st.createRole, &st.bypassRLS)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, fmt.Errorf("role %s does not exist", pgx.Identifier{role}.Sanitize())
	}
	if err != nil {
		return st, fmt.Errorf("reading the privileges of role %s: %w", pgx.Identifier{role}.Sanitize(), err)
	}
	if st.super {
		return st, nil // may set anything; reported as a superuser
	}
	var version int
	if err := pool.QueryRow(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&version); err != nil {
		return st, fmt.Errorf("reading the server's version: %w", err)
	}
	if version >= 150000 { // has_parameter_privilege is new in 15; before, only a superuser could
		err := pool.QueryRow(ctx, `SELECT has_parameter_privilege($1, 'session_replication_role', 'SET')`, role).Scan(&st.replicationRole)
		if err != nil {
			return st, fmt.Errorf("reading the privileges of role %s: %w", pgx.Identifier{role}.Sanitize(), err)
		}
	}
	return st, nil
}

// RoleRisks names what makes the role the pool connects as stronger than
// the service needs (see standing). Any of these can disable the
// append-only triggers that keep the records whole, so serve warns when it
// finds one; a role set up by GrantRuntime has none. role is the role's
// name, for that warning.
func RoleRisks(ctx context.Context, pool *pgxpool.Pool) (role string, risks []string, err error) {
	if err := pool.QueryRow(ctx, `SELECT current_user`).Scan(&role); err != nil {
		return "", nil, fmt.Errorf("reading the database role: %w", err)
	}
	st, err := readStanding(ctx, pool, role)
	if err != nil {
		return "", nil, err
	}
	for _, r := range []struct {
		has  bool
		risk string
	}{
		{st.ownsTables, "owns the tables"},
		{st.ownsSchema, "owns their schema"},
		{st.super, "is a superuser"},
		{st.createRole, "may create roles"},
		{st.bypassRLS, "bypasses row security"},
		{st.replicationRole, "may set session_replication_role"},
	} {
		if r.has {
			risks = append(risks, r.risk)
		}
	}
	return role, risks, nil
}
