package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// redactingTracer hands its tracer (otelpgx) every call as pgx reports it,
// except that errors carry only what identifies the failure. A tracer
// records an error's text on the span (as the exception message and the
// status description), and that text is not the service's to control:
// PostgreSQL quotes values in messages ("invalid input syntax for type
// date: \"…\"", a trigger's RAISE naming a row), and pgx quotes arguments
// it could not encode. Personal data must never reach a trace, so a
// PostgreSQL error is reduced to its severity, SQLSTATE and the names of
// the schema objects involved, and any other error to what traceSafe
// keeps of it.
//
// The error still wraps the original, so a tracer that asks for the
// *pgconn.PgError (otelpgx does, for the SQLSTATE attribute) finds it.
type redactingTracer struct {
	next pgx.QueryTracer
	// The other interfaces of next, asserted once (nil when it lacks one).
	batch   pgx.BatchTracer
	copy    pgx.CopyFromTracer
	prepare pgx.PrepareTracer
	connect pgx.ConnectTracer
	acquire pgxpool.AcquireTracer
	release pgxpool.ReleaseTracer
}

// redactErrors wraps t; every tracing interface pgx and pgxpool look for
// is implemented, and forwarded when t implements it.
func redactErrors(t pgx.QueryTracer) *redactingTracer {
	r := &redactingTracer{next: t}
	r.batch, _ = t.(pgx.BatchTracer)
	r.copy, _ = t.(pgx.CopyFromTracer)
	r.prepare, _ = t.(pgx.PrepareTracer)
	r.connect, _ = t.(pgx.ConnectTracer)
	r.acquire, _ = t.(pgxpool.AcquireTracer)
	r.release, _ = t.(pgxpool.ReleaseTracer)
	return r
}

var (
	_ pgx.QueryTracer       = (*redactingTracer)(nil)
	_ pgx.BatchTracer       = (*redactingTracer)(nil)
	_ pgx.CopyFromTracer    = (*redactingTracer)(nil)
	_ pgx.PrepareTracer     = (*redactingTracer)(nil)
	_ pgx.ConnectTracer     = (*redactingTracer)(nil)
	_ pgxpool.AcquireTracer = (*redactingTracer)(nil)
	_ pgxpool.ReleaseTracer = (*redactingTracer)(nil)
)

func (r *redactingTracer) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	return r.next.TraceQueryStart(ctx, conn, data)
}

func (r *redactingTracer) TraceQueryEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryEndData) {
	data.Err = traceSafe(data.Err)
	r.next.TraceQueryEnd(ctx, conn, data)
}

func (r *redactingTracer) TraceBatchStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	if t := r.batch; t != nil {
		return t.TraceBatchStart(ctx, conn, data)
	}
	return ctx
}

func (r *redactingTracer) TraceBatchQuery(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchQueryData) {
	if t := r.batch; t != nil {
		data.Err = traceSafe(data.Err)
		t.TraceBatchQuery(ctx, conn, data)
	}
}

func (r *redactingTracer) TraceBatchEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchEndData) {
	if t := r.batch; t != nil {
		data.Err = traceSafe(data.Err)
		t.TraceBatchEnd(ctx, conn, data)
	}
}

func (r *redactingTracer) TraceCopyFromStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceCopyFromStartData) context.Context {
	if t := r.copy; t != nil {
		return t.TraceCopyFromStart(ctx, conn, data)
	}
	return ctx
}

func (r *redactingTracer) TraceCopyFromEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceCopyFromEndData) {
	if t := r.copy; t != nil {
		data.Err = traceSafe(data.Err)
		t.TraceCopyFromEnd(ctx, conn, data)
	}
}

func (r *redactingTracer) TracePrepareStart(ctx context.Context, conn *pgx.Conn, data pgx.TracePrepareStartData) context.Context {
	if t := r.prepare; t != nil {
		return t.TracePrepareStart(ctx, conn, data)
	}
	return ctx
}

func (r *redactingTracer) TracePrepareEnd(ctx context.Context, conn *pgx.Conn, data pgx.TracePrepareEndData) {
	if t := r.prepare; t != nil {
		data.Err = traceSafe(data.Err)
		t.TracePrepareEnd(ctx, conn, data)
	}
}

func (r *redactingTracer) TraceConnectStart(ctx context.Context, data pgx.TraceConnectStartData) context.Context {
	if t := r.connect; t != nil {
		return t.TraceConnectStart(ctx, data)
	}
	return ctx
}

func (r *redactingTracer) TraceConnectEnd(ctx context.Context, data pgx.TraceConnectEndData) {
	if t := r.connect; t != nil {
		data.Err = traceSafe(data.Err)
		t.TraceConnectEnd(ctx, data)
	}
}

