package httptransport

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

// telemetryHarness is the handler as cmd serves it: EndpointTelemetry as
// the endpoint middleware and otelhttp around everything, recording spans
// in memory and metrics in a manual reader.
type telemetryHarness struct {
	*harness
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	tp     *sdktrace.TracerProvider
}

func newTelemetryHarness(t *testing.T, f *fakes, basePath string) *telemetryHarness {
	t.Helper()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()); _ = mp.Shutdown(context.Background()) })
	mw, err := EndpointTelemetry(tp, mp)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, f, func(c *Config) {
		c.BasePath = basePath
		c.EndpointMiddleware = mw
	})
	h.h = otelhttp.NewHandler(h.h, "test",
		otelhttp.WithTracerProvider(tp), otelhttp.WithMeterProvider(mp),
		otelhttp.WithPropagators(propagation.TraceContext{}))
	return &telemetryHarness{harness: h, spans: spans, reader: reader, tp: tp}
}

func (h *telemetryHarness) span(t *testing.T, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	for _, s := range h.spans.Ended() {
		if s.Name() == name {
			return s
		}
	}
	var names []string
	for _, s := range h.spans.Ended() {
		names = append(names, s.Name())
	}
	t.Fatalf("no span %q among %v", name, names)
	return nil
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

const (
	callerTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpanID  = "00f067aa0ba902b7"
)

func TestTelemetrySpanTree(t *testing.T) {
	for _, base := range []string{"", "/api/v1"} {
		t.Run("base path "+base, func(t *testing.T) {
			f := &fakes{}
			var h *telemetryHarness
			f.approve = func(ctx context.Context, _ ports.ApprovalRequest) (domain.Decision, error) {
				// What a driven-port decorator does: a child of the span in ctx.
				_, s := h.tp.Tracer("test").Start(ctx, "decisions.Decision")
				s.End()
				return domain.Decision{Result: domain.ResultOK}, nil
			}
			h = newTelemetryHarness(t, f, base)
			res := h.post(base+"/client/approve", `{"processId":"p-77","userId":"user-1","identityVerificationId":"iv-1","status":"SUCCESS","score":8.5}`,
				"traceparent", "00-"+callerTraceID+"-"+callerSpanID+"-01",
				"baggage", "userId=u-secret",
				"X-Correlation-Id", "corr-tel-1", "X-Request-Id", "req-tel-1")
			if res.status != http.StatusOK {
				t.Fatalf("status %d %s", res.status, res.body)
			}

			server := h.span(t, "POST "+base+"/client/approve")
			if server.SpanKind() != trace.SpanKindServer {
				t.Errorf("server span kind %v", server.SpanKind())
			}
			if got := server.SpanContext().TraceID().String(); got != callerTraceID {
				t.Errorf("trace id %s, want the caller's %s", got, callerTraceID)
			}
			if got := server.Parent(); got.SpanID().String() != callerSpanID || !got.IsRemote() {
				t.Errorf("server span parent %v, want the caller's remote span %s", got.SpanID(), callerSpanID)
			}
			want := map[attribute.Key]attribute.Value{
				"http.route":                attribute.StringValue(base + "/client/approve"),
				"http.request.method":       attribute.StringValue("POST"),
				"http.response.status_code": attribute.IntValue(200),
				AttrCorrelationID:           attribute.StringValue("corr-tel-1"),
				AttrRequestID:               attribute.StringValue("req-tel-1"),
				AttrProcessID:               attribute.StringValue("p-77"),
			}
			got := attrs(server)
			for k, v := range want {
				if got[k] != v {
					t.Errorf("server span %s = %v, want %v", k, got[k].String(), v.String())
				}
			}

			ep := h.span(t, EndpointClientApprove)
			if ep.Parent().SpanID() != server.SpanContext().SpanID() || ep.SpanKind() != trace.SpanKindInternal {
				t.Errorf("endpoint span parent %v kind %v, want child of the server span", ep.Parent().SpanID(), ep.SpanKind())
			}
			if attrs(ep)[AttrEndpoint] != attribute.StringValue(EndpointClientApprove) || ep.Status().Code != codes.Unset {
				t.Errorf("endpoint span attributes %v status %v", ep.Attributes(), ep.Status())
			}
			child := h.span(t, "decisions.Decision")
			if child.Parent().SpanID() != ep.SpanContext().SpanID() {
				t.Errorf("the service's span is not a child of the endpoint span")
			}

			// The ids are attributes only: nothing went into baggage, and
			// the caller's baggage is not taken in.
			if n := baggage.FromContext(f.ctx).Len(); n != 0 {
				t.Errorf("baggage has %d members: %v", n, baggage.FromContext(f.ctx))
			}
		})
	}
}

func TestTelemetryOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		approve   func(context.Context, ports.ApprovalRequest) (domain.Decision, error)
		status    int
		outcome   string
		spanError bool
	}{
		{"ok", nil, http.StatusOK, "ok", false},
		{"invalid is the caller's fault", func(context.Context, ports.ApprovalRequest) (domain.Decision, error) {
			return domain.Decision{}, domain.Invalid("score", "must be a number")
		}, http.StatusBadRequest, "invalid", false},
		{"unavailable", func(context.Context, ports.ApprovalRequest) (domain.Decision, error) {
			return domain.Decision{}, domain.Unavailable(errors.New("dial tcp: refused"), "database unavailable")
		}, http.StatusServiceUnavailable, "unavailable", true},
		{"internal", func(context.Context, ports.ApprovalRequest) (domain.Decision, error) {
			return domain.Decision{}, errors.New("boom 855412/1234")
		}, http.StatusInternalServerError, "internal", true},
		{"panic", func(context.Context, ports.ApprovalRequest) (domain.Decision, error) {
			panic("boom")
		}, http.StatusInternalServerError, "panic", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTelemetryHarness(t, &fakes{approve: tt.approve}, "")
			res := h.post("/client/approve", `{"processId":"p-1","userId":"user-1","identityVerificationId":"iv-1","status":"SUCCESS","score":8.5}`)
			if res.status != tt.status {
				t.Fatalf("status %d, want %d", res.status, tt.status)
			}
			ep := h.span(t, EndpointClientApprove)
			if got := attrs(ep)[attrErrorType]; tt.outcome != "ok" && got.AsString() != tt.outcome {
				t.Errorf("error.type %q, want %q", got.AsString(), tt.outcome)
			}
			if (ep.Status().Code == codes.Error) != tt.spanError {
				t.Errorf("endpoint span status %v, want error %v", ep.Status(), tt.spanError)
			}
			if desc := ep.Status().Description; desc != "" && desc != "database unavailable" && desc != internalMessage && desc != "panic" {
				t.Errorf("status description %q is neither a safe domain message nor generic", desc)
			}
			server := h.span(t, "POST /client/approve")
			if (server.Status().Code == codes.Error) != (tt.status >= 500) {
				t.Errorf("server span status %v for %d", server.Status(), tt.status)
			}

			rm := collect(t, h.reader)
			hist := histogramPoints(t, rm, MetricEndpointDuration)
			if len(hist) != 1 || hist[0].Count != 1 {
				t.Fatalf("endpoint histogram points %+v, want one", hist)
			}
			if got := labels(hist[0].Attributes); got["endpoint"] != EndpointClientApprove || got["outcome"] != tt.outcome || len(got) != 2 {
				t.Errorf("endpoint histogram labels %v, want endpoint and outcome=%s only", got, tt.outcome)
			}
			httpPts := histogramPoints(t, rm, "http.server.request.duration")
			if len(httpPts) != 1 {
				t.Fatalf("http histogram points %+v", httpPts)
			}
			if got := labels(httpPts[0].Attributes); got["http.route"] != "/client/approve" || got["http.response.status_code"] != itoa(tt.status) {
				t.Errorf("http histogram labels %v", got)
			}
		})
	}
}

