package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// cleanups is a stack of undo actions run in reverse order on exit, so a
// failure or Ctrl-C at any step still stops the processes and drops the
// database started before it.
type cleanups struct {
	mu  sync.Mutex
	fns []cleanup
}

type cleanup struct {
	name string
	fn   func() error
}

func (c *cleanups) add(name string, fn func() error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fns = append(c.fns, cleanup{name, fn})
}

func (c *cleanups) run(logf func(string, ...any)) {
	c.mu.Lock()
	fns := c.fns
	c.fns = nil
	c.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		if err := fns[i].fn(); err != nil {
			logf("cleanup %s: %v", fns[i].name, err)
		}
	}
}

// tail keeps the last bytes a child wrote, for the error message when it
// dies.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailBytes = 16 << 10

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(p) >= tailBytes {
		t.buf = append(t.buf[:0], p[len(p)-tailBytes:]...)
		return len(p), nil
	}
	// Keep the last tailBytes in place: a chatty child (the stub's verbose
	// log) writes megabytes a second, and a fresh buffer per write would
	// be garbage in the process that generates the load.
	if over := len(t.buf) + len(p) - tailBytes; over > 0 {
		t.buf = t.buf[:copy(t.buf, t.buf[over:])]
	}
	t.buf = append(t.buf, p...)
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.buf))
}

// proc is a child process the harness started: in its own process group
// (a Ctrl-C reaches only the harness, which stops children in order) and
// killed by the kernel if the harness dies without cleaning up.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *tail
	done chan struct{}
	err  error
}

func startProc(name, path string, args, env []string) (*proc, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = env
	out := &tail{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to grace, then kills.
func (p *proc) stop(grace time.Duration) error {
	if p.exited() {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("%s did not stop within %s: killed", p.name, grace)
}

// procStats are a process's CPU time and memory from /proc.
type procStats struct {
	cpu    time.Duration // utime + stime
	rssKB  int64         // VmRSS
	peakKB int64         // VmHWM: the resident set's high-water mark
}

// clockTick is USER_HZ, 100 on every Linux the harness runs on.
const clockTick = 10 * time.Millisecond

func readProcStats(pid int) (procStats, error) {
	var s procStats
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	_, ticks, err := parseStat(stat, false)
	if err != nil {
		return s, err
	}
	s.cpu = time.Duration(ticks) * clockTick
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	s.rssKB, s.peakKB = statusKB(status, "VmRSS:"), statusKB(status, "VmHWM:")
	return s, nil
}

// parseStat reads a /proc/<pid>/stat line: the command name and the
// process's CPU ticks (utime + stime), plus those of its reaped children
// (cutime + cstime) when children is set.
func parseStat(stat []byte, children bool) (comm string, ticks int64, err error) {
	// The command name (field 2) may hold spaces; fields after it start at
	// state (field 3).
	open, i := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if open < 0 || i < open {
		return "", 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 15 {
		return "", 0, errors.New("short /proc stat")
	}
	fields := f[11:13] // fields 14 and 15
	if children {
		fields = f[11:15] // and 16, 17
	}
	for _, v := range fields {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return "", 0, errors.New("malformed CPU times in /proc stat")
		}
		ticks += n
	}
	return string(stat[open+1 : i]), ticks, nil
}

// storeNames are the command names of the data stores on this machine
// whose CPU the harness counts: PostgreSQL's processes and Redis.
var storeNames = map[string]bool{"postgres": true, "redis-server": true}

// storesCPU is the CPU time every PostgreSQL and Redis process on the
// machine has used, with the children PostgreSQL's postmaster has reaped
// (the backends of connections that closed, pgbench's among them). The
// difference over a window is what the databases spent in it, whichever
// client made them work; nothing else should use them while the harness
// measures.
func storesCPU() (time.Duration, error) {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var ticks int64
	seen := false
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		comm, t, err := parseStat(stat, true)
		if err != nil || !storeNames[comm] {
			continue
		}
		ticks += t
		seen = true
	}
	if !seen {
		return 0, errors.New("no PostgreSQL or Redis process on this machine")
	}
	return time.Duration(ticks) * clockTick, nil
}

// machineCPU is the machine's busy and total CPU time since boot, summed
// over its CPUs (the "cpu" line of /proc/stat; idle and iowait are not
// busy).
func machineCPU() (busy, total time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, 0, errors.New("malformed /proc/stat")
	}
	var all, idle int64
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, errors.New("malformed /proc/stat")
		}
		if i >= 8 { // guest and guest_nice are already in user and nice
			break
		}
		all += n
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		}
	}
	return time.Duration(all-idle) * clockTick, time.Duration(all) * clockTick, nil
}

func statusKB(status []byte, key string) int64 {
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v
		}
	}
	return 0
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitReady polls url until it answers 200, p exits or the timeout passes,
// and returns how long after start that was.
func waitReady(ctx context.Context, p *proc, url string, start time.Time, timeout time.Duration) (time.Duration, error) {
	client := &http.Client{Timeout: 500 * time.Millisecond}
	defer client.CloseIdleConnections()
	deadline := start.Add(timeout)
	for {
		if p.exited() {
			return 0, fmt.Errorf("%s exited before it was ready (%v):\n%s", p.name, p.err, p.out.String())
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s not ready after %s:\n%s", p.name, timeout, p.out.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// baseEnv is the environment every child gets: enough to run, nothing of
// the caller's ONBOARDING_* settings.
func baseEnv() []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for _, k := range []string{"TMPDIR", "GOMAXPROCS", "GOGC", "GOMEMLIMIT", "GODEBUG"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}
