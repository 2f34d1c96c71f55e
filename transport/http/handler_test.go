package httptransport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

func TestEndpoints200(t *testing.T) {
	score := 8.5
	tests := []struct {
		name     string
		path     string
		body     string
		setup    func(*fakes)
		wantBody string
		check    func(t *testing.T, got any)
		// checkFakes, when set, checks what the fake services saw.
		checkFakes func(t *testing.T, f *fakes)
	}{
		{
			name: "lookup REQUIRED", path: "/user/lookup",
			body:     `{"processId":"p-1","processType":"ONBOARDING","identification":{"clientNumber":"1000001","birthDate":"1985-04-12"}}`,
			wantBody: `{"userId":"user-1","consent":"REQUIRED","consentRequired":true}`,
			check: func(t *testing.T, got any) {
				want := ports.LookupRequest{ProcessID: "p-1", ProcessType: "ONBOARDING",
					Identification: map[string]string{"clientNumber": "1000001", "birthDate": "1985-04-12"}}
				r := got.(ports.LookupRequest)
				r.Meta = domain.RequestMeta{}
				if !reflect.DeepEqual(r, want) {
					t.Errorf("service got %+v, want %+v", r, want)
				}
			},
		},
		{
			name: "lookup NOT_REQUIRED without processType", path: "/user/lookup",
			body: `{"processId":"p-1","identification":{"personalNumber":"855412/1234"}}`,
			setup: func(f *fakes) {
				f.lookup = func(context.Context, ports.LookupRequest) (ports.LookupResult, error) {
					return ports.LookupResult{UserID: "u-9", Consent: ports.ConsentNotRequired}, nil
				}
			},
			wantBody: `{"userId":"u-9","consent":"NOT_REQUIRED","consentRequired":false}`,
		},
		{
			name: "lookup NOT_EVALUATED does not ask for consent", path: "/user/lookup",
			body: `{"processId":"p-1","identification":{"clientNumber":1000001}}`,
			setup: func(f *fakes) {
				f.lookup = func(context.Context, ports.LookupRequest) (ports.LookupResult, error) {
					return ports.LookupResult{UserID: "u-9", Consent: ports.ConsentNotEvaluated}, nil
				}
			},
			wantBody: `{"userId":"u-9","consent":"NOT_EVALUATED","consentRequired":false}`,
		},
		{
			name: "lookup unknown consent value is null and not REQUIRED", path: "/user/lookup",
			body: `{"processId":"p-1","identification":{}}`,
			setup: func(f *fakes) {
				f.lookup = func(context.Context, ports.LookupRequest) (ports.LookupResult, error) {
					return ports.LookupResult{UserID: "u-9"}, nil
				}
			},
			wantBody: `{"userId":"u-9","consent":null,"consentRequired":false}`,
		},
		{
			name: "approve OK with frame", path: "/client/approve",
			body:     `{"processId":"p-1","processType":"ONBOARDING","userId":"user-1","identityVerificationId":"iv-1","provider":"iProov","status":"SUCCESS","score":8.5,"presenceCheckResult":{"frame":"` + jpegB64 + `"}}`,
			wantBody: `{"result":"OK","resultReason":null}`,
			check: func(t *testing.T, got any) {
				r := got.(ports.ApprovalRequest)
				if r.ProcessID != "p-1" || r.ProcessType != "ONBOARDING" || r.UserID != "user-1" || r.IdentityVerificationID != "iv-1" ||
					r.Provider != "iProov" || r.Status != "SUCCESS" || r.Score == nil || *r.Score != score {
					t.Errorf("service got %+v", r)
				}
				if r.Frame == nil || r.Frame.Kind != "FRAME" || r.Frame.Format != "jpeg" || !reflect.DeepEqual(r.Frame.Data, jpegBytes) {
					t.Errorf("frame = %+v", r.Frame)
				}
			},
			checkFakes: func(t *testing.T, f *fakes) {
				if !f.frameRecycled {
					t.Error("the frame was not decoded into the buffer the request's scope recycles")
				}
			},
		},
		{
			name: "approve NOK with reason, no frame, no score", path: "/client/approve",
			body: `{"processId":"p-1","userId":"user-1","identityVerificationId":"iv-1","status":"FAILURE","presenceCheckResult":null}`,
			setup: func(f *fakes) {
				f.approve = func(context.Context, ports.ApprovalRequest) (domain.Decision, error) {
					return domain.Decision{Result: domain.ResultNOK, ReasonCode: domain.ReasonVerificationFailed, ReasonText: "presence check failed"}, nil
				}
			},
			wantBody: `{"result":"NOK","resultReason":"VERIFICATION_FAILED: presence check failed"}`,
			check: func(t *testing.T, got any) {
				r := got.(ports.ApprovalRequest)
				if r.Frame != nil || r.Score != nil {
					t.Errorf("frame %v score %v, want both nil", r.Frame, r.Score)
				}
			},
		},
		{
			name: "evaluate WAIT with documents", path: "/client/evaluate",
			body: `{"processId":"p-1","userId":"user-1","identityVerificationId":"iv-1","provider":"ZenID","status":"SUCCESS","score":9,` +
				`"documentCheckResult":{"documents":[{"type":"ID_CARD","status":"SUCCESS","data":{"givenNames":"Jana","surname":"Nováková","dateOfBirth":"1985-04-12","placeOfBirth":"Praha","sex":"F","nationality":"CZE","personalNumber":"855412/1234","documentNumber":"123456789","dateOfIssue":"2020-01-01","dateOfExpiry":"2030-01-01","authority":"MÚ Praha"},` +
				`"images":[{"type":"FACE","data":"` + pngB64 + `"},{"type":"SIGNATURE","data":null}],"rawData":{"anything":[1,2,{"x":"y"}]}},{"type":"PASSPORT","status":"SUCCESS"}]}}`,
			setup: func(f *fakes) {
				f.evaluate = func(context.Context, ports.EvaluationRequest) (domain.Decision, error) {
					return domain.Decision{Result: domain.ResultWAIT, ReasonCode: domain.ReasonNameSimilar}, nil
				}
			},
			wantBody: `{"result":"WAIT","resultReason":"NAME_SIMILAR"}`,
			check: func(t *testing.T, got any) {
				r := got.(ports.EvaluationRequest)
				if !r.HasDocumentCheck || len(r.Documents) != 2 {
					t.Fatalf("HasDocumentCheck %v, %d documents", r.HasDocumentCheck, len(r.Documents))
				}
				want := ports.DocumentFields{GivenNames: "Jana", Surname: "Nováková", DateOfBirth: "1985-04-12", PlaceOfBirth: "Praha",
					Sex: "F", Nationality: "CZE", PersonalNumber: "855412/1234", DocumentNumber: "123456789",
					DateOfIssue: "2020-01-01", DateOfExpiry: "2030-01-01", Authority: "MÚ Praha"}
				if r.Documents[0].Data != want || r.Documents[0].Type != "ID_CARD" || r.Documents[0].Status != "SUCCESS" {
					t.Errorf("document 0 = %+v", r.Documents[0])
				}
				if len(r.Documents[0].Images) != 1 || r.Documents[0].Images[0].Kind != "FACE" || r.Documents[0].Images[0].Format != "png" {
					t.Errorf("images = %+v", r.Documents[0].Images)
				}
				if r.Documents[1].Type != "PASSPORT" || r.Documents[1].Images != nil {
					t.Errorf("document 1 = %+v", r.Documents[1])
				}
			},
		},
		{
			name: "evaluate older shape", path: "/client/evaluate",
			body:     `{"processId":"p-1","identityVerificationId":"","verificationId":"v-7","userId":"user-1","provider":"zenid","extractedData":["{\"a\":1}","{}"]}`,
			wantBody: `{"result":"OK","resultReason":null}`,
			check: func(t *testing.T, got any) {
				r := got.(ports.EvaluationRequest)
				if r.IdentityVerificationID != "v-7" || r.HasDocumentCheck || r.Documents != nil || r.Provider != "zenid" {
					t.Errorf("service got %+v", r)
				}
			},
		},
		{
			name: "evaluate identityVerificationId wins over verificationId", path: "/client/evaluate",
			body:     `{"processId":"p-1","identityVerificationId":"iv-1","verificationId":"v-7","documentCheckResult":null}`,
			wantBody: `{"result":"OK","resultReason":null}`,
			check: func(t *testing.T, got any) {
				if r := got.(ports.EvaluationRequest); r.IdentityVerificationID != "iv-1" || r.HasDocumentCheck {
					t.Errorf("service got %+v", r)
				}
			},
		},
		{
			name: "otp sent", path: "/otp/send",
			body:     `{"processId":"p-1","processType":"ONBOARDING","userId":"user-1","language":"cs","otpCode":"01234567","otpType":"USER_VERIFICATION","resend":true}`,
			wantBody: `{"otpSent":true}`,
			check: func(t *testing.T, got any) {
				r := got.(ports.OTPRequest)
				r.Meta = domain.RequestMeta{}
				want := ports.OTPRequest{ProcessID: "p-1", ProcessType: "ONBOARDING", UserID: "user-1", Language: "cs",
					Code: "01234567", Type: domain.OTPUserVerification, Resend: true}
				if r != want {
					t.Errorf("service got %+v, want %+v", r, want)
				}
			},
		},
		{
			name: "otp not sent is a 200, resend defaults to false", path: "/otp/send",
			body: `{"processId":"p-1","userId":"user-1","language":"en","otpCode":"1234","otpType":"ACTIVATION"}`,
			setup: func(f *fakes) {
				f.sendOTP = func(context.Context, ports.OTPRequest) (ports.OTPResult, error) {
					return ports.OTPResult{Sent: false, Outcome: domain.OTPThrottled}, nil
				}
			},
			wantBody: `{"otpSent":false}`,
			check: func(t *testing.T, got any) {
				if r := got.(ports.OTPRequest); r.Resend {
					t.Errorf("Resend = true without resend in the body")
				}
			},
		},
		{
			name: "consent storage rejected consent", path: "/consent/storage",
			body:     `{"processId":"p-1","processType":"ONBOARDING","userId":"user-1","consentType":"GDPR","approved":false}`,
			wantBody: `{}`,
			check: func(t *testing.T, got any) {
				r := got.(ports.ConsentStorageRequest)
				r.Meta = domain.RequestMeta{}
				want := ports.ConsentStorageRequest{ProcessID: "p-1", ProcessType: "ONBOARDING", UserID: "user-1", ConsentType: "GDPR", Approved: false}
				if r != want {
					t.Errorf("service got %+v, want %+v", r, want)
				}
			},
		},
		{
			name: "consent text HTML unescaped", path: "/consent/text",
			body:     `{"processId":"p-1","processType":"ONBOARDING","userId":"user-1","consentType":"GDPR","language":"en"}`,
			wantBody: `{"consentText":"<p>I agree & consent</p>"}`,
			check: func(t *testing.T, got any) {
				r := got.(ports.ConsentTextRequest)
				r.Meta = domain.RequestMeta{}
				want := ports.ConsentTextRequest{ProcessID: "p-1", ProcessType: "ONBOARDING", UserID: "user-1", ConsentType: "GDPR", Language: "en"}
				if r != want {
					t.Errorf("service got %+v, want %+v", r, want)
				}
			},
		},
		{
			name: "process event with data", path: "/process/event",
			body:     `{"type":"FINISHED","processId":"p-1","processType":"ONBOARDING","userId":"user-1","identityVerificationId":"iv-1","data":{"language":"en","deviceId":12345678901234567890,"nested":{"a":true}},"unknownTop":1}`,
			wantBody: `{}`,
			check: func(t *testing.T, got any) {
				r := got.(ports.ProcessEventRequest)
				if r.Type != "FINISHED" || r.ProcessID != "p-1" || r.ProcessType != "ONBOARDING" || r.UserID != "user-1" || r.IdentityVerificationID != "iv-1" {
					t.Errorf("service got %+v", r)
				}
				if r.Data["language"] != "en" || r.Data["deviceId"] != json.Number("12345678901234567890") {
					t.Errorf("data = %#v", r.Data)
				}
			},
		},
		{
			name: "process event with eventData and locale", path: "/process/event",
			body:     `{"type":"FINISHED","processId":"p-1","locale":"cs-CZ","eventData":{"clientIPAddress":"10.0.0.1"}}`,
			wantBody: `{}`,
			check: func(t *testing.T, got any) {
				want := map[string]any{"clientIPAddress": "10.0.0.1", "locale": "cs-CZ"}
				if r := got.(ports.ProcessEventRequest); !reflect.DeepEqual(r.Data, want) {
					t.Errorf("data = %#v, want %#v", r.Data, want)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakes{}
			if tt.setup != nil {
				tt.setup(f)
			}
			h := newHarness(t, f, nil)
			res := h.post(tt.path, tt.body)
			if res.status != http.StatusOK {
				t.Fatalf("status %d %s, want 200", res.status, res.body)
			}
			if got := strings.TrimSpace(string(res.body)); got != tt.wantBody {
				t.Errorf("body %s, want %s", got, tt.wantBody)
			}
			if ct := res.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if f.calls != 1 {
				t.Fatalf("service called %d times, want 1", f.calls)
			}
			if tt.check != nil {
				tt.check(t, f.last)
			}
			if tt.checkFakes != nil {
				tt.checkFakes(t, f)
			}
		})
	}
}

// TestTransportErrors runs every transport failure against every route:
// none reaches the service, each answers the contract's error body.
func TestTransportErrors(t *testing.T) {
	type errCase struct {
		name        string
		contentType string
		body        func(ec endpointCase) string
		status      int
		message     string
	}
	cases := []errCase{
		{"400 malformed JSON", "application/json", func(endpointCase) string { return `{"processId":}` }, 400, "request body is not valid JSON"},
		{"400 truncated JSON", "application/json", func(ec endpointCase) string { return ec.body[:len(ec.body)/2] }, 400, "request body is not valid JSON"},
		{"400 trailing data", "application/json", func(ec endpointCase) string { return ec.body + ` {}` }, 400, "request body is not valid JSON"},
		{"400 two objects", "application/json", func(ec endpointCase) string { return ec.body + ec.body }, 400, "request body is not valid JSON"},
		{"400 empty body", "application/json", func(endpointCase) string { return "" }, 400, "request body is empty"},
		{"400 whitespace body", "application/json", func(endpointCase) string { return " \n\t " }, 400, "request body is empty"},
		{"400 array body", "application/json", func(endpointCase) string { return `[{"processId":"p"}]` }, 400, "request body must be a JSON object"},
		{"400 null body", "application/json", func(endpointCase) string { return `null` }, 400, "request body must be a JSON object"},
		{"400 invalid UTF-8", "application/json", func(endpointCase) string { return "{\"processId\":\"p\xff\"}" }, 400, "request body is not valid UTF-8"},
		{"400 wrong type", "application/json", func(endpointCase) string { return `{"processId":42}` }, 400, "processId: must be a string"},
		{"400 deep nesting", "application/json", func(endpointCase) string {
			return `{"processId":"p","x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`
		}, 400, "request body is nested more than 32 levels deep"},
		{"400 NUL character", "application/json", func(endpointCase) string { return `{"processId":"p\u0000"}` }, 400, "request body must not contain NUL characters"},
		{"415 no content type", "", func(ec endpointCase) string { return ec.body }, 415, "Content-Type must be application/json"},
		{"415 text/plain", "text/plain", func(ec endpointCase) string { return ec.body }, 415, "Content-Type must be application/json"},
		{"415 form", "application/x-www-form-urlencoded", func(endpointCase) string { return "processId=p" }, 415, "Content-Type must be application/json"},
		{"415 latin-1", "application/json; charset=iso-8859-1", func(ec endpointCase) string { return ec.body }, 415, "Content-Type charset must be utf-8"},
		{"415 malformed content type", "application/json; charset", func(ec endpointCase) string { return ec.body }, 415, "Content-Type must be application/json"},
	}
	for _, ec := range allEndpoints() {
		for _, c := range cases {
			t.Run(ec.name+"/"+c.name, func(t *testing.T) {
				h := newHarness(t, nil, nil)
				res := h.do(http.MethodPost, ec.path, c.body(ec), "Content-Type", c.contentType)
				if res.status != c.status {
					t.Fatalf("status %d %s, want %d", res.status, res.body, c.status)
				}
				if e := res.errorBody(t); e != (errorBody{ErrorCode: "ERROR_GENERIC", Message: c.message}) {
					t.Errorf("body %+v, want message %q", e, c.message)
				}
				if h.fake.calls != 0 {
					t.Errorf("service was called %d times for a malformed request", h.fake.calls)
				}
			})
		}
	}
}

func TestContentTypeParametersAccepted(t *testing.T) {
	for _, ct := range []string{"application/json; charset=utf-8", "Application/JSON;charset=UTF-8", "application/json; charset=\"utf8\""} {
		t.Run(ct, func(t *testing.T) {
			h := newHarness(t, nil, nil)
			res := h.do(http.MethodPost, "/consent/text", `{"consentType":"GDPR"}`, "Content-Type", ct)
			if res.status != http.StatusOK {
				t.Errorf("status %d %s, want 200", res.status, res.body)
			}
		})
	}
}

func TestBodyLimits413(t *testing.T) {
	for _, ec := range allEndpoints() {
		t.Run(ec.name, func(t *testing.T) {
			h := newHarness(t, nil, func(c *Config) { c.MaxBodyBytes = 1024; c.MaxImageBodyBytes = 2048 })
			limit := 1024
			if ec.name == EndpointClientApprove || ec.name == EndpointClientEvaluate {
				limit = 2048
			}
			// A body just within the limit passes; one byte more is refused.
			within := ec.body[:len(ec.body)-1] + strings.Repeat(" ", limit-len(ec.body)) + "}"
			if res := h.post(ec.path, within); res.status != http.StatusOK {
				t.Fatalf("body of exactly %d bytes: status %d %s", len(within), res.status, res.body)
			}
			res := h.post(ec.path, within+" ")
			if res.status != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d %s, want 413", res.status, res.body)
			}
			want := errorBody{ErrorCode: "ERROR_GENERIC", Message: fmt.Sprintf("request body exceeds %d bytes", limit)}
			if e := res.errorBody(t); e != want {
				t.Errorf("body %+v, want %+v", e, want)
			}
		})
	}
}

