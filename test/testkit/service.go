package testkit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// LogBuffer collects the service's log output from its stderr. It is safe
// for the process's writes and the test's reads at once.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *LogBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *LogBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Lines returns the JSON log lines decoded; a line that is not JSON fails
// the test, since the service promises JSON logs.
func (s *LogBuffer) Lines(t testing.TB) []map[string]any {
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

// Service is a running binary.
type Service struct {
	API, Admin string // base URLs, API including the base path
	APIAddr    string // host:port of the API listener
	// RedisKeyPrefix is the service's ONBOARDING_REDIS_KEY_PREFIX when it
	// runs against Redis: an operator subcommand acting on its cache needs
	// the same one.
	RedisKeyPrefix string
	Logs           *LogBuffer
	cmd            *exec.Cmd
	done           chan error
}

// FreePort returns a loopback host:port nobody listens on right now.
func FreePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// StartService runs binary serve with env (on top of fresh ports and JSON
// debug logs) and waits until /readyz answers 200. The service is stopped
// (SIGINT, clean exit expected) when t ends, and its logs are printed when
// t failed. A port taken between FreePort and the service's bind (parallel
// tests) is retried with new ports. A service given ONBOARDING_REDIS_URL
// without ONBOARDING_REDIS_KEY_PREFIX gets a prefix of its own
// (NewRedisKeyPrefix), so no other service started by a test shares its
// keys.
func StartService(t testing.TB, binary string, env map[string]string) *Service {
	t.Helper()
	return startUntil(t, binary, env, "/readyz")
}

// StartServiceListening is StartService, returning as soon as the admin
// listener answers /livez: for tests of a service that is not ready.
func StartServiceListening(t testing.TB, binary string, env map[string]string) *Service {
	t.Helper()
	return startUntil(t, binary, env, "/livez")
}

func startUntil(t testing.TB, binary string, env map[string]string, probe string) *Service {
	t.Helper()
	if url := env["ONBOARDING_REDIS_URL"]; url != "" && env[EnvRedisKeyPrefix] == "" {
		env = maps.Clone(env)
		env[EnvRedisKeyPrefix] = NewRedisKeyPrefix(t, url)
	}
	for attempt := 1; ; attempt++ {
		s, err := startService(t, binary, env, probe)
		if err == nil {
			return s
		}
		if attempt < 5 && strings.Contains(s.Logs.String(), "address already in use") {
			continue
		}
		t.Fatalf("%v\n%s", err, s.Logs.String())
	}
}

func startService(t testing.TB, binary string, env map[string]string, probe string) (*Service, error) {
	t.Helper()
	apiAddr, adminAddr := FreePort(t), FreePort(t)
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
	logs := &LogBuffer{}
	cmd.Stderr = logs
	cmd.Stdout = logs
	s := &Service{
		API:     "http://" + apiAddr + full["ONBOARDING_BASE_PATH"],
		Admin:   "http://" + adminAddr,
		APIAddr: apiAddr,
		Logs:    logs,
		cmd:     cmd,
		done:    make(chan error, 1),
	}
	if full["ONBOARDING_REDIS_URL"] != "" {
		s.RedisKeyPrefix = full[EnvRedisKeyPrefix]
	}
	if err := cmd.Start(); err != nil {
		return s, fmt.Errorf("starting the binary: %w", err)
	}
	go func() { s.done <- cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-s.done:
			s.done <- err
			return s, fmt.Errorf("service exited before it was ready: %v", err)
		default:
		}
		resp, err := http.Get(s.Admin + probe)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Cleanup(func() {
					s.Stop(t)
					if t.Failed() {
						t.Logf("service logs:\n%s", logs.String())
					}
				})
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-s.done
			return s, fmt.Errorf("service: %s not 200 after 15s", probe)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Terminate sends SIGTERM, as Kubernetes does, and returns at once.
func (s *Service) Terminate(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
}

// Wait waits up to timeout for the process to exit and returns its exit
// error (nil for status 0).
func (s *Service) Wait(timeout time.Duration) error {
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(timeout):
		return errors.New("the service did not exit within " + timeout.String())
	}
}

// Stop sends SIGINT and waits for a clean exit; a service already gone is
// left alone.
func (s *Service) Stop(t testing.TB) {
	t.Helper()
	select {
	case err := <-s.done: // exited already (e.g. after Terminate or an earlier Stop)
		s.done <- err
		if err != nil {
			t.Errorf("service exited with %v", err)
		}
		return
	default:
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

// PID is the service's process id, to prove it was not restarted.
func (s *Service) PID() int { return s.cmd.Process.Pid }
