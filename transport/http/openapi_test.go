package httptransport

import (
	"net/http"
	"sort"
	"testing"
)

// TestOpenAPIDocument checks the document is valid and lists every route
// with every status the transport can answer.
func TestOpenAPIDocument(t *testing.T) {
	doc := spec(t)
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi %q, want 3.0.3", doc.OpenAPI)
	}
	var paths []string
	for p := range doc.Paths.Map() {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var want []string
	for _, ec := range allEndpoints() {
		want = append(want, ec.path)
	}
	sort.Strings(want)
	if len(paths) != len(want) {
		t.Fatalf("paths %v, want %v", paths, want)
	}
	for i := range want {
		if paths[i] != want[i] {
			t.Fatalf("paths %v, want %v", paths, want)
		}
	}
	for _, p := range want {
		op := doc.Paths.Value(p).Post
		if op == nil {
			t.Errorf("%s has no POST", p)
			continue
		}
		for _, status := range []int{200, 400, 401, 404, 409, 413, 415, 500, 503} {
			if op.Responses.Status(status) == nil {
				t.Errorf("%s lacks the %d response", p, status)
			}
		}
		if op.RequestBody == nil || op.RequestBody.Value.Content.Get("application/json") == nil {
			t.Errorf("%s lacks its JSON request body", p)
		}
	}
	if doc.Components.SecuritySchemes["basicAuth"] == nil || doc.Components.SecuritySchemes["basicAuth"].Value.Scheme != "basic" {
		t.Errorf("no basic auth security scheme")
	}
	for _, h := range []string{"CorrelationId", "RequestId", "WWWAuthenticate"} {
		if doc.Components.Headers[h] == nil {
			t.Errorf("header %s not documented", h)
		}
	}
}

func TestOpenAPISpecIsACopy(t *testing.T) {
	a := OpenAPISpec()
	a[0] = 'X'
	if OpenAPISpec()[0] == 'X' {
		t.Errorf("OpenAPISpec returned the embedded bytes, not a copy")
	}
}

// TestErrorStatusesValidate sends one answer of every error status through
// the contract check (the other tests do so too; this one keeps the list
// in one place).
func TestErrorStatusesValidate(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) { c.MaxBodyBytes = 10 })
	for _, tt := range []struct {
		status int
		res    response
	}{
		{400, h.post("/consent/text", `{"a`)},
		{404, h.post("/nope", `{}`)},
		{405, h.do(http.MethodGet, "/consent/text", "")},
		{413, h.post("/consent/text", `{"consentType":"GDPR"}`)},
		{415, h.do(http.MethodPost, "/consent/text", `{}`, "Content-Type", "text/plain")},
	} {
		if tt.res.status != tt.status {
			t.Errorf("got %d, want %d", tt.res.status, tt.status)
		}
	}
}

// TestContractCheckCatchesViolations proves the contract check used by every
// test is not a rubber stamp.
func TestContractCheckCatchesViolations(t *testing.T) {
	ids := http.Header{"Content-Type": {"application/json"}, "X-Correlation-Id": {"c-1"}, "X-Request-Id": {"r-1"}}
	cfg := Config{}.withDefaults()
	tests := []struct {
		name   string
		method string
		path   string
		status int
		header http.Header
		body   string
	}{
		{"unknown result", http.MethodPost, "/client/evaluate", 200, ids, `{"result":"MAYBE","resultReason":null}`},
		{"missing resultReason", http.MethodPost, "/client/approve", 200, ids, `{"result":"OK"}`},
		{"lookup without userId", http.MethodPost, "/user/lookup", 200, ids, `{"consent":"REQUIRED","consentRequired":true}`},
		{"extra field in error", http.MethodPost, "/otp/send", 400, ids, `{"errorCode":"ERROR_GENERIC","message":"x","detail":"y"}`},
		{"wrong error code", http.MethodPost, "/otp/send", 404, ids, `{"errorCode":"ERROR_UNAUTHORIZED","message":"x"}`},
		{"undocumented status", http.MethodPost, "/otp/send", 418, ids, `{"errorCode":"ERROR_GENERIC","message":"x"}`},
		{"401 without WWW-Authenticate", http.MethodPost, "/otp/send", 401, ids, `{"errorCode":"ERROR_UNAUTHORIZED","message":"authentication required"}`},
		{"missing ids", http.MethodPost, "/otp/send", 200, http.Header{"Content-Type": {"application/json"}}, `{"otpSent":true}`},
		{"text body", http.MethodPost, "/otp/send", 500, http.Header{"Content-Type": {"text/plain"}, "X-Correlation-Id": {"c"}, "X-Request-Id": {"r"}}, `boom`},
		{"404 plain text", http.MethodGet, "/nope", 404, http.Header{"Content-Type": {"text/plain"}, "X-Correlation-Id": {"c"}, "X-Request-Id": {"r"}}, `404 page not found`},
		{"405 bad shape", http.MethodGet, "/otp/send", 405, ids, `{"error":"method"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest(tt.method, tt.path, `{}`)
			err := contractError(spec(t), cfg, req, `{}`, response{status: tt.status, header: tt.header, body: []byte(tt.body)})
			if err == nil {
				t.Errorf("violation not detected")
			}
		})
	}
}