// TestBodyLimitWithoutContentLength covers a chunked body, which only
// MaxBytesReader can stop: on every route a body of exactly the limit
// passes and one byte more is the contract's 413.
func TestBodyLimitWithoutContentLength(t *testing.T) {
	chunked := func(path, body string) *http.Request {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.ContentLength = -1
		req.Header.Set("Content-Type", "application/json")
		return req
	}
	for _, ec := range allEndpoints() {
		t.Run(ec.name, func(t *testing.T) {
			h := newHarness(t, nil, func(c *Config) { c.MaxBodyBytes = 1024; c.MaxImageBodyBytes = 2048 })
			limit := 1024
			if ec.name == EndpointClientApprove || ec.name == EndpointClientEvaluate {
				limit = 2048
			}
			within := ec.body[:len(ec.body)-1] + strings.Repeat(" ", limit-len(ec.body)) + "}"
			if res := h.serve(chunked(ec.path, within), within); res.status != http.StatusOK {
				t.Fatalf("chunked body of exactly %d bytes: status %d %s", len(within), res.status, res.body)
			}
			res := h.serve(chunked(ec.path, within+" "), within+" ")
			if res.status != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d %s, want 413", res.status, res.body)
			}
			want := errorBody{ErrorCode: "ERROR_GENERIC", Message: fmt.Sprintf("request body exceeds %d bytes", limit)}
			if e := res.errorBody(t); e != want {
				t.Errorf("body %+v, want %+v", e, want)
			}
			if h.fake.calls != 1 {
				t.Errorf("service called %d times, want once (for the body within the limit)", h.fake.calls)
			}
		})
	}
}

