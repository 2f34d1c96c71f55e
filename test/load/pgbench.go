package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// pgbenchProc is one pgbench process serving every pgbench window of a
// scenario: started and warmed up once, stopped (SIGSTOP) while the other
// targets run, continued (SIGCONT) for each of its windows. Its
// connections, and their PostgreSQL backends, stay up from window to
// window, as the service's pool connections do.
//
// A pgbench started afresh for each 5 s window measured mostly its own
// warm-up: a new backend maps the pages of PostgreSQL's shared buffers one
// minor page fault at a time as it first touches them. On the 2026-11-27
// AMD EPYC machine a fresh pgbench at 32 clients did 5,000–5,700 SELECTs a
// second in its first 4–5 s and 12,800–17,700 from its 16th second on (its
// backends' minor faults: 100,000 in the first 5 s, 750 from the 13th to
// the 17th), and 4,400 single-row INSERTs a second in its first 5 s
// against 6,900–7,300 from its 10th on.
type pgbenchProc struct {
	// The child, as the harness starts every child: in its own process
	// group, killed with the harness, the tail of its output (its errors,
	// a client's abort) in out.
	*proc
	dir     string
	threads int              // pgbench's -j: one log file each
	read    map[string]int64 // per-thread log file: bytes consumed
	// started is when pgbench was started. pgbench stamps its log with
	// its start's wall-clock time plus its monotonic clock since, so a
	// window's bounds are compared with the log as started plus Go's
	// monotonic time since: a step of the wall clock meanwhile shifts
	// neither.
	started  time.Time
	reported bool // an exit or an abort already returned as an error
}

// pgbenchSlack is added to pgbench's -T beyond the scenario's expected
// length, so that only a pgbench the harness could not end (killed without
// running its clean-ups) reaches it.
const pgbenchSlack = 10 * time.Minute

// pgbenchFlushStep is how long pgbench runs on after a window before its
// log is read: its per-thread logs are buffered by stdio, and a window's
// last lines reach the file only when later ones fill the buffer.
const pgbenchFlushStep = 100 * time.Millisecond

// startPgbench starts pgbench with script at clients connections against
// dsn, lets it run for warmup and stops it; scenario is how long the
// scenario's rounds are expected to take, which pgbench's -T exceeds by
// pgbenchSlack.
func startPgbench(ctx context.Context, bin, dsn, script, dir, tag string, clients int, warmup, scenario time.Duration) (*pgbenchProc, error) {
	if warmup <= 0 {
		return nil, errors.New("pgbench: a warm-up is needed (its connections are made in it)")
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgbench: database URL: %w", err)
	}
	logDir, err := os.MkdirTemp(dir, "pgbench-"+tag+"-")
	if err != nil {
		return nil, fmt.Errorf("pgbench: log directory: %w", err)
	}
	scriptFile := filepath.Join(logDir, "script.sql")
	if err := os.WriteFile(scriptFile, []byte(script), 0o600); err != nil {
		return nil, errors.Join(fmt.Errorf("pgbench: script: %w", err), os.RemoveAll(logDir))
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "5432"
	}
	threads := min(2, clients)
	args := []string{"-n", "-M", "prepared", "-c", strconv.Itoa(clients), "-j", strconv.Itoa(threads),
		"-T", strconv.Itoa(int((warmup + scenario + pgbenchSlack) / time.Second)), "-f", scriptFile,
		"-l", "--log-prefix", filepath.Join(logDir, "tx"),
		"-h", host, "-p", port, "-U", u.User.Username(), strings.TrimPrefix(u.Path, "/")}
	env := baseEnv()
	if pw, ok := u.User.Password(); ok {
		env = append(env, "PGPASSWORD="+pw)
	}
	started := time.Now()
	pr, err := startProc("pgbench", bin, args, env)
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(logDir))
	}
	p := &pgbenchProc{proc: pr, dir: logDir, threads: threads, read: map[string]int64{}, started: started}
	if err := p.warm(ctx, warmup); err != nil {
		return nil, errors.Join(err, p.close())
	}
	return p, nil
}

