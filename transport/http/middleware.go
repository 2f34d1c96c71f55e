package httptransport

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/go-kit/kit/endpoint"
	kithttp "github.com/go-kit/kit/transport/http"
	"go.opentelemetry.io/otel/trace"

	"github.com/bankkit/onboarding-adapter/domain"
)

// maxIDLength bounds correlation and request ids taken from the caller.
const maxIDLength = 128

// requestState is what the rings learn about one request and the access log
// reports. It is created by the request-scope ring and shared by pointer;
// one request is served by one goroutine, so it needs no lock. It is also
// the request's context below ring 1 (the request's own context, which it
// extends with itself under stateKey) and holds ring 1's statusWriter (with
// writeJSON's header values and answer buffer), the common headers' values
// and the deadline context below it: one allocation where there were five.
type requestState struct {
	context.Context
	start         time.Time
	correlationID string
	requestID     string
	route         string // the matched pattern, "" when none matched
	processID     string // from the decoded body, only when it looks like an id
	bodyLimit     int64  // the route's body limit, set by its go-kit server
	sw            statusWriter
	// recycle is a decoded image's buffer (the presence-check frame) that
	// goes back to bodyBuffers once the request is answered.
	recycle *[]byte
	// bodies is the API's body budget, and held what this request's body
	// took of it until the request is answered (see holdBody).
	bodies *bodyBudget
	held   int64
	// headers backs the values of the common response headers.
	headers [4]string
	// deadline is the request's context below ring 1 (lazyDeadline).
	deadline lazyDeadline
}

// bodyBudget is the memory the image bodies of the requests in flight may
// hold (Config.MaxInFlightBodyBytes). Bodies of routes whose limit is below
// image (MaxImageBodyBytes) are not counted: MaxInFlight bounds them well
// enough, and an image burst must not shed lookups and consents. With both
// limits equal every body counts.
type bodyBudget struct {
	limit, image int64
	held         atomic.Int64
}

// chunkedHold is the least step by which a body of unannounced length
// (chunked) grows its hold as it is read (readUnannounced). Holding the
// route's whole limit at once would let five chunked image requests fill
// the default budget.
const chunkedHold = 256 << 10

// errBodiesBusy answers a body that does not fit in the budget.
var errBodiesBusy = &requestError{status: http.StatusServiceUnavailable, msg: "server busy, retry later", retryAfter: retryAfterBusy}

// holdBody takes twice size (the body, and what is decoded from it) from
// the request's body budget until the request is answered, or refuses it
// when other requests' bodies hold the rest; a body whose request alone
// holds anything always fits. routeLimit is the route's body limit: routes
// below the image routes' limit are not counted. Outside a request served
// by NewHandler (tests calling a decoder) there is no budget.
func holdBody(ctx context.Context, size, routeLimit int64) error {
	st := stateFrom(ctx)
	if st == nil || st.bodies == nil || st.bodies.limit <= 0 || size <= 0 || routeLimit < st.bodies.image {
		return nil
	}
	w, b := 2*size, st.bodies
	for {
		held := b.held.Load()
		if held-st.held > 0 && held+w > b.limit {
			return errBodiesBusy
		}
		if b.held.CompareAndSwap(held, held+w) {
			st.held += w
			return nil
		}
	}
}

// releaseBody gives back what the request's body held; deferred, so a
// request aborted by a panic (http.ErrAbortHandler) gives it back too.
func (st *requestState) releaseBody() {
	if st.held != 0 {
		st.bodies.held.Add(-st.held)
		st.held = 0
	}
}

// keepUntilAnswered hands buf, which the decoded request refers to, to the
// request's scope, which puts it back in bodyBuffers after the response:
// the service has then finished with the request (every handler is
// synchronous) and kept copies of what it keeps. Outside a request served
// by NewHandler (tests calling a decoder) buf is left to the collector.
func keepUntilAnswered(ctx context.Context, buf *[]byte) {
	if st := stateFrom(ctx); st != nil && st.recycle == nil {
		st.recycle = buf
	}
}

// Value makes the state reachable from every context derived from it.
func (st *requestState) Value(key any) any {
	if key == (stateKey{}) {
		return st
	}
	return st.Context.Value(key)
}

// String names the context without printing the state.
func (st *requestState) String() string { return "httptransport.requestState" }

type stateKey struct{}

func stateFrom(ctx context.Context) *requestState {
	st, _ := ctx.Value(stateKey{}).(*requestState)
	return st
}

// CorrelationID returns the correlation id of the request ctx belongs to:
// the caller's when it was valid, else a generated one. It is "" outside a
// request served by NewHandler.
func CorrelationID(ctx context.Context) string {
	if st := stateFrom(ctx); st != nil {
		return st.correlationID
	}
	return ""
}

// RequestID returns the request id of the request ctx belongs to, like
// CorrelationID.
func RequestID(ctx context.Context) string {
	if st := stateFrom(ctx); st != nil {
		return st.requestID
	}
	return ""
}

