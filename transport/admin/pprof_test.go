package admin_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/transport/admin"
	httptransport "github.com/bankkit/onboarding-adapter/transport/http"
)

// mountProfiling serves the admin listener as cmd does with
// ONBOARDING_PPROF_ENABLED set to on.
func mountProfiling(t *testing.T, on bool) string {
	t.Helper()
	clock := memory.NewFakeClock(t0)
	h, err := admin.NewHandler(emptyReviews(clock, openPolicy), admin.Config{
		Users: []admin.User{{Name: alice.user, Password: alice.pass}}, Now: clock.Now, Profiling: on,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httptransport.NewAdminHandler(httptransport.AdminConfig{Extra: h.Routes()}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestProfiling(t *testing.T) {
	on, off := mountProfiling(t, true), mountProfiling(t, false)
	tests := []struct {
		name   string
		base   string
		cred   *cred
		path   string
		status int
	}{
		{"off: index", off, &alice, "/debug/pprof/", http.StatusNotFound},
		{"off: heap", off, &alice, "/debug/pprof/heap", http.StatusNotFound},
		{"off: CPU", off, &alice, "/debug/pprof/profile?seconds=1", http.StatusNotFound},
		{"on, no credentials: index", on, nil, "/debug/pprof/", http.StatusUnauthorized},
		{"on, no credentials: heap", on, nil, "/debug/pprof/heap", http.StatusUnauthorized},
		{"on, no credentials: CPU", on, nil, "/debug/pprof/profile?seconds=1", http.StatusUnauthorized},
		{"on, wrong password: goroutine", on, &cred{alice.user, bob.pass}, "/debug/pprof/goroutine", http.StatusUnauthorized},
		{"on: index", on, &alice, "/debug/pprof/", http.StatusOK},
		{"on: goroutine (text)", on, &alice, "/debug/pprof/goroutine?debug=1", http.StatusOK},
		{"on: cmdline is not served", on, &alice, "/debug/pprof/cmdline", http.StatusNotFound},
		{"on: unknown profile", on, &alice, "/debug/pprof/nothing", http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := doReq(t, tc.base, tc.cred, http.MethodGet, tc.path, "", nil)
			if a.Status != tc.status {
				t.Fatalf("status %d, want %d: %.200s", a.Status, tc.status, a.Body)
			}
			if got := a.Header.Get("Cache-Control"); tc.base == on && got != "no-store" {
				t.Errorf("Cache-Control %q", got)
			}
			if tc.status == http.StatusOK && tc.path == "/debug/pprof/" && !strings.Contains(a.Body, "goroutine") {
				t.Errorf("index lists no profiles: %.300s", a.Body)
			}
			if strings.Contains(tc.path, "cmdline") && strings.Contains(a.Body, "pprof.test") {
				t.Error("the command line was served")
			}
		})
	}
}

// TestProfilingProfilesParse fetches a heap and a one-second CPU profile as
// `go tool pprof` would: gzip-compressed protocol buffers.
func TestProfilingProfilesParse(t *testing.T) {
	base := mountProfiling(t, true)
	for path, sampleType := range map[string]string{"/debug/pprof/heap": "inuse_space", "/debug/pprof/profile?seconds=1": "nanoseconds"} {
		a := doReq(t, base, &alice, http.MethodGet, path, "", nil)
		if a.Status != http.StatusOK {
			t.Fatalf("%s: status %d: %.200s", path, a.Status, a.Body)
		}
		zr, err := gzip.NewReader(bytes.NewReader([]byte(a.Body)))
		if err != nil {
			t.Fatalf("%s: not gzip: %v", path, err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil || len(raw) < 16 {
			t.Fatalf("%s: %d bytes of profile, %v", path, len(raw), err)
		}
		if !bytes.Contains(raw, []byte(sampleType)) {
			t.Errorf("%s: no %q sample type in the profile's string table", path, sampleType)
		}
	}
}
