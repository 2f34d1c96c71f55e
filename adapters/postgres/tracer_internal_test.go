package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestTraceSafe: what a tracer is handed of an error never quotes a value,
// even where the cause is harmless, keeps what an SRE needs (SQLSTATE, the
// schema objects, the network failure, the connect target), and still
// unwraps to the original.
func TestTraceSafe(t *testing.T) {
	const secret = "8001011234"
	pgErr := &pgconn.PgError{Severity: "ERROR", Code: "22P02", Message: `invalid input syntax for type integer: "` + secret + `"`,
		Detail: "Key (personal_number)=(" + secret + ") already exists.", Where: "unnamed portal parameter $1 = '" + secret + "'",
		TableName: "clients", ColumnName: "personal_number", ConstraintName: "clients_pkey", SchemaName: "app"}
	opErr := &net.OpError{Op: "read", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 5432},
		Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	quoting := func(cause error) error {
		return fmt.Errorf("failed to encode args[0]: unable to encode %q into binary format for macaddr (OID 829): %w", secret, cause)
	}
	connect := &pgconn.ConnectError{Config: &pgconn.Config{Host: "db.internal", Port: 5432, Database: "onboarding", User: "onboarding_app"}}
	for _, tc := range []struct {
		name   string
		err    error
		want   []string // in the text
		target any      // errors.As must still find one
	}{
		{"PostgreSQL error", pgErr, []string{"ERROR (SQLSTATE 22P02)", "schema app", "table clients", "column personal_number", "constraint clients_pkey", "withheld"}, new(*pgconn.PgError)},
		{"PostgreSQL error wrapped", fmt.Errorf("batch %q: %w", secret, pgErr), []string{"SQLSTATE 22P02"}, new(*pgconn.PgError)},
		{"encode error quoting the argument", fmt.Errorf("unable to encode %q into binary format for int4 (OID 23)", secret), []string{"*errors.errorString", "withheld"}, nil},
		{"a quoting text around a net.Error", quoting(&net.AddrError{Err: "invalid MAC address", Addr: secret}), []string{"withheld"}, new(*net.AddrError)},
		{"a quoting text around a cancellation", quoting(context.Canceled), []string{"context canceled"}, nil},
		{"a quoting text around a closed connection", quoting(io.ErrUnexpectedEOF), []string{"unexpected EOF"}, nil},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), []string{"context deadline exceeded"}, nil},
		{"network", fmt.Errorf("write %s: %w", secret, opErr), []string{"read tcp 10.0.0.7:5432: connection reset by peer"}, new(*net.OpError)},
		{"connect", connect, []string{"failed to connect to host db.internal port 5432 database onboarding as onboarding_app"}, new(*pgconn.ConnectError)},
		{"no rows", pgx.ErrNoRows, []string{"no rows"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := traceSafe(tc.err)
			if got == nil {
				t.Fatal("traceSafe dropped the error")
			}
			text := got.Error()
			if strings.Contains(text, secret) {
				t.Fatalf("the text quotes the value: %q", text)
			}
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("text %q lacks %q", text, w)
				}
			}
			if !errors.Is(got, tc.err) {
				t.Errorf("%q no longer unwraps to the original", text)
			}
			if tc.target != nil && !errors.As(got, tc.target) {
				t.Errorf("errors.As(%T) fails on %q", tc.target, text)
			}
		})
	}
	if traceSafe(nil) != nil {
		t.Error("traceSafe(nil) is not nil")
	}
}

// recordingTracer implements every interface redactingTracer forwards and
// records each call and the error it was handed.
type recordingTracer struct {
	calls []string
	errs  []error
}

type traceKey struct{}

func (r *recordingTracer) start(ctx context.Context, name string) context.Context {
	r.calls = append(r.calls, name)
	return context.WithValue(ctx, traceKey{}, name)
}

func (r *recordingTracer) end(name string, err error) {
	r.calls = append(r.calls, name)
	r.errs = append(r.errs, err)
}

func (r *recordingTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return r.start(ctx, "query start")
}
func (r *recordingTracer) TraceQueryEnd(_ context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	r.end("query end", d.Err)
}
func (r *recordingTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return r.start(ctx, "batch start")
}
func (r *recordingTracer) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	r.end("batch query", d.Err)
}
func (r *recordingTracer) TraceBatchEnd(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchEndData) {
	r.end("batch end", d.Err)
}
func (r *recordingTracer) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	return r.start(ctx, "copy start")
}
func (r *recordingTracer) TraceCopyFromEnd(_ context.Context, _ *pgx.Conn, d pgx.TraceCopyFromEndData) {
	r.end("copy end", d.Err)
}
func (r *recordingTracer) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	return r.start(ctx, "prepare start")
}
func (r *recordingTracer) TracePrepareEnd(_ context.Context, _ *pgx.Conn, d pgx.TracePrepareEndData) {
	r.end("prepare end", d.Err)
}
func (r *recordingTracer) TraceConnectStart(ctx context.Context, _ pgx.TraceConnectStartData) context.Context {
	return r.start(ctx, "connect start")
}
func (r *recordingTracer) TraceConnectEnd(_ context.Context, d pgx.TraceConnectEndData) {
	r.end("connect end", d.Err)
}
func (r *recordingTracer) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	return r.start(ctx, "acquire start")
}
func (r *recordingTracer) TraceAcquireEnd(_ context.Context, _ *pgxpool.Pool, d pgxpool.TraceAcquireEndData) {
	r.end("acquire end", d.Err)
}
func (r *recordingTracer) TraceRelease(*pgxpool.Pool, pgxpool.TraceReleaseData) {
	r.calls = append(r.calls, "release")
}

