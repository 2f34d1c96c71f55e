package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
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

// findPgbench returns the pgbench binary: the flag, PATH, or the newest
// PostgreSQL's bin directory.
func findPgbench(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if p, err := exec.LookPath("pgbench"); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
	if len(matches) == 0 {
		return "", errors.New("pgbench not found (install postgresql-client or pass -pgbench)")
	}
	slices.SortFunc(matches, func(a, b string) int { return pgVersion(b) - pgVersion(a) })
	return matches[0], nil
}

func pgVersion(path string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return v
}

var tpsLine = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// runPgbench runs one pgbench window against the scratch database and
// returns it as a window: tps as req/s, per-transaction latencies from its
// log, failed transactions as errors.
func runPgbench(ctx context.Context, bin, dsn, script, dir, tag string, clients int, dur time.Duration) (window, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return window{}, err
	}
	logDir, err := os.MkdirTemp(dir, "pgbench-"+tag+"-")
	if err != nil {
		return window{}, err
	}
	defer os.RemoveAll(logDir)
	scriptFile := filepath.Join(logDir, "script.sql")
	if err := os.WriteFile(scriptFile, []byte(script), 0o600); err != nil {
		return window{}, err
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "5432"
	}
	args := []string{"-n", "-M", "prepared", "-c", strconv.Itoa(clients), "-j", "2",
		"-T", strconv.Itoa(int(dur / time.Second)), "-f", scriptFile,
		"-l", "--log-prefix", filepath.Join(logDir, "tx"),
		"-h", host, "-p", port, "-U", u.User.Username(), strings.TrimPrefix(u.Path, "/")}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = baseEnv()
	if pw, ok := u.User.Password(); ok {
		cmd.Env = append(cmd.Env, "PGPASSWORD="+pw)
	}
	cmd.Dir = logDir
	start := time.Now()
	out, err := cmd.CombinedOutput()
	elapsed := time.Since(start)
	if err != nil {
		return window{}, fmt.Errorf("pgbench: %w\n%s", err, out)
	}
	m := tpsLine.FindSubmatch(out)
	if m == nil {
		return window{}, fmt.Errorf("pgbench: no tps line in:\n%s", out)
	}
	tps, _ := strconv.ParseFloat(string(m[1]), 64)
	w := window{errs: map[string]int64{}, answers: map[string]int64{}, cpu: -1, genCPU: -1, storesCPU: -1, queries: -1}
	if ps := cmd.ProcessState; ps != nil {
		w.genCPU = ps.UserTime() + ps.SystemTime() // pgbench is its own load generator
	}
	files, _ := filepath.Glob(filepath.Join(logDir, "tx.*"))
	for _, f := range files {
		if err := readPgbenchLog(f, &w); err != nil {
			return window{}, err
		}
	}
	// pgbench's own tps excludes connection set-up; express it as ok
	// transactions over a matching elapsed time.
	w.elapsed = dur
	if tps > 0 {
		w.elapsed = time.Duration(float64(w.ok) / tps * float64(time.Second))
	}
	if w.ok == 0 {
		return window{}, fmt.Errorf("pgbench: no transactions logged (ran %s):\n%s", elapsed.Round(time.Millisecond), out)
	}
	return w, nil
}

// readPgbenchLog reads pgbench's per-transaction log: "client_id
// transaction_no time script_no time_epoch time_us …", time in µs or
// "failed".
func readPgbenchLog(path string, w *window) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 {
			continue
		}
		us, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil {
			w.errs["failed"]++
			continue
		}
		w.ok++
		w.lat = append(w.lat, time.Duration(us)*time.Microsecond)
	}
	return sc.Err()
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
