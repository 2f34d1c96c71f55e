package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
)

// scratchDB is the database the harness creates for the PostgreSQL mode and
// drops at the end.
type scratchDB struct {
	name  string
	dsn   string
	admin string // the DSN CREATE/DROP DATABASE runs on
}

func createScratchDB(ctx context.Context, adminDSN string) (*scratchDB, error) {
	var suffix [4]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return nil, err
	}
	name := "onboarding_load_" + hex.EncodeToString(suffix[:])
	u, err := url.Parse(adminDSN)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("-pg: want a postgres:// URL")
	}
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", u.Redacted(), err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return nil, fmt.Errorf("creating the scratch database: %w", err)
	}
	u.Path = "/" + name
	return &scratchDB{name: name, dsn: u.String(), admin: adminDSN}, nil
}

// drop removes the database, closing the connections still open on it.
func (d *scratchDB) drop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, d.admin)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{d.name}.Sanitize()+" WITH (FORCE)")
	return err
}

// sampleIdentities returns n random active synthetic clients: the pairs
// (client number, birth date) that exist, with what their documents show.
func sampleIdentities(ctx context.Context, dsn string, n int) ([]identity, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT user_id, client_number, birth_date::text, given_names, surname,
    coalesce(personal_number, ''), coalesce(phone, ''), nationality
FROM clients
WHERE status = 'ACTIVE' AND length(client_number) = 8
ORDER BY random() LIMIT $1`, n)
	if err != nil {
		return nil, err
	}
	var out []identity
	for rows.Next() {
		var uid, cn, bd, given, surname, pn, phone, nat string
		if err := rows.Scan(&uid, &cn, &bd, &given, &surname, &pn, &phone, &nat); err != nil {
			return nil, err
		}
		out = append(out, newIdentity(uid, cn, bd, given, surname, pn, phone, nat))
	}
	return out, rows.Err()
}

// lookupSQL is the statement the PostgreSQL registry prepares for the
// (clientNumber, birthDate) scheme (adapters/postgres findClientQuery).
const lookupSQL = `SELECT user_id, client_number, birth_date, given_names, surname, personal_number, phone, nationality, status FROM clients WHERE status <> 'PROSPECT' AND client_number = $1 AND birth_date = $2 LIMIT 2`

// pgbenchSelect is its pgbench equivalent: the same index scan, heap fetch
// and filter, and the same row sent back. pgbench cannot draw a matching
// birth date, so the filter on it compares with a date every client passes.
func pgbenchSelect(clients int) string {
	return fmt.Sprintf(`\set n random(%d, %d)
SELECT user_id, client_number, birth_date, given_names, surname, personal_number, phone, nationality, status FROM clients WHERE status <> 'PROSPECT' AND client_number = :n::text AND birth_date >= '1900-01-01'::date LIMIT 2;
`, firstSyntheticClient, firstSyntheticClient+clients-1)
}

// pgbenchInsert is one durable single-row write into the consent ledger
// itself, with the ledger's unique key and ON CONFLICT DO NOTHING: one
// commit (one WAL flush) per row.
const pgbenchInsert = `\set r random(1, 1000000000000000)
INSERT INTO consent_ledger (process_id, user_id, consent_type, seq, approved, language, text_version, text_sha256, request_id, correlation_id, recorded_at)
VALUES ('pgbench-' || :client_id::text || '-' || :r::text, '01900000-0000-7000-8000-000000000000', 'GDPR', 1, true, 'en', 1, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'pgbench', 'pgbench', now())
ON CONFLICT DO NOTHING;
`

// firstSyntheticClient is postgres.FirstSyntheticClientNumber, restated so
// the harness does not link the PostgreSQL adapter.
const firstSyntheticClient = 20_000_000

// explain runs EXPLAIN ANALYZE of the lookup statement for one identity.
func explain(ctx context.Context, dsn string, id identity) (string, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	q := strings.Replace(strings.Replace(lookupSQL, "$1", quote(id.clientNumber), 1), "$2", quote(id.birthDate)+"::date", 1)
	rows, err := conn.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF) "+q, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return "", err
	}
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			return "", err
		}
		lines = append(lines, l)
	}
	return q + "\n\n" + strings.Join(lines, "\n"), rows.Err()
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// analyze refreshes the planner statistics after the bulk load, as a DBA
// would after seeding a million rows.
func analyze(ctx context.Context, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "VACUUM (ANALYZE) clients")
	return err
}

// redisKeys deletes the service's keys (prefix onboarding:) in the Redis
// database of url, before the run (left-overs) and after it.
func redisKeys(ctx context.Context, redisURL string) (int, error) {
	opts, err := goredis.ParseURL(redisURL)
	if err != nil {
		return 0, fmt.Errorf("-redis: %w", err)
	}
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return 0, fmt.Errorf("redis at %s: %w", opts.Addr, err)
	}
	n := 0
	iter := rdb.Scan(ctx, 0, "onboarding:*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			if err := rdb.Unlink(ctx, batch...).Err(); err != nil {
				return n, err
			}
			n += len(batch)
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return n, err
	}
	if len(batch) > 0 {
		if err := rdb.Unlink(ctx, batch...).Err(); err != nil {
			return n, err
		}
		n += len(batch)
	}
	return n, nil
}
