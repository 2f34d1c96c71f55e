package telemetry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/bankkit/onboarding-adapter/domain"
)

func setup(t *testing.T, env map[string]string, procs ...sdktrace.SpanProcessor) *Telemetry {
	t.Helper()
	tel, err := Setup(context.Background(), Config{ServiceName: "onboarding-adapter", Version: "1.2.3", Environ: env, SpanProcessors: procs})
	if err != nil {
		t.Fatalf("Setup(%v): %v", env, err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return tel
}

// scrape returns the /metrics text.
func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics answered %d: %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func TestSetupRejectsBadVariables(t *testing.T) {
	tests := []struct {
		env     map[string]string
		wantVar string
	}{
		{map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp,"}, "OTEL_TRACES_EXPORTER"},
		{map[string]string{"OTEL_TRACES_SAMPLER": "sometimes"}, "OTEL_TRACES_SAMPLER"},
		{map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"}, "OTEL_TRACES_SAMPLER_ARG"},
		{map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"}, "OTEL_TRACES_SAMPLER_ARG"},
		{map[string]string{"OTEL_PROPAGATORS": "b3"}, "OTEL_PROPAGATORS"},
		{map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "team"}, "OTEL_RESOURCE_ATTRIBUTES"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://c/v1/traces"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_HEADERS": "api-key-s3cr3t"}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TIMEOUT": "10s"}, "OTEL_EXPORTER_OTLP_TIMEOUT"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, "OTEL_EXPORTER_OTLP_COMPRESSION"},
	}
	for _, tt := range tests {
		t.Run(tt.wantVar, func(t *testing.T) {
			_, err := Setup(context.Background(), Config{ServiceName: "s", Environ: tt.env})
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantVar+":") && !strings.HasPrefix(err.Error(), tt.wantVar+"=") {
				t.Fatalf("error %v, want one naming %s", err, tt.wantVar)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("the error quotes a header value: %v", err)
			}
		})
	}
}

func TestSamplers(t *testing.T) {
	remote := func(sampled bool) context.Context {
		tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
		sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
		var flags trace.TraceFlags
		if sampled {
			flags = trace.FlagsSampled
		}
		return trace.ContextWithRemoteSpanContext(context.Background(),
			trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: flags, Remote: true}))
	}
	tests := []struct {
		name        string
		sampler     string
		arg         string
		ctx         context.Context
		kind        trace.SpanKind
		wantSampled bool
	}{
		{"default samples a request", "", "", context.Background(), trace.SpanKindServer, true},
		{"default follows an unsampled caller", "", "", remote(false), trace.SpanKindServer, false},
		{"default follows a sampled caller", "", "", remote(true), trace.SpanKindServer, true},
		{"background client span is never a root", "", "", context.Background(), trace.SpanKindClient, false},
		{"background internal span is never a root", "always_on", "", context.Background(), trace.SpanKindInternal, false},
		{"always_off", "always_off", "", remote(true), trace.SpanKindServer, false},
		{"always_on ignores the caller", "always_on", "", remote(false), trace.SpanKindServer, true},
		{"ratio 0", "traceidratio", "0", context.Background(), trace.SpanKindServer, false},
		{"parent-based ratio 0 follows a sampled caller", "parentbased_traceidratio", "0", remote(true), trace.SpanKindServer, true},
		{"parentbased_always_off", "parentbased_always_off", "", context.Background(), trace.SpanKindServer, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A span processor stands for an exporter: with nothing
			// exported and no sampler set, nothing is sampled at all
			// (TestUntracedDefault).
			tel := setup(t, map[string]string{"OTEL_TRACES_SAMPLER": tt.sampler, "OTEL_TRACES_SAMPLER_ARG": tt.arg}, tracetest.NewSpanRecorder())
			if !tel.Recording() {
				t.Fatal("the SDK is not used although a span processor is configured")
			}
			_, span := tel.TracerProvider().Tracer("t").Start(tt.ctx, "s", trace.WithSpanKind(tt.kind))
			defer span.End()
			sc := span.SpanContext()
			if sc.IsSampled() != tt.wantSampled {
				t.Errorf("sampled %v, want %v", sc.IsSampled(), tt.wantSampled)
			}
			if !sc.IsValid() {
				t.Errorf("an unsampled span must still have ids for the logs")
			}
		})
	}
}

// remoteContext holds the caller's span context as the propagator leaves it.
func remoteContext(traceID, spanID string, sampled bool) context.Context {
	tid, _ := trace.TraceIDFromHex(traceID)
	sid, _ := trace.SpanIDFromHex(spanID)
	var flags trace.TraceFlags
	if sampled {
		flags = trace.FlagsSampled
	}
	return trace.ContextWithRemoteSpanContext(context.Background(),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: flags, Remote: true}))
}