func TestTelemetryUnroutedRequest(t *testing.T) {
	h := newTelemetryHarness(t, nil, "")
	if res := h.post("/no/such/route", `{}`); res.status != http.StatusNotFound {
		t.Fatalf("status %d", res.status)
	}
	ended := h.spans.Ended()
	if len(ended) != 1 || ended[0].Name() != "POST" {
		t.Fatalf("spans %v, want only the server span named after the method", ended)
	}
	if _, ok := attrs(ended[0])["http.route"]; ok {
		t.Errorf("an unrouted request has an http.route: %v", ended[0].Attributes())
	}
	if _, ok := attrs(ended[0])[AttrCorrelationID]; !ok {
		t.Errorf("the generated correlation id is not on the span")
	}
}

func collect(t *testing.T, r *sdkmetric.ManualReader) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}

func histogramPoints(t *testing.T, rm metricdata.ResourceMetrics, name string) []metricdata.HistogramDataPoint[float64] {
	t.Helper()
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				h, ok := m.Data.(metricdata.Histogram[float64])
				if !ok {
					t.Fatalf("%s is a %T", name, m.Data)
				}
				return h.DataPoints
			}
		}
	}
	return nil
}

func labels(s attribute.Set) map[string]string {
	m := map[string]string{}
	for _, kv := range s.ToSlice() {
		m[string(kv.Key)] = kv.Value.String()
	}
	return m
}

func itoa(n int) string { return attribute.IntValue(n).String() }
