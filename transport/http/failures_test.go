package httptransport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

// serve is harness.do for a request do cannot build (a context of the
// test's, a body without a length, a body that fails while it is read):
// it serves req and validates the answer against the contract. body is the
// request body as the contract check is to see it.
func (h *harness) serve(req *http.Request, body string) response {
	h.t.Helper()
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	res := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	checkContract(h.t, h.cfg, req, body, res)
	return res
}

// waitAll makes every service wait until its request's context ends and
// then fail with what fail makes of that context, as a service blocked on
// a dependency does. started, when not nil, gets a value once the service
// is working (before it waits), so a test can end the request meanwhile.
func (f *fakes) waitAll(started chan<- struct{}, fail func(ctx context.Context) error) {
	wait := func(ctx context.Context) error {
		if started != nil {
			started <- struct{}{}
		}
		<-ctx.Done()
		return fail(ctx)
	}
	f.lookup = func(ctx context.Context, _ ports.LookupRequest) (ports.LookupResult, error) {
		return ports.LookupResult{}, wait(ctx)
	}
	f.approve = func(ctx context.Context, _ ports.ApprovalRequest) (domain.Decision, error) {
		return domain.Decision{}, wait(ctx)
	}
	f.evaluate = func(ctx context.Context, _ ports.EvaluationRequest) (domain.Decision, error) {
		return domain.Decision{}, wait(ctx)
	}
	f.sendOTP = func(ctx context.Context, _ ports.OTPRequest) (ports.OTPResult, error) {
		return ports.OTPResult{}, wait(ctx)
	}
	f.text = func(ctx context.Context, _ ports.ConsentTextRequest) (domain.ConsentText, error) {
		return domain.ConsentText{}, wait(ctx)
	}
	f.store = func(ctx context.Context, _ ports.ConsentStorageRequest) (domain.ConsentRecord, error) {
		return domain.ConsentRecord{}, wait(ctx)
	}
	f.event = func(ctx context.Context, _ ports.ProcessEventRequest) error { return wait(ctx) }
}

// contextErrorWraps are the shapes in which a service reports that its
// request's context ended: the classification must not depend on the
// service keeping the context's error as a cause.
var contextErrorWraps = []struct {
	name string
	wrap func(error) error
}{
	{"bare context error", func(err error) error { return err }},
	{"wrapped in unavailable", func(err error) error { return domain.Unavailable(err, "client registry unavailable") }},
	{"wrapped with context", func(err error) error { return fmt.Errorf("query: %w", err) }},
	{"driver error without cause", func(error) error { return errors.New("driver: connection lost") }},
}

// TestCancelled503 ends the request from the client's side while the
// service works on it: on every route the answer is the retryable 503
// "request cancelled" (which only the access log sees when the client has
// gone, and the caller sees when a proxy cancelled for it), not a 500.
func TestCancelled503(t *testing.T) {
	for _, ec := range allEndpoints() {
		for _, tt := range contextErrorWraps {
			t.Run(ec.name+"/"+tt.name, func(t *testing.T) {
				started := make(chan struct{}, 1)
				f := &fakes{}
				f.waitAll(started, func(ctx context.Context) error { return tt.wrap(ctx.Err()) })
				h := newHarness(t, f, nil) // the default 4 s time-out is not what ends the request
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				go func() { // the client, giving up once the service is at work
					select {
					case <-started:
						cancel()
					case <-ctx.Done():
					}
				}()
				req := httptest.NewRequestWithContext(ctx, http.MethodPost, ec.path, strings.NewReader(ec.body))
				req.Header.Set("Content-Type", "application/json")
				res := h.serve(req, ec.body)
				if res.status != http.StatusServiceUnavailable {
					t.Fatalf("status %d %s, want 503", res.status, res.body)
				}
				if e := res.errorBody(t); e != (errorBody{ErrorCode: "ERROR_GENERIC", Message: "request cancelled"}) {
					t.Errorf("body %+v, want request cancelled", e)
				}
				if f.calls != 1 {
					t.Errorf("service called %d times, want 1", f.calls)
				}
				if lines := h.accessLines(); len(lines) != 1 || lines[0]["status"] != float64(503) || lines[0]["route"] != "POST "+ec.path {
					t.Errorf("access log %v, want one line with status 503 and route POST %s", lines, ec.path)
				}
			})
		}
	}
}

// panickingBody is a request body whose Read panics with value: the panic
// happens inside the route's decoder, below recoverDecoder.
type panickingBody struct{ value any }

func (b panickingBody) Read([]byte) (int, error) { panic(b.value) }
func (panickingBody) Close() error               { return nil }

// TestDecoderPanic500: a panic while a route's request is decoded is a 500
// with the generic body, logged at ERROR with its stack and the request's
// ids, and the service is not called.
func TestDecoderPanic500(t *testing.T) {
	for _, ec := range allEndpoints() {
		t.Run(ec.name, func(t *testing.T) {
			h := newHarness(t, nil, nil)
			req := httptest.NewRequest(http.MethodPost, ec.path, panickingBody{value: "boom in decoder"})
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Correlation-Id", "corr-1")
			res := h.serve(req, "")
			if res.status != http.StatusInternalServerError {
				t.Fatalf("status %d %s, want 500", res.status, res.body)
			}
			if e := res.errorBody(t); e != (errorBody{ErrorCode: "ERROR_GENERIC", Message: "internal error"}) {
				t.Errorf("body %+v", e)
			}
			if strings.Contains(string(res.body), "boom") {
				t.Errorf("panic value leaked: %s", res.body)
			}
			if h.fake.calls != 0 {
				t.Errorf("service called %d times after the decoder panicked", h.fake.calls)
			}
			var sawStack bool
			for _, l := range h.logs.lines(t) {
				s, _ := l["stack"].(string)
				e, _ := l["error"].(string)
				if l["msg"] == "request failed" && l["level"] == "ERROR" && l["correlation_id"] == "corr-1" &&
					strings.Contains(e, "boom in decoder") && strings.Contains(s, "panickingBody.Read") {
					sawStack = true
				}
			}
			if !sawStack {
				t.Errorf("no ERROR line with the decoder's panic, its stack and the correlation id: %s", h.logs)
			}
			if lines := h.accessLines(); len(lines) != 1 || lines[0]["status"] != float64(500) || lines[0]["route"] != "POST "+ec.path {
				t.Errorf("access log %v, want one line with status 500 and route POST %s", lines, ec.path)
			}
		})
	}
}

