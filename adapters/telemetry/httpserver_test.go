package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// routedAPI stands for the transport: it hands the matched pattern back to
// the request it was given, as the transport's first ring does, and
// answers with the status of the path.
func routedAPI(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	switch r.URL.Path {
	case "/client/approve":
		r.Pattern = "POST /client/approve"
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"result":"OK"}`))
	case "/otp/send":
		r.Pattern = "POST /otp/send"
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"code":"ERROR_GENERIC"}`))
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// histogramCounts returns the http.server.request.duration counts by label
// text.
func histogramCounts(t *testing.T, r *sdkmetric.ManualReader) map[string]uint64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != MetricHTTPServerDuration {
				continue
			}
			h, ok := m.Data.(metricdata.Histogram[float64])
			if !ok {
				t.Fatalf("%s is a %T", m.Name, m.Data)
			}
			for _, p := range h.DataPoints {
				out[labelText(p.Attributes)] = p.Count
			}
		}
	}
	return out
}

func newTestServer(t *testing.T, tp trace.TracerProvider) (http.Handler, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	mw, err := NewHTTPServer(HTTPServerConfig{TracerProvider: tp, MeterProvider: mp, Propagator: propagation.TraceContext{}})
	if err != nil {
		t.Fatal(err)
	}
	return mw(http.HandlerFunc(routedAPI)), reader
}

// serverSpan serves req through the middleware with a recording tracer
// and returns the one span it ended.
func serverSpan(t *testing.T, req *http.Request) sdktrace.ReadOnlySpan {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	h, _ := newTestServer(t, tp)
	h.ServeHTTP(httptest.NewRecorder(), req)
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want the server span", len(spans))
	}
	return spans[0]
}

func TestHTTPServerSpans(t *testing.T) {
	const callerTrace, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	tests := []struct {
		name, path  string
		traceparent bool
		wantName    string
		wantAttrs   map[string]string // "" value: must be absent
		wantStatus  codes.Code
	}{
		{"routed, continuing the caller's trace", "/client/approve", true, "POST /client/approve", map[string]string{
			"http.request.method": "POST", "http.route": "/client/approve", "http.response.status_code": "200",
			"url.scheme": "http", "url.path": "/client/approve", "server.address": "adapter.bank", "server.port": "8080",
			"network.protocol.version": "1.1", "network.peer.address": "10.1.2.3", "client.address": "10.9.9.9",
			"user_agent.original": "onboarding-server/4.12", "http.request.body.size": "11", "http.response.body.size": "15",
			"error.type": "",
		}, codes.Unset},
		{"5xx is an error", "/otp/send", false, "POST /otp/send", map[string]string{
			"http.route": "/otp/send", "http.response.status_code": "503", "error.type": "503",
		}, codes.Error},
		{"unrouted: no route, and not the raw path", "/client/8554121234", false, "POST", map[string]string{
			"http.route": "", "http.response.status_code": "404", "url.path": "",
		}, codes.Unset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "http://adapter.bank:8080"+tt.path, strings.NewReader(`{"a":"bcd"}`))
			req.RemoteAddr = "10.1.2.3:51234"
			req.Header.Set("User-Agent", "onboarding-server/4.12")
			req.Header.Set("X-Forwarded-For", "10.9.9.9, 10.1.2.3")
			if tt.traceparent {
				req.Header.Set("traceparent", "00-"+callerTrace+"-"+callerSpan+"-01")
			}
			sp := serverSpan(t, req)
			if sp.Name() != tt.wantName || sp.SpanKind() != trace.SpanKindServer {
				t.Errorf("span %q kind %v, want %q server", sp.Name(), sp.SpanKind(), tt.wantName)
			}
			if tt.traceparent && (sp.SpanContext().TraceID().String() != callerTrace || sp.Parent().SpanID().String() != callerSpan || !sp.Parent().IsRemote()) {
				t.Errorf("span %s parent %s: the caller's traceparent is not the parent", sp.SpanContext().TraceID(), sp.Parent().SpanID())
			}
			got := map[string]string{}
			for _, kv := range sp.Attributes() {
				got[string(kv.Key)] = kv.Value.String()
			}
			for k, v := range tt.wantAttrs {
				if got[k] != v {
					t.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
			if sp.Status().Code != tt.wantStatus {
				t.Errorf("status %v, want %v", sp.Status(), tt.wantStatus)
			}
		})
	}
}

func TestHTTPServerMetric(t *testing.T) {
	for _, tp := range []trace.TracerProvider{
		sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tracetest.NewSpanRecorder())),
		noop.NewTracerProvider(), // untraced: the metric is recorded all the same
	} {
		h, reader := newTestServer(t, tp)
		for _, path := range []string{"/client/approve", "/client/approve", "/otp/send", "/nope"} {
			req := httptest.NewRequest(http.MethodPost, "http://adapter.bank:8080"+path, strings.NewReader(`{}`))
			h.ServeHTTP(httptest.NewRecorder(), req)
		}
		got := histogramCounts(t, reader)
		want := map[string]uint64{
			"http.request.method=POST,http.response.status_code=200,http.route=/client/approve,network.protocol.name=http,network.protocol.version=1.1,url.scheme=http": 2,
			"http.request.method=POST,http.response.status_code=503,http.route=/otp/send,network.protocol.name=http,network.protocol.version=1.1,url.scheme=http":       1,
			"http.request.method=POST,http.response.status_code=404,network.protocol.name=http,network.protocol.version=1.1,url.scheme=http":                            1,
		}
		if len(got) != len(want) {
			t.Errorf("series %v, want %v", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: count %d, want %d (all: %v)", k, got[k], v, got)
			}
		}
	}
}