// queryOnly traces queries and nothing else, as a minimal tracer would.
type queryOnly struct{ r *recordingTracer }

func (q queryOnly) TraceQueryStart(ctx context.Context, c *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	return q.r.TraceQueryStart(ctx, c, d)
}
func (q queryOnly) TraceQueryEnd(ctx context.Context, c *pgx.Conn, d pgx.TraceQueryEndData) {
	q.r.TraceQueryEnd(ctx, c, d)
}

// traceEverything makes every call of every tracing interface on t, each
// End with err, and returns the names of the Starts whose context came
// back from the tracer (carrying its value).
func traceEverything(t *redactingTracer, err error) (marked []string) {
	ctx := context.Background()
	mark := func(name string, c context.Context) {
		if v, _ := c.Value(traceKey{}).(string); v != "" {
			marked = append(marked, name)
		}
	}
	mark("query", t.TraceQueryStart(ctx, nil, pgx.TraceQueryStartData{}))
	t.TraceQueryEnd(ctx, nil, pgx.TraceQueryEndData{Err: err})
	mark("batch", t.TraceBatchStart(ctx, nil, pgx.TraceBatchStartData{}))
	t.TraceBatchQuery(ctx, nil, pgx.TraceBatchQueryData{Err: err})
	t.TraceBatchEnd(ctx, nil, pgx.TraceBatchEndData{Err: err})
	mark("copy", t.TraceCopyFromStart(ctx, nil, pgx.TraceCopyFromStartData{}))
	t.TraceCopyFromEnd(ctx, nil, pgx.TraceCopyFromEndData{Err: err})
	mark("prepare", t.TracePrepareStart(ctx, nil, pgx.TracePrepareStartData{}))
	t.TracePrepareEnd(ctx, nil, pgx.TracePrepareEndData{Err: err})
	mark("connect", t.TraceConnectStart(ctx, pgx.TraceConnectStartData{}))
	t.TraceConnectEnd(ctx, pgx.TraceConnectEndData{Err: err})
	mark("acquire", t.TraceAcquireStart(ctx, nil, pgxpool.TraceAcquireStartData{}))
	t.TraceAcquireEnd(ctx, nil, pgxpool.TraceAcquireEndData{Err: err})
	t.TraceRelease(nil, pgxpool.TraceReleaseData{})
	return marked
}

// TestRedactingTracerForwardsEveryCall: every call reaches a tracer that
// implements its interface, in order, with the tracer's own context back
// from each Start and a redacted error at each End; a tracer of queries
// alone gets the queries and nothing else, and the rest are no-ops.
func TestRedactingTracerForwardsEveryCall(t *testing.T) {
	const secret = "8001011234"
	err := &pgconn.PgError{Severity: "ERROR", Code: "22P02", Message: `invalid input syntax for type integer: "` + secret + `"`}

	all := &recordingTracer{}
	marked := traceEverything(redactErrors(all), err)
	want := []string{"query start", "query end", "batch start", "batch query", "batch end", "copy start", "copy end",
		"prepare start", "prepare end", "connect start", "connect end", "acquire start", "acquire end", "release"}
	if !slices.Equal(all.calls, want) {
		t.Errorf("calls %q\nwant  %q", all.calls, want)
	}
	if want := []string{"query", "batch", "copy", "prepare", "connect", "acquire"}; !slices.Equal(marked, want) {
		t.Errorf("the tracer's context came back from %q, want %q", marked, want)
	}
	if len(all.errs) != 7 {
		t.Fatalf("%d Ends recorded an error, want 7", len(all.errs))
	}
	for i, e := range all.errs {
		if e == nil || strings.Contains(e.Error(), secret) || !errors.Is(e, err) {
			t.Errorf("End %d was handed %v", i, e)
		}
	}

	some := &recordingTracer{}
	marked = traceEverything(redactErrors(queryOnly{some}), err)
	if want := []string{"query start", "query end"}; !slices.Equal(some.calls, want) {
		t.Errorf("a query tracer got %q, want %q", some.calls, want)
	}
	if !slices.Equal(marked, []string{"query"}) {
		t.Errorf("contexts came back from %q, want only the query's", marked)
	}
}
