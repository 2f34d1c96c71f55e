package httptransport

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
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
	notReady := &notReadyLog{logger: c.Logger, now: time.Now}
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
				notReady.log(r.Context(), reason, err)
				_ = writeJSON(w, http.StatusServiceUnavailable, statusBody{Status: "not ready", Reason: reason})
				return
			}
		}
		notReady.clear()
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

// notReadyLogEvery is how often a readiness failure that keeps its reason
// is logged again: probes come every few seconds per kubelet, and anyone
// who reaches the admin port may ask more often.
const notReadyLogEvery = 10 * time.Second

// notReadyLog logs a readiness failure when its reason changes (or the
// service was ready in between), and while it stays the same at most once
// per notReadyLogEvery, counting the failures left out.
type notReadyLog struct {
	logger *slog.Logger
	now    func() time.Time

	mu         sync.Mutex
	reason     string
	at         time.Time
	suppressed int
}

func (l *notReadyLog) log(ctx context.Context, reason string, err error) {
	l.mu.Lock()
	now := l.now()
	if reason == l.reason && now.Sub(l.at) < notReadyLogEvery {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := 0
	if reason == l.reason {
		suppressed = l.suppressed // another reason's count does not belong to this line
	}
	l.reason, l.at, l.suppressed = reason, now, 0
	l.mu.Unlock()
	attrs := []slog.Attr{slog.String("reason", reason), slog.String("error", err.Error())}
	if suppressed > 0 {
		attrs = append(attrs, slog.Int("suppressed_since_last_log", suppressed))
	}
	l.logger.LogAttrs(ctx, slog.LevelWarn, "not ready", attrs...)
}

// clear forgets the last failure once the service is ready again, so the
// next outage is logged at once.
func (l *notReadyLog) clear() {
	l.mu.Lock()
	l.reason, l.suppressed = "", 0
	l.mu.Unlock()
}