// metaFrom gives the services the ids to store with their records.
func metaFrom(ctx context.Context) domain.RequestMeta {
	return domain.RequestMeta{CorrelationID: CorrelationID(ctx), RequestID: RequestID(ctx)}
}

// noteProcessID lets the access log name the process. Only values that look
// like an id are kept, so a hostile processId cannot flood the log.
func noteProcessID(ctx context.Context, id string) {
	if st := stateFrom(ctx); st != nil && validID(id) {
		st.processID = id
		if span := trace.SpanFromContext(ctx); span.IsRecording() {
			span.SetAttributes(AttrProcessID.String(id))
		}
	}
}

func idAttrs(ctx context.Context) []slog.Attr {
	return []slog.Attr{slog.String("correlation_id", CorrelationID(ctx)), slog.String("request_id", RequestID(ctx))}
}

// validID reports whether s may be used as a correlation or request id as
// sent: [A-Za-z0-9._:-]{1,128}. Anything else could break log lines or
// headers, so it is replaced.
func validID(s string) bool {
	if s == "" || len(s) > maxIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// requestIDs returns the request's correlation and request ids: the
// caller's when valid, else random UUIDv4s (both from one read of
// crypto/rand, which never fails since Go 1.24).
func (a *api) requestIDs(h http.Header) (correlationID, requestID string) {
	correlationID, requestID = headerValue(h, a.correlationKey), headerValue(h, a.requestIDKey)
	okCorrelation, okRequest := validID(correlationID), validID(requestID)
	if okCorrelation && okRequest {
		return correlationID, requestID
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	if !okCorrelation && !okRequest { // the usual case: one string for both
		var s [72]byte
		both := string(appendUUID(appendUUID(s[:0], b[:16]), b[16:]))
		return both[:36], both[36:]
	}
	if !okCorrelation {
		correlationID = formatUUID(b[:16])
	}
	if !okRequest {
		requestID = formatUUID(b[16:])
	}
	return correlationID, requestID
}

// headerValue is h.Get for a key already in canonical form.
func headerValue(h http.Header, canonicalKey string) string {
	if v := h[canonicalKey]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// formatUUID formats 16 random bytes as a UUIDv4 (version and variant bits
// set), 8-4-4-4-12 lower-case hex.
func formatUUID(b []byte) string {
	var s [36]byte
	appendUUID(s[:0], b)
	return string(s[:])
}

// appendUUID appends 16 random bytes formatted as a UUIDv4. It formats
// into one array from a table and appends that once: five hex.AppendEncode
// calls cost a request without ids about 2% of the handler's instructions.
func appendUUID(dst, b []byte) []byte {
	const digits = "0123456789abcdef"
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	var s [36]byte
	j := 0
	for i, c := range b[:16] {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s[j] = '-'
			j++
		}
		s[j], s[j+1] = digits[c>>4], digits[c&0x0f]
		j += 2
	}
	return append(dst, s[:]...)
}

// statusWriter remembers the status and size of the answer for the access
// log and tells the recover ring whether it can still answer.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	// headers and body back writeJSON's header values and, up to its
	// size, the encoded answer (net/http copies what it is given): two
	// allocations fewer per answer.
	headers [2]string
	body    [256]byte
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// withRequestScope is ring 1: ids, common headers, the request state and the
// access-log line of every request. It also sets ring 4's deadline
// (lazyDeadline), so the request is copied (WithContext) once instead of
// twice; the rings between never wait, so it makes no difference to them.
func (a *api) withRequestScope(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &requestState{Context: r.Context(), start: time.Now()}
		st.correlationID, st.requestID = a.requestIDs(r.Header)
		// Keys in canonical form, set without Header.Set's canonicalisation;
		// the four values backed by the request state's array, each capped
		// so an append elsewhere cannot reach its neighbour.
		st.headers = [4]string{st.correlationID, st.requestID, "no-store", "nosniff"}
		values := st.headers[:]
		h := w.Header()
		h[a.correlationKey] = values[0:1:1]
		h[a.requestIDKey] = values[1:2:2]
		h["Cache-Control"] = values[2:3:3]
		h["X-Content-Type-Options"] = values[3:4:4]
		st.sw = statusWriter{ResponseWriter: w}
		annotateServerSpan(st, st)
		ctx := &st.deadline
		ctx.set(st, st.start, a.cfg.RequestTimeout)
		defer ctx.release()
		st.bodies = &a.bodies
		defer st.releaseBody()
		next.ServeHTTP(&st.sw, r.WithContext(ctx))
		bodyBuffers.put(st.recycle)
		st.recycle = nil
		// The router matched on a copy of r (WithContext copies); hand the
		// pattern back to the request this ring was given, where otelhttp
		// wrapped directly around the handler reads it to name the server
		// span and label http.route, as it would after a bare ServeMux.
		if st.route != "" && r.Pattern == "" {
			r.Pattern = st.route
		}
		annotateRoute(st, st.route)
		status := st.sw.status
		if status == 0 {
			status = http.StatusOK
		}
		a.accessLog(st, st, r.Method, status, st.sw.bytes)
	})
}