// TestMissingRequiredField shows both kinds: approved is required by the
// transport; other fields by the service, whose Invalid error names them.
func TestMissingRequiredField(t *testing.T) {
	requireProcessID := func(processID string) error {
		if processID == "" {
			return domain.Invalid("processId", "is required")
		}
		return nil
	}
	f := &fakes{}
	f.lookup = func(_ context.Context, r ports.LookupRequest) (ports.LookupResult, error) {
		return ports.LookupResult{UserID: "u"}, requireProcessID(r.ProcessID)
	}
	f.approve = func(_ context.Context, r ports.ApprovalRequest) (domain.Decision, error) {
		return domain.Decision{Result: domain.ResultOK}, requireProcessID(r.ProcessID)
	}
	f.evaluate = func(_ context.Context, r ports.EvaluationRequest) (domain.Decision, error) {
		return domain.Decision{Result: domain.ResultOK}, requireProcessID(r.ProcessID)
	}
	f.sendOTP = func(_ context.Context, r ports.OTPRequest) (ports.OTPResult, error) {
		return ports.OTPResult{Sent: true}, requireProcessID(r.ProcessID)
	}
	f.text = func(_ context.Context, r ports.ConsentTextRequest) (domain.ConsentText, error) {
		return domain.ConsentText{}, requireProcessID(r.ProcessID)
	}
	f.store = func(_ context.Context, r ports.ConsentStorageRequest) (domain.ConsentRecord, error) {
		return domain.ConsentRecord{}, requireProcessID(r.ProcessID)
	}
	f.event = func(_ context.Context, r ports.ProcessEventRequest) error { return requireProcessID(r.ProcessID) }

	tests := []struct {
		name, path, body, message string
		reachesService            bool
	}{
		{"lookup processId", "/user/lookup", `{"identification":{"clientNumber":"1"}}`, "processId: is required", true},
		{"approve processId", "/client/approve", `{"userId":"u"}`, "processId: is required", true},
		{"evaluate processId", "/client/evaluate", `{"userId":"u"}`, "processId: is required", true},
		{"otp processId", "/otp/send", `{"userId":"u","otpCode":"1234"}`, "processId: is required", true},
		{"consent text processId", "/consent/text", `{"consentType":"GDPR"}`, "processId: is required", true},
		{"process event processId", "/process/event", `{"type":"FINISHED"}`, "processId: is required", true},
		{"consent storage approved", "/consent/storage", `{"processId":"p","consentType":"GDPR"}`, "approved: is required (true or false)", false},
		{"consent storage approved null", "/consent/storage", `{"processId":"p","consentType":"GDPR","approved":null}`, "approved: is required (true or false)", false},
		{"consent storage approved as string", "/consent/storage", `{"processId":"p","approved":"true"}`, "approved: must be true or false", false},
		{"consent storage processId", "/consent/storage", `{"approved":true}`, "processId: is required", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.calls = 0
			h := newHarness(t, f, nil)
			res := h.post(tt.path, tt.body)
			if res.status != http.StatusBadRequest {
				t.Fatalf("status %d %s, want 400", res.status, res.body)
			}
			if e := res.errorBody(t); e != (errorBody{ErrorCode: "ERROR_GENERIC", Message: tt.message}) {
				t.Errorf("body %+v, want %q", e, tt.message)
			}
			if got := f.calls > 0; got != tt.reachesService {
				t.Errorf("service reached = %v, want %v", got, tt.reachesService)
			}
		})
	}
}

