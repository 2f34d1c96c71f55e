package httptransport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/bankkit/onboarding-adapter/domain"
)

// The errorCode values of the wire contract.
const (
	errorGeneric      = "ERROR_GENERIC"
	errorUnauthorized = "ERROR_UNAUTHORIZED"
)

// internalMessage is all a caller learns about an internal failure.
const internalMessage = "internal error"

// errorBody is the one error body of the contract.
type errorBody struct {
	ErrorCode string `json:"errorCode"`
	Message   string `json:"message"`
}

// requestError is a transport error: the request could not be read as the
// contract says, so no service was called. Its message is built by this
// package from field paths and fixed texts, never from the caller's values,
// so it is safe to send back.
type requestError struct {
	status     int // 400, 413, 415, or 503 for a body the budget cannot hold
	msg        string
	retryAfter string // the Retry-After of a 503, in seconds
}

func (e *requestError) Error() string { return e.msg }

// badRequest builds a 400 transport error.
func badRequest(format string, args ...any) *requestError {
	return &requestError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// fieldError is a 400 naming the JSON path of the offending field.
func fieldError(path, msg string) *requestError {
	return badRequest("%s: %s", path, msg)
}

// panicError is a recovered panic, carried as an endpoint or decoder error so
// the go-kit server answers (and logs) it like any internal failure.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// statusOf is the one table from domain error codes to HTTP statuses. Codes
// not in it (internal, and anything unknown) are 500s whose message is never
// sent.
func statusOf(code domain.ErrorCode) (int, bool) {
	switch code {
	case domain.CodeInvalid, domain.CodeNotEligible:
		return http.StatusBadRequest, true
	case domain.CodeNotFound:
		return http.StatusNotFound, true
	case domain.CodeConflict:
		return http.StatusConflict, true
	case domain.CodeUnavailable:
		return http.StatusServiceUnavailable, true
	}
	return http.StatusInternalServerError, false
}

// classify turns any error a decoder or endpoint returned into the status
// and the safe message of the answer.
func classify(ctx context.Context, err error) (int, string) {
	var re *requestError
	if errors.As(err, &re) {
		return re.status, re.msg
	}
	code := domain.CodeOf(err)
	// A service that ran out of time may say so through its cause or only
	// through a dependency's error; either way the caller may retry.
	if code == domain.CodeInternal || code == domain.CodeUnavailable {
		switch {
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
			return http.StatusServiceUnavailable, "request timed out"
		case errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled):
			return http.StatusServiceUnavailable, "request cancelled"
		}
	}
	status, known := statusOf(code)
	if !known {
		return status, internalMessage
	}
	de, _ := domain.AsError(err) // known codes come only from a domain.Error
	msg := de.Message
	if msg == "" {
		msg = http.StatusText(status)
	}
	if de.Field != "" {
		msg = de.Field + ": " + msg
	}
	return status, msg
}

// encodeError is the go-kit ErrorEncoder of every route: it answers with the
// status and message classify gives and logs the detail, which only the log
// ever sees, with the request's ids.
func (a *api) encodeError(ctx context.Context, err error, w http.ResponseWriter) {
	status, msg := classify(ctx, err)
	attrs := append(idAttrs(ctx), slog.Int("status", status), slog.String("error", err.Error()))
	level := slog.LevelDebug
	switch {
	case status == http.StatusInternalServerError:
		level = slog.LevelError
		var pe *panicError
		if errors.As(err, &pe) {
			attrs = append(attrs, slog.String("stack", string(pe.stack)))
		}
	case errors.Is(err, errBodiesBusy):
		// Shed load, as the in-flight limit sheds without a line of its
		// own: the access log has each one.
	case status >= 500:
		level = slog.LevelWarn
	}
	a.log.LogAttrs(ctx, level, "request failed", attrs...)
	if re := (*requestError)(nil); errors.As(err, &re) && re.retryAfter != "" {
		w.Header().Set("Retry-After", re.retryAfter)
	}
	writeError(w, status, errorGeneric, msg)
}

// writeError writes the contract's error body.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	_ = writeJSON(w, status, errorBody{ErrorCode: code, Message: msg})
}

// netHTTPBuffered is net/http's bufferBeforeChunkingSize: an answer that
// fits in it is sent with a Content-Length net/http counts itself
// (TestContentLengthOnTheWire holds it to that).
const netHTTPBuffered = 2048

// writeJSON encodes v before touching w, so an encoding failure can still be
// answered with a proper 500. The contract's bodies append themselves
// (jsonAppender); anything else goes through encoding/json. HTML is not
// escaped: consent texts are HTML and the answer is application/json, never
// rendered.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	sw, _ := w.(*statusWriter)
	var body []byte
	if a, ok := v.(jsonAppender); ok {
		if sw != nil {
			body = a.appendJSON(sw.body[:0])
		} else {
			body = a.appendJSON(make([]byte, 0, 128))
		}
	} else {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("encode %T: %w", v, err)
		}
		body = buf.Bytes()
	}
	// Canonical keys set directly (Header.Set would canonicalise them
	// again), the values sharing one array (ring 1's, when w is its
	// writer), each capped.
	var values []string
	if sw != nil {
		values = sw.headers[:]
	} else {
		values = make([]string, 2)
	}
	values[0] = "application/json"
	h := w.Header()
	h["Content-Type"] = values[0:1:1]
	// net/http buffers an answer of up to netHTTPBuffered bytes whole and,
	// when the handler returns, sends it with the Content-Length it counted:
	// the same header, without a string made for it on every answer. A
	// longer body is announced here, or it would go out chunked.
	if len(body) > netHTTPBuffered {
		values[1] = strconv.Itoa(len(body))
		h["Content-Length"] = values[1:2:2]
	}
	w.WriteHeader(status)
	_, err := w.Write(body)
	return err
}
