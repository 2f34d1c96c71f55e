package httptransport

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
)

// DefaultReadyTimeout bounds one readiness check, below a kubelet probe's
// usual time-out, so a hanging dependency reads as "not ready", not as a
// probe that never answers.
const DefaultReadyTimeout = 2 * time.Second

// AdminConfig configures the admin listener, which runs beside the API on
// its own address and without the API's credentials.
type AdminConfig struct {
	// Ready reports whether the service can take traffic (nil: always).
	// Only the message of a domain.Error it returns is shown; any other
	// error is logged and answered with a generic reason, since dependency
	// errors can carry addresses or connection strings.
	Ready func(ctx context.Context) error
	// ReadyTimeout bounds one call of Ready (default DefaultReadyTimeout).
	ReadyTimeout time.Duration
	// Logger receives readiness failures and panics (default: discard).
	Logger *slog.Logger
	// Extra adds handlers by http.ServeMux pattern, e.g. "GET /metrics".
	// A pattern colliding with a built-in route panics, as ServeMux does, at
	// start-up.
	Extra map[string]http.Handler
}

type statusBody struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// NewAdminHandler serves GET /livez (always 200 while the process serves
// HTTP), GET /readyz (200, or 503 with a safe reason) and GET /openapi.yaml
// (the embedded contract), plus c.Extra. It never serves the API routes.
func NewAdminHandler(c AdminConfig) http.Handler {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		noStore(w)
		_ = writeJSON(w, http.StatusOK, statusBody{Status: "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		noStore(w)
		if c.Ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), c.ReadyTimeout)
			err := c.Ready(ctx)
			cancel()
			if err != nil {
				reason := "dependency not ready"
				if de, ok := domain.AsError(err); ok && de.Message != "" {
					reason = de.Message
				}
				c.Logger.LogAttrs(r.Context(), slog.LevelWarn, "not ready", slog.String("error", err.Error()))
				_ = writeJSON(w, http.StatusServiceUnavailable, statusBody{Status: "not ready", Reason: reason})
				return
			}
		}
		_ = writeJSON(w, http.StatusOK, statusBody{Status: "ready"})
	})
	mux.HandleFunc("GET /openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(openapiSpec)
	})
	for pattern, h := range c.Extra {
		mux.Handle(pattern, h)
	}
	return jsonMux{mux: mux}
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
}
