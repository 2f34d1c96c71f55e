package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/adapters/postgres"
	"github.com/bankkit/onboarding-adapter/domain"
)

// lazyPool returns a pool that never connects (nothing listens on port 1);
// the translation only needs it for the failover reset.
func lazyPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.NewPool(context.Background(), "postgres://nobody@127.0.0.1:1/none?sslmode=disable", postgres.PoolConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func pgErr(code string) error {
	return fmt.Errorf("query: %w", &pgconn.PgError{Severity: "ERROR", Code: code, Message: "server says no", ColumnName: "score"})
}

func TestTranslate(t *testing.T) {
	t.Parallel()
	pool := lazyPool(t)
	for _, tc := range []struct {
		name string
		err  error
		want domain.ErrorCode
	}{
		{"nil stays nil", nil, ""},
		{"no rows", fmt.Errorf("scan: %w", pgx.ErrNoRows), domain.CodeNotFound},
		{"unique violation", pgErr("23505"), domain.CodeConflict},
		{"exclusion violation", pgErr("23P01"), domain.CodeConflict},
		{"check violation", pgErr("23514"), domain.CodeInvalid},
		{"NUL byte in text", pgErr("22021"), domain.CodeInvalid},
		{"numeric out of range", pgErr("22003"), domain.CodeInvalid},
		{"not-null violation is our bug", pgErr("23502"), domain.CodeInternal},
		{"undefined table", pgErr("42P01"), domain.CodeInternal},
		{"serialization failure", pgErr("40001"), domain.CodeUnavailable},
		{"deadlock", pgErr("40P01"), domain.CodeUnavailable},
		{"read-only transaction", pgErr("25006"), domain.CodeUnavailable},
		{"lock not available", pgErr("55P03"), domain.CodeUnavailable},
		{"query canceled (statement_timeout)", pgErr("57014"), domain.CodeUnavailable},
		{"admin shutdown", pgErr("57P01"), domain.CodeUnavailable},
		{"too many connections", pgErr("53300"), domain.CodeUnavailable},
		{"connection failure", pgErr("08006"), domain.CodeUnavailable},
		{"any FATAL ends the session: idle transaction timed out", &pgconn.PgError{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "25P03"}, domain.CodeUnavailable},
		{"the same code as an ERROR is the statement's", &pgconn.PgError{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "25P03"}, domain.CodeInternal},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), domain.CodeUnavailable},
		{"canceled", context.Canceled, domain.CodeUnavailable},
		{"network", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, domain.CodeUnavailable},
		{"unknown", errors.New("something odd"), domain.CodeInternal},
		{"a domain error passes through", domain.Invalid("kind", "bad"), domain.CodeInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := postgres.Translate(pool, tc.err)
			if code := domain.CodeOf(got); code != tc.want {
				t.Fatalf("code = %q (%v), want %q", code, got, tc.want)
			}
			if tc.err != nil && !errors.Is(got, tc.err) {
				if _, isDomain := domain.AsError(tc.err); !isDomain {
					t.Fatalf("translated error %v lost its cause %v", got, tc.err)
				}
			}
		})
	}
	t.Run("a data exception's text leaves out the refused value", func(t *testing.T) {
		cause := &pgconn.PgError{Severity: "ERROR", Code: "22007", Message: `invalid input syntax for type date: "1985-13-45"`, ColumnName: "birth_date"}
		got := postgres.Translate(pool, fmt.Errorf("query: %w", cause))
		if domain.CodeOf(got) != domain.CodeInvalid || strings.Contains(got.Error(), "1985") {
			t.Fatalf("translated = %v (code %s), want CodeInvalid without the value", got, domain.CodeOf(got))
		}
		if !strings.Contains(got.Error(), "22007") || !strings.Contains(got.Error(), "birth_date") {
			t.Errorf("translated = %v, want the SQLSTATE and the column", got)
		}
		if pg, ok := errors.AsType[*pgconn.PgError](got); !ok || pg != cause {
			t.Errorf("the driver's error is no longer reachable: %v", got)
		}
	})
	t.Run("a check violation names the column", func(t *testing.T) {
		de, _ := domain.AsError(postgres.Translate(pool, pgErr("23514")))
		if de.Field != "score" {
			t.Fatalf("field = %q, want score", de.Field)
		}
	})
}

