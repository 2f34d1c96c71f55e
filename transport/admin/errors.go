package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/bankkit/onboarding-adapter/domain"
)

// The errorCode values, the same as the API's.
const (
	errorGeneric      = "ERROR_GENERIC"
	errorUnauthorized = "ERROR_UNAUTHORIZED"
)

// errorBody is the error body of the API, the shape of the service's.
type errorBody struct {
	ErrorCode string `json:"errorCode"`
	Message   string `json:"message"`
}

// statusOf maps a domain error to the status and safe message of the
// answer; anything unknown is a 500 whose detail only the log sees.
func statusOf(ctx context.Context, err error) (int, string) {
	code := domain.CodeOf(err)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return http.StatusServiceUnavailable, "request timed out"
	}
	status := http.StatusInternalServerError
	switch code {
	case domain.CodeInvalid, domain.CodeNotEligible:
		status = http.StatusBadRequest
	case domain.CodeNotFound:
		status = http.StatusNotFound
	case domain.CodeConflict:
		status = http.StatusConflict
	case domain.CodeUnavailable:
		status = http.StatusServiceUnavailable
	default:
		return status, "internal error"
	}
	de, _ := domain.AsError(err)
	msg := de.Message
	if msg == "" {
		msg = http.StatusText(status)
	}
	if de.Field != "" {
		msg = de.Field + ": " + msg
	}
	return status, msg
}

// serviceError answers err in the format of the request (JSON or page) and
// logs it, at ERROR for a 5xx.
func (h *Handler) serviceError(w http.ResponseWriter, r *http.Request, api bool, err error) {
	status, msg := statusOf(r.Context(), err)
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	h.cfg.Logger.LogAttrs(r.Context(), level, "review request failed", slog.String("method", r.Method),
		slog.String("path", r.URL.Path), slog.Int("status", status), slog.String("error", err.Error()))
	h.fail(w, r, api, status, msg)
}

// fail answers an error: the JSON error body for the API, an error page
// otherwise.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, api bool, status int, msg string) {
	if api {
		code := errorGeneric
		if status == http.StatusUnauthorized {
			code = errorUnauthorized
		}
		writeJSON(w, status, errorBody{ErrorCode: code, Message: msg})
		return
	}
	h.render(w, r, status, "error.html", errorPage{page: h.page(r, "Error"), Status: status, StatusText: http.StatusText(status), Message: msg})
}

// writeJSON answers v as JSON with a Content-Length.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if err := enc.Encode(v); err != nil {
		buf.Reset()
		status = http.StatusInternalServerError
		_ = json.NewEncoder(&buf).Encode(errorBody{ErrorCode: errorGeneric, Message: "internal error"})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
