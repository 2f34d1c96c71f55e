package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"

	"github.com/bankkit/onboarding-adapter/domain"
)

// SQLSTATE codes the adapter reacts to.
const (
	sqlstateUniqueViolation      = "23505"
	sqlstateExclusionViolation   = "23P01"
	sqlstateCheckViolation       = "23514"
	sqlstateSerializationFailure = "40001"
	sqlstateDeadlockDetected     = "40P01"
	sqlstateReadOnlyTransaction  = "25006"
	sqlstateLockNotAvailable     = "55P03"
	sqlstateFeatureNotSupported  = "0A000"
)

// resetInterval bounds how often a read-only answer or a lost connection
// resets the pool: one reset drops every connection to the demoted primary
// or the lost server; more within a second would only churn connections
// while the failover or the restart completes.
const resetInterval = time.Second

// db is what every adapter of one pool shares: the pool and the reset
// guard. All queries go through run, so retries and error translation
// happen in exactly one place.
type db struct {
	pool      *pgxpool.Pool
	lastReset atomic.Int64 // unix nanoseconds of the last pool reset

	logger        *slog.Logger
	lastFallback  atomic.Int64 // unix nanoseconds of the last fallback logged
	fallbacksSeen atomic.Int64 // fallbacks since then
}

func newDB(pool *pgxpool.Pool) *db { return &db{pool: pool, logger: slog.New(slog.DiscardHandler)} }

// fallbackLogInterval bounds how often a batch that fell back to single
// statements is logged: a broken batch statement fails every batch.
const fallbackLogInterval = 10 * time.Second

// noteFallback logs, at most once per fallbackLogInterval with the count
// since, that a batch of n calls failed with err and its calls ran alone.
// Only the SQLSTATE is logged: a driver message may quote a value.
func (d *db) noteFallback(what string, n int, err error) {
	seen := d.fallbacksSeen.Add(1)
	if !firstIn(&d.lastFallback, fallbackLogInterval) {
		return
	}
	d.fallbacksSeen.Add(-seen)
	state := "none"
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		state = pgErr.Code
	}
	d.logger.Warn("a batched read failed; its reads ran one by one", slog.String("data", what),
		slog.Int("calls", n), slog.String("sqlstate", state), slog.String("code", string(domain.CodeOf(err))),
		slog.Int64("fallbacks_since_last_log", seen))
}

// run executes fn, a whole unit of work (one statement or one
// transaction), and translates its error. fn runs a second time when the
// first failure is one that provably changed nothing and that another
// attempt may not meet: a serialization failure or deadlock (the
// transaction was rolled back), a read-only answer after a failover (the
// pool was just reset, so the retry gets a connection to the new primary),
// a statement cached before a migration changed its table (pgx re-prepares
// it), or a connection failure before anything was sent. A second failure is
// translated like any other; what stays transient becomes CodeUnavailable.
//
// A lost connection (the network cut it, the server restarted or
// terminated the session) also drops the pool's connections: they were most
// likely lost together, and each would otherwise fail one more request
// before the pool noticed (it pings only connections idle for a second).
// The failed unit of work is retried only when nothing of it was sent.
//
// what names the data in messages ("client", "consent text"); it must not
// contain personal data.
func (d *db) run(ctx context.Context, what string, fn func(ctx context.Context) error) error {
	err := fn(ctx)
	if err != nil && d.retryable(err) && ctx.Err() == nil {
		err = fn(ctx)
	}
	return d.translate(what, err)
}

// retryable reports whether err allows one more attempt, resetting the pool
// on a read-only answer (so that attempt reaches the new primary) and on a
// lost connection (so the requests after it do not meet the pool's other
// dead connections).
func (d *db) retryable(err error) bool {
	if lostConnection(err) {
		d.dropConnections()
		return pgconn.SafeToRetry(err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case sqlstateSerializationFailure, sqlstateDeadlockDetected:
			return true
		case sqlstateReadOnlyTransaction:
			d.dropConnections()
			return true
		case sqlstateFeatureNotSupported:
			// A migration changed a table under a cached statement; pgx
			// has dropped the statement, so the next attempt re-prepares.
			return strings.Contains(pgErr.Message, "cached plan must not change result type")
		}
		return false
	}
	return pgconn.SafeToRetry(err)
}

// lostConnection reports whether err means an established session is
// gone: the server ended it with a FATAL error (an administrator's or a
// restart's termination, an idle-session timeout) or the connection was
// closed or reset under the statement. Not a lost connection: a statement
// that failed or ran out of time on a live connection, and a new connection
// that could not be opened (too many clients, a wrong password, a server
// starting up): dropping the pool's working connections for those would
// only add dialling to an overload.
func lostConnection(err error) bool {
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// The localized severity follows the server's lc_messages.
		severity := pgErr.SeverityUnlocalized
		if severity == "" {
			severity = pgErr.Severity
		}
		return severity == "FATAL" || severity == "PANIC"
	}
	// A silent cut (no FIN, no reset) ends when the kernel gives the
	// connection up: ETIMEDOUT counts as a timeout for Go, but it is the
	// connection's, not a statement's.
	if errors.Is(err, syscall.ETIMEDOUT) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || pgconn.Timeout(err) ||
		(errors.As(err, &netErr) && netErr.Timeout()) {
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED)
}