// Only errors that end the session count as a lost connection (and drop
// the pool): not a statement's own failure or timeout on a live one.
func TestLostConnection(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"end of stream", fmt.Errorf("read: %w", io.EOF), true},
		{"unexpected end of stream", fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), true},
		{"reset by peer", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{"broken pipe", &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}, true},
		{"closed connection", fmt.Errorf("write: %w", net.ErrClosed), true},
		{"silent cut given up by the kernel", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ETIMEDOUT)}, true},
		{"host unreachable", &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EHOSTUNREACH)}, true},
		{"administrator's termination", &pgconn.PgError{Severity: "FATAL", Code: "57P01"}, true},
		{"idle-session timeout", &pgconn.PgError{Severity: "FATAL", Code: "57P05"}, true},
		{"termination on a server with localized messages", &pgconn.PgError{Severity: "SCHWERWIEGEND", SeverityUnlocalized: "FATAL", Code: "57P01"}, true},
		{"a localized ERROR", &pgconn.PgError{Severity: "FEHLER", SeverityUnlocalized: "ERROR", Code: "57014"}, false},
		{"too many clients on connect", connectError(t, "53300"), false},
		{"server closed the connection on connect", connectError(t, ""), false},
		{"statement timeout", pgErr("57014"), false},
		{"unique violation", pgErr("23505"), false},
		{"read-only transaction (its own reset)", pgErr("25006"), false},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), false},
		{"canceled", context.Canceled, false},
		{"read timeout", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, false},
		{"statement deadline on a broken read", fmt.Errorf("%w: %w", io.ErrUnexpectedEOF, os.ErrDeadlineExceeded), false},
		{"no rows", pgx.ErrNoRows, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := postgres.LostConnection(tc.err); got != tc.want {
				t.Fatalf("LostConnection(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// connectError returns what pgx returns when a new connection fails: a
// server that answers the startup with a FATAL error of code, or (code "")
// closes the connection at once.
func connectError(t *testing.T, code string) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if code == "" {
			return
		}
		be := pgproto3.NewBackend(c, c)
		if _, err := be.ReceiveStartupMessage(); err != nil {
			return
		}
		be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: code, Message: "sorry, too many clients already"})
		_ = be.Flush()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgconn.Connect(ctx, "postgres://nobody@"+ln.Addr().String()+"/none?sslmode=disable")
	if err == nil {
		conn.Close(ctx)
		t.Fatal("connected to a server that refuses")
	}
	var (
		ce    *pgconn.ConnectError
		pgErr *pgconn.PgError
	)
	if !errors.As(err, &ce) || (code != "" && (!errors.As(err, &pgErr) || pgErr.Code != code)) {
		t.Fatalf("connect error %v: want a ConnectError (wrapping a FATAL %s)", err, code)
	}
	return fmt.Errorf("acquire: %w", err)
}

func TestRunRetriesOnce(t *testing.T) {
	t.Parallel()
	pool := lazyPool(t)
	for _, tc := range []struct {
		name      string
		failures  []error // returned by the successive calls, then nil
		wantCalls int
		want      domain.ErrorCode
	}{
		{"success", nil, 1, ""},
		{"serialization failure, then success", []error{pgErr("40001")}, 2, ""},
		{"deadlock, then success", []error{pgErr("40P01")}, 2, ""},
		{"read-only after failover, then the new primary", []error{pgErr("25006")}, 2, ""},
		{"serialization failure twice", []error{pgErr("40001"), pgErr("40001")}, 2, domain.CodeUnavailable},
		{"read-only twice", []error{pgErr("25006"), pgErr("25006")}, 2, domain.CodeUnavailable},
		{"a statement cached before a migration", []error{&pgconn.PgError{Code: "0A000", Message: "cached plan must not change result type"}}, 2, ""},
		{"other unsupported features are not retried", []error{&pgconn.PgError{Code: "0A000", Message: "something else"}}, 1, domain.CodeInternal},
		{"unique violation is not retried", []error{pgErr("23505")}, 1, domain.CodeConflict},
		{"no rows is not retried", []error{pgx.ErrNoRows}, 1, domain.CodeNotFound},
		{"deadline is not retried", []error{context.DeadlineExceeded}, 1, domain.CodeUnavailable},
		{"a connection lost under the statement is not retried", []error{fmt.Errorf("receive: %w", io.ErrUnexpectedEOF)}, 1, domain.CodeUnavailable},
		{"a terminated session is not retried", []error{&pgconn.PgError{Severity: "FATAL", Code: "57P01", Message: "terminating connection due to administrator command"}}, 1, domain.CodeUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := postgres.Run(context.Background(), pool, func(context.Context) error {
				calls++
				if calls <= len(tc.failures) {
					return tc.failures[calls-1]
				}
				return nil
			})
			if calls != tc.wantCalls {
				t.Fatalf("fn ran %d times, want %d", calls, tc.wantCalls)
			}
			if code := domain.CodeOf(err); code != tc.want {
				t.Fatalf("code = %q (%v), want %q", code, err, tc.want)
			}
		})
	}
}