// panicOnMessage is a log handler that panics on the record with message
// msg and passes every other record on.
type panicOnMessage struct {
	slog.Handler
	msg string
}

func (p panicOnMessage) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == p.msg {
		panic("log sink broke")
	}
	return p.Handler.Handle(ctx, r)
}

// TestOuterRecover500 covers ring 2 when nothing was written yet: a panic
// outside the go-kit pipeline's own recovers is answered 500 with the
// contract's body and the request's ids, logged at ERROR with its stack,
// and the access log still gets its line. (TestPanicAfterWriteKeepsResponse
// covers a panic after the answer started.)
func TestOuterRecover500(t *testing.T) {
	t.Run("error encoder of a route", func(t *testing.T) {
		// The error encoder runs outside recoverDecoder and recoverEndpoint;
		// its logger panicking is one way for it to fail before it writes.
		h := newHarness(t, nil, func(c *Config) {
			c.Logger = slog.New(panicOnMessage{Handler: c.Logger.Handler(), msg: "request failed"})
		})
		res := h.post("/user/lookup", `{"processId":}`, "X-Correlation-Id", "corr-2")
		checkOuterRecover(t, h.logs, res, "corr-2")
		if lines := h.accessLines(); len(lines) != 1 || lines[0]["status"] != float64(500) || lines[0]["route"] != "POST /user/lookup" {
			t.Errorf("access log %v, want one line with status 500 and route POST /user/lookup", lines)
		}
	})
	t.Run("handler below the ring", func(t *testing.T) {
		h := newHarness(t, nil, nil)
		a := &api{cfg: h.cfg, log: h.cfg.Logger,
			correlationKey: http.CanonicalHeaderKey(h.cfg.CorrelationHeader), requestIDKey: http.CanonicalHeaderKey(h.cfg.RequestIDHeader)}
		h.h = a.withRequestScope(a.withRecover(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			panic("early")
		})))
		res := h.post("/user/lookup", `{"processId":"p-1"}`, "X-Correlation-Id", "corr-3")
		checkOuterRecover(t, h.logs, res, "corr-3")
		if lines := h.accessLines(); len(lines) != 1 || lines[0]["status"] != float64(500) {
			t.Errorf("access log %v, want one line with status 500", lines)
		}
	})
}

// checkOuterRecover checks the answer and the log of a panic ring 2 caught.
func checkOuterRecover(t *testing.T, logs *syncBuffer, res response, correlationID string) {
	t.Helper()
	if res.status != http.StatusInternalServerError {
		t.Fatalf("status %d %s, want 500", res.status, res.body)
	}
	if e := res.errorBody(t); e != (errorBody{ErrorCode: "ERROR_GENERIC", Message: "internal error"}) {
		t.Errorf("body %+v", e)
	}
	if got := res.header.Get("X-Correlation-Id"); got != correlationID {
		t.Errorf("X-Correlation-Id %q, want %q", got, correlationID)
	}
	var sawStack bool
	for _, l := range logs.lines(t) {
		if s, _ := l["stack"].(string); l["msg"] == "panic" && l["level"] == "ERROR" &&
			l["correlation_id"] == correlationID && strings.Contains(s, "goroutine") {
			sawStack = true
		}
	}
	if !sawStack {
		t.Errorf("no ERROR panic line with stack and correlation id: %s", logs)
	}
}

// TestAbortHandlerPropagates: http.ErrAbortHandler is the panic by which a
// handler asks net/http to drop the connection without an answer (and
// without logging a stack). Every recover of the handler passes it on, from
// a decoder as from a service, instead of answering 500.
func TestAbortHandlerPropagates(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*fakes)
		body  io.Reader
	}{
		{"service", func(f *fakes) {
			f.lookup = func(context.Context, ports.LookupRequest) (ports.LookupResult, error) { panic(http.ErrAbortHandler) }
		}, strings.NewReader(`{"processId":"p-1"}`)},
		{"decoder", nil, panickingBody{value: http.ErrAbortHandler}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakes{}
			if tt.setup != nil {
				tt.setup(f)
			}
			h := newHarness(t, f, nil)
			req := httptest.NewRequest(http.MethodPost, "/user/lookup", tt.body)
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			var got any
			func() {
				defer func() { got = recover() }()
				h.h.ServeHTTP(rec, req)
			}()
			if got != http.ErrAbortHandler {
				t.Errorf("panic %v reached net/http, want http.ErrAbortHandler (answered %d %s)", got, rec.Code, rec.Body)
			}
			if rec.Body.Len() != 0 {
				t.Errorf("answered %d %s to an aborted request", rec.Code, rec.Body)
			}
		})
	}
}
