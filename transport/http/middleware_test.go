package httptransport

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestIDs(t *testing.T) {
	long := strings.Repeat("a", 129)
	tests := []struct {
		name             string
		cfg              func(*Config)
		corrHdr, reqHdr  string // header names used
		corrIn, reqIn    string // values sent ("" = absent)
		wantCorr, wantRq string // "" = generated
	}{
		{"valid ids echoed", nil, "X-Correlation-Id", "X-Request-Id", "c0a8-1:2_3.x", "r-1", "c0a8-1:2_3.x", "r-1"},
		{"absent ids generated", nil, "X-Correlation-Id", "X-Request-Id", "", "", "", ""},
		{"too long replaced", nil, "X-Correlation-Id", "X-Request-Id", long, strings.Repeat("b", 128), "", strings.Repeat("b", 128)},
		{"bad characters replaced", nil, "X-Correlation-Id", "X-Request-Id", "a b", "r\"1", "", ""},
		{"log injection replaced", nil, "X-Correlation-Id", "X-Request-Id", "x\u2028y", "ok", "", "ok"},
		{"custom header names", func(c *Config) { c.CorrelationHeader = "X-Trace"; c.RequestIDHeader = "X-Req" },
			"X-Trace", "X-Req", "t-1", "q-1", "t-1", "q-1"},
		{"custom names ignore the defaults", func(c *Config) { c.CorrelationHeader = "X-Trace"; c.RequestIDHeader = "X-Req" },
			"X-Correlation-Id", "X-Request-Id", "t-1", "q-1", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakes{}
			h := newHarness(t, f, tt.cfg)
			var hdr []string
			if tt.corrIn != "" {
				hdr = append(hdr, tt.corrHdr, tt.corrIn)
			}
			if tt.reqIn != "" {
				hdr = append(hdr, tt.reqHdr, tt.reqIn)
			}
			res := h.post("/consent/text", `{"processId":"p-1"}`, hdr...)
			if res.status != http.StatusOK {
				t.Fatalf("status %d %s", res.status, res.body)
			}
			gotCorr, gotReq := res.header.Get(h.cfg.CorrelationHeader), res.header.Get(h.cfg.RequestIDHeader)
			for _, c := range []struct{ name, got, want string }{{"correlation", gotCorr, tt.wantCorr}, {"request", gotReq, tt.wantRq}} {
				if c.want == "" && !uuidV4.MatchString(c.got) {
					t.Errorf("%s id %q, want a generated UUIDv4", c.name, c.got)
				}
				if c.want != "" && c.got != c.want {
					t.Errorf("%s id %q, want %q", c.name, c.got, c.want)
				}
			}
			// The service sees the same ids, through ctx and in Meta.
			meta := f.last.(ports.ConsentTextRequest).Meta
			if meta != (domain.RequestMeta{CorrelationID: gotCorr, RequestID: gotReq}) {
				t.Errorf("Meta %+v, want the echoed ids %s/%s", meta, gotCorr, gotReq)
			}
			if CorrelationID(f.ctx) != gotCorr || RequestID(f.ctx) != gotReq {
				t.Errorf("ctx ids %s/%s, want %s/%s", CorrelationID(f.ctx), RequestID(f.ctx), gotCorr, gotReq)
			}
		})
	}
}

func TestIDsOnEveryAnswer(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) { c.Credentials = []Credential{{"u", "p"}} })
	for _, res := range []response{
		h.post("/user/lookup", `{}`),                                        // 401
		h.do(http.MethodGet, "/nope", "", "Authorization", basic("u", "p")), // 404
	} {
		if !uuidV4.MatchString(res.header.Get("X-Correlation-Id")) || !uuidV4.MatchString(res.header.Get("X-Request-Id")) {
			t.Errorf("%d answer without ids: %v", res.status, res.header)
		}
		if res.header.Get("Cache-Control") != "no-store" || res.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%d answer without no-store/nosniff: %v", res.status, res.header)
		}
	}
}