func (r *redactingTracer) TraceAcquireStart(ctx context.Context, pool *pgxpool.Pool, data pgxpool.TraceAcquireStartData) context.Context {
	if t := r.acquire; t != nil {
		return t.TraceAcquireStart(ctx, pool, data)
	}
	return ctx
}

func (r *redactingTracer) TraceAcquireEnd(ctx context.Context, pool *pgxpool.Pool, data pgxpool.TraceAcquireEndData) {
	if t := r.acquire; t != nil {
		data.Err = traceSafe(data.Err)
		t.TraceAcquireEnd(ctx, pool, data)
	}
}

func (r *redactingTracer) TraceRelease(pool *pgxpool.Pool, data pgxpool.TraceReleaseData) {
	if t := r.release; t != nil {
		t.TraceRelease(pool, data)
	}
}

// traceSafe returns err with a text of its own making, which holds no
// value (see redactingTracer), wrapping err. The original's text is never
// handed on, even when the cause is harmless: pgx wraps causes in texts
// that quote arguments ("unable to encode \"…\" into binary format for
// macaddr: address …: invalid MAC address", where the cause is a
// net.Error). What is kept is what an SRE needs and no value can be in: a
// PostgreSQL error's SQLSTATE and schema object names; the cancellation,
// deadline, closed connection or empty result; a network failure's
// operation, address and system error; a host name that did not resolve;
// a failed connect's host, port, database and user, then its cause's.
// Anything else is named by its type.
func traceSafe(err error) error {
	if err == nil {
		return nil
	}
	return &withheldError{text: safeText(err), err: err}
}

// safeText is traceSafe's text for err.
func safeText(err error) string {
	var (
		pe    *pgconn.PgError
		ce    *pgconn.ConnectError
		dns   *net.DNSError
		op    *net.OpError
		errno syscall.Errno
	)
	// A failed connect first, so that one the server refused (a wrong
	// password, a missing database) still names where it went.
	switch {
	case errors.As(err, &ce) && ce.Config != nil:
		text := fmt.Sprintf("failed to connect to host %s port %d database %s as %s", ce.Config.Host, ce.Config.Port,
			ce.Config.Database, ce.Config.User)
		if cause := errors.Unwrap(ce); cause != nil {
			text += ": " + safeText(cause)
		}
		return text
	case errors.As(err, &pe):
		return pgErrorText(pe)
	case errors.As(err, &dns):
		return "lookup " + dns.Name + ": " + dnsReason(dns)
	}
	for _, sentinel := range [...]error{context.Canceled, context.DeadlineExceeded, pgx.ErrNoRows, pgx.ErrTxClosed,
		io.ErrUnexpectedEOF, io.EOF, net.ErrClosed, os.ErrDeadlineExceeded} {
		if errors.Is(err, sentinel) {
			return sentinel.Error()
		}
	}
	if errors.As(err, &op) {
		text := op.Op + " " + op.Net
		if op.Addr != nil {
			text += " " + op.Addr.String()
		}
		if errors.As(op.Err, &errno) {
			text += ": " + errno.Error()
		}
		return text
	}
	return fmt.Sprintf("%T (its text is withheld from traces: it may quote a value)", err)
}

// dnsReason names why a host name did not resolve, without the resolver's
// own text.
func dnsReason(e *net.DNSError) string {
	switch {
	case e.IsNotFound:
		return "no such host"
	case e.IsTimeout:
		return "timeout"
	case e.IsTemporary:
		return "temporary failure"
	}
	return "failed"
}

// pgErrorText is what a trace shows of a PostgreSQL error: the severity,
// the SQLSTATE, and the schema objects PostgreSQL names in its fields
// (identifiers of this service's schema, never values). The message and
// its detail, hint and context are left out.
func pgErrorText(pe *pgconn.PgError) string {
	var b strings.Builder
	b.WriteString(pe.Severity)
	b.WriteString(" (SQLSTATE ")
	b.WriteString(pe.Code)
	b.WriteString(")")
	for _, f := range [...]struct{ name, value string }{
		{"schema", pe.SchemaName}, {"table", pe.TableName}, {"column", pe.ColumnName},
		{"data type", pe.DataTypeName}, {"constraint", pe.ConstraintName},
	} {
		if f.value != "" {
			b.WriteString(" ")
			b.WriteString(f.name)
			b.WriteString(" ")
			b.WriteString(f.value)
		}
	}
	b.WriteString("; message withheld from traces (PostgreSQL's own log has it)")
	return b.String()
}
