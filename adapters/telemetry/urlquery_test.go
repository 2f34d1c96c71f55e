package telemetry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/bankkit/onboarding-adapter/adapters/telemetry"
)

// The gateway receives the real query; the client span records the URL
// with its values redacted.
func TestHideURLQuery(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.RawQuery
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	client := &http.Client{Transport: telemetry.HideURLQuery(http.DefaultTransport, func(next http.RoundTripper) http.RoundTripper {
		return otelhttp.NewTransport(next, otelhttp.WithTracerProvider(tp))
	})}
	for _, path := range []string{"/sms?api_key=s3cret-key&v=2", "/sms"} {
		rec.Reset()
		resp, err := client.Post(srv.URL+path, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := strings.TrimPrefix(strings.TrimPrefix(path, "/sms"), "?"); got != want {
			t.Errorf("%s: the gateway got query %q, want %q", path, got, want)
		}
		spans := rec.Ended()
		if len(spans) != 1 {
			t.Fatalf("%s: %d spans, want the client's one", path, len(spans))
		}
		var full string
		for _, kv := range spans[0].Attributes() {
			if strings.Contains(kv.Value.String(), "s3cret") {
				t.Errorf("%s: attribute %s carries the key: %q", path, kv.Key, kv.Value.String())
			}
			if kv.Key == "url.full" {
				full = kv.Value.AsString()
			}
		}
		want := srv.URL + "/sms"
		if strings.Contains(path, "?") {
			want += "?api_key=REDACTED&v=REDACTED"
		}
		if full != want {
			t.Errorf("%s: url.full %q, want %q", path, full, want)
		}
	}
}
