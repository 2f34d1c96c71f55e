// Package telemetry sets up the OpenTelemetry SDK for the serve command:
// the tracer provider (sampler and exporters from the standard OTEL_*
// variables), the meter provider exported for Prometheus on a registry of
// its own, Go runtime and process metrics, build info, the W3C propagator,
// and the readiness state behind /readyz and the onboarding.ready gauge.
//
// Providers are handed to every instrumented component explicitly; the
// OpenTelemetry globals are left alone, except the global error handler and
// internal logger, which Setup points at the service's slog logger so the
// SDK's own complaints (an unreachable collector) come out as JSON lines.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/contrib/instrumentation/runtime"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the metrics made here.
const ScopeName = "github.com/bankkit/onboarding-adapter/cmd/onboarding-adapter"

// MetricBuildInfo is the gauge that is 1 with the running version as label.
const MetricBuildInfo = "onboarding.build_info"

// Config is what Setup needs besides the OTEL_* variables.
type Config struct {
	// ServiceName is service.name unless OTEL_SERVICE_NAME (or
	// service.name in OTEL_RESOURCE_ATTRIBUTES) says otherwise.
	ServiceName string
	// Version is service.version and the build_info label.
	Version string
	// Environ holds the environment variables (OTEL_* are read from it).
	Environ map[string]string
	// Logger receives the SDK's errors (nil: discarded).
	Logger *slog.Logger
	// ConsoleWriter receives spans with OTEL_TRACES_EXPORTER=console
	// (nil: standard output; the logs go to standard error).
	ConsoleWriter io.Writer
	// SpanProcessors are added to the exporters the variables choose; tests
	// pass an in-memory tracetest.SpanRecorder.
	SpanProcessors []sdktrace.SpanProcessor
}

// Telemetry holds the providers and what Shutdown must flush.
type Telemetry struct {
	// tp is the SDK's provider, nil when nothing is exported (tracer is
	// then the untraced provider).
	tp       *sdktrace.TracerProvider
	tracer   trace.TracerProvider
	mp       *sdkmetric.MeterProvider
	prop     propagation.TextMapPropagator
	registry *prometheus.Registry
	metrics  http.Handler
	summary  summary
}

// summary is what the start-up log shows of the telemetry set-up. It never
// holds exporter headers (they carry API keys).
type summary struct {
	service, exporters, sampler, propagators, endpoint string
}

// Setup builds the providers from the OTEL_* variables of c.Environ. An
// invalid variable fails with its name. With no OTEL_* set, no span leaves
// the process (OTEL_TRACES_EXPORTER defaults to none here, unlike the
// specification's otlp: a laptop has no collector) and none is recorded:
// when no exporter, no span processor and no OTEL_TRACES_SAMPLER is set,
// the tracer provider is the untraced one (see untracedProvider), which
// still continues a caller's traceparent and gives every request a trace
// id for the logs. An explicit sampler keeps the SDK (its sampled flag is
// what travels downstream) even with nothing exported. Call Shutdown to
// flush.
func Setup(ctx context.Context, c Config) (*Telemetry, error) {
	env := c.Environ
	if c.Logger != nil {
		h := c.Logger.Handler()
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			c.Logger.LogAttrs(context.Background(), slog.LevelWarn, "opentelemetry", slog.String("error", err.Error()))
		}))
		otel.SetLogger(logr.FromSlogHandler(h))
	}
	res, name, err := newResource(ctx, c)
	if err != nil {
		return nil, err
	}
	t := &Telemetry{summary: summary{service: name}}

	sampler, samplerName, err := newSampler(env)
	if err != nil {
		return nil, err
	}
	t.summary.sampler = samplerName
	if t.prop, t.summary.propagators, err = newPropagator(env); err != nil {
		return nil, err
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(serverRoots{sampler})}
	exporters, err := list(env, "OTEL_TRACES_EXPORTER", "none")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range exporters {
		switch e {
		case "none":
		case "otlp":
			exp, endpoint, err := newOTLP(ctx, env)
			if err != nil {
				return nil, err
			}
			opts = append(opts, sdktrace.WithBatcher(exp))
			t.summary.endpoint = endpoint
		case "console":
			w := c.ConsoleWriter
			if w == nil {
				w = os.Stdout
			}
			exp, err := stdouttrace.New(stdouttrace.WithWriter(w))
			if err != nil {
				return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=console: %w", err)
			}
			opts = append(opts, sdktrace.WithSyncer(exp))
		default:
			return nil, fmt.Errorf("OTEL_TRACES_EXPORTER: %q is not supported (want otlp, console or none)", e)
		}
		if e != "none" {
			names = append(names, e)
		}
	}
	for _, p := range c.SpanProcessors {
		opts = append(opts, sdktrace.WithSpanProcessor(p))
	}
	untraced := len(names) == 0 && len(c.SpanProcessors) == 0 && strings.TrimSpace(env["OTEL_TRACES_SAMPLER"]) == ""
	if len(names) == 0 {
		names = []string{"none"}
	}
	t.summary.exporters = strings.Join(names, ",")
	if untraced {
		t.tracer = untracedProvider{}
		t.summary.sampler = "none (nothing exported: spans not recorded, trace ids only)"
	} else {
		t.tp = sdktrace.NewTracerProvider(opts...)
		t.tracer = t.tp
	}

	if err := t.setupMetrics(res, c); err != nil {
		_ = t.shutdownTraces(ctx)
		return nil, err
	}
	return t, nil
}

