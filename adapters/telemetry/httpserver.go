package telemetry

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// MetricHTTPServerDuration is the stable semantic-convention latency
// histogram of the server, in seconds.
const MetricHTTPServerDuration = "http.server.request.duration"

// httpDurationBuckets are the buckets the semantic conventions advise for
// http.server.request.duration (otelhttp's).
var httpDurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// HTTPServerConfig is what NewHTTPServer needs.
type HTTPServerConfig struct {
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// Propagator extracts the caller's trace context (W3C traceparent).
	Propagator propagation.TextMapPropagator
}

// NewHTTPServer returns the middleware that opens the server span and
// records http.server.request.duration for every request of the API. It
// takes the place of otelhttp.NewHandler, with the same stable HTTP
// semantic conventions (span name "POST /client/approve" from the route
// pattern the router hands back in r.Pattern, "POST" for an unrouted
// request; the request and response attributes otelhttp sets; the
// histogram with http.request.method, url.scheme, network.protocol.name
// and .version, http.response.status_code and http.route), at a fraction
// of its cost, which profiles showed at a quarter of the CPU of a small
// request:
//
//   - span attributes are built only when the span is recording;
//   - the histogram's attribute set is built once per label combination
//     (method, route, status, scheme, protocol: a closed set) and reused,
//     instead of being assembled and sorted on every request;
//   - the body-size histograms otelhttp also records (dropped by a view
//     here anyway) are not recorded at all, and server.address and
//     server.port (from the caller's Host header) are never metric labels.
//
// Like otelhttp it must wrap the transport's handler directly: the
// transport writes the matched pattern into the request it is given.
func NewHTTPServer(c HTTPServerConfig) (func(http.Handler) http.Handler, error) {
	duration, err := c.MeterProvider.Meter(ScopeName).Float64Histogram(MetricHTTPServerDuration,
		metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP server requests."),
		metric.WithExplicitBucketBoundaries(httpDurationBuckets...))
	if err != nil {
		return nil, fmt.Errorf("telemetry: creating %s: %w", MetricHTTPServerDuration, err)
	}
	s := &httpServer{
		tracer:   c.TracerProvider.Tracer(ScopeName),
		prop:     c.Propagator,
		duration: duration,
		spanOpts: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)},
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, next) })
	}, nil
}

type httpServer struct {
	tracer   trace.Tracer
	prop     propagation.TextMapPropagator
	duration metric.Float64Histogram
	spanOpts []trace.SpanStartOption

	mu   sync.Mutex
	sets atomic.Pointer[map[httpMetricKey][]metric.RecordOption]
}

func (s *httpServer) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	start := time.Now()
	ctx := r.Context()
	if s.prop != nil {
		ctx = s.prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
	}
	method, standard := standardMethod(r.Method)
	spanName := method
	if !standard {
		spanName = "HTTP"
	}
	ctx, span := s.tracer.Start(ctx, spanName, s.spanOpts...)
	defer span.End()
	recording := span.IsRecording()

	rw := &responseWriter{ResponseWriter: w}
	req := r.WithContext(ctx)
	var body *countingBody
	if recording {
		span.SetAttributes(requestAttrs(r, method, standard)...)
		if r.Body != nil && r.Body != http.NoBody {
			// Only the copy reads through the counter: the server
			// still sees its own body on the original request.
			body = &countingBody{ReadCloser: r.Body}
			req.Body = body
		}
	}
	next.ServeHTTP(rw, req)
	if req.MultipartForm != nil {
		r.MultipartForm = req.MultipartForm // net/http removes its temporary files
	}

	status := rw.status
	if status == 0 {
		status = http.StatusOK // what net/http sends for a handler that wrote nothing
	}
	route := routeOf(req.Pattern)
	if recording {
		attrs := make([]attribute.KeyValue, 0, 5)
		if route != "" {
			// otelhttp leaves http.route to the handler when the route
			// is only known after routing; set here, the span is whole.
			// url.path too, and only for a matched route: an unmatched
			// path is whatever the caller sent, personal data included.
			span.SetName(spanName + " " + route)
			attrs = append(attrs, semconv.HTTPRoute(route))
			if r.URL != nil && r.URL.Path != "" {
				attrs = append(attrs, semconv.URLPath(r.URL.Path))
			}
		}
		if body != nil && body.n > 0 {
			attrs = append(attrs, semconv.HTTPRequestBodySize(int(body.n)))
		}
		if rw.written > 0 {
			attrs = append(attrs, semconv.HTTPResponseBodySize(int(rw.written)))
		}
		attrs = append(attrs, semconv.HTTPResponseStatusCode(status))
		switch {
		case status < 100 || status >= 600:
			span.SetStatus(codes.Error, "Invalid HTTP status code "+strconv.Itoa(status))
		case status >= 500:
			attrs = append(attrs, semconv.ErrorTypeKey.String(strconv.Itoa(status)))
			span.SetStatus(codes.Error, "")
		}
		span.SetAttributes(attrs...)
	}
	s.duration.Record(ctx, float64(time.Since(start))/float64(time.Second),
		s.metricOptions(httpMetricKey{method: method, route: route, status: status, tls: r.TLS != nil, proto: r.Proto})...)
}