// warm runs pgbench for warmup, stops it, and discards the warm-up's log;
// an error unless every thread has opened its log by then.
func (p *pgbenchProc) warm(ctx context.Context, warmup time.Duration) error {
	if err := p.run(ctx, warmup); err != nil {
		return err
	}
	if err := p.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(p.dir, "tx.*"))
	if err != nil {
		return fmt.Errorf("pgbench logs: %w", err)
	}
	if len(files) != p.threads {
		return p.failure(fmt.Sprintf("has %d logs after its %s warm-up, not one for each of its %d threads", len(files), warmup, p.threads))
	}
	_, err = p.lines()
	return err
}

// run lets pgbench run for d, failing if it exits meanwhile.
func (p *pgbenchProc) run(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-p.done:
		return p.failure(fmt.Sprintf("exited: %v", p.err))
	}
}

// failure is an error saying what went wrong with pgbench's own output;
// close does not repeat it.
func (p *pgbenchProc) failure(what string) error {
	p.reported = true
	return fmt.Errorf("pgbench %s:\n%s", what, truncate(p.out.String(), 2000))
}

// signal stops or continues pgbench; an error with its output when it has
// exited.
func (p *pgbenchProc) signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return p.failure(fmt.Sprintf("exited: %v", p.err))
	default:
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("pgbench: %v: %w", sig, err)
	}
	return nil
}

// aborted is an error when a client of pgbench was aborted (pgbench says
// so as it happens, and runs on with the others).
func (p *pgbenchProc) aborted() error {
	if strings.Contains(p.out.String(), "aborted") {
		return p.failure("aborted a client")
	}
	return nil
}

// window continues pgbench for dur and returns what it did meanwhile:
// transactions completed within the window as ok or failed, the latencies
// of those that also started within it (one in flight while pgbench was
// stopped took the stop too), pgbench's CPU as the generator's, and
// PostgreSQL's and the machine's CPU over exactly the window.
func (p *pgbenchProc) window(ctx context.Context, dur time.Duration) (window, error) {
	w := window{errs: map[string]int64{}, answers: map[string]int64{}, cpu: -1, genCPU: -1, storesCPU: -1, queries: -1}
	c0 := readCounters()
	g0, gErr := readProcStats(p.pid())
	t0 := time.Now()
	if err := p.signal(syscall.SIGCONT); err != nil {
		return w, err
	}
	if err := p.run(ctx, dur); err != nil {
		return w, err
	}
	t1 := time.Now()
	if err := p.signal(syscall.SIGSTOP); err != nil {
		return w, err
	}
	g1, err := readProcStats(p.pid())
	w.setCounters(c0, readCounters())
	w.elapsed = t1.Sub(t0)
	if err == nil && gErr == nil {
		w.genCPU = g1.cpu - g0.cpu
	}
	// Run on until every thread's log has a transaction completed after
	// t1, so none completed within the window is still in its buffer.
	from, to := p.logTime(t0), p.logTime(t1)
	var all []pgbenchTx
	for step := 0; ; step++ {
		txs, err := p.lines()
		if err != nil {
			return w, err
		}
		all = append(all, txs...)
		if flushedPast(all, to, p.threads) {
			break
		}
		if step == 50 {
			return w, p.failure(fmt.Sprintf("logs hold no transaction of every thread completed after the window's end, %s after it", time.Since(t1).Round(time.Millisecond)))
		}
		if err := p.signal(syscall.SIGCONT); err != nil {
			return w, err
		}
		if err := p.run(ctx, pgbenchFlushStep); err != nil {
			return w, err
		}
		if err := p.signal(syscall.SIGSTOP); err != nil {
			return w, err
		}
	}
	if err := p.aborted(); err != nil {
		return w, err
	}
	tally(all, from, to, &w)
	if w.ok == 0 {
		return w, p.failure(fmt.Sprintf("completed no transaction in the %s window", w.elapsed.Round(time.Millisecond)))
	}
	return w, nil
}