// setupMetrics builds the meter provider exported to a private Prometheus
// registry, plus runtime, process and build-info metrics.
func (t *Telemetry) setupMetrics(res *resource.Resource, c Config) error {
	t.registry = prometheus.NewRegistry()
	exp, err := otelprom.New(
		otelprom.WithRegisterer(t.registry),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
		// No otel_scope_* labels: the names are ours and unique, and the
		// scope version would churn every series on a library upgrade.
		otelprom.WithoutScopeInfo(),
		otelprom.WithProducer(runtime.NewProducer()),
	)
	if err != nil {
		return fmt.Errorf("creating the Prometheus exporter: %w", err)
	}
	t.mp = sdkmetric.NewMeterProvider(
		sdkmetric.WithResource(res),
		sdkmetric.WithReader(exp),
		// http.server.request.duration never carries server.address or
		// server.port (from the caller's Host header, so unbounded): the
		// server middleware (adapters/telemetry.NewHTTPServer) does not
		// record them, so no attribute filter (a hash of every attribute
		// on every measurement) is needed here.
		sdkmetric.WithView(
			// Body-size histograms (the SMS client's otelhttp records
			// them): 16 buckets per route and status for little use.
			sdkmetric.NewView(
				sdkmetric.Instrument{Name: "http.*.body.size"},
				sdkmetric.Stream{Aggregation: sdkmetric.AggregationDrop{}},
			),
		),
	)
	if err := runtime.Start(runtime.WithMeterProvider(t.mp)); err != nil {
		return fmt.Errorf("starting the Go runtime metrics: %w", err)
	}
	if err := t.registry.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return fmt.Errorf("registering the process metrics: %w", err)
	}
	meter := t.mp.Meter(ScopeName)
	info, err := meter.Int64ObservableGauge(MetricBuildInfo,
		metric.WithDescription("Always 1; the version label names the running build."))
	if err != nil {
		return fmt.Errorf("creating %s: %w", MetricBuildInfo, err)
	}
	version := attribute.NewSet(attribute.String("version", c.Version))
	if _, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(info, 1, metric.WithAttributeSet(version))
		return nil
	}, info); err != nil {
		return fmt.Errorf("registering %s: %w", MetricBuildInfo, err)
	}
	var errLog promhttp.Logger
	if c.Logger != nil {
		errLog = promLogger{c.Logger}
	}
	t.metrics = promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{
		ErrorLog:          errLog,
		ErrorHandling:     promhttp.ContinueOnError,
		Registry:          t.registry,
		EnableOpenMetrics: true, // exemplars (trace ids) travel only in OpenMetrics
		Timeout:           10 * time.Second,
	})
	return nil
}

// promLogger sends the Prometheus handler's errors to slog.
type promLogger struct{ l *slog.Logger }

func (p promLogger) Println(v ...any) {
	p.l.LogAttrs(context.Background(), slog.LevelWarn, "metrics scrape", slog.String("error", fmt.Sprint(v...)))
}

// TracerProvider is the provider every instrumented component gets.
func (t *Telemetry) TracerProvider() trace.TracerProvider { return t.tracer }

// Recording reports whether spans are recorded (an exporter, a span
// processor or an explicit sampler is configured); false means the
// untraced provider, whose spans only carry ids.
func (t *Telemetry) Recording() bool { return t.tp != nil }