func TestIDHelpersOutsideRequest(t *testing.T) {
	if CorrelationID(context.Background()) != "" || RequestID(context.Background()) != "" {
		t.Errorf("ids outside a request must be empty")
	}
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestBasicAuth(t *testing.T) {
	creds := []Credential{{"onboarding", "old-secret"}, {"onboarding-2", "new-secret"}}
	tests := []struct {
		name          string
		authorization string
		status        int
	}{
		{"200 first pair", basic("onboarding", "old-secret"), 200},
		{"200 second pair", basic("onboarding-2", "new-secret"), 200},
		{"200 scheme is case-insensitive", "basic " + base64.StdEncoding.EncodeToString([]byte("onboarding:old-secret")), 200},
		{"401 missing", "", 401},
		{"401 wrong user", basic("someone", "old-secret"), 401},
		{"401 wrong password", basic("onboarding", "new-secret"), 401},
		{"401 pairs crossed", basic("onboarding-2", "old-secret"), 401},
		{"401 empty credentials", basic("", ""), 401},
		{"401 not base64", "Basic !!!", 401},
		{"401 no colon", "Basic " + base64.StdEncoding.EncodeToString([]byte("onboardingold-secret")), 401},
		{"401 bearer", "Bearer abc", 401},
		{"401 password prefix", basic("onboarding", "old-secre"), 401},
	}
	for _, ec := range allEndpoints() {
		for _, tt := range tests {
			t.Run(ec.name+"/"+tt.name, func(t *testing.T) {
				h := newHarness(t, nil, func(c *Config) { c.Credentials = creds })
				res := h.post(ec.path, ec.body, "Authorization", tt.authorization)
				if res.status != tt.status {
					t.Fatalf("status %d %s, want %d", res.status, res.body, tt.status)
				}
				if tt.status != 401 {
					return
				}
				if e := res.errorBody(t); e != (errorBody{ErrorCode: "ERROR_UNAUTHORIZED", Message: "authentication required"}) {
					t.Errorf("body %+v", e)
				}
				if got := res.header.Get("WWW-Authenticate"); got != `Basic realm="onboarding-adapter", charset="UTF-8"` {
					t.Errorf("WWW-Authenticate %q", got)
				}
				if h.fake.calls != 0 {
					t.Errorf("service called without authentication")
				}
			})
		}
	}
}

func TestAuthBeforeRouting(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) { c.Credentials = []Credential{{"u", "p"}} })
	for _, tt := range []struct{ method, path string }{{http.MethodGet, "/unknown"}, {http.MethodGet, "/user/lookup"}} {
		if res := h.do(tt.method, tt.path, ""); res.status != http.StatusUnauthorized {
			t.Errorf("%s %s unauthenticated: %d, want 401 before routing", tt.method, tt.path, res.status)
		}
	}
}

func TestNoAuthWithoutCredentials(t *testing.T) {
	h := newHarness(t, nil, nil)
	if res := h.post("/consent/text", `{}`, "Authorization", "Basic garbage"); res.status != http.StatusOK {
		t.Errorf("status %d, want 200 when no credentials are configured", res.status)
	}
}