// logTime is t on the clock of pgbench's log.
func (p *pgbenchProc) logTime(t time.Time) time.Time {
	return p.started.Round(0).Add(t.Sub(p.started))
}

// flushedPast reports whether each of the threads' logs holds a
// transaction completed after t.
func flushedPast(txs []pgbenchTx, t time.Time, threads int) bool {
	past := map[string]bool{}
	for _, tx := range txs {
		if tx.end.After(t) {
			past[tx.file] = true
		}
	}
	return len(past) == threads
}

// tally counts into w the transactions completed within [t0, t1].
func tally(txs []pgbenchTx, t0, t1 time.Time, w *window) {
	for _, tx := range txs {
		if tx.end.Before(t0) || tx.end.After(t1) {
			continue
		}
		if tx.failed {
			w.errs["failed"]++
			continue
		}
		w.ok++
		if !tx.end.Add(-tx.latency).Before(t0) {
			w.lat = append(w.lat, tx.latency)
		}
	}
}

// pgbenchTx is one line of pgbench's per-transaction log.
type pgbenchTx struct {
	file    string
	end     time.Time
	latency time.Duration
	failed  bool
}

// lines reads the complete lines the thread logs gained since the last
// call.
func (p *pgbenchProc) lines() ([]pgbenchTx, error) {
	files, err := filepath.Glob(filepath.Join(p.dir, "tx.*"))
	if err != nil {
		return nil, fmt.Errorf("pgbench logs: %w", err)
	}
	var out []pgbenchTx
	for _, f := range files {
		txs, n, err := readNewLines(f, p.read[f])
		if err != nil {
			return nil, fmt.Errorf("pgbench log %s: %w", filepath.Base(f), err)
		}
		if n > 0 {
			p.read[f] += n
			out = append(out, txs...)
		}
	}
	return out, nil
}

// readNewLines parses the complete lines of file from offset on and says
// how many bytes they took; a line still being written is left for later.
func readNewLines(file string, offset int64) ([]pgbenchTx, int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, 0, err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, 0, err
	}
	end := bytes.LastIndexByte(b, '\n') + 1
	if end == 0 {
		return nil, 0, nil
	}
	txs, err := parsePgbenchLog(b[:end], file)
	return txs, int64(end), err
}

// parsePgbenchLog reads lines of pgbench's per-transaction log:
// "client_id transaction_no time script_no time_epoch time_us …", time
// the latency in µs or "failed"/"skipped", time_epoch and time_us the
// completion.
func parsePgbenchLog(b []byte, file string) ([]pgbenchTx, error) {
	var out []pgbenchTx
	for line := range bytes.Lines(b) {
		fields := strings.Fields(string(line))
		if len(fields) < 6 {
			return nil, fmt.Errorf("short log line %q", line)
		}
		sec, err1 := strconv.ParseInt(fields[4], 10, 64)
		usec, err2 := strconv.ParseInt(fields[5], 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("log line %q: %w", line, err)
		}
		tx := pgbenchTx{file: file, end: time.Unix(sec, usec*1000)}
		if us, err := strconv.ParseInt(fields[2], 10, 64); err == nil {
			tx.latency = time.Duration(us) * time.Microsecond
		} else {
			tx.failed = true
		}
		out = append(out, tx)
	}
	return out, nil
}

// close ends pgbench and removes its logs; an error when one of its
// clients was aborted and no error has said so yet.
func (p *pgbenchProc) close() error {
	_ = p.cmd.Process.Kill() // also ends a stopped process
	<-p.done
	var err error
	if !p.reported {
		err = p.aborted()
	}
	return errors.Join(err, os.RemoveAll(p.dir))
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