func TestUntracedDefault(t *testing.T) {
	const callerTrace, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	tests := []struct {
		name          string
		env           map[string]string
		procs         []sdktrace.SpanProcessor
		wantRecording bool
	}{
		{"nothing set: untraced", map[string]string{}, nil, false},
		{"exporter none: untraced", map[string]string{"OTEL_TRACES_EXPORTER": "none"}, nil, false},
		{"exporter none twice: untraced", map[string]string{"OTEL_TRACES_EXPORTER": "none, NONE"}, nil, false},
		{"console exporter records", map[string]string{"OTEL_TRACES_EXPORTER": "console"}, nil, true},
		{"a span processor records", map[string]string{}, []sdktrace.SpanProcessor{tracetest.NewSpanRecorder()}, true},
		{"an explicit sampler keeps the SDK", map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_always_on"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel, err := Setup(context.Background(), Config{ServiceName: "s", Environ: tt.env, SpanProcessors: tt.procs, ConsoleWriter: io.Discard})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
			if tel.Recording() != tt.wantRecording {
				t.Fatalf("Recording() = %v, want %v", tel.Recording(), tt.wantRecording)
			}
			_, span := tel.TracerProvider().Tracer("t").Start(context.Background(), "POST", trace.WithSpanKind(trace.SpanKindServer))
			defer span.End()
			if span.IsRecording() != tt.wantRecording {
				t.Errorf("server span recording %v, want %v", span.IsRecording(), tt.wantRecording)
			}
			if !span.SpanContext().IsValid() {
				t.Errorf("a request's server span has no ids for the logs")
			}
			if !tt.wantRecording && !strings.Contains(tel.LogValue().String(), "not recorded") {
				t.Errorf("the start-up summary does not say spans are not recorded: %s", tel.LogValue())
			}
		})
	}

	tracer := setup(t, nil).TracerProvider().Tracer("t")
	server := trace.WithSpanKind(trace.SpanKindServer)
	t.Run("a request without traceparent gets fresh unsampled ids, shared by its child spans", func(t *testing.T) {
		ctx, root := tracer.Start(context.Background(), "POST", server)
		_, other := tracer.Start(context.Background(), "POST", server)
		sc := root.SpanContext()
		if !sc.IsValid() || sc.IsSampled() || sc.IsRemote() || root.IsRecording() {
			t.Fatalf("root %+v recording %v: want valid, local, unsampled, not recording", sc, root.IsRecording())
		}
		if other.SpanContext().TraceID() == sc.TraceID() || other.SpanContext().SpanID() == sc.SpanID() {
			t.Errorf("two requests share ids: %s/%s", sc.TraceID(), sc.SpanID())
		}
		cctx, child := tracer.Start(ctx, "client_approve")
		child.SetAttributes(attribute.String("k", "v"))
		child.End()
		if !child.SpanContext().Equal(sc) || !trace.SpanContextFromContext(cctx).Equal(sc) {
			t.Errorf("child span context %+v, want the request's %+v", child.SpanContext(), sc)
		}
		if got := trace.SpanContextFromContext(ctx); !got.Equal(sc) {
			t.Errorf("context holds %+v after the child ended, want %+v", got, sc)
		}
	})
	t.Run("a caller's traceparent is continued as it is", func(t *testing.T) {
		for _, sampled := range []bool{true, false} {
			ctx, span := tracer.Start(remoteContext(callerTrace, callerSpan, sampled), "POST", server)
			_, child := tracer.Start(ctx, "registry.FindClient")
			for _, sc := range []trace.SpanContext{span.SpanContext(), child.SpanContext(), trace.SpanContextFromContext(ctx)} {
				if sc.TraceID().String() != callerTrace || sc.SpanID().String() != callerSpan || sc.IsSampled() != sampled {
					t.Errorf("sampled caller %v: span context %s/%s sampled %v, want the caller's", sampled, sc.TraceID(), sc.SpanID(), sc.IsSampled())
				}
			}
			out := http.Header{}
			tel := setup(t, nil)
			tel.Propagator().Inject(ctx, propagation.HeaderCarrier(out))
			want := "00-" + callerTrace + "-" + callerSpan + "-00"
			if sampled {
				want = want[:len(want)-1] + "1"
			}
			if got := out.Get("traceparent"); got != want {
				t.Errorf("downstream traceparent %q, want %q", got, want)
			}
		}
	})
	t.Run("work outside a request gets no ids", func(t *testing.T) {
		for _, kind := range []trace.SpanKind{trace.SpanKindClient, trace.SpanKindInternal} {
			ctx, span := tracer.Start(context.Background(), "connect", trace.WithSpanKind(kind))
			if span.SpanContext().IsValid() || trace.SpanContextFromContext(ctx).IsValid() {
				t.Errorf("%v span outside a request has ids", kind)
			}
			span.End()
		}
	})
	t.Run("a recording span of another provider is never handed out", func(t *testing.T) {
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		defer func() { _ = tp.Shutdown(context.Background()) }()
		ctx, foreign := tp.Tracer("other").Start(context.Background(), "foreign")
		_, span := tracer.Start(ctx, "child")
		span.End()
		if len(rec.Ended()) != 0 {
			t.Fatalf("ending the untraced child ended the foreign span")
		}
		if span.IsRecording() || !span.SpanContext().Equal(foreign.SpanContext()) {
			t.Errorf("child %+v recording %v, want a non-recording copy of the foreign span context", span.SpanContext(), span.IsRecording())
		}
		foreign.End()
	})
	t.Run("child spans cost no allocation", func(t *testing.T) {
		ctx, root := tracer.Start(context.Background(), "POST", server)
		defer root.End()
		opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)} // built once, as callers do
		if n := testing.AllocsPerRun(100, func() {
			_, span := tracer.Start(ctx, "registry.FindClient", opts...)
			span.End()
		}); n != 0 {
			t.Errorf("a child span allocates %v times", n)
		}
	})
}

