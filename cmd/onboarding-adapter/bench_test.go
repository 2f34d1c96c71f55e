package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	apptelemetry "github.com/bankkit/onboarding-adapter/adapters/telemetry"
)

// discardExporter stands in for a collector: the spans go through the batch
// processor (as with OTEL_TRACES_EXPORTER=otlp) and are dropped there.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// benchAPI builds the API exactly as serve does (in-memory demo adapters,
// the JSON logger wrapped in the redacting handler, otelhttp and the
// endpoint middleware) on the given OTEL_* variables and span processors.
func benchAPI(b *testing.B, env map[string]string, procs ...sdktrace.SpanProcessor) http.Handler {
	b.Helper()
	logger := slog.New(apptelemetry.NewLogHandler(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))).
		With("service", serviceName, "version", "bench")
	app, tel, cfg := buildForTest(b, map[string]string{}, env, logger, procs...)
	h, err := newAPIHandler(app.services, cfg, logger, tel)
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// benchRequests are small requests of the harness's kind against the demo
// data; body makes the n-th body (fresh process and verification ids, so
// every decision is really made and stored).
var benchRequests = []struct {
	name, path string
	body       func(n int) string
}{
	{"lookup", "/user/lookup", func(n int) string {
		return `{"processId":"bench-` + strconv.Itoa(n) + `","processType":"DEFAULT","identification":{"clientNumber":"1000001","birthDate":"1985-04-12"}}`
	}},
	{"consent-text", "/consent/text", func(n int) string {
		return `{"processId":"bench-` + strconv.Itoa(n) + `","processType":"DEFAULT","userId":"u-1000001","consentType":"GDPR","language":"cs"}`
	}},
	{"consent-storage", "/consent/storage", func(n int) string {
		return `{"processId":"bench-` + strconv.Itoa(n) + `","processType":"DEFAULT","userId":"u-1000001","consentType":"GDPR","approved":true}`
	}},
	{"approve", "/client/approve", func(n int) string {
		return `{"processId":"bench-` + strconv.Itoa(n) + `","processType":"DEFAULT","userId":"u-1000001","identityVerificationId":"iv-` +
			strconv.Itoa(n) + `","provider":"iProov","status":"SUCCESS","score":8.5}`
	}},
}

// benchTraceparent is a sampled caller trace, as the Onboarding Server sends
// when its own tracing is on.
const benchTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// BenchmarkAPI drives the wired handler (no network) with small requests
// under each telemetry set-up:
//
//   - default: OTEL_* unset (no exporter), what make run and the harness use;
//   - default-traceparent: the same with a caller's sampled traceparent;
//   - exporter: spans recorded and batched to an exporter that drops them
//     (the cost of OTEL_TRACES_EXPORTER=otlp minus the network);
//   - always_off: an explicit sampler that never samples.
//
// go test -run '^$' -bench API -benchmem ./cmd/onboarding-adapter/
func BenchmarkAPI(b *testing.B) {
	setups := []struct {
		name        string
		env         map[string]string
		traceparent bool
		exporter    bool
	}{
		{"default", map[string]string{}, false, false},
		{"default-traceparent", map[string]string{}, true, false},
		{"exporter", map[string]string{}, false, true},
		{"always_off", map[string]string{"OTEL_TRACES_SAMPLER": "always_off"}, false, false},
	}
	for _, s := range setups {
		b.Run(s.name, func(b *testing.B) {
			var procs []sdktrace.SpanProcessor
			if s.exporter {
				procs = append(procs, sdktrace.NewBatchSpanProcessor(discardExporter{}))
			}
			h := benchAPI(b, s.env, procs...)
			for _, r := range benchRequests {
				b.Run(r.name, func(b *testing.B) {
					benchServe(b, h, r.path, r.body, s.traceparent)
				})
			}
		})
	}
}

// benchServe sends one request per iteration straight to the handler.
func benchServe(b *testing.B, h http.Handler, path string, body func(int) string, traceparent bool) {
	b.Helper()
	bodies := make([][]byte, 1024)
	for n := range bodies {
		bodies[n] = []byte(body(n))
	}
	var rec recorder
	b.ReportAllocs()
	n := 0
	cpu0 := processCPU(b)
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(bodies[n%len(bodies)]))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Correlation-Id", "bench-correlation")
		req.Header.Set("X-Request-Id", "bench-request")
		if traceparent {
			req.Header.Set("Traceparent", benchTraceparent)
		}
		rec.reset()
		h.ServeHTTP(&rec, req)
		if rec.status != http.StatusOK {
			b.Fatalf("%s: %d %s", path, rec.status, rec.body.String())
		}
		n++
	}
	// The machine is shared: wall time per op moves with the neighbours'
	// load, the process's own CPU time (GC included) much less.
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is the user and system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// recorder is a reusable ResponseWriter, so the benchmark measures the
// service rather than httptest.ResponseRecorder's allocations.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	once   sync.Once
}

func (r *recorder) reset() {
	r.once.Do(func() { r.header = http.Header{} })
	clear(r.header)
	r.status = 0
	r.body.Reset()
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(p)
}
