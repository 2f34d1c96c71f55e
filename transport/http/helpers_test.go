package httptransport

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

// fakes implements every driving port with hand-written behaviour: each
// function field, when set, decides the answer; otherwise a plausible
// success is returned. It records the last request a service received.
type fakes struct {
	lookup   func(context.Context, ports.LookupRequest) (ports.LookupResult, error)
	approve  func(context.Context, ports.ApprovalRequest) (domain.Decision, error)
	evaluate func(context.Context, ports.EvaluationRequest) (domain.Decision, error)
	sendOTP  func(context.Context, ports.OTPRequest) (ports.OTPResult, error)
	text     func(context.Context, ports.ConsentTextRequest) (domain.ConsentText, error)
	store    func(context.Context, ports.ConsentStorageRequest) (domain.ConsentRecord, error)
	event    func(context.Context, ports.ProcessEventRequest) error

	mu    sync.Mutex
	calls int
	last  any
	ctx   context.Context
	// frameRecycled: the last approval's frame was decoded into the
	// recycled buffer its request's scope puts back after the response.
	frameRecycled bool
}

func (f *fakes) record(ctx context.Context, req any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.last = req
	f.ctx = ctx
}

func (f *fakes) Lookup(ctx context.Context, r ports.LookupRequest) (ports.LookupResult, error) {
	f.record(ctx, r)
	if f.lookup != nil {
		return f.lookup(ctx, r)
	}
	return ports.LookupResult{UserID: "user-1", Consent: ports.ConsentRequired}, nil
}

func (f *fakes) Approve(ctx context.Context, r ports.ApprovalRequest) (domain.Decision, error) {
	if r.Frame != nil {
		// The frame's bytes are the request's only while it lives
		// (domain.Image): a recorded request keeps a copy, as the
		// decision engine does, and checks it was decoded in place.
		f.mu.Lock()
		f.frameRecycled = stateFrom(ctx) != nil && stateFrom(ctx).recycle != nil &&
			len(r.Frame.Data) > 0 && &(*stateFrom(ctx).recycle)[0] == &r.Frame.Data[0]
		f.mu.Unlock()
		frame := *r.Frame
		frame.Data = bytes.Clone(frame.Data)
		r.Frame = &frame
	}
	f.record(ctx, r)
	if f.approve != nil {
		return f.approve(ctx, r)
	}
	return domain.Decision{Result: domain.ResultOK}, nil
}

func (f *fakes) Evaluate(ctx context.Context, r ports.EvaluationRequest) (domain.Decision, error) {
	f.record(ctx, r)
	if f.evaluate != nil {
		return f.evaluate(ctx, r)
	}
	return domain.Decision{Result: domain.ResultOK}, nil
}

func (f *fakes) SendOTP(ctx context.Context, r ports.OTPRequest) (ports.OTPResult, error) {
	f.record(ctx, r)
	if f.sendOTP != nil {
		return f.sendOTP(ctx, r)
	}
	return ports.OTPResult{Sent: true, Outcome: domain.OTPSent}, nil
}

func (f *fakes) ConsentText(ctx context.Context, r ports.ConsentTextRequest) (domain.ConsentText, error) {
	f.record(ctx, r)
	if f.text != nil {
		return f.text(ctx, r)
	}
	return domain.ConsentText{Type: r.ConsentType, Language: r.Language, Version: 1, HTML: "<p>I agree & consent</p>"}, nil
}

func (f *fakes) StoreConsent(ctx context.Context, r ports.ConsentStorageRequest) (domain.ConsentRecord, error) {
	f.record(ctx, r)
	if f.store != nil {
		return f.store(ctx, r)
	}
	return domain.ConsentRecord{ProcessID: r.ProcessID, Approved: r.Approved}, nil
}

func (f *fakes) RecordEvent(ctx context.Context, r ports.ProcessEventRequest) error {
	f.record(ctx, r)
	if f.event != nil {
		return f.event(ctx, r)
	}
	return nil
}

func (f *fakes) services() Services {
	return Services{Lookup: f, Approval: f, Evaluation: f, OTP: f, Consent: f, Events: f}
}

