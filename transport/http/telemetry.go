package httptransport

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-kit/kit/endpoint"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/bankkit/onboarding-adapter/domain"
)

// ScopeName is the instrumentation scope of the endpoint spans and metric.
const ScopeName = "github.com/bankkit/onboarding-adapter/transport/http"

// MetricEndpointDuration is the latency histogram EndpointTelemetry
// records, in seconds, by endpoint and outcome.
const MetricEndpointDuration = "onboarding.endpoint.duration"

// Span attributes the transport sets. The ids go on the server span (the
// one otelhttp opens around the handler), never into baggage: baggage
// travels to every downstream, third parties included.
const (
	AttrCorrelationID = attribute.Key("onboarding.correlation_id")
	AttrRequestID     = attribute.Key("onboarding.request_id")
	AttrProcessID     = attribute.Key("onboarding.process_id")
	AttrEndpoint      = attribute.Key("onboarding.endpoint")
	attrErrorType     = attribute.Key("error.type")
	attrHTTPRoute     = attribute.Key("http.route")
)

// outcomeOK is the outcome label of an endpoint call that returned no error;
// otherwise it is the domain error code (invalid, not_found, unavailable,
// internal, ...) or "panic".
const (
	outcomeOK    = "ok"
	outcomePanic = "panic"
)

// durationBuckets are the advised buckets of http.server.request.duration,
// so endpoint and HTTP latencies compare bucket for bucket.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// EndpointTelemetry returns the Config.EndpointMiddleware that instruments
// every endpoint once: a child span of the server span named after the
// endpoint (e.g. "client_approve"), with onboarding.endpoint and, on failure,
// error.type (the domain error code) and, for 5xx-class failures, the
// Error status; and the onboarding.endpoint.duration histogram labelled
// {endpoint, outcome}. The service call and its driven-port spans happen
// inside that span.
func EndpointTelemetry(tp trace.TracerProvider, mp metric.MeterProvider) (func(name string) endpoint.Middleware, error) {
	tracer := tp.Tracer(ScopeName)
	hist, err := mp.Meter(ScopeName).Float64Histogram(MetricEndpointDuration,
		metric.WithUnit("s"),
		metric.WithDescription("Time the endpoint (service call included, decoding and encoding excluded) took, by endpoint and outcome."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	if err != nil {
		return nil, fmt.Errorf("httptransport: creating %s: %w", MetricEndpointDuration, err)
	}
	return func(name string) endpoint.Middleware {
		// Everything that does not change between calls is built here, once
		// per endpoint: the span's start options and the metric's attribute
		// sets, one per outcome (attribute.NewSet sorts and allocates, and
		// an option slice built per call escapes).
		startOpts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(AttrEndpoint.String(name))}
		endpointLabel := attribute.String("endpoint", name)
		recordOpts := func(outcome string) []metric.RecordOption {
			return []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(endpointLabel, attribute.String("outcome", outcome)))}
		}
		byOutcome := map[string][]metric.RecordOption{outcomeOK: recordOpts(outcomeOK), outcomePanic: recordOpts(outcomePanic)}
		for _, code := range domainCodes {
			byOutcome[string(code)] = recordOpts(string(code))
		}
		return func(next endpoint.Endpoint) endpoint.Endpoint {
			return func(ctx context.Context, request any) (response any, err error) {
				start := time.Now()
				ctx, span := tracer.Start(ctx, name, startOpts...)
				panicked := true
				defer func() {
					outcome := outcomeOK
					switch {
					case panicked:
						// recoverEndpoint, outside this middleware, turns the
						// re-raised panic into a 500.
						outcome = outcomePanic
						span.SetAttributes(attrErrorType.String(outcome))
						span.SetStatus(codes.Error, "panic")
					case err != nil:
						code := domain.CodeOf(err)
						outcome = string(code)
						span.SetAttributes(attrErrorType.String(outcome))
						if status, _ := statusOf(code); status >= http.StatusInternalServerError {
							msg := internalMessage
							if de, ok := domain.AsError(err); ok && de.Message != "" && code != domain.CodeInternal {
								msg = de.Message
							}
							span.SetStatus(codes.Error, msg)
						}
					}
					opts, ok := byOutcome[outcome]
					if !ok { // a code this package does not know yet
						opts = recordOpts(outcome)
					}
					hist.Record(ctx, time.Since(start).Seconds(), opts...)
					span.End()
				}()
				response, err = next(ctx, request)
				panicked = false
				return response, err
			}
		}
	}, nil
}

// domainCodes are the error codes whose metric attribute sets are built in
// advance.
var domainCodes = [...]domain.ErrorCode{domain.CodeInvalid, domain.CodeNotFound, domain.CodeNotEligible,
	domain.CodeConflict, domain.CodeUnavailable, domain.CodeInternal}

// annotateRoute sets http.route on the server span: otelhttp renames the
// span after routing but fills the attribute only from a pattern known
// when the request arrives, which is never the case in front of a router.
func annotateRoute(ctx context.Context, pattern string) {
	if pattern == "" {
		return
	}
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	route := pattern
	if i := strings.IndexByte(pattern, '/'); i >= 0 {
		route = pattern[i:]
	}
	span.SetAttributes(attrHTTPRoute.String(route))
}

// annotateServerSpan puts the request's ids on the span in ctx: the server
// span when otelhttp wraps the handler, a no-op otherwise.
func annotateServerSpan(ctx context.Context, st *requestState) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(AttrCorrelationID.String(st.correlationID), AttrRequestID.String(st.requestID))
}
