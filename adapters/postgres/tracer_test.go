package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/bankkit/onboarding-adapter/adapters/postgres"
	"github.com/bankkit/onboarding-adapter/adapters/postgres/pgtest"
)

// spanText is everything a span would export about its failure: status
// description, attributes and events with theirs.
func spanText(s sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	b.WriteString(s.Name() + " status=" + s.Status().Description)
	for _, a := range s.Attributes() {
		b.WriteString(" " + string(a.Key) + "=" + a.Value.String())
	}
	for _, e := range s.Events() {
		b.WriteString(" event " + e.Name)
		for _, a := range e.Attributes {
			b.WriteString(" " + string(a.Key) + "=" + a.Value.String())
		}
	}
	return b.String()
}

// TestTracedErrorsQuoteNoValue runs statements whose PostgreSQL error
// quotes the argument through a pool traced by otelpgx, alone and in a
// batch: the spans carry the SQLSTATE and never the value. The same
// statement through otelpgx without the pool's redaction does quote it,
// so the check can fail.
func TestTracedErrorsQuoteNoValue(t *testing.T) {
	const secret = "Novak-800101-1234"
	ctx := context.Background()
	dsn := pgtest.NewEmptyDatabase(t)
	// otelpgx traces within a recording span, as a request's.
	newTracer := func() (*otelpgx.Tracer, *tracetest.SpanRecorder, context.Context) {
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		t.Cleanup(func() { _ = tp.Shutdown(ctx) })
		reqCtx, span := tp.Tracer("test").Start(ctx, "request")
		t.Cleanup(func() { span.End() })
		return otelpgx.NewTracer(otelpgx.WithTracerProvider(tp)), rec, reqCtx
	}

	tracer, rec, ctx := newTracer()
	pool, err := postgres.NewPool(ctx, dsn, postgres.PoolConfig{Tracer: tracer})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var n int
	if err := pool.QueryRow(ctx, `SELECT $1::text::int`, secret).Scan(&n); err == nil || !strings.Contains(err.Error(), secret) {
		t.Fatalf("the query's own error = %v, want PostgreSQL's message quoting the value (only traces lose it)", err)
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT 1`)
	b.Queue(`SELECT $1::text::int`, secret)
	if err := pool.SendBatch(ctx, b).Close(); err == nil {
		t.Fatal("the batch did not fail")
	}
	failed := 0
	for _, s := range rec.Ended() {
		text := spanText(s)
		if strings.Contains(text, secret) {
			t.Errorf("span quotes the value: %s", text)
		}
		if strings.Contains(s.Status().Description, "SQLSTATE 22P02") {
			failed++
		}
	}
	if failed < 2 {
		for _, s := range rec.Ended() {
			t.Log(spanText(s))
		}
		t.Errorf("%d failed spans name SQLSTATE 22P02, want the query's and the batch's", failed)
	}

	raw, rawRec, rawCtx := newTracer()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tracer = raw
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_ = conn.QueryRow(rawCtx, `SELECT $1::text::int`, secret).Scan(&n)
	leaked := false
	for _, s := range rawRec.Ended() {
		leaked = leaked || strings.Contains(spanText(s), secret)
	}
	if !leaked {
		t.Error("otelpgx alone no longer records PostgreSQL's message: this test no longer shows the redaction does anything")
	}
}
