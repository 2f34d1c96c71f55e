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

// echoServer answers each POST with its status header and the length and
// first and last bytes of the body it read, on at most conns connections.
func echoServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" ||
			r.ContentLength != int64(len(b)) {
			http.Error(w, fmt.Sprintf("method %s, type %q, length %d of %d, %v", r.Method, r.Header.Get("Content-Type"),
				r.ContentLength, len(b), err), http.StatusBadRequest)
			return
		}
		if r.URL.Path == "/teapot" {
			w.WriteHeader(http.StatusTeapot)
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
// length and type, return the status and answer, keep their connections
// alive (no more than conns), and report a server that is gone as an error.
func TestGenerators(t *testing.T) {
	for _, kind := range []string{genFast, genNetHTTP} {
		t.Run(kind, func(t *testing.T) {
			srv, conns := echoServer(t)
			gen, err := newGenerator(kind, srv.URL, 4)
			if err != nil {
				t.Fatal(err)
			}
			defer gen.close()
			small := body{[]byte(`{"a":1}`)}
			large := body{[]byte(`{"frame":"`), bytes.Repeat([]byte("A"), 300_000), []byte(`"}`)}
			w := runWindow(context.Background(), gen, srv.URL+"/x", 4, time.Second, func(worker int) bodySource {
				n := 0
				return func() body {
					n++
					if n%2 == 0 {
						return large
					}
					return small
				}
			}, func(status int, answer []byte) string { return fmt.Sprintf("%d %s", status, answer) })
			if w.ok < 8 || len(w.errs) != 0 {
				t.Fatalf("%d answered, errors %v (%s)", w.ok, w.errs, w.firstErr)
			}
			for k := range w.answers {
				if k != `200 7 {"a :1}` && k != `200 300012 {"f A"}` {
					t.Errorf("answer %q", k)
				}
			}
			if int64(len(w.lat)) != w.ok || len(w.answers) != 2 {
				t.Errorf("%d latencies for %d answers; answers %v", len(w.lat), w.ok, w.answers)
			}
			if n := conns.Load(); n < 1 || n > 4 {
				t.Errorf("%d connections for 4 workers over %d requests, want 1–4 kept alive", n, w.ok)
			}

			send := gen.worker(srv.URL + "/teapot")
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
	if _, err := newGenerator("wrk", "http://127.0.0.1:1", 1); err == nil || !strings.Contains(err.Error(), "unknown") {
		t.Errorf("an unknown generator: %v", err)
	}
}
