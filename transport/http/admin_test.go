package httptransport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
)

func TestAdmin(t *testing.T) {
	tests := []struct {
		name        string
		ready       func(context.Context) error
		method      string
		path        string
		status      int
		contentType string
		body        string // exact JSON, or a prefix for the spec
	}{
		{"livez", nil, http.MethodGet, "/livez", 200, "application/json", `{"status":"ok"}`},
		{"livez even when not ready", func(context.Context) error { return errors.New("db down") }, http.MethodGet, "/livez", 200, "application/json", `{"status":"ok"}`},
		{"readyz without check", nil, http.MethodGet, "/readyz", 200, "application/json", `{"status":"ready"}`},
		{"readyz ready", func(context.Context) error { return nil }, http.MethodGet, "/readyz", 200, "application/json", `{"status":"ready"}`},
		{"readyz domain error shows its message", func(context.Context) error {
			return domain.Unavailable(errors.New("dial tcp 10.0.0.5:5432"), "database unavailable")
		}, http.MethodGet, "/readyz", 503, "application/json", `{"status":"not ready","reason":"database unavailable"}`},
		{"readyz other error is masked", func(context.Context) error {
			return errors.New("postgres://bank:hunter2@10.0.0.5/db refused")
		}, http.MethodGet, "/readyz", 503, "application/json", `{"status":"not ready","reason":"dependency not ready"}`},
		{"readyz hanging check times out", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
			http.MethodGet, "/readyz", 503, "application/json", `{"status":"not ready","reason":"dependency not ready"}`},
		{"openapi", nil, http.MethodGet, "/openapi.yaml", 200, "application/yaml", "openapi: 3.0.3"},
		{"no API routes", nil, http.MethodPost, "/user/lookup", 404, "application/json", `{"errorCode":"ERROR_GENERIC","message":"not found"}`},
		{"405 JSON", nil, http.MethodPost, "/livez", 405, "application/json", `{"errorCode":"ERROR_GENERIC","message":"method not allowed"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncBuffer
			h := NewAdminHandler(AdminConfig{Ready: tt.ready, ReadyTimeout: 50 * time.Millisecond, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, strings.NewReader("{}")))
			if rec.Code != tt.status {
				t.Fatalf("status %d %s, want %d", rec.Code, rec.Body, tt.status)
			}
			if ct := rec.Header().Get("Content-Type"); ct != tt.contentType {
				t.Errorf("Content-Type %q, want %q", ct, tt.contentType)
			}
			if got := strings.TrimSpace(rec.Body.String()); !strings.HasPrefix(got, tt.body) || (tt.contentType == "application/json" && got != tt.body) {
				t.Errorf("body %q, want %q", got, tt.body)
			}
			if strings.Contains(rec.Body.String(), "hunter2") || strings.Contains(rec.Body.String(), "10.0.0.5") {
				t.Errorf("readiness detail leaked: %s", rec.Body)
			}
			if tt.status == 503 && !strings.Contains(logs.String(), "not ready") {
				t.Errorf("readiness failure not logged")
			}
		})
	}
}

func TestAdminServesSpecAndExtra(t *testing.T) {
	h := NewAdminHandler(AdminConfig{Extra: map[string]http.Handler{
		"GET /metrics": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "up 1\n") }),
	}})
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if string(b) != string(OpenAPISpec()) {
		t.Errorf("served spec differs from OpenAPISpec()")
	}
	res, err = http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(res.Body)
	_ = res.Body.Close()
	if res.StatusCode != 200 || string(b) != "up 1\n" {
		t.Errorf("extra handler: %d %q", res.StatusCode, b)
	}
}

func TestAPIDoesNotServeAdminRoutes(t *testing.T) {
	h := newHarness(t, nil, nil)
	for _, p := range []string{"/livez", "/readyz", "/openapi.yaml", "/metrics"} {
		res := h.do(http.MethodGet, p, "")
		var e errorBody
		if res.status != 404 || json.Unmarshal(res.body, &e) != nil || e.Message != "not found" {
			t.Errorf("GET %s on the API: %d %s, want 404", p, res.status, res.body)
		}
	}
}

// TestNotReadyLoggedOncePerReason: a readiness failure is logged when its
// reason changes or after readiness came back, and a repeated one at most
// every notReadyLogEvery with the count of those left out.
func TestNotReadyLoggedOncePerReason(t *testing.T) {
	var logs bytes.Buffer
	l := &notReadyLog{logger: slog.New(slog.NewJSONHandler(&logs, nil))}
	clock := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return clock }
	ctx, down := context.Background(), errors.New("dial tcp: connection refused")
	count := func() int { return strings.Count(logs.String(), `"msg":"not ready"`) }
	for range 5 {
		l.log(ctx, "database unavailable", down)
	}
	if n := count(); n != 1 {
		t.Fatalf("5 failures with one reason logged %d times, want 1", n)
	}
	lastLine := func() string {
		lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
		return lines[len(lines)-1]
	}
	l.log(ctx, "shutting down", down)
	if n := count(); n != 2 || strings.Contains(lastLine(), "suppressed") || !strings.Contains(lastLine(), `"reason":"shutting down"`) {
		t.Fatalf("a new reason: %d lines, want 2, the last naming it without the other reason's count:\n%s", n, logs.String())
	}
	l.log(ctx, "shutting down", down) // suppressed: within the window
	clock = clock.Add(notReadyLogEvery)
	l.log(ctx, "shutting down", down)
	if n := count(); n != 3 || !strings.Contains(lastLine(), `"suppressed_since_last_log":1`) {
		t.Fatalf("after %v: %d lines, want 3, the last counting the one left out:\n%s", notReadyLogEvery, n, logs.String())
	}
	l.log(ctx, "shutting down", down) // suppressed again
	l.clear()
	l.log(ctx, "shutting down", down)
	if n := count(); n != 4 || strings.Contains(lastLine(), "suppressed") {
		t.Fatalf("after being ready again: %d lines, want 4, the last without the earlier outage's count:\n%s", n, logs.String())
	}
}
