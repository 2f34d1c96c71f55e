package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAdminURL(t *testing.T) {
	for addr, want := range map[string]string{
		"":               "http://127.0.0.1:9090/readyz",
		":9090":          "http://127.0.0.1:9090/readyz",
		":9191":          "http://127.0.0.1:9191/readyz",
		"0.0.0.0:9191":   "http://127.0.0.1:9191/readyz",
		"[::]:9191":      "http://127.0.0.1:9191/readyz",
		"10.0.0.7:9191":  "http://10.0.0.7:9191/readyz",
		"[fd00::7]:9191": "http://[fd00::7]:9191/readyz",
		"not-an-address": "http://127.0.0.1:9090/readyz",
	} {
		if got := adminURL(addr, "/readyz"); got != want {
			t.Errorf("adminURL(%q) = %q, want %q", addr, got, want)
		}
	}
}

// Without --url the healthcheck asks the admin listener that
// ONBOARDING_ADMIN_ADDR names, and fails on anything but 200.
func TestHealthcheckFollowsTheAdminAddress(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" && r.URL.Path != "/livez" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte("ready"))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	var out bytes.Buffer
	if err := runHealthcheck(context.Background(), nil, addr, &out); err != nil || !strings.Contains(out.String(), "ready") {
		t.Fatalf("healthcheck of %s: %v (%q)", addr, err, out.String())
	}
	out.Reset()
	if err := runHealthcheck(context.Background(), []string{"--path", "/livez"}, addr, &out); err != nil || !strings.Contains(out.String(), "/livez") {
		t.Fatalf("healthcheck --path /livez of %s: %v (%q)", addr, err, out.String())
	}
	status = http.StatusServiceUnavailable
	if err := runHealthcheck(context.Background(), nil, addr, &out); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("healthcheck of a 503: %v, want an error naming it", err)
	}
}
