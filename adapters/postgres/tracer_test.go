package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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

// TestTracedConnectErrors: a connect that fails, at the network or at the
// server, is named by its target and cause in a trace, and the server's
// message is not in it.
func TestTracedConnectErrors(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewEmptyDatabase(t) // skips or fails loudly without a server
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dsn string
		want      []string
	}{
		{"nothing listens", "postgres://app@127.0.0.1:1/onboarding?sslmode=disable&connect_timeout=5",
			[]string{"failed to connect to host 127.0.0.1 port 1 database onboarding as app: dial tcp 127.0.0.1:1: connection refused"}},
		{"the server refuses the database", fmt.Sprintf("postgres://%s@%s:%d/no_such_database_8001011234?sslmode=disable", cfg.User, cfg.Host, cfg.Port),
			[]string{fmt.Sprintf("failed to connect to host %s port %d database no_such_database_8001011234 as %s: FATAL (SQLSTATE 3D000)", cfg.Host, cfg.Port, cfg.User)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := pgconn.Connect(ctx, tc.dsn)
			if err == nil {
				_ = conn.Close(ctx)
				t.Fatal("the connect did not fail")
			}
			text := postgres.TraceSafe(err).Error()
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("trace text %q lacks %q (pgx's: %q)", text, w, err)
				}
			}
			if strings.Contains(text, "does not exist") {
				t.Errorf("trace text %q carries the server's message", text)
			}
		})
	}
}