// TestDomainErrorTable checks the one code-to-status table on every route.
func TestDomainErrorTable(t *testing.T) {
	secret := errors.New("pq: password authentication failed for user bank at 10.1.2.3")
	tests := []struct {
		name    string
		err     error
		status  int
		message string
	}{
		{"400 invalid with field", domain.Invalid("documentCheckResult.documents[1].data.dateOfExpiry", "must be a date in the format YYYY-MM-DD"), 400,
			"documentCheckResult.documents[1].data.dateOfExpiry: must be a date in the format YYYY-MM-DD"},
		{"400 invalid without field", domain.Invalid("", "no identification scheme applies"), 400, "no identification scheme applies"},
		{"400 not eligible", domain.NotEligible("client is not eligible for onboarding"), 400, "client is not eligible for onboarding"},
		{"400 wrapped twice", fmt.Errorf("lookup: %w", fmt.Errorf("scheme: %w", domain.Invalid("identification", "expected clientNumber and birthDate"))), 400,
			"identification: expected clientNumber and birthDate"},
		{"404 not found", domain.NotFound("", "client not found"), 404, "client not found"},
		{"409 conflict", domain.Conflict("review case already resolved"), 409, "review case already resolved"},
		{"503 unavailable", domain.Unavailable(secret, "client registry unavailable"), 503, "client registry unavailable"},
		{"500 internal domain error", domain.Internal(secret, "decision store broke"), 500, "internal error"},
		{"500 plain error", secret, 500, "internal error"},
		{"500 wrapped plain error", fmt.Errorf("save: %w", secret), 500, "internal error"},
		{"500 unknown code", &domain.Error{Code: "mystery", Message: "do not show"}, 500, "internal error"},
		{"404 empty message", &domain.Error{Code: domain.CodeNotFound}, 404, "Not Found"},
	}
	for _, ec := range allEndpoints() {
		for _, tt := range tests {
			t.Run(ec.name+"/"+tt.name, func(t *testing.T) {
				f := &fakes{}
				f.failAll(tt.err)
				h := newHarness(t, f, nil)
				res := h.post(ec.path, ec.body)
				if res.status != tt.status {
					t.Fatalf("status %d %s, want %d", res.status, res.body, tt.status)
				}
				if e := res.errorBody(t); e != (errorBody{ErrorCode: "ERROR_GENERIC", Message: tt.message}) {
					t.Errorf("body %+v, want message %q", e, tt.message)
				}
				if strings.Contains(string(res.body), "10.1.2.3") {
					t.Errorf("internal detail leaked: %s", res.body)
				}
				if tt.status == 500 && !strings.Contains(h.logs.String(), "10.1.2.3") && !strings.Contains(h.logs.String(), "do not show") {
					t.Errorf("internal detail not logged: %s", h.logs)
				}
			})
		}
	}
}