func TestPropagator(t *testing.T) {
	tests := []struct {
		env         string
		wantBaggage bool
	}{
		{"", false},
		{"tracecontext,baggage", true},
	}
	for _, tt := range tests {
		tel := setup(t, map[string]string{"OTEL_PROPAGATORS": tt.env})
		h := http.Header{}
		h.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		h.Set("baggage", "userId=u-1")
		ctx := tel.Propagator().Extract(context.Background(), propagation.HeaderCarrier(h))
		if !trace.SpanContextFromContext(ctx).IsValid() {
			t.Errorf("%q: traceparent not extracted", tt.env)
		}
		out := http.Header{}
		tel.Propagator().Inject(ctx, propagation.HeaderCarrier(out))
		if got := out.Get("baggage") != ""; got != tt.wantBaggage {
			t.Errorf("%q: baggage propagated %v, want %v", tt.env, got, tt.wantBaggage)
		}
	}
}

// collector is a fake OTLP/HTTP receiver.
type collector struct {
	mu      sync.Mutex
	paths   []string
	headers []http.Header
	bodies  [][]byte
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.paths = append(c.paths, r.URL.Path)
	c.headers = append(c.headers, r.Header.Clone())
	c.bodies = append(c.bodies, b)
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

func TestOTLPExportFlushedOnShutdown(t *testing.T) {
	tests := []struct {
		name     string
		env      func(url string) map[string]string
		wantPath string
	}{
		{"base endpoint gets the signal path", func(u string) map[string]string {
			return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": u + "/otel/"}
		}, "/otel/v1/traces"},
		{"signal endpoint is used as it is", func(u string) map[string]string {
			return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": u + "/ignored", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": u + "/custom/traces"}
		}, "/custom/traces"},
		{"credentials in the URL stay out of the summary", func(u string) map[string]string {
			return map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": strings.Replace(u, "://", "://usr:pwsecret@", 1) + "/v1/traces?token=qsecret#fsecret"}
		}, "/v1/traces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &collector{}
			srv := httptest.NewServer(c)
			defer srv.Close()
			env := tt.env(srv.URL)
			env["OTEL_TRACES_EXPORTER"] = "otlp"
			env["OTEL_EXPORTER_OTLP_HEADERS"] = "x-api-key=abc%20def,x-tenant=bank"
			env["OTEL_SERVICE_NAME"] = "onboarding-adapter-test"
			tel, err := Setup(context.Background(), Config{ServiceName: "s", Version: "1", Environ: env})
			if err != nil {
				t.Fatal(err)
			}
			if v := tel.LogValue().String(); strings.Contains(v, "abc") || strings.Contains(v, "secret") || !strings.Contains(v, "otlp") {
				t.Errorf("summary %s shows a header or a credential, or lacks the exporter", v)
			}
			_, span := tel.TracerProvider().Tracer("t").Start(context.Background(), "POST /client/approve", trace.WithSpanKind(trace.SpanKindServer))
			span.End()
			if err := tel.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			if len(c.paths) != 1 || c.paths[0] != tt.wantPath {
				t.Fatalf("collector got %v, want one export to %s", c.paths, tt.wantPath)
			}
			if c.headers[0].Get("X-Api-Key") != "abc def" || c.headers[0].Get("X-Tenant") != "bank" {
				t.Errorf("headers %v", c.headers[0])
			}
			if !bytes.Contains(c.bodies[0], []byte("POST /client/approve")) || !bytes.Contains(c.bodies[0], []byte("onboarding-adapter-test")) {
				t.Errorf("export lacks the span or the service name")
			}
		})
	}
}

