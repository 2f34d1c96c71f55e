package test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// binary is the service built once for every black-box test.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "onboarding-adapter-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "onboarding-adapter")
	build := exec.Command("go", "build", "-o", binary, "./cmd/onboarding-adapter")
	build.Dir = ".."
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the binary:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer collects the service's log output from its stderr.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Lines returns the JSON log lines decoded.
func (s *syncBuffer) Lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Errorf("log line is not JSON: %q", sc.Text())
			continue
		}
		out = append(out, m)
	}
	return out
}

// service is a running binary.
type service struct {
	API, Admin string // base URLs, API including the base path
	Logs       *syncBuffer
	cmd        *exec.Cmd
	done       chan error
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startService runs the binary with env (on top of fresh ports and JSON
// logs) and waits until /readyz answers 200.
func startService(t *testing.T, env map[string]string) *service {
	t.Helper()
	apiAddr, adminAddr := freePort(t), freePort(t)
	full := map[string]string{
		"ONBOARDING_HTTP_ADDR":  apiAddr,
		"ONBOARDING_ADMIN_ADDR": adminAddr,
		"ONBOARDING_LOG_LEVEL":  "debug",
		"ONBOARDING_LOG_FORMAT": "json",
	}
	for k, v := range env {
		full[k] = v
	}
	cmd := exec.Command(binary, "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range full {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logs := &syncBuffer{}
	cmd.Stderr = logs
	cmd.Stdout = logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the binary: %v", err)
	}
	s := &service{
		API:   "http://" + apiAddr + full["ONBOARDING_BASE_PATH"],
		Admin: "http://" + adminAddr,
		Logs:  logs,
		cmd:   cmd,
		done:  make(chan error, 1),
	}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		s.Stop(t)
		if t.Failed() {
			t.Logf("service logs:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("service exited before it was ready: %v\n%s", err, logs.String())
		default:
		}
		resp, err := http.Get(s.Admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("service not ready after 15s\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop sends SIGTERM and waits for a clean exit.
func (s *service) Stop(t *testing.T) {
	t.Helper()
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-s.done:
		s.done <- err
		if err != nil {
			t.Errorf("service exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		t.Errorf("service did not stop within 30s")
	}
}

// reply is one HTTP answer.
type reply struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// call POSTs body as JSON with the given headers.
func call(t *testing.T, url string, body any, headers map[string]string) reply {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := reply{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			t.Fatalf("POST %s: answer is not a JSON object: %q", url, raw)
		}
	}
	return r
}
