package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/adapters/postgres/pgtest"
)

// TestServeWarnsWhenItConnectsAsTheOwner: serve connected as the tables'
// owner logs one warning naming the role and what it could do; the
// runtime role's case (no warning) is TestRuntimeRole's, in the adapter.
func TestServeWarnsWhenItConnectsAsTheOwner(t *testing.T) {
	pool := pgtest.Pool(t, pgtest.NewDatabase(t))
	var logs lockedBuffer
	stop := warnIfPrivileged(pool, slog.New(slog.NewJSONHandler(&logs, nil)))
	defer stop()
	var line map[string]any
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if s := logs.String(); s != "" {
			if err := json.Unmarshal([]byte(s), &line); err != nil {
				t.Fatalf("not one JSON line: %q: %v", s, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no warning within 10 s")
		}
	}
	var role string
	if err := pool.QueryRow(context.Background(), `SELECT current_user`).Scan(&role); err != nil {
		t.Fatal(err)
	}
	if line["level"] != "WARN" || line["db_role"] != role ||
		!strings.Contains(line["db_role_risks"].(string), "owns the tables") ||
		!strings.Contains(line["msg"].(string), "migrate --grant-to") {
		t.Errorf("warning %v, want WARN naming role %s, 'owns the tables' and migrate --grant-to", line, role)
	}
	stop()
	if n := strings.Count(logs.String(), "\n"); n != 1 {
		t.Errorf("%d lines logged, want the one warning", n)
	}
}

// TestRoleCheckStopsWhileTheDatabaseIsDown: with nothing answering, the
// check keeps waiting, logs nothing, and its stop returns at once.
func TestRoleCheckStopsWhileTheDatabaseIsDown(t *testing.T) {
	cfg, err := pgxpool.ParseConfig("postgres://nobody@127.0.0.1:1/none?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var logs lockedBuffer
	stop := warnIfPrivileged(pool, slog.New(slog.NewJSONHandler(&logs, nil)))
	time.Sleep(100 * time.Millisecond) // likely mid-attempt or waiting to retry: stop must be prompt either way
	start := time.Now()
	stop()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("stop took %s while the database was down", took)
	}
	if s := logs.String(); s != "" {
		t.Errorf("logged %q with no database", s)
	}
}
