package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"
)

// server is an HTTP target of the load generator: the service in one mode
// or the ceiling, a process of its own whose CPU and memory the harness
// reads from /proc.
type server struct {
	name    string
	api     string // base URL of the API
	admin   string // base URL of the readiness check
	p       *proc
	ready   []time.Duration // time to ready of each start, the last one is the running process
	idleKB  int64           // VmRSS a second after ready, before any load
	env     []string
	binary  string
	args    []string
	started time.Time
	// portArgs, when set, are the arguments naming the API port (a server
	// other than this service and the ceiling); the API then also serves
	// the readiness check at readyPath (default /readyz).
	portArgs  func(port string) []string
	readyPath string
}

// start runs the process and waits for readiness, recording the time.
func (s *server) start(ctx context.Context) error {
	apiAddr, err := freeAddr()
	if err != nil {
		return err
	}
	adminAddr, err := freeAddr()
	if err != nil {
		return err
	}
	env := append(slices.Clip(s.env), "ONBOARDING_HTTP_ADDR="+apiAddr, "ONBOARDING_ADMIN_ADDR="+adminAddr)
	args := s.args
	switch {
	case s.name == ceilingName:
		args = append(slices.Clip(args), "-serve-ceiling", apiAddr)
		adminAddr = apiAddr
	case s.portArgs != nil:
		_, port, err := net.SplitHostPort(apiAddr)
		if err != nil {
			return err
		}
		args = append(slices.Clip(args), s.portArgs(port)...)
		adminAddr = apiAddr
	}
	readyPath := s.readyPath
	if readyPath == "" {
		readyPath = "/readyz"
	}
	s.api, s.admin = "http://"+apiAddr, "http://"+adminAddr
	s.started = time.Now()
	p, err := startProc(s.name, s.binary, args, env)
	if err != nil {
		return err
	}
	s.p = p
	d, err := waitReady(ctx, p, s.admin+readyPath, s.started, 30*time.Second)
	if err != nil {
		_ = p.stop(5 * time.Second)
		return err
	}
	s.ready = append(s.ready, d)
	return nil
}

// startMeasured starts the server samples times (stopping all but the last)
// so the time to ready is a median, then records the idle RSS.
func (s *server) startMeasured(ctx context.Context, samples int) error {
	for i := 0; i < samples; i++ {
		if err := s.start(ctx); err != nil {
			return err
		}
		if i < samples-1 {
			if err := s.p.stop(30 * time.Second); err != nil {
				return err
			}
		}
	}
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	st, err := readProcStats(s.p.pid())
	if err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	s.idleKB = st.rssKB
	return nil
}

func (s *server) stop() error {
	if s.p == nil {
		return nil
	}
	return s.p.stop(30 * time.Second)
}

func (s *server) stats() (procStats, error) {
	if s.p == nil || s.p.exited() {
		return procStats{}, fmt.Errorf("%s is not running", s.name)
	}
	return readProcStats(s.p.pid())
}

// readyMedian is the median time to ready over the starts.
func (s *server) readyMedian() time.Duration {
	if len(s.ready) == 0 {
		return 0
	}
	r := slices.Clone(s.ready)
	slices.Sort(r)
	return r[len(r)/2]
}

const ceilingName = "ceiling"

// serveCeiling is the child mode: a bare net/http server that reads each
// body fully and answers the fixed JSON the real service gave to the same
// route (same shape and size), the upper bound any handler on this machine
// can reach with the same load generator.
func serveCeiling(addr, responsesFile string) error {
	raw, err := os.ReadFile(responsesFile)
	if err != nil {
		return err
	}
	var responses map[string]string
	if err := json.Unmarshal(raw, &responses); err != nil {
		return fmt.Errorf("%s: %w", responsesFile, err)
	}
	mux := http.NewServeMux()
	for path, body := range responses {
		b := []byte(body)
		mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(b)
		})
	}
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ready"}`)
	})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 2 * time.Second,
		IdleTimeout:       90 * time.Second,
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	go func() {
		<-sig
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
