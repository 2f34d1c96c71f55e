package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bankkit/onboarding-adapter/adapters/postgres/pgtest"
)

func TestParsePgbenchLog(t *testing.T) {
	log := "0 1 1250 0 1732630000 100\n1 1 failed 0 1732630000 200\n2 1 800 0 1732630001 999999\n"
	txs, err := parsePgbenchLog([]byte(log), "tx.1")
	if err != nil {
		t.Fatal(err)
	}
	want := []pgbenchTx{
		{file: "tx.1", end: time.Unix(1732630000, 100_000), latency: 1250 * time.Microsecond},
		{file: "tx.1", end: time.Unix(1732630000, 200_000), failed: true},
		{file: "tx.1", end: time.Unix(1732630001, 999_999_000), latency: 800 * time.Microsecond},
	}
	if len(txs) != len(want) {
		t.Fatalf("got %d transactions, want %d: %+v", len(txs), len(want), txs)
	}
	for i := range want {
		if !txs[i].end.Equal(want[i].end) || txs[i].latency != want[i].latency || txs[i].failed != want[i].failed || txs[i].file != want[i].file {
			t.Errorf("line %d: got %+v, want %+v", i, txs[i], want[i])
		}
	}
	for _, bad := range []string{"0 1 1250 0\n", "0 1 1250 0 x 100\n", "0 1 1250 0 1732630000 y\n"} {
		if _, err := parsePgbenchLog([]byte(bad), "tx.1"); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestTally: a window counts the transactions completed within it; only
// those that also started within it give a latency (one in flight while
// pgbench was stopped took the stop too).
func TestTally(t *testing.T) {
	t0 := time.Unix(1000, 0)
	t1 := t0.Add(5 * time.Second)
	ms := time.Millisecond
	txs := []pgbenchTx{
		{end: t0.Add(-ms), latency: 2 * ms},                   // completed before: not counted
		{end: t0.Add(ms), latency: 3 * time.Second},           // in flight across the stop: counted, no latency
		{end: t0.Add(2 * ms), latency: 2 * ms},                // started at t0 exactly
		{end: t0.Add(time.Second), latency: 4 * ms},           // inside
		{end: t0.Add(2 * time.Second), failed: true},          // failed inside
		{end: t1, latency: 5 * ms},                            // completed at t1 exactly
		{end: t1.Add(ms), latency: ms},                        // after: not counted
		{end: t1.Add(10 * time.Second), failed: true},         // failed after: not counted
		{end: t0.Add(-time.Hour), failed: true, file: "tx.2"}, // failed long before: not counted
	}
	w := window{errs: map[string]int64{}}
	tally(txs, t0, t1, &w)
	if w.ok != 4 || w.errs["failed"] != 1 {
		t.Errorf("ok %d failed %d, want 4 and 1", w.ok, w.errs["failed"])
	}
	if want := []time.Duration{2 * ms, 4 * ms, 5 * ms}; fmt.Sprint(w.lat) != fmt.Sprint(want) {
		t.Errorf("latencies %v, want %v", w.lat, want)
	}
}

// TestReadNewLines: a line pgbench's buffer has written only in part is
// left for the next read, which starts where the last stopped.
func TestReadNewLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tx.1")
	write := func(s string) {
		t.Helper()
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	write("0 1 1250 0 1732630000 100\n1 1 80")
	txs, n, err := readNewLines(path, 0)
	if err != nil || len(txs) != 1 || n != int64(len("0 1 1250 0 1732630000 100\n")) {
		t.Fatalf("first read: %d transactions, %d bytes, %v", len(txs), n, err)
	}
	write("0 0 1732630001 5\n")
	more, m, err := readNewLines(path, n)
	if err != nil || len(more) != 1 || more[0].latency != 800*time.Microsecond || !more[0].end.Equal(time.Unix(1732630001, 5000)) {
		t.Fatalf("second read: %+v, %v", more, err)
	}
	if rest, k, err := readNewLines(path, n+m); err != nil || len(rest) != 0 || k != 0 {
		t.Errorf("read at the end: %d transactions, %d bytes, %v", len(rest), k, err)
	}
}

// TestFlushedPast: the window's log is complete only when every thread
// has logged a transaction completed after its end.
func TestFlushedPast(t *testing.T) {
	end := time.Unix(1000, 0)
	after, before := end.Add(time.Millisecond), end.Add(-time.Millisecond)
	tests := []struct {
		name string
		txs  []pgbenchTx
		want bool
	}{
		{"no transactions", nil, false},
		{"one thread past, the other not", []pgbenchTx{{file: "a", end: after}, {file: "b", end: before}}, false},
		{"one thread only", []pgbenchTx{{file: "a", end: after}, {file: "a", end: after}}, false},
		{"at the end is not past it", []pgbenchTx{{file: "a", end: after}, {file: "b", end: end}}, false},
		{"both past", []pgbenchTx{{file: "a", end: before}, {file: "a", end: after}, {file: "b", end: after}}, true},
	}
	for _, tt := range tests {
		if got := flushedPast(tt.txs, end, 2); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestPgbenchProc runs a real pgbench (SELECT 1 on the test server's admin
// database) through warm-up and two windows: it is stopped after its
// warm-up and after each window, each window counts transactions and its
// own length, and close ends it and removes its logs. Which transactions a
// window counts is TestTally's.
func TestPgbenchProc(t *testing.T) {
	bin, dsn, ctx := pgbenchOrSkip(t)

	// The warm-up is where pgbench starts its threads and opens its
	// connections, which a loaded machine may take seconds to do: with
	// 300 ms a window could find no transaction yet.
	p, err := startPgbench(ctx, bin, dsn, "SELECT 1;\n", t.TempDir(), "test", 4, 3*time.Second, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = p.close()
		}
	}()
	assertStopped := func(when string) {
		t.Helper()
		// SIGSTOP takes effect asynchronously; give it a moment.
		for range 100 {
			stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid()))
			if err != nil {
				t.Fatal(err)
			}
			if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'T' {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("pgbench is not stopped %s", when)
	}
	assertStopped("after its warm-up")
	var ws []window
	for i := range 2 {
		w, err := p.window(ctx, 500*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		assertStopped(fmt.Sprintf("after window %d", i+1))
		ws = append(ws, w)
		// Stopped, pgbench logs nothing.
		before := logSizes(t, p.dir)
		time.Sleep(300 * time.Millisecond)
		if after := logSizes(t, p.dir); after != before {
			t.Errorf("pgbench's logs grew from %d to %d bytes while it was stopped", before, after)
		}
	}
	for i, w := range ws {
		if w.ok == 0 || len(w.lat) == 0 || int64(len(w.lat)) > w.ok || len(w.errs) != 0 {
			t.Errorf("window %d: ok %d, %d latencies, errors %v", i+1, w.ok, len(w.lat), w.errs)
		}
		// The window's own length, not the flush steps after it (the upper
		// bound leaves room for a loaded machine's timer).
		if w.elapsed < 500*time.Millisecond || w.elapsed > 2*time.Second {
			t.Errorf("window %d: elapsed %v, want about 500ms", i+1, w.elapsed)
		}
		if w.genCPU < 0 || w.total <= 0 || w.busy > w.total {
			t.Errorf("window %d: pgbench CPU %v, machine busy %v of %v", i+1, w.genCPU, w.busy, w.total)
		}
	}
	dir := p.dir
	closed = true
	if err := p.close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("pgbench's log directory left behind: %v", err)
	}
}

// pgbenchOrSkip returns the machine's pgbench, the test server's admin
// DSN and a context for the test; it skips loudly when either is missing,
// and fails under CI=true.
func pgbenchOrSkip(t *testing.T) (bin, dsn string, ctx context.Context) {
	t.Helper()
	bin, err := findPgbench("")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and %v", err)
		}
		t.Skipf("SKIPPED LOUDLY: %v", err)
	}
	dsn = pgtest.AdminURL()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		pgtest.Unreachable(t, err)
	}
	conn.Close(ctx)
	return bin, dsn, ctx
}

func logSizes(t *testing.T, dir string) int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "tx.*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("pgbench's logs in %s: %v, %v", dir, files, err)
	}
	var n int64
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		n += st.Size()
	}
	return n
}

// TestPgbenchProcExit: a pgbench that cannot run (a script PostgreSQL
// refuses aborts every client) fails its start with pgbench's own words.
func TestPgbenchProcExit(t *testing.T) {
	bin, dsn, ctx := pgbenchOrSkip(t)
	// The warm-up ends as soon as pgbench exits: a long one costs nothing,
	// and gives a loaded machine's pgbench time to connect and fail.
	_, err := startPgbench(ctx, bin, dsn, "SELECT * FROM no_such_table_here;\n", t.TempDir(), "test", 2, 30*time.Second, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "no_such_table_here") {
		t.Fatalf("start: %v, want pgbench's error naming the table", err)
	}
}