// dropConnections closes every connection of the pool (idle ones now,
// busy ones when they are released) after a read-only answer or a lost
// connection.
//
// A read-only answer (SQLSTATE 25006) on a pool configured for the primary
// means the server was demoted by a failover, and then it is not one
// connection but all of them that point at the old primary: closing only
// the one that failed would let each of the others fail one more request.
// pgxpool's Reset is made for this ("a server state change"); new
// connections go through target_session_attrs=read-write again and reach
// the new primary. Resets are rate-limited to one per resetInterval so a
// burst of failing requests does not keep emptying the pool.
func (d *db) dropConnections() {
	if firstIn(&d.lastReset, resetInterval) {
		d.pool.Reset()
	}
}

// firstIn reports whether the caller is the first to act in the interval
// since *last (unix nanoseconds), and if so moves *last to now: of
// concurrent callers at most one wins.
func firstIn(last *atomic.Int64, interval time.Duration) bool {
	now := time.Now().UnixNano()
	prev := last.Load()
	return now-prev >= int64(interval) && last.CompareAndSwap(prev, now)
}

// translate turns a driver error into the domain's error codes, once:
//
//   - pgx.ErrNoRows: CodeNotFound;
//   - unique and exclusion violations (23505, 23P01) the caller did not
//     handle itself: CodeConflict;
//   - data exceptions (class 22, e.g. a NUL byte in a text) and CHECK
//     violations (23514): CodeInvalid, naming the column when the server
//     does;
//   - serialization failures and deadlocks (40001, 40P01) that survived
//     the retry, a read-only server (25006), lock timeouts (55P03),
//     connection, resource and operator-intervention classes (08, 53, 57,
//     58), context deadlines and cancellations, network and connect errors,
//     a closed pool: CodeUnavailable, which the transport answers with 503
//     so the caller retries;
//   - anything else: CodeInternal.
//
// The cause is kept for logs and errors.Is. A PgError's text carries the
// server's message, which names constraints and types, and values only for
// data exceptions (class 22: `invalid input syntax for type date: "…"`);
// those keep their cause behind a withheldError, whose text leaves the
// message out. Detail, which holds a violating row's values, Error() never shows.
func (d *db) translate(what string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := domain.AsError(err); ok {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		e := domain.NotFound("", "%s not found", what)
		e.Err = err
		return e
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return translatePgError(what, pgErr, err)
	}
	if transient(err) {
		return domain.Unavailable(err, "database unavailable")
	}
	return domain.Internal(err, "database error")
}

func translatePgError(what string, pgErr *pgconn.PgError, err error) error {
	code := pgErr.Code
	switch {
	case code == sqlstateUniqueViolation || code == sqlstateExclusionViolation:
		return &domain.Error{Code: domain.CodeConflict, Message: what + " already exists", Err: err}
	case code == sqlstateCheckViolation || strings.HasPrefix(code, "22"):
		return &domain.Error{Code: domain.CodeInvalid, Field: pgErr.ColumnName, Message: what + " has a value the database refuses", Err: &withheldError{text: dataExceptionText(pgErr), err: err}}
	case code == sqlstateSerializationFailure || code == sqlstateDeadlockDetected ||
		code == sqlstateReadOnlyTransaction || code == sqlstateLockNotAvailable:
		return domain.Unavailable(err, "database unavailable")
	}
	switch code[:2] {
	case "08", "53", "57", "58":
		// connection exception, insufficient resources, operator
		// intervention (query canceled, admin shutdown), system error
		return domain.Unavailable(err, "database unavailable")
	}
	if lostConnection(err) {
		// Any FATAL ends the session, whatever its class (25P03: an idle
		// transaction timed out): a retry on another connection may pass.
		return domain.Unavailable(err, "database unavailable")
	}
	return domain.Internal(err, "database error")
}

// transient reports whether a non-server error means the database could
// not be reached or answer in time.
func transient(err error) bool {
	var (
		netErr     net.Error
		connectErr *pgconn.ConnectError
	)
	return errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) ||
		pgconn.Timeout(err) ||
		pgconn.SafeToRetry(err) ||
		errors.As(err, &connectErr) ||
		errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, puddle.ErrClosedPool)
}

// withheldError is an error whose text was replaced by one that quotes no
// value, for logs (a data exception's cause, see translate) and traces
// (see traceSafe); errors.Is and errors.As still reach the original.
type withheldError struct {
	text string
	err  error
}

func (e *withheldError) Error() string { return e.text }
func (e *withheldError) Unwrap() error { return e.err }

// dataExceptionText is a data exception's text for logs: its SQLSTATE and
// the column, never the server's message, which may quote the refused
// value (a birth date, a personal number).
func dataExceptionText(pg *pgconn.PgError) string {
	if pg.ColumnName != "" {
		return fmt.Sprintf("data exception (SQLSTATE %s, column %s)", pg.Code, pg.ColumnName)
	}
	return fmt.Sprintf("data exception (SQLSTATE %s)", pg.Code)
}