// failAll makes every service return err.
func (f *fakes) failAll(err error) {
	f.lookup = func(context.Context, ports.LookupRequest) (ports.LookupResult, error) {
		return ports.LookupResult{}, err
	}
	f.approve = func(context.Context, ports.ApprovalRequest) (domain.Decision, error) { return domain.Decision{}, err }
	f.evaluate = func(context.Context, ports.EvaluationRequest) (domain.Decision, error) { return domain.Decision{}, err }
	f.sendOTP = func(context.Context, ports.OTPRequest) (ports.OTPResult, error) { return ports.OTPResult{}, err }
	f.text = func(context.Context, ports.ConsentTextRequest) (domain.ConsentText, error) {
		return domain.ConsentText{}, err
	}
	f.store = func(context.Context, ports.ConsentStorageRequest) (domain.ConsentRecord, error) {
		return domain.ConsentRecord{}, err
	}
	f.event = func(context.Context, ports.ProcessEventRequest) error { return err }
}

// syncBuffer is a log sink safe for concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines parses the JSON log lines.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}

// harness serves requests through NewHandler and checks every response it
// gets against the OpenAPI document.
type harness struct {
	t    *testing.T
	h    http.Handler
	cfg  Config
	fake *fakes
	logs *syncBuffer
}

func newHarness(t *testing.T, f *fakes, configure func(*Config)) *harness {
	t.Helper()
	if f == nil {
		f = &fakes{}
	}
	logs := &syncBuffer{}
	cfg := Config{Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if configure != nil {
		configure(&cfg)
	}
	h, err := NewHandler(f.services(), cfg)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	return &harness{t: t, h: h, cfg: cfg.withDefaults(), fake: f, logs: logs}
}

// response is what a test looks at.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) errorBody(t *testing.T) errorBody {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", r.body, err)
	}
	return e
}

// post sends a JSON body with Content-Type application/json.
func (h *harness) post(path, body string, header ...string) response {
	h.t.Helper()
	return h.do(http.MethodPost, path, body, append([]string{"Content-Type", "application/json"}, header...)...)
}

// do sends a request (header as name, value pairs; a later pair with the
// same name replaces the earlier, an empty value deletes) and validates the
// response against the contract.
func (h *harness) do(method, path, body string, header ...string) response {
	h.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	res := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	checkContract(h.t, h.cfg, req, body, res)
	return res
}

var loadSpec = sync.OnceValues(func() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPISpec())
	if err != nil {
		return nil, err
	}
	return doc, doc.Validate(loader.Context)
})

func spec(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := loadSpec()
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	return doc
}

// checkContract validates one response against openapi.yaml: status,
// headers and body of the operation, or the common error body for paths and
// methods the API does not have. A 200 also proves that the request that
// earned it conforms to the documented request schema.
func checkContract(t *testing.T, cfg Config, req *http.Request, reqBody string, res response) {
	t.Helper()
	if err := contractError(spec(t), cfg, req, reqBody, res); err != nil {
		t.Errorf("%s %s -> %d %s: %v", req.Method, req.URL.Path, res.status, res.body, err)
	}
}

