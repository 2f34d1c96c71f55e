package domain

import (
	"errors"
	"fmt"
)

// ErrorCode is the closed set of failure classes the transport maps to HTTP
// statuses. Keeping it small lets every adapter translate its driver errors
// once and lets the transport keep one table instead of string matching.
type ErrorCode string

// The error codes. Anything that is not one of them is treated as internal.
const (
	// CodeInvalid means the request is malformed or violates a business rule
	// that the caller can fix (400).
	CodeInvalid ErrorCode = "invalid"
	// CodeNotFound means the client, user or resource does not exist (404).
	CodeNotFound ErrorCode = "not_found"
	// CodeNotEligible means the client exists but may not be onboarded (400).
	CodeNotEligible ErrorCode = "not_eligible"
	// CodeConflict means a concurrent or repeated write collided with stored
	// state (for example a review case that is already resolved).
	CodeConflict ErrorCode = "conflict"
	// CodeUnavailable means a dependency (database, cache, gateway) could not
	// answer in time; the caller may retry (503).
	CodeUnavailable ErrorCode = "unavailable"
	// CodeInternal is every other failure; its detail is logged, never sent.
	CodeInternal ErrorCode = "internal"
)

// Error is the one error type of the domain. Field names the offending input
// field (JSON path as the caller sent it) and Message is safe to show to the
// caller: it never contains personal data or secrets. Err keeps the cause for
// logs and errors.Is.
type Error struct {
	Code    ErrorCode
	Field   string
	Message string
	Err     error
}

// Error renders the code, field and message, then the cause, for logs.
func (e *Error) Error() string {
	s := string(e.Code)
	if e.Field != "" {
		s += " " + e.Field
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap exposes the cause so errors.Is sees through the domain error.
func (e *Error) Unwrap() error { return e.Err }

// Errorf builds a domain error with a formatted safe message.
func Errorf(code ErrorCode, field, format string, args ...any) *Error {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &Error{Code: code, Field: field, Message: msg}
}

// Invalid reports a request the caller must fix, naming the field.
func Invalid(field, format string, args ...any) *Error {
	return Errorf(CodeInvalid, field, format, args...)
}

// NotFound reports a missing client, user or resource.
func NotFound(field, format string, args ...any) *Error {
	return Errorf(CodeNotFound, field, format, args...)
}

// NotEligible reports a client that exists but may not be onboarded.
func NotEligible(format string, args ...any) *Error {
	return Errorf(CodeNotEligible, "", format, args...)
}

// Unavailable wraps a dependency failure the caller may retry.
func Unavailable(cause error, format string, args ...any) *Error {
	e := Errorf(CodeUnavailable, "", format, args...)
	e.Err = cause
	return e
}

// Conflict reports a write that collides with stored state.
func Conflict(format string, args ...any) *Error {
	return Errorf(CodeConflict, "", format, args...)
}

// Internal wraps an unexpected failure; its message is never sent out.
func Internal(cause error, format string, args ...any) *Error {
	e := Errorf(CodeInternal, "", format, args...)
	e.Err = cause
	return e
}

// AsError finds the domain error in err's chain, however it was wrapped.
func AsError(err error) (*Error, bool) {
	return errors.AsType[*Error](err)
}

// CodeOf returns the code of the domain error in err's chain, CodeInternal when
// there is none, and "" for a nil error.
func CodeOf(err error) ErrorCode {
	if err == nil {
		return ""
	}
	if de, ok := AsError(err); ok {
		return de.Code
	}
	return CodeInternal
}

// IsNotFound reports whether err carries CodeNotFound.
func IsNotFound(err error) bool { return CodeOf(err) == CodeNotFound }