// httpMetricKey is one label combination of http.server.request.duration.
type httpMetricKey struct {
	method, route, proto string
	status               int
	tls                  bool
}

// maxHTTPMetricSets bounds the cached label combinations: routes are the
// router's patterns, methods the nine standard ones or _OTHER, statuses
// the few the service answers, so the bound is never reached in practice.
const maxHTTPMetricSets = 1024

// metricOptions returns the record options carrying the attribute set of
// k, built on first use and cached (lock-free reads, copy-on-write).
func (s *httpServer) metricOptions(k httpMetricKey) []metric.RecordOption {
	if m := s.sets.Load(); m != nil {
		if o, ok := (*m)[k]; ok {
			return o
		}
	}
	attrs := make([]attribute.KeyValue, 0, 6)
	scheme := "http"
	if k.tls {
		scheme = "https"
	}
	attrs = append(attrs, semconv.HTTPRequestMethodKey.String(k.method), semconv.URLScheme(scheme))
	name, version := netProtocol(k.proto)
	if name != "" {
		attrs = append(attrs, semconv.NetworkProtocolName(name))
	}
	if version != "" {
		attrs = append(attrs, semconv.NetworkProtocolVersion(version))
	}
	attrs = append(attrs, semconv.HTTPResponseStatusCode(k.status))
	if k.route != "" {
		attrs = append(attrs, semconv.HTTPRoute(k.route))
	}
	o := []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attrs...))}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.sets.Load()
	if old != nil && len(*old) >= maxHTTPMetricSets {
		return o
	}
	m := make(map[httpMetricKey][]metric.RecordOption, 1+lenHTTP(old))
	if old != nil {
		for key, v := range *old {
			m[key] = v
		}
	}
	m[k] = o
	s.sets.Store(&m)
	return o
}

func lenHTTP(m *map[httpMetricKey][]metric.RecordOption) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// standardMethod is the http.request.method value: the method when it is
// one of the nine standard ones (any case), else _OTHER; standard is false
// when the request's spelling is not the standard one (the original then
// goes into http.request.method_original).
func standardMethod(m string) (method string, standard bool) {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead,
		http.MethodOptions, http.MethodPatch, http.MethodConnect, http.MethodTrace:
		return m, true
	}
	switch u := strings.ToUpper(m); u {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead,
		http.MethodOptions, http.MethodPatch, http.MethodConnect, http.MethodTrace:
		return u, false
	}
	return "_OTHER", false
}