// TestInvalidServiceAnswers500 covers answers the caller must never see:
// a lookup without userId and a decision with an unknown result, on both
// decision routes.
func TestInvalidServiceAnswers500(t *testing.T) {
	f := &fakes{
		lookup: func(context.Context, ports.LookupRequest) (ports.LookupResult, error) {
			return ports.LookupResult{Consent: ports.ConsentRequired}, nil
		},
		approve: func(context.Context, ports.ApprovalRequest) (domain.Decision, error) {
			return domain.Decision{Result: "MAYBE"}, nil
		},
		evaluate: func(context.Context, ports.EvaluationRequest) (domain.Decision, error) {
			return domain.Decision{Result: "MAYBE"}, nil
		},
	}
	h := newHarness(t, f, nil)
	for _, path := range []string{"/user/lookup", "/client/approve", "/client/evaluate"} {
		calls := f.calls
		res := h.post(path, `{"processId":"p"}`)
		if res.status != 500 || res.errorBody(t).Message != "internal error" {
			t.Errorf("%s: status %d %s, want 500 internal error", path, res.status, res.body)
		}
		if f.calls != calls+1 {
			t.Errorf("%s: the service was not called; the 500 is not its answer's", path)
		}
	}
}

// TestDeadline503 runs a service out of the request's time on every route:
// the answer is the retryable 503 "request timed out", however the service
// reports it (contextErrorWraps).
func TestDeadline503(t *testing.T) {
	for _, ec := range allEndpoints() {
		for _, tt := range contextErrorWraps {
			t.Run(ec.name+"/"+tt.name, func(t *testing.T) {
				var deadline time.Time
				f := &fakes{}
				f.waitAll(nil, func(ctx context.Context) error {
					deadline, _ = ctx.Deadline()
					return tt.wrap(ctx.Err())
				})
				h := newHarness(t, f, func(c *Config) { c.RequestTimeout = 20 * time.Millisecond })
				start := time.Now()
				res := h.post(ec.path, ec.body)
				if res.status != http.StatusServiceUnavailable {
					t.Fatalf("status %d %s, want 503", res.status, res.body)
				}
				if e := res.errorBody(t); e != (errorBody{ErrorCode: "ERROR_GENERIC", Message: "request timed out"}) {
					t.Errorf("body %+v", e)
				}
				if f.calls != 1 {
					t.Errorf("service called %d times, want 1", f.calls)
				}
				if deadline.IsZero() || deadline.Sub(start) > time.Second {
					t.Errorf("service saw deadline %v, want about 20ms after %v", deadline, start)
				}
			})
		}
	}
}