func TestRouting(t *testing.T) {
	tests := []struct {
		name     string
		basePath string
		method   string
		path     string
		status   int
		message  string
		allow    string
	}{
		{"200 at root", "", http.MethodPost, "/user/lookup", 200, "", ""},
		{"404 unknown path", "", http.MethodPost, "/user/lookup2", 404, "not found", ""},
		{"404 trailing slash", "", http.MethodPost, "/user/lookup/", 404, "not found", ""},
		{"404 case differs", "", http.MethodPost, "/User/Lookup", 404, "not found", ""},
		{"404 not canonical", "", http.MethodPost, "/user//lookup", 404, "not found", ""},
		{"404 dot segments", "", http.MethodPost, "/client/../user/lookup", 404, "not found", ""},
		{"404 root", "", http.MethodGet, "/", 404, "not found", ""},
		{"404 admin route", "", http.MethodGet, "/livez", 404, "not found", ""},
		{"405 GET", "", http.MethodGet, "/user/lookup", 405, "method not allowed", "POST"},
		{"405 PUT", "", http.MethodPut, "/otp/send", 405, "method not allowed", "POST"},
		{"405 DELETE", "", http.MethodDelete, "/process/event", 405, "method not allowed", "POST"},
		{"405 GET approve", "", http.MethodGet, "/client/approve", 405, "method not allowed", "POST"},
		{"405 PATCH consent storage", "", http.MethodPatch, "/consent/storage", 405, "method not allowed", "POST"},
		{"405 PUT consent text", "", http.MethodPut, "/consent/text", 405, "method not allowed", "POST"},
		{"200 under base path", "/api/v1", http.MethodPost, "/api/v1/user/lookup", 200, "", ""},
		{"200 base path trailing slash dropped", "/api/v1/", http.MethodPost, "/api/v1/consent/text", 200, "", ""},
		{"200 slash base path is root", "/", http.MethodPost, "/consent/text", 200, "", ""},
		{"404 root route with base path", "/api/v1", http.MethodPost, "/user/lookup", 404, "not found", ""},
		{"404 base path alone", "/api/v1", http.MethodPost, "/api/v1", 404, "not found", ""},
		{"405 under base path", "/api/v1", http.MethodGet, "/api/v1/client/evaluate", 405, "method not allowed", "POST"},
		// Escaped paths are matched by ServeMux, segment by segment.
		{"200 escaped letter", "", http.MethodPost, "/user/%6Cookup", 200, "", ""},
		{"200 escaped first letter", "", http.MethodPost, "/%75ser/lookup", 200, "", ""},
		{"404 escaped slash", "", http.MethodPost, "/user%2Flookup", 404, "not found", ""},
		{"404 escaped trailing slash", "", http.MethodPost, "/user/lookup%2F", 404, "not found", ""},
		{"405 escaped letter", "", http.MethodGet, "/user/%6Cookup", 405, "method not allowed", "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil, func(c *Config) { c.BasePath = tt.basePath })
			body := `{"processId":"p-1","identification":{"clientNumber":"1"}}`
			res := h.do(tt.method, tt.path, body, "Content-Type", "application/json")
			if res.status != tt.status {
				t.Fatalf("status %d %s, want %d", res.status, res.body, tt.status)
			}
			if tt.status == 200 {
				return
			}
			if e := res.errorBody(t); e != (errorBody{ErrorCode: "ERROR_GENERIC", Message: tt.message}) {
				t.Errorf("body %+v, want %q", e, tt.message)
			}
			if got := res.header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
			if ct := res.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

func TestAccessLog(t *testing.T) {
	f := &fakes{}
	h := newHarness(t, f, func(c *Config) { c.BasePath = "/api" })
	secretBody := `{"processId":"p-42","userId":"user-1","otpCode":"98765432","language":"cs","otpType":"ACTIVATION"}`
	h.post("/api/otp/send", secretBody, "X-Correlation-Id", "corr-7", "X-Request-Id", "req-7")
	h.post("/api/user/lookup", `{"processId":"p 43 not an id","identification":{"personalNumber":"855412/1234"}}`)
	h.post("/api/otp/send", `{`)
	h.do(http.MethodGet, "/api/otp/send", "")
	h.post("/api/nowhere", `{}`)

	lines := h.accessLines()
	want := []struct {
		route, processID string
		status           float64
	}{
		{"POST /api/otp/send", "p-42", 200},
		{"POST /api/user/lookup", "", 200},
		{"POST /api/otp/send", "", 400},
		{"", "", 405},
		{"", "", 404},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d access lines, want one per request: %s", len(lines), h.logs)
	}
	for i, w := range want {
		l := lines[i]
		if l["route"] != w.route || l["process_id"] != w.processID || l["status"] != w.status || l["level"] != "INFO" {
			t.Errorf("line %d = %v, want route %q process %q status %v", i, l, w.route, w.processID, w.status)
		}
		for _, k := range []string{"method", "duration_ms", "correlation_id", "request_id", "bytes"} {
			if _, ok := l[k]; !ok {
				t.Errorf("line %d lacks %s: %v", i, k, l)
			}
		}
		if b, _ := l["bytes"].(float64); b <= 0 {
			t.Errorf("line %d bytes = %v, want the body size", i, l["bytes"])
		}
	}
	if lines[0]["correlation_id"] != "corr-7" || lines[0]["request_id"] != "req-7" || lines[0]["method"] != "POST" {
		t.Errorf("ids or method missing: %v", lines[0])
	}
	for _, secret := range []string{"98765432", "855412", "user-1"} {
		if strings.Contains(h.logs.String(), secret) {
			t.Errorf("log contains %q from a request body: %s", secret, h.logs)
		}
	}
}

func TestAccessLogUnauthorized(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) { c.Credentials = []Credential{{"u", "p"}} })
	h.post("/user/lookup", `{}`, "Authorization", basic("u", "wrong-password"))
	lines := h.accessLines()
	if len(lines) != 1 || lines[0]["status"] != float64(401) {
		t.Fatalf("access lines %v, want one 401", lines)
	}
	if strings.Contains(h.logs.String(), "wrong-password") {
		t.Errorf("password logged")
	}
}

// TestJSONMuxExactAgreesWithServeMux: a POST to a registered path is served
// from the exact map alone (with an empty ServeMux behind it), with the
// pattern ServeMux alone gives it (with the exact map emptied); the exact
// map serves nothing else.
func TestJSONMuxExactAgreesWithServeMux(t *testing.T) {
	paths := []string{"/user/lookup", "/client/approve", "/api/v1/consent/text", "/a/b/c/otp/send"}
	var served string
	handlers := make([]pathHandler, 0, len(paths))
	for _, p := range paths {
		handlers = append(handlers, pathHandler{p, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { served = p + " as " + r.Pattern })})
	}
	m := newJSONMux(handlers)
	exactOnly := jsonMux{mux: http.NewServeMux(), exact: m.exact}
	muxOnly := jsonMux{mux: m.mux}
	serve := func(h jsonMux, method, target string) (int, string) {
		served = ""
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
		return rec.Code, served
	}
	for _, p := range paths {
		codeMux, viaMux := serve(muxOnly, http.MethodPost, p)
		codeExact, viaExact := serve(exactOnly, http.MethodPost, p)
		if codeMux != http.StatusOK || codeExact != http.StatusOK || viaExact != viaMux || viaMux != p+" as POST "+p {
			t.Errorf("%s: ServeMux alone %d %q, exact map alone %d %q", p, codeMux, viaMux, codeExact, viaExact)
		}
	}
	// Everything else is left to ServeMux: with it empty, not found.
	for _, target := range []string{"/user/%6Cookup", "/user//lookup", "/user/lookup/", "/user/look"} {
		if code, via := serve(exactOnly, http.MethodPost, target); code != http.StatusNotFound || via != "" {
			t.Errorf("POST %s from the exact map: %d %q, want 404", target, code, via)
		}
	}
	if code, via := serve(exactOnly, http.MethodGet, "/user/lookup"); code != http.StatusNotFound || via != "" {
		t.Errorf("GET from the exact map: %d %q, want 404 (ServeMux's to answer)", code, via)
	}
	defer func() {
		if recover() == nil {
			t.Error("two handlers at one path were accepted")
		}
	}()
	newJSONMux([]pathHandler{handlers[0], handlers[0]})
}

// TestAppendUUID: the formatter matches the canonical 8-4-4-4-12 hex of
// the bytes, version 4 and RFC 4122 variant bits set, after what dst held.
func TestAppendUUID(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		var b [16]byte
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		want := b
		want[6] = want[6]&0x0f | 0x40
		want[8] = want[8]&0x3f | 0x80
		h := hex.EncodeToString(want[:])
		wantS := "id:" + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
		if got := string(appendUUID([]byte("id:"), b[:])); got != wantS || !uuidV4.MatchString(got[3:]) {
			t.Fatalf("appendUUID(%x) = %q, want %q", b, got, wantS)
		}
	}
}
