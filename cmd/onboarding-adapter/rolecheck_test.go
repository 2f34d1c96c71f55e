package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/adapters/postgres"
	"github.com/bankkit/onboarding-adapter/adapters/postgres/pgtest"
)

// TestServeWarnsWhenItConnectsAsTheOwner: serve's wiring, connected as the
// role that migrated the tables, logs one warning naming the role and what
// it could do. A runtime role's (no risk) is TestRuntimeRole's, and a
// plain owner's TestRoleRisksOfAPlainOwner, both in adapters/postgres.
func TestServeWarnsWhenItConnectsAsTheOwner(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	app, tel, _ := buildForTest(t, map[string]string{"ONBOARDING_DATABASE_URL": dsn}, map[string]string{}, logger)

	var line map[string]any
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if s := logs.String(); strings.Contains(s, "append-only triggers") {
			for l := range strings.SplitSeq(strings.TrimSpace(s), "\n") {
				if strings.Contains(l, "append-only triggers") {
					if err := json.Unmarshal([]byte(l), &line); err != nil {
						t.Fatalf("not a JSON line: %q: %v", l, err)
					}
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no warning within 30 s; logged %q", logs.String())
		}
	}
	var role string
	if err := pgtest.Pool(t, dsn).QueryRow(ctx, `SELECT current_user`).Scan(&role); err != nil {
		t.Fatal(err)
	}
	risks, _ := line["db_role_risks"].(string)
	msg, _ := line["msg"].(string)
	if line["level"] != "WARN" || line["db_role"] != role || risks == "" || !strings.Contains(msg, "migrate --grant-to") {
		t.Errorf("warning %v, want WARN naming role %s, its risks and migrate --grant-to", line, role)
	}
	// The gauge counts the risks the warning names.
	_, found, err := postgres.RoleRisks(ctx, pgtest.Pool(t, dsn))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	want := fmt.Sprintf("onboarding_db_role_risks %d\n", len(found))
	if !strings.Contains(rec.Body.String(), want) {
		t.Errorf("metrics lack %q", strings.TrimSpace(want))
	}
	app.close()
	if n := strings.Count(logs.String(), "append-only triggers"); n != 1 {
		t.Errorf("%d warnings logged, want one", n)
	}
}

// TestRoleCheckStopsWhileTheDatabaseHangs: with a server that accepts
// connections and never answers, the check logs nothing, and its stop
// returns at once, in the middle of an attempt.
func TestRoleCheckStopsWhileTheDatabaseHangs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c // held open, never answered
		}
	}()
	defer func() {
		for {
			select {
			case c := <-accepted:
				c.Close()
			default:
				return
			}
		}
	}()
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@"+ln.Addr().String()+"/none?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	logs := &lockedBuffer{}
	var found atomic.Int64
	found.Store(roleUnchecked)
	stop := warnIfPrivileged(func(ctx context.Context) (string, []string, error) { return postgres.RoleRisks(ctx, pool) },
		roleCheckRetry, roleRecheck, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})), &found)
	var c net.Conn
	select {
	case c = <-accepted: // the attempt is waiting for the server's answer
		accepted <- c
	case <-time.After(10 * time.Second):
		t.Fatal("the check never connected")
	}
	start := time.Now()
	stop()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("stop took %s while a query hung", took)
	}
	if s := logs.String(); s != "" {
		t.Errorf("logged %q with no answer from the database", s)
	}
	if n := found.Load(); n != roleUnchecked {
		t.Errorf("%d risks found with no answer from the database, want none known", n)
	}
}

// TestRoleCheckFollowsTheRole: the check asks again while the database
// does not answer (a refused connection is no answer), then at every
// recheck; the gauge follows each answer, and a warning or the refusal is
// logged only when the answer changes.
func TestRoleCheckFollowsTheRole(t *testing.T) {
	refused := &pgconn.PgError{Code: "42501", Message: "permission denied"}
	answers := []struct {
		risks []string
		err   error
		gauge int64
		logs  int // lines logged so far
	}{
		{err: &pgconn.ConnectError{}, gauge: roleUnchecked, logs: 0},
		{err: context.DeadlineExceeded, gauge: roleUnchecked, logs: 0},
		{risks: []string{"owns the tables"}, gauge: 1, logs: 1},
		{risks: []string{"owns the tables"}, gauge: 1, logs: 1},
		{risks: nil, gauge: 0, logs: 1},
		{err: refused, gauge: roleRefused, logs: 2},
		{err: refused, gauge: roleRefused, logs: 2},
		{risks: []string{"owns the tables", "is a superuser"}, gauge: 2, logs: 3},
	}
	asked := make(chan int)
	proceed := make(chan struct{})
	n := 0
	check := func(context.Context) (string, []string, error) {
		i := n
		n++
		if i >= len(answers) {
			<-proceed // past the script: wait to be stopped
			return "", nil, context.Canceled
		}
		asked <- i
		<-proceed
		return "app", answers[i].risks, answers[i].err
	}
	logs := &lockedBuffer{}
	var found atomic.Int64
	found.Store(roleUnchecked)
	stop := warnIfPrivileged(check, time.Millisecond, time.Millisecond,
		slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})), &found)
	lines := func() int { return strings.Count(logs.String(), "\n") }
	for i := range answers {
		select {
		case got := <-asked:
			if got != i {
				t.Fatalf("asked for answer %d, want %d", got, i)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("answer %d was never asked for", i)
		}
		if i > 0 { // asking again: the answer before is handled
			prev := answers[i-1]
			if g := found.Load(); g != prev.gauge {
				t.Errorf("after answer %d the gauge holds %d, want %d", i-1, g, prev.gauge)
			}
			if l := lines(); l != prev.logs {
				t.Errorf("after answer %d %d lines logged, want %d:\n%s", i-1, l, prev.logs, logs.String())
			}
		}
		proceed <- struct{}{}
	}
	// The last answer is handled once the check asks again.
	deadline := time.Now().Add(10 * time.Second)
	for found.Load() != answers[len(answers)-1].gauge && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(proceed)
	stop()
	last := answers[len(answers)-1]
	if g := found.Load(); g != last.gauge {
		t.Errorf("finally the gauge holds %d, want %d", g, last.gauge)
	}
	if l := lines(); l != last.logs {
		t.Errorf("%d lines logged, want %d:\n%s", l, last.logs, logs.String())
	}
	for _, want := range []string{`"db_role_risks":"owns the tables"`, `"sqlstate":"42501"`, `"db_role_risks":"owns the tables, is a superuser"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the logs lack %s:\n%s", want, logs.String())
		}
	}
}