func TestHTTPServerMethods(t *testing.T) {
	tests := []struct {
		method, want string
		standard     bool
	}{
		{"POST", "POST", true}, {"get", "GET", false}, {"BREW", "_OTHER", false}, {"", "_OTHER", false},
	}
	for _, tt := range tests {
		if got, std := standardMethod(tt.method); got != tt.want || std != tt.standard {
			t.Errorf("standardMethod(%q) = %q %v, want %q %v", tt.method, got, std, tt.want, tt.standard)
		}
	}
	for in, want := range map[string]struct {
		host string
		port int
	}{
		"adapter.bank": {"adapter.bank", -1}, "adapter.bank:8080": {"adapter.bank", 8080}, "[::1]:443": {"::1", 443},
		"[::1]": {"::1", -1}, "host:x": {"host", -1},
	} {
		if h, p := splitHostPort(in); h != want.host || p != want.port {
			t.Errorf("splitHostPort(%q) = %q %d, want %q %d", in, h, p, want.host, want.port)
		}
	}
}

// TestHTTPServerWriterReachesTheConnection: handlers below can still flush
// and reach the connection through http.ResponseController.
func TestHTTPServerWriterReachesTheConnection(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	mw, err := NewHTTPServer(HTTPServerConfig{TracerProvider: noop.NewTracerProvider(), MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	var flushErr, deadlineErr error
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		_, _ = w.Write([]byte("partial"))
		flushErr = rc.Flush()
		deadlineErr = rc.SetWriteDeadline(time.Now().Add(time.Minute))
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "partial" || flushErr != nil || deadlineErr != nil {
		t.Errorf("body %q, flush %v, deadline %v", body, flushErr, deadlineErr)
	}
	counts := histogramCounts(t, reader)
	var total uint64
	for k, v := range counts {
		if !strings.Contains(k, "http.response.status_code=200") || !strings.Contains(k, "http.request.method=GET") {
			t.Errorf("series %s", k)
		}
		total += v
	}
	if total != 1 {
		t.Errorf("recorded %d requests, want 1", total)
	}
}

// TestHTTPServerUntracedCost: without a recording span the middleware
// costs the request copy, its writer and the trace context (here the
// caller's, extracted, and the no-op tracer's span over it), nothing per
// attribute.
func TestHTTPServerUntracedCost(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Pattern = "POST /client/approve"
		w.WriteHeader(http.StatusOK)
	})
	mw, err := NewHTTPServer(HTTPServerConfig{TracerProvider: noop.NewTracerProvider(), MeterProvider: sdkmetric.NewMeterProvider(),
		Propagator: propagation.TraceContext{}})
	if err != nil {
		t.Fatal(err)
	}
	h := mw(bare)
	req := httptest.NewRequest(http.MethodPost, "/client/approve", http.NoBody)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req) // builds the metric's attribute set
	n := testing.AllocsPerRun(200, func() { h.ServeHTTP(w, req) })
	if n > 6 {
		t.Errorf("%v allocations per untraced request, want at most 6", n)
	}
	t.Logf("%v allocations per untraced request with a traceparent", n)
}

// TestHTTPServerClientAttributes: the span takes from X-Forwarded-For only
// an IP address (else the peer's), and at most maxUserAgent bytes of the
// User-Agent: both headers are the sender's to fill, before any credential
// is checked.
func TestHTTPServerClientAttributes(t *testing.T) {
	long := strings.Repeat("é", maxUserAgent) // two bytes each: cut at a character boundary
	tests := []struct {
		name, xff, ua      string
		wantClient, wantUA string
	}{
		{"first hop of several", "10.9.9.9, 10.1.2.3", "onboarding-server/4.12", "10.9.9.9", "onboarding-server/4.12"},
		{"IPv6", " 2001:db8::7 ", "a", "2001:db8::7", "a"},
		{"IPv6 with a port", "[2001:db8::7]:4711", "a", "2001:db8::7", "a"},
		{"IPv4 with a port", "192.0.2.1:4711,10.0.0.1", "a", "192.0.2.1", "a"},
		{"not an address: the peer", "<script>" + strings.Repeat("x", 16<<10), "a", "10.1.2.3", "a"},
		{"a name: the peer", "client.example", "a", "10.1.2.3", "a"},
		{"an IPv6 zone: the peer", "fe80::1%" + strings.Repeat("z", 16<<10), "a", "10.1.2.3", "a"},
		{"an IPv6 zone with a port: the peer", "[fe80::1%eth0]:4711", "a", "10.1.2.3", "a"},
		{"none: the peer", "", "a", "10.1.2.3", "a"},
		{"a long user agent is cut", "", long, "10.1.2.3", strings.Repeat("é", maxUserAgent/2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "http://adapter.bank:8080/client/approve", strings.NewReader(`{}`))
			req.RemoteAddr = "10.1.2.3:51234"
			req.Header.Set("User-Agent", tt.ua)
			if tt.xff != "" {
				req.Header.Set("X-Forwarded-For", tt.xff)
			}
			got := map[string]string{}
			for _, kv := range serverSpan(t, req).Attributes() {
				got[string(kv.Key)] = kv.Value.String()
			}
			if got["client.address"] != tt.wantClient {
				t.Errorf("client.address = %q, want %q", got["client.address"], tt.wantClient)
			}
			if got["user_agent.original"] != tt.wantUA {
				t.Errorf("user_agent.original = %q (%d bytes), want %d bytes", got["user_agent.original"], len(got["user_agent.original"]), len(tt.wantUA))
			}
		})
	}
}
