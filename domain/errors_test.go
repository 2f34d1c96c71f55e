package domain_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/bankkit/onboarding-adapter/domain"
)

func TestErrorConstructors(t *testing.T) {
	cause := io.ErrUnexpectedEOF
	tests := []struct {
		name      string
		err       *domain.Error
		wantCode  domain.ErrorCode
		wantField string
		wantText  string
	}{
		{"invalid", domain.Invalid("documentCheckResult.documents[1].data.dateOfExpiry", "must be a date, got %d parts", 2),
			domain.CodeInvalid, "documentCheckResult.documents[1].data.dateOfExpiry",
			"invalid documentCheckResult.documents[1].data.dateOfExpiry: must be a date, got 2 parts"},
		{"not found", domain.NotFound("userId", "user not found"), domain.CodeNotFound, "userId", "not_found userId: user not found"},
		{"not eligible", domain.NotEligible("client is %s", "blocked"), domain.CodeNotEligible, "", "not_eligible: client is blocked"},
		{"conflict", domain.Conflict("case already resolved"), domain.CodeConflict, "", "conflict: case already resolved"},
		{"unavailable", domain.Unavailable(cause, "registry"), domain.CodeUnavailable, "", "unavailable: registry: unexpected EOF"},
		{"internal", domain.Internal(cause, "decode row"), domain.CodeInternal, "", "internal: decode row: unexpected EOF"},
		{"errorf", domain.Errorf(domain.CodeInvalid, "language", "unknown"), domain.CodeInvalid, "language", "invalid language: unknown"},
		{"code only", &domain.Error{Code: domain.CodeInternal}, domain.CodeInternal, "", "internal"},
		{"field and cause, no message", &domain.Error{Code: domain.CodeUnavailable, Field: "db", Err: cause}, domain.CodeUnavailable, "db", "unavailable db: unexpected EOF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err.Code != tc.wantCode || tc.err.Field != tc.wantField {
				t.Errorf("code/field = %s/%q, want %s/%q", tc.err.Code, tc.err.Field, tc.wantCode, tc.wantField)
			}
			if got := tc.err.Error(); got != tc.wantText {
				t.Errorf("Error() = %q, want %q", got, tc.wantText)
			}
			if got := domain.CodeOf(tc.err); got != tc.wantCode {
				t.Errorf("CodeOf = %s, want %s", got, tc.wantCode)
			}
		})
	}
}

func TestCodeOfThroughWrapping(t *testing.T) {
	base := domain.NotFound("userId", "user not found")
	once := fmt.Errorf("load user: %w", base)
	twice := fmt.Errorf("send otp: %w", once)
	joined := errors.Join(errors.New("other"), twice)
	tests := []struct {
		name string
		err  error
		want domain.ErrorCode
	}{
		{"nil", nil, ""},
		{"plain error", errors.New("boom"), domain.CodeInternal},
		{"context deadline", context.DeadlineExceeded, domain.CodeInternal},
		{"domain error", base, domain.CodeNotFound},
		{"wrapped once", once, domain.CodeNotFound},
		{"wrapped twice", twice, domain.CodeNotFound},
		{"joined", joined, domain.CodeNotFound},
		// The outermost domain error decides: an adapter's unavailable
		// wrapping a not-found stays unavailable.
		{"domain wrapping domain", fmt.Errorf("x: %w", domain.Unavailable(base, "registry")), domain.CodeUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := domain.CodeOf(tc.err); got != tc.want {
				t.Errorf("CodeOf = %q, want %q", got, tc.want)
			}
			if got, want := domain.IsNotFound(tc.err), tc.want == domain.CodeNotFound; got != want {
				t.Errorf("IsNotFound = %v, want %v", got, want)
			}
		})
	}
}

func TestAsError(t *testing.T) {
	base := domain.Invalid("processId", "must not be empty")
	wrapped := fmt.Errorf("approve: %w", fmt.Errorf("validate: %w", base))
	de, ok := domain.AsError(wrapped)
	if !ok || de != base {
		t.Fatalf("AsError = %v, %v; want the original error", de, ok)
	}
	if de.Field != "processId" || de.Message != "must not be empty" {
		t.Errorf("field/message = %q/%q", de.Field, de.Message)
	}
	if de, ok := domain.AsError(errors.New("plain")); ok || de != nil {
		t.Errorf("AsError(plain) = %v, %v", de, ok)
	}
	if de, ok := domain.AsError(nil); ok || de != nil {
		t.Errorf("AsError(nil) = %v, %v", de, ok)
	}
}

func TestErrorsIsThroughUnwrap(t *testing.T) {
	err := fmt.Errorf("lookup: %w", domain.Unavailable(context.DeadlineExceeded, "registry timed out"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Error("errors.Is does not see the cause through the domain error")
	}
	if errors.Is(err, context.Canceled) {
		t.Error("errors.Is matched an unrelated cause")
	}
	if got := err.Error(); !strings.Contains(got, "registry timed out") || !strings.Contains(got, context.DeadlineExceeded.Error()) {
		t.Errorf("Error() = %q should carry message and cause", got)
	}
	if (&domain.Error{Code: domain.CodeInvalid}).Unwrap() != nil {
		t.Error("Unwrap of an error without cause is not nil")
	}
}