func contractError(doc *openapi3.T, cfg Config, req *http.Request, reqBody string, res response) error {
	// The document names the default id headers; a deployment may rename them.
	header := res.header.Clone()
	header.Set(DefaultCorrelationHeader, res.header.Get(cfg.CorrelationHeader))
	header.Set(DefaultRequestIDHeader, res.header.Get(cfg.RequestIDHeader))

	p := req.URL.Path
	if cfg.BasePath != "" {
		if !strings.HasPrefix(p, cfg.BasePath+"/") {
			p = "" // outside the API
		}
		p = strings.TrimPrefix(p, cfg.BasePath)
	}
	var op *openapi3.Operation
	pi := doc.Paths.Value(p)
	if pi != nil {
		op = pi.GetOperation(req.Method)
	}
	if op == nil {
		return errorShapeError(doc, header, res)
	}
	route := &routers.Route{Spec: doc, Path: p, PathItem: pi, Method: req.Method, Operation: op}
	reqInput := &openapi3filter.RequestValidationInput{
		Request: req,
		Route:   route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: reqInput,
		Status:                 res.status,
		Header:                 header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(res.body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Errorf("response breaks the contract: %w", err)
	}
	if res.status == http.StatusOK {
		vr := req.Clone(context.Background())
		vr.Body = io.NopCloser(strings.NewReader(reqBody))
		reqInput.Request = vr
		if err := openapi3filter.ValidateRequest(context.Background(), reqInput); err != nil {
			return fmt.Errorf("a request the API accepted breaks the documented schema: %w", err)
		}
	}
	return nil
}

// errorShapeError validates answers outside the operations (404, 405)
// against the Error schema.
func errorShapeError(doc *openapi3.T, header http.Header, res response) error {
	if res.status < 400 {
		return fmt.Errorf("status %d outside the documented operations", res.status)
	}
	if ct := header.Get("Content-Type"); ct != "application/json" {
		return fmt.Errorf("Content-Type %q, want application/json", ct)
	}
	for _, h := range []string{DefaultCorrelationHeader, DefaultRequestIDHeader} {
		if !validID(header.Get(h)) {
			return fmt.Errorf("%s %q missing or invalid", h, header.Get(h))
		}
	}
	var v any
	if err := json.Unmarshal(res.body, &v); err != nil {
		return fmt.Errorf("error body is not JSON: %w", err)
	}
	if err := doc.Components.Schemas["Error"].Value.VisitJSON(v); err != nil {
		return fmt.Errorf("error body does not match the Error schema: %w", err)
	}
	return nil
}

// Test images: the smallest byte strings domain.NewImage accepts.
var (
	jpegBytes = append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte{0x11}, 60)...)
	pngBytes  = append([]byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}, bytes.Repeat([]byte{0x22}, 61)...)
	jpegB64   = base64.StdEncoding.EncodeToString(jpegBytes)
	pngB64    = base64.StdEncoding.EncodeToString(pngBytes)
)

// endpointCase is one route with a valid request body, for tests that run
// against every route.
type endpointCase struct {
	name string
	path string
	body string
}

func allEndpoints() []endpointCase {
	return []endpointCase{
		{EndpointUserLookup, "/user/lookup", `{"processId":"p-1","processType":"ONBOARDING","identification":{"clientNumber":"1000001","birthDate":"1985-04-12"}}`},
		{EndpointClientApprove, "/client/approve", `{"processId":"p-1","userId":"user-1","identityVerificationId":"iv-1","provider":"iProov","status":"SUCCESS","score":8.5,"presenceCheckResult":{"frame":"` + jpegB64 + `"}}`},
		{EndpointClientEvaluate, "/client/evaluate", `{"processId":"p-1","userId":"user-1","identityVerificationId":"iv-1","provider":"ZenID","status":"SUCCESS","score":9,"documentCheckResult":{"documents":[{"type":"ID_CARD","status":"SUCCESS","data":{"givenNames":"Jana","surname":"Nováková","dateOfBirth":"1985-04-12","dateOfExpiry":"2030-01-01"},"images":[{"type":"FACE","data":"` + pngB64 + `"}]}]}}`},
		{EndpointOTPSend, "/otp/send", `{"processId":"p-1","userId":"user-1","language":"cs","otpCode":"12345678","otpType":"ACTIVATION","resend":false}`},
		{EndpointConsentStorage, "/consent/storage", `{"processId":"p-1","userId":"user-1","consentType":"GDPR","approved":true}`},
		{EndpointConsentText, "/consent/text", `{"processId":"p-1","userId":"user-1","consentType":"GDPR","language":"en"}`},
		{EndpointProcessEvent, "/process/event", `{"type":"FINISHED","processId":"p-1","userId":"user-1","identityVerificationId":"iv-1","data":{"language":"en"}}`},
	}
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func newRequest(method, path, body string) *http.Request {
	return httptest.NewRequest(method, path, strings.NewReader(body))
}

// accessLines returns the access-log lines.
func (h *harness) accessLines() []map[string]any {
	h.t.Helper()
	var out []map[string]any
	for _, l := range h.logs.lines(h.t) {
		if l["msg"] == "request" {
			out = append(out, l)
		}
	}
	return out
}

// Short names of the ports request types for the fuzz checks.
type (
	portsLookup         = ports.LookupRequest
	portsApproval       = ports.ApprovalRequest
	portsEvaluation     = ports.EvaluationRequest
	portsOTP            = ports.OTPRequest
	portsConsentStorage = ports.ConsentStorageRequest
	portsConsentText    = ports.ConsentTextRequest
	portsProcessEvent   = ports.ProcessEventRequest
)