// MeterProvider is the provider every instrumented component gets.
func (t *Telemetry) MeterProvider() metric.MeterProvider { return t.mp }

// Propagator extracts the caller's trace context (W3C traceparent; baggage
// only when OTEL_PROPAGATORS asks for it).
func (t *Telemetry) Propagator() propagation.TextMapPropagator { return t.prop }

// MetricsHandler serves the metrics in the Prometheus text format (or
// OpenMetrics, with exemplars, when the scraper asks), for GET /metrics on
// the admin listener.
func (t *Telemetry) MetricsHandler() http.Handler { return t.metrics }

// Shutdown flushes the spans still queued and stops the providers; the
// spans of requests drained before it are exported.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	return errors.Join(t.shutdownTraces(ctx), t.mp.Shutdown(ctx))
}

func (t *Telemetry) shutdownTraces(ctx context.Context) error {
	if t.tp == nil {
		return nil
	}
	return t.tp.Shutdown(ctx)
}

// LogValue summarises the set-up for the start-up log; exporter headers
// are never shown.
func (t *Telemetry) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("service_name", t.summary.service),
		slog.String("traces_exporter", t.summary.exporters),
		slog.String("sampler", t.summary.sampler),
		slog.String("propagators", t.summary.propagators),
	}
	if t.summary.endpoint != "" {
		attrs = append(attrs, slog.String("otlp_endpoint", t.summary.endpoint))
	}
	return slog.GroupValue(attrs...)
}

// newResource describes the process: service.name, service.version, the
// OTEL_RESOURCE_ATTRIBUTES, host.name (the pod) and the SDK's own.
func newResource(ctx context.Context, c Config) (*resource.Resource, string, error) {
	attrs, err := keyValues(c.Environ["OTEL_RESOURCE_ATTRIBUTES"])
	if err != nil {
		return nil, "", fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	name := c.ServiceName
	kvs := make([]attribute.KeyValue, 0, len(attrs)+2)
	for k, v := range attrs {
		if k == "service.name" {
			name = v
			continue
		}
		kvs = append(kvs, attribute.String(k, v))
	}
	if n := strings.TrimSpace(c.Environ["OTEL_SERVICE_NAME"]); n != "" {
		name = n
	}
	kvs = append(kvs, attribute.String("service.name", name), attribute.String("service.version", c.Version))
	res, err := resource.New(ctx, resource.WithTelemetrySDK(), resource.WithHost(), resource.WithAttributes(kvs...))
	if err != nil {
		return nil, "", fmt.Errorf("building the telemetry resource: %w", err)
	}
	return res, name, nil
}

// newSampler reads OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG.
func newSampler(env map[string]string) (sdktrace.Sampler, string, error) {
	name := strings.ToLower(strings.TrimSpace(env["OTEL_TRACES_SAMPLER"]))
	if name == "" {
		name = "parentbased_always_on"
	}
	ratio := 1.0
	if arg := strings.TrimSpace(env["OTEL_TRACES_SAMPLER_ARG"]); arg != "" && strings.HasSuffix(name, "traceidratio") {
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return nil, "", fmt.Errorf("OTEL_TRACES_SAMPLER_ARG: must be a ratio between 0 and 1, not %q", arg)
		}
		ratio = r
	}
	switch name {
	case "always_on":
		return sdktrace.AlwaysSample(), name, nil
	case "always_off":
		return sdktrace.NeverSample(), name, nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), fmt.Sprintf("%s(%g)", name, ratio), nil
	case "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), name, nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), name, nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), fmt.Sprintf("%s(%g)", name, ratio), nil
	}
	return nil, "", fmt.Errorf("OTEL_TRACES_SAMPLER: %q is not supported (want always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio)", name)
}

// serverRoots samples a trace only when it starts at a server span (a
// request) or continues one: the Redis invalidation subscriber's pings and
// the pool's background connects would otherwise each be a trace of their
// own, noise with no request to explain it. Such spans still get ids.
type serverRoots struct{ sdktrace.Sampler }

func (s serverRoots) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	if p.Kind != trace.SpanKindServer && !trace.SpanContextFromContext(p.ParentContext).IsValid() {
		return sdktrace.SamplingResult{
			Decision:   sdktrace.Drop,
			Tracestate: trace.SpanContextFromContext(p.ParentContext).TraceState(),
		}
	}
	return s.Sampler.ShouldSample(p)
}