func TestConsoleExporter(t *testing.T) {
	var buf bytes.Buffer
	tel, err := Setup(context.Background(), Config{ServiceName: "s", Environ: map[string]string{"OTEL_TRACES_EXPORTER": "console"}, ConsoleWriter: &buf})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.TracerProvider().Tracer("t").Start(context.Background(), "POST /otp/send", trace.WithSpanKind(trace.SpanKindServer))
	span.End()
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"Name":"POST /otp/send"`) {
		t.Errorf("console output lacks the span: %s", buf.String())
	}
}

func TestMetricsHandler(t *testing.T) {
	tel := setup(t, map[string]string{"OTEL_SERVICE_NAME": "svc-a", "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test,service.name=ignored"})
	out := scrape(t, tel.MetricsHandler())
	for _, want := range []string{
		`onboarding_build_info{version="1.2.3"} 1`,
		"# TYPE go_goroutine_count gauge",
		"# TYPE go_memory_used_bytes gauge",
		"# TYPE process_cpu_seconds_total counter",
		`service_name="svc-a"`,
		`deployment_environment="test"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(out, "otel_scope_name") {
		t.Errorf("scope labels are exported")
	}
}

func TestReadiness(t *testing.T) {
	down := domain.Unavailable(errors.New("dial tcp 10.1.2.3:5432: refused"), "postgres: ping failed")
	tests := []struct {
		name      string
		pg, redis error
		drain     bool
		wantErr   error
		wantReady string
		wantUp    []string
	}{
		{"all up", nil, nil, false, nil, "onboarding_ready 1", []string{
			`onboarding_dependency_up{dependency="postgres"} 1`, `onboarding_dependency_up{dependency="redis"} 1`}},
		{"redis down is degraded but ready", nil, errors.New("redis: breaker open"), false, nil, "onboarding_ready 1", []string{
			`onboarding_dependency_up{dependency="postgres"} 1`, `onboarding_dependency_up{dependency="redis"} 0`}},
		{"postgres down is not ready", down, nil, false, down, "onboarding_ready 0", []string{
			`onboarding_dependency_up{dependency="postgres"} 0`}},
		{"draining is not ready", nil, nil, true, ErrDraining, "onboarding_ready 0", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel := setup(t, nil)
			var logs bytes.Buffer
			r := NewReadiness(slog.New(slog.NewJSONHandler(&logs, nil)),
				Dependency{Name: "postgres", Required: true, Ping: func(context.Context) error { return tt.pg }},
				Dependency{Name: "redis", Ping: func(context.Context) error { return tt.redis }},
			)
			if err := tel.ObserveReadiness(r); err != nil {
				t.Fatal(err)
			}
			clock := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
			r.now = func() time.Time { return clock }
			if tt.drain {
				r.Drain()
			}
			err := r.Check(context.Background())
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Check: %v, want %v", err, tt.wantErr)
			}
			clock = clock.Add(readinessFresh) // past the answer's freshness: pinged again
			_ = r.Check(context.Background()) // a second probe logs nothing new
			out := scrape(t, tel.MetricsHandler())
			for _, want := range append(tt.wantUp, tt.wantReady) {
				if !strings.Contains(out, want+"\n") {
					t.Errorf("/metrics lacks %q", want)
				}
			}
			if n := strings.Count(logs.String(), "dependency unavailable"); (tt.redis != nil) != (n == 1) {
				t.Errorf("logged the Redis outage %d times: %s", n, logs.String())
			}
		})
	}
}