func TestDefaultDeadlineIsFourSeconds(t *testing.T) {
	var left time.Duration
	f := &fakes{text: func(ctx context.Context, _ ports.ConsentTextRequest) (domain.ConsentText, error) {
		d, _ := ctx.Deadline()
		left = time.Until(d)
		return domain.ConsentText{HTML: "x"}, nil
	}}
	h := newHarness(t, f, nil)
	h.post("/consent/text", `{}`)
	if left <= 3*time.Second || left > 4*time.Second {
		t.Errorf("time left %v, want just under 4s", left)
	}
}

func TestPanic500(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*fakes, *Config)
		route string
	}{
		{"service panics", func(f *fakes, _ *Config) {
			f.lookup = func(context.Context, ports.LookupRequest) (ports.LookupResult, error) { panic("boom in service") }
		}, "POST /user/lookup"},
		{"endpoint middleware panics", func(_ *fakes, c *Config) {
			c.EndpointMiddleware = func(string) endpoint.Middleware {
				return func(endpoint.Endpoint) endpoint.Endpoint {
					return func(context.Context, any) (any, error) { panic("boom in middleware") }
				}
			}
		}, "POST /user/lookup"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakes{}
			h := newHarness(t, f, func(c *Config) { tt.setup(f, c) })
			res := h.post("/user/lookup", `{"processId":"p-1"}`, "X-Correlation-Id", "corr-1")
			if res.status != http.StatusInternalServerError {
				t.Fatalf("status %d %s, want 500", res.status, res.body)
			}
			if e := res.errorBody(t); e != (errorBody{ErrorCode: "ERROR_GENERIC", Message: "internal error"}) {
				t.Errorf("body %+v", e)
			}
			if strings.Contains(string(res.body), "boom") {
				t.Errorf("panic value leaked: %s", res.body)
			}
			var sawStack bool
			for _, l := range h.logs.lines(t) {
				if s, _ := l["stack"].(string); strings.Contains(s, "goroutine") && l["correlation_id"] == "corr-1" && l["level"] == "ERROR" {
					sawStack = true
				}
			}
			if !sawStack {
				t.Errorf("no ERROR line with stack and correlation id: %s", h.logs)
			}
			if res.header.Get("X-Correlation-Id") != "corr-1" {
				t.Errorf("correlation id not echoed on a panic")
			}
			if lines := h.accessLines(); len(lines) != 1 || lines[0]["status"] != float64(500) || lines[0]["route"] != tt.route {
				t.Errorf("access log %v, want one line with status 500 and route %s", lines, tt.route)
			}
		})
	}
}

