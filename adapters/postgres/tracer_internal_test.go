package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestTraceSafe: what a tracer is handed of an error never quotes a value,
// keeps what an SRE needs (SQLSTATE, the schema objects, the network
// failure), and still unwraps to the original.
func TestTraceSafe(t *testing.T) {
	const secret = "8001011234"
	pgErr := &pgconn.PgError{Severity: "ERROR", Code: "22P02", Message: `invalid input syntax for type integer: "` + secret + `"`,
		Detail: "Key (personal_number)=(" + secret + ") already exists.", Where: "unnamed portal parameter $1 = '" + secret + "'",
		TableName: "clients", ColumnName: "personal_number", ConstraintName: "clients_pkey", SchemaName: "app"}
	opErr := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	encodeErr := fmt.Errorf("failed to encode args[0]: unable to encode %q into binary format for int4 (OID 23)", secret)
	for _, tc := range []struct {
		name   string
		err    error
		want   []string // in the text
		same   bool     // handed on unchanged
		target any      // errors.As must still find one
	}{
		{"nil", nil, nil, true, nil},
		{"PostgreSQL error", pgErr, []string{"ERROR (SQLSTATE 22P02)", "schema app", "table clients", "column personal_number", "constraint clients_pkey", "withheld"}, false, new(*pgconn.PgError)},
		{"PostgreSQL error wrapped", fmt.Errorf("batch: %w", pgErr), []string{"SQLSTATE 22P02"}, false, new(*pgconn.PgError)},
		{"encode error quoting the argument", encodeErr, []string{"*errors.errorString", "withheld"}, false, nil},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), []string{"deadline exceeded"}, true, nil},
		{"cancel", context.Canceled, []string{"canceled"}, true, nil},
		{"network", opErr, []string{"connection reset"}, true, new(*net.OpError)},
		{"closed connection", io.ErrUnexpectedEOF, []string{"unexpected EOF"}, true, nil},
		{"no rows", pgx.ErrNoRows, []string{"no rows"}, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := traceSafe(tc.err)
			if tc.err == nil {
				if got != nil {
					t.Fatalf("traceSafe(nil) = %v", got)
				}
				return
			}
			if got == nil {
				t.Fatal("traceSafe dropped the error")
			}
			if tc.same != (got == tc.err) {
				t.Fatalf("handed on unchanged: %v, want %v (%q)", got == tc.err, tc.same, got)
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
}