func (s serverRoots) Description() string { return "ServerRootsOnly{" + s.Sampler.Description() + "}" }

// newPropagator reads OTEL_PROPAGATORS. The default is W3C tracecontext
// only: the specification's default adds baggage, but the caller's baggage
// would then travel on to the SMS gateway, a third party.
func newPropagator(env map[string]string) (propagation.TextMapPropagator, string, error) {
	names, err := list(env, "OTEL_PROPAGATORS", "tracecontext")
	if err != nil {
		return nil, "", err
	}
	var props []propagation.TextMapPropagator
	var used []string
	for _, n := range names {
		switch n {
		case "tracecontext":
			props = append(props, propagation.TraceContext{})
		case "baggage":
			props = append(props, propagation.Baggage{})
		case "none":
			continue
		default:
			return nil, "", fmt.Errorf("OTEL_PROPAGATORS: %q is not supported (want tracecontext, baggage or none)", n)
		}
		used = append(used, n)
	}
	if len(used) == 0 {
		used = []string{"none"}
	}
	return propagation.NewCompositeTextMapPropagator(props...), strings.Join(used, ","), nil
}

// newOTLP builds the OTLP/HTTP span exporter from the OTEL_EXPORTER_OTLP_*
// variables: endpoint, headers, timeout, compression and protocol are read
// here (the signal-specific TRACES_ variant first); certificate variables
// are read by the exporter itself from the process environment. Only
// http/protobuf and http/json are built in: grpc fails at start.
func newOTLP(ctx context.Context, env map[string]string) (sdktrace.SpanExporter, string, error) {
	get := func(suffix string) (string, string) {
		for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_" + suffix, "OTEL_EXPORTER_OTLP_" + suffix} {
			if v := strings.TrimSpace(env[k]); v != "" {
				return v, k
			}
		}
		return "", ""
	}
	var opts []otlptracehttp.Option
	switch proto, key := get("PROTOCOL"); proto {
	case "", "http/protobuf":
	case "http/json":
		opts = append(opts, otlptracehttp.WithEncoding(otlptracehttp.EncodingJSON))
	default:
		return nil, "", fmt.Errorf("%s: %q is not supported by this build (want http/protobuf or http/json; the OTLP/HTTP port is usually 4318)", key, proto)
	}
	endpoint := "http://localhost:4318/v1/traces"
	if v, key := get("ENDPOINT"); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, "", fmt.Errorf("%s: must be an http:// or https:// URL", key)
		}
		if key == "OTEL_EXPORTER_OTLP_ENDPOINT" {
			// The base endpoint gets the signal's path; the
			// signal-specific one is used as it is.
			u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
		}
		opts = append(opts, otlptracehttp.WithEndpointURL(u.String()))
		// The summary never shows credentials, in the user info or in a
		// query (some vendors take a token there).
		u.User, u.RawQuery, u.Fragment = nil, "", ""
		endpoint = u.String()
	}
	if v, key := get("HEADERS"); v != "" {
		h, err := keyValues(v)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", key, err)
		}
		opts = append(opts, otlptracehttp.WithHeaders(h))
	}
	if v, key := get("TIMEOUT"); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 {
			return nil, "", fmt.Errorf("%s: must be a positive number of milliseconds, not %q", key, v)
		}
		opts = append(opts, otlptracehttp.WithTimeout(time.Duration(ms)*time.Millisecond))
	}
	switch v, key := get("COMPRESSION"); v {
	case "":
	case "gzip":
		opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	case "none":
		opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.NoCompression))
	default:
		return nil, "", fmt.Errorf("%s: must be gzip or none, not %q", key, v)
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, "", fmt.Errorf("OTEL_TRACES_EXPORTER=otlp: %w", err)
	}
	return exp, endpoint, nil
}

// list reads a comma-separated variable in lower case, def when unset.
func list(env map[string]string, key, def string) ([]string, error) {
	v := strings.TrimSpace(env[key])
	if v == "" {
		v = def
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" {
			return nil, fmt.Errorf("%s: empty entry in %q", key, v)
		}
		out = append(out, p)
	}
	return out, nil
}

// keyValues parses the W3C-baggage-like "k1=v1,k2=v2" of
// OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS, values
// percent-decoded. Errors never quote the value: headers hold API keys.
func keyValues(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for n, p := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("entry %d is not key=value", n+1)
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("entry %d (%s): bad percent-encoding", n+1, k)
		}
		out[k] = dv
	}
	return out, nil
}