// TestPanicAfterWriteKeepsResponse checks the outer recover does not write a
// second answer over one already started.
func TestPanicAfterWriteKeepsResponse(t *testing.T) {
	a := &api{cfg: Config{}.withDefaults(), log: Config{}.withDefaults().Logger}
	h := a.withRequestScope(a.withRecover(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		panic("late")
	})))
	rec := newRecorder()
	h.ServeHTTP(rec, newRequest(http.MethodGet, "/", ""))
	if rec.Code != http.StatusAccepted || rec.Body.Len() != 0 {
		t.Errorf("got %d %q, want the started 202 untouched", rec.Code, rec.Body)
	}
}

func TestEndpointMiddlewareAppliedOncePerEndpoint(t *testing.T) {
	applied := map[string]int{}
	called := map[string]int{}
	h := newHarness(t, nil, func(c *Config) {
		c.EndpointMiddleware = func(name string) endpoint.Middleware {
			applied[name]++
			return func(next endpoint.Endpoint) endpoint.Endpoint {
				return func(ctx context.Context, req any) (any, error) {
					called[name]++
					return next(ctx, req)
				}
			}
		}
	})
	want := map[string]int{}
	for _, ec := range allEndpoints() {
		want[ec.name] = 1
		if res := h.post(ec.path, ec.body); res.status != http.StatusOK {
			t.Fatalf("%s: status %d %s", ec.path, res.status, res.body)
		}
	}
	if !reflect.DeepEqual(applied, want) {
		t.Errorf("middleware applied %v, want once per endpoint %v", applied, want)
	}
	if !reflect.DeepEqual(called, want) {
		t.Errorf("middleware called %v, want once per request %v", called, want)
	}
}

func TestNewHandlerRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		missing func(*Services)
		want    string
	}{
		{"relative base path", Config{BasePath: "api"}, nil, "BasePath"},
		{"unclean base path", Config{BasePath: "/api//v1"}, nil, "BasePath"},
		{"wildcard base path", Config{BasePath: "/api/{v}"}, nil, "BasePath"},
		{"three credentials", Config{Credentials: []Credential{{"a", "1"}, {"b", "2"}, {"c", "3"}}}, nil, "at most 2"},
		{"empty password", Config{Credentials: []Credential{{"a", ""}}}, nil, "Credentials[0]"},
		{"colon in user", Config{Credentials: []Credential{{"a:b", "x"}}}, nil, "':'"},
		{"bad header", Config{CorrelationHeader: "X Corr"}, nil, "CorrelationHeader"},
		{"same headers", Config{CorrelationHeader: "X-Id", RequestIDHeader: "x-id"}, nil, "must differ"},
		{"negative timeout", Config{RequestTimeout: -time.Second}, nil, "RequestTimeout"},
		{"negative body", Config{MaxBodyBytes: -1}, nil, "MaxBodyBytes"},
		{"negative image body", Config{MaxImageBodyBytes: -1}, nil, "MaxImageBodyBytes"},
		{"missing services", Config{}, func(s *Services) { s.OTP = nil; s.Events = nil }, "Services.OTP, Services.Events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := (&fakes{}).services()
			if tt.missing != nil {
				tt.missing(&s)
			}
			h, err := NewHandler(s, tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one naming %q", err, tt.want)
			}
			if h != nil {
				t.Errorf("got a handler with an invalid config")
			}
		})
	}
}

func TestCredentialNeverPrintsPassword(t *testing.T) {
	c := Config{Credentials: []Credential{{Username: "onboarding", Password: "s3cr3t"}}}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%v", c.Credentials[0])} {
		if strings.Contains(s, "s3cr3t") {
			t.Errorf("password printed: %s", s)
		}
	}
	if v := c.Credentials[0].LogValue().String(); strings.Contains(v, "s3cr3t") {
		t.Errorf("password in log value: %s", v)
	}
}
