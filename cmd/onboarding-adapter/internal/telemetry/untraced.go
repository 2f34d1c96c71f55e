package telemetry

import (
	"context"
	"encoding/binary"
	"math/rand/v2"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// untracedProvider is the tracer provider of a process that exports no span
// (OTEL_TRACES_EXPORTER=none, the default, with no sampler set and no span
// processor): recording spans only to drop them cost about a fifth of the
// CPU of a small request (docs/performance.md). It records nothing and
// allocates nothing per span, yet keeps what the logs and the downstream
// calls need of a trace:
//
//   - a request that arrives with a traceparent keeps the caller's span
//     context throughout: every log line carries the caller's trace id (and
//     its span id, since no span of ours exists), and the SMS gateway's
//     traceparent names the caller's span as parent, with the caller's
//     sampled flag, so a traced gateway hangs its spans under the caller's;
//   - a request without one gets fresh random trace and span ids at its
//     server span, unsampled (nothing records it, and downstream samplers
//     that follow the parent record nothing either), so its log lines still
//     share a trace id;
//   - work outside a request (pool connects, the Redis subscriber) gets no
//     ids, as the SDK set-up never samples it either (serverRoots).
//
// Every other span (endpoint, driven ports, pgx, Redis, the SMS client)
// continues the span context in its context unchanged: Start returns that
// context and its non-recording span as they are.
type untracedProvider struct{ embedded.TracerProvider }

// Tracer returns the one untraced tracer; name and options do not matter.
func (untracedProvider) Tracer(string, ...trace.TracerOption) trace.Tracer { return untracedTracer{} }

type untracedTracer struct{ embedded.Tracer }

// Start implements trace.Tracer as untracedProvider describes.
func (untracedTracer) Start(ctx context.Context, _ string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if sc := parent.SpanContext(); sc.IsValid() {
		// trace.WithNewRoot is not honoured under a valid parent (no
		// component of this service asks for it): reading the options
		// would copy their attributes for every span.
		if parent.IsRecording() {
			// A span of another provider: never hand it out, its End
			// would end it. A non-recording copy continues its context.
			ctx = trace.ContextWithSpanContext(ctx, sc)
			return ctx, trace.SpanFromContext(ctx)
		}
		return ctx, parent
	}
	if cfg := trace.NewSpanStartConfig(opts...); cfg.SpanKind() != trace.SpanKindServer {
		return ctx, parent
	}
	ctx = trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: newTraceID(),
		SpanID:  newSpanID(),
	}))
	return ctx, trace.SpanFromContext(ctx)
}

// newTraceID draws a random, non-zero trace id. The ids are not secrets:
// math/rand/v2's per-thread generator is enough, like the SDK's own.
func newTraceID() trace.TraceID {
	var id trace.TraceID
	for !id.IsValid() {
		binary.LittleEndian.PutUint64(id[:8], rand.Uint64())
		binary.LittleEndian.PutUint64(id[8:], rand.Uint64())
	}
	return id
}

// newSpanID draws a random, non-zero span id.
func newSpanID() trace.SpanID {
	var id trace.SpanID
	for !id.IsValid() {
		binary.LittleEndian.PutUint64(id[:], rand.Uint64())
	}
	return id
}