func TestReadinessLogsRecovery(t *testing.T) {
	var logs bytes.Buffer
	var redisErr error = errors.New("down")
	r := NewReadiness(slog.New(slog.NewJSONHandler(&logs, nil)),
		Dependency{Name: "redis", Ping: func(context.Context) error { return redisErr }})
	clock := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	r.now = func() time.Time { return clock }
	check := func() error {
		clock = clock.Add(readinessFresh) // each probe past the last answer's freshness
		return r.Check(context.Background())
	}
	for range 3 {
		if err := check(); err != nil {
			t.Fatalf("an optional dependency failed readiness: %v", err)
		}
	}
	redisErr = nil
	_ = check()
	_ = check()
	if d, a := strings.Count(logs.String(), "dependency unavailable"), strings.Count(logs.String(), "dependency available again"); d != 1 || a != 1 {
		t.Errorf("down logged %d times, recovery %d times, want once each: %s", d, a, logs.String())
	}
}

// TestReadinessSharesItsPings: the probes arriving while a round of pings
// runs share it, and those within readinessFresh of its answer get that
// answer without pinging; a probe that gives up does not stop the pings the
// others wait for; draining answers at once.
func TestReadinessSharesItsPings(t *testing.T) {
	var pings atomic.Int32
	release := make(chan struct{})
	pgErr := error(nil)
	r := NewReadiness(nil, Dependency{Name: "postgres", Required: true, Ping: func(ctx context.Context) error {
		pings.Add(1)
		select {
		case <-release:
			return pgErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}})
	var mu sync.Mutex
	clock := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	r.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }

	// A probe that gives up before the ping answers.
	short, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := r.Check(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a probe past its deadline: %v, want the deadline", err)
	}
	// Fifty probes while that ping still runs: none pings again.
	errs := make(chan error, 50)
	for range 50 {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			errs <- r.Check(ctx)
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	for range 50 {
		if err := <-errs; err != nil {
			t.Fatalf("a probe sharing the ping: %v", err)
		}
	}
	if n := pings.Load(); n != 1 {
		t.Fatalf("%d rounds of pings for 51 probes, want 1", n)
	}
	// Fresh: answered without a ping, even though the database is down now.
	pgErr = errors.New("down")
	advance(readinessFresh - time.Millisecond)
	if err := r.Check(context.Background()); err != nil || pings.Load() != 1 {
		t.Fatalf("a probe within the answer's freshness: %v after %d pings, want nil after 1", err, pings.Load())
	}
	// Stale: pinged again, and the failure is answered.
	advance(time.Millisecond)
	if err := r.Check(context.Background()); err == nil || pings.Load() != 2 {
		t.Fatalf("a probe past the answer's freshness: %v after %d pings, want the failure after 2", err, pings.Load())
	}
	// Draining is answered at once, whatever the last answer.
	pgErr = nil
	advance(readinessFresh)
	if err := r.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.Drain()
	if err := r.Check(context.Background()); !errors.Is(err, ErrDraining) {
		t.Fatalf("draining within the answer's freshness: %v, want ErrDraining", err)
	}
}

// TestReadinessDrainsDuringAPing: a probe waiting on pings that began
// before shutdown answers ErrDraining, whatever the pings say.
func TestReadinessDrainsDuringAPing(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	r := NewReadiness(nil, Dependency{Name: "postgres", Required: true, Ping: func(context.Context) error {
		close(started)
		<-release
		return nil
	}})
	got := make(chan error, 1)
	go func() { got <- r.Check(context.Background()) }()
	<-started
	r.Drain()
	close(release)
	if err := <-got; !errors.Is(err, ErrDraining) {
		t.Fatalf("a probe whose pings ended after Drain: %v, want ErrDraining", err)
	}
}

func TestKeyValues(t *testing.T) {
	got, err := keyValues(" a=1 , b=x%2Cy ,c=")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got["a"] != "1" || got["b"] != "x,y" || got["c"] != "" {
		t.Errorf("keyValues = %v", got)
	}
	for _, bad := range []string{"a", "=1", "a=%zz"} {
		if _, err := keyValues(bad); err == nil {
			t.Errorf("keyValues(%q) accepted", bad)
		}
	}
}