// requestAttrs are the server span's request attributes, as otelhttp sets
// them: server.address and .port (from the Host header), the method,
// url.scheme, network.peer.*, user_agent.original, client.address (the
// first X-Forwarded-For entry, else the peer) and the protocol; url.path
// is added after routing, for a matched route only.
func requestAttrs(r *http.Request, method string, standard bool) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 12)
	host, port := splitHostPort(r.Host)
	scheme, defPort := "http", 80
	if r.TLS != nil {
		scheme, defPort = "https", 443
	}
	attrs = append(attrs, semconv.ServerAddress(host), semconv.HTTPRequestMethodKey.String(method), semconv.URLScheme(scheme))
	if port > 0 && port != defPort {
		attrs = append(attrs, semconv.ServerPort(port))
	}
	if !standard {
		attrs = append(attrs, semconv.HTTPRequestMethodOriginal(r.Method))
	}
	peer, peerPort := splitHostPort(r.RemoteAddr)
	if peer != "" {
		attrs = append(attrs, semconv.NetworkPeerAddress(peer))
		if peerPort > 0 {
			attrs = append(attrs, semconv.NetworkPeerPort(peerPort))
		}
	}
	if ua := r.UserAgent(); ua != "" {
		attrs = append(attrs, semconv.UserAgentOriginal(truncateUTF8(ua, maxUserAgent)))
	}
	client := forwardedClient(r.Header.Get("X-Forwarded-For"))
	if client == "" {
		client = peer
	}
	if client != "" {
		attrs = append(attrs, semconv.ClientAddress(client))
	}
	name, version := netProtocol(r.Proto)
	if name != "" && name != "http" {
		attrs = append(attrs, semconv.NetworkProtocolName(name))
	}
	if version != "" {
		attrs = append(attrs, semconv.NetworkProtocolVersion(version))
	}
	return attrs
}

// maxUserAgent bounds user_agent.original: the header is the sender's to
// fill, up to net/http's 1 MB of headers, before any credential is checked.
const maxUserAgent = 256

// forwardedClient is the first address of an X-Forwarded-For header, or ""
// when it is not an IP address (with or without a port): the header is the
// sender's to fill, so nothing else of it reaches a span.
func forwardedClient(xff string) string {
	first, _, _ := strings.Cut(xff, ",")
	first = strings.TrimSpace(first)
	a, err := netip.ParseAddr(first)
	if err != nil {
		ap, perr := netip.ParseAddrPort(first)
		if perr != nil {
			return ""
		}
		a = ap.Addr()
	}
	if a.Zone() != "" {
		return "" // an IPv6 zone is any text the sender likes
	}
	return a.String()
}

// truncateUTF8 cuts s to at most n bytes, at a character boundary.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// routeOf is http.route from a ServeMux pattern ("POST /client/approve"
// gives "/client/approve"); "" for an unrouted request.
func routeOf(pattern string) string {
	if i := strings.IndexByte(pattern, '/'); i >= 0 {
		return pattern[i:]
	}
	return ""
}

// netProtocol splits "HTTP/1.1" into "http" and "1.1".
func netProtocol(proto string) (name, version string) {
	name, version, _ = strings.Cut(proto, "/")
	return strings.ToLower(name), version
}

// splitHostPort splits "host:port" ("[::1]:80" for IPv6); port is -1 when
// absent or invalid.
func splitHostPort(hostport string) (string, int) {
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 || strings.HasSuffix(hostport, "]") {
		return strings.Trim(hostport, "[]"), -1
	}
	host := strings.Trim(hostport[:i], "[]")
	p, err := strconv.ParseUint(hostport[i+1:], 10, 16)
	if err != nil {
		return host, -1
	}
	return host, int(p)
}

// responseWriter remembers the status and the bytes written. It offers
// Flush and Unwrap (for http.ResponseController); the API needs nothing
// else of the connection.
type responseWriter struct {
	http.ResponseWriter
	status  int
	written int64
}

func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	return n, err
}

// Flush sends buffered data to the client when the connection can.
func (w *responseWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingBody counts the request bytes read, for http.request.body.size.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}
