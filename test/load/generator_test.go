package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// echoServer answers each POST with the length and the first and last
// bytes of the body it read (418 on /teapot; /slow answers only when the
// client has gone, or after 10 s), and 400 when the method, type, length or
// User-Agent is not what the generators send; it counts the connections
// opened. It closes no connection by itself: an idle time-out would also
// close one whose worker a loaded machine did not run for that long, which
// the client then replaces, so the count would depend on the machine.
func echoServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" ||
			r.ContentLength != int64(len(b)) || r.UserAgent() != userAgent {
			http.Error(w, fmt.Sprintf("method %s, type %q, length %d of %d, agent %q, %v", r.Method, r.Header.Get("Content-Type"),
				r.ContentLength, len(b), r.UserAgent(), err), http.StatusBadRequest)
			return
		}
		switch r.URL.Path {
		case "/teapot":
			w.WriteHeader(http.StatusTeapot)
		case "/slow":
			select {
			case <-r.Context().Done():
				return
			case <-time.After(10 * time.Second):
			}
		}
		fmt.Fprintf(w, "%d %s %s", len(b), b[:3], b[len(b)-3:])
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

// TestGenerators: both clients send the three-part body whole, with its
// length, type and the same User-Agent, return the status and answer, keep
// their connections alive within a window (no more than conns), start a
// window after the server closed their idle connections without an error,
// give up on a request at their time-out, and report a server that is gone
// as an error.
func TestGenerators(t *testing.T) {
	for _, kind := range []string{genFast, genNetHTTP} {
		t.Run(kind, func(t *testing.T) {
			srv, conns := echoServer(t)
			// 2 s: no request of these bodies takes that long, even on a
			// loaded machine, but /slow does.
			gen, err := newGenerator(kind, srv.URL, 4, 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer gen.close()
			small := body{[]byte(`{"a":1}`)}
			large := body{[]byte(`{"frame":"`), bytes.Repeat([]byte("A"), 300_000), []byte(`"}`)}
			alternate := func(worker int) bodySource {
				n := 0
				return func() body {
					n++
					if n%2 == 0 {
						return large
					}
					return small
				}
			}
			tally := func(status int, answer []byte) string { return fmt.Sprintf("%d %s", status, answer) }
			w := runWindow(context.Background(), gen, srv.URL+"/x", 4, time.Second, alternate, tally)
			if w.ok < 8 || len(w.errs) != 0 {
				t.Fatalf("%d answered, errors %v (%s)", w.ok, w.errs, w.firstErr)
			}
			if n := conns.Load(); n < 1 || n > 4 {
				t.Errorf("%d connections for 4 workers in a window of %d requests, want 1–4 kept alive", n, w.ok)
			}
			// The server closes the idle connections between windows; the
			// next window starts on new ones, without an error.
			srv.CloseClientConnections()
			before := conns.Load()
			again := runWindow(context.Background(), gen, srv.URL+"/x", 4, 500*time.Millisecond, alternate, tally)
			if again.ok < 4 || len(again.errs) != 0 {
				t.Errorf("a window after the server closed the idle connections: %d answered, errors %v (%s)", again.ok, again.errs, again.firstErr)
			}
			if n := conns.Load() - before; n < 1 || n > 4 {
				t.Errorf("%d new connections in the window after the server closed the old ones, want 1–4", n)
			}
			for k := range w.answers {
				if k != `200 7 {"a :1}` && k != `200 300012 {"f A"}` {
					t.Errorf("answer %q", k)
				}
			}
			if int64(len(w.lat)) != w.ok || len(w.answers) != 2 {
				t.Errorf("%d latencies for %d answers; answers %v", len(w.lat), w.ok, w.answers)
			}

			start := time.Now()
			if status, _, err := gen.worker(context.Background(), srv.URL+"/slow")(small); err == nil || time.Since(start) > 8*time.Second {
				t.Errorf("a request the server does not answer: %d, %v after %v, want an error at the 2 s time-out", status, err, time.Since(start))
			}

			gen.close() // as runWindow does: the server closed the idle ones
			send := gen.worker(context.Background(), srv.URL+"/teapot")
			status, answer, err := send(small)
			if err != nil || status != http.StatusTeapot || string(answer) != `7 {"a :1}` {
				t.Errorf("teapot: %d %q %v", status, answer, err)
			}
			srv.Close()
			if status, _, err := send(small); err == nil {
				t.Errorf("a closed server answered %d", status)
			}
		})
	}
	if _, err := newGenerator("wrk", "http://127.0.0.1:1", 1, time.Second); err == nil || !strings.Contains(err.Error(), "unknown") {
		t.Errorf("an unknown generator: %v", err)
	}
}