// accessLog writes the one line per request. It names the route pattern,
// never the raw path, and never carries a header or body value besides the
// validated ids. It logs with the request's ctx, so a logger wrapped in
// adapters/telemetry.NewLogHandler (as cmd does) adds the trace_id and
// span_id of the server span.
//
// It hands its record to the handler itself, with no caller PC: Logger's
// methods walk the stack for one on every call (runtime.Callers, about 3%
// of a lookup's handler instructions at info), which only a handler with
// AddSource reads, none here does, and this line's source would always be
// this function.
func (a *api) accessLog(ctx context.Context, st *requestState, method string, status int, size int64) {
	h := a.log.Handler()
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
	r.AddAttrs(
		slog.String("method", method),
		slog.String("route", st.route),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(time.Since(st.start).Microseconds())/1000),
		slog.String("correlation_id", st.correlationID),
		slog.String("request_id", st.requestID),
		slog.String("process_id", st.processID),
		slog.Int64("bytes", size),
	)
	_ = h.Handle(ctx, r) // as Logger ignores it: a failed log write is not the request's
}

// retryAfterBusy is the Retry-After of a shed request, in seconds: long
// enough for in-flight requests to finish, short against the caller's
// patience.
const retryAfterBusy = "1"

// withInFlightLimit is ring 1b: at most Config.MaxInFlight requests pass at
// once; one more is answered 503 at once, before its body is read, with
// Retry-After. Overload then costs the excess callers a fast retryable
// error instead of costing every caller a queue that outlives its time-out.
// Inside ring 1, so a shed answer carries the ids and its access-log line.
func (a *api) withInFlightLimit(next http.Handler) http.Handler {
	limit := int64(a.cfg.MaxInFlight)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.inFlight.Add(1) > limit {
			a.inFlight.Add(-1)
			w.Header().Set("Retry-After", retryAfterBusy)
			writeError(w, http.StatusServiceUnavailable, errorGeneric, "server busy, retry later")
			return
		}
		defer a.inFlight.Add(-1)
		next.ServeHTTP(w, r)
	})
}

// withRecover is ring 2: the safety net for panics outside the go-kit
// pipeline (which recovers its own, see recoverEndpoint).
func (a *api) withRecover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			a.log.LogAttrs(r.Context(), slog.LevelError, "panic",
				append(idAttrs(r.Context()), slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))...)
			if sw, ok := w.(*statusWriter); !ok || sw.status == 0 {
				writeError(w, http.StatusInternalServerError, errorGeneric, internalMessage)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// recoverEndpoint turns a panic below it into a panicError, so the go-kit
// server answers 500 through encodeError, which logs it with the request's
// ids, and the route's access-log line names the route. It wraps the whole endpoint chain, Config.EndpointMiddleware included; a
// tracing middleware that wants to mark a panicking span recovers and
// re-panics, as tracing middlewares do.
func recoverEndpoint(next endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, request any) (response any, err error) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				response, err = nil, &panicError{value: v, stack: debug.Stack()}
			}
		}()
		return next(ctx, request)
	}
}

// recoverDecoder does for decoders what recoverEndpoint does for endpoints,
// http.ErrAbortHandler included: a deliberate abort must reach net/http,
// not become a 500.
func recoverDecoder(dec kithttp.DecodeRequestFunc) kithttp.DecodeRequestFunc {
	return func(ctx context.Context, r *http.Request) (request any, err error) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				request, err = nil, &panicError{value: v, stack: debug.Stack()}
			}
		}()
		return dec(ctx, r)
	}
}

// credentialDigest is a configured pair, hashed once at start.
type credentialDigest struct {
	user, pass [sha256.Size]byte
}

// wwwAuthenticate tells a client which scheme to use (RFC 7617).
const wwwAuthenticate = `Basic realm="onboarding-adapter", charset="UTF-8"`

// withBasicAuth is ring 3. Digests make the comparison constant-time
// regardless of the lengths sent, and every configured pair is compared on
// every request, so timing reveals neither which part was wrong nor which
// pair matched.
func (a *api) withBasicAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		u, p := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
		match := 0
		for _, c := range a.creds {
			match |= subtle.ConstantTimeCompare(u[:], c.user[:]) & subtle.ConstantTimeCompare(p[:], c.pass[:])
		}
		if !ok || match != 1 {
			w.Header().Set("WWW-Authenticate", wwwAuthenticate)
			writeError(w, http.StatusUnauthorized, errorUnauthorized, "authentication required")
			return
		}
		next.ServeHTTP(w, r)
	})
}
