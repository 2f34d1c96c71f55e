package admin_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/policy"
	"github.com/bankkit/onboarding-adapter/transport/admin"
)

var (
	openPolicy   = policy.Review{Retention: time.Hour}
	strictPolicy = policy.Review{Retention: time.Hour, RequireClaim: true, FourEyes: true}
)

func TestAuthentication(t *testing.T) {
	f := newFixture(t, openPolicy)
	apiUser := cred{"onboarding-server", "s3cret-passw0rd-for-tests"}
	tests := []struct {
		name   string
		cred   *cred
		path   string
		status int
	}{
		{"no credentials, API", nil, admin.APIPrefix + "/cases", http.StatusUnauthorized},
		{"no credentials, page", nil, admin.PagesPrefix + "/", http.StatusUnauthorized},
		{"no credentials, frame", nil, admin.PagesPrefix + "/cases/case-wait/frame", http.StatusUnauthorized},
		{"no credentials, stylesheet", nil, admin.PagesPrefix + "/static/review.css", http.StatusUnauthorized},
		{"no credentials, unknown path", nil, admin.APIPrefix + "/nothing", http.StatusUnauthorized},
		{"wrong password", &cred{alice.user, "bob-password-12345"}, admin.APIPrefix + "/cases", http.StatusUnauthorized},
		{"unknown user", &cred{"mallory", alice.pass}, admin.APIPrefix + "/cases", http.StatusUnauthorized},
		{"the API's credentials", &apiUser, admin.APIPrefix + "/cases", http.StatusUnauthorized},
		{"name in another case", &cred{"Alice", alice.pass}, admin.APIPrefix + "/cases", http.StatusUnauthorized},
		{"bcrypt hash as password", &cred{carol.user, carolHash}, admin.APIPrefix + "/cases", http.StatusUnauthorized},
		{"alice", &alice, admin.APIPrefix + "/cases", http.StatusOK},
		{"carol with a hashed password", &carol, admin.APIPrefix + "/cases", http.StatusOK},
		{"page", &bob, admin.PagesPrefix + "/", http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := f.do(t, tc.cred, http.MethodGet, tc.path, "", nil)
			if a.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", a.Status, tc.status, a.Body)
			}
			if tc.status != http.StatusUnauthorized {
				return
			}
			if got := a.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `Basic realm="onboarding-adapter review"`) {
				t.Errorf("WWW-Authenticate = %q", got)
			}
			if strings.HasPrefix(tc.path, admin.APIPrefix) {
				wantError(t, a, http.StatusUnauthorized, "ERROR_UNAUTHORIZED", "credentials")
			} else if strings.Contains(a.Body, "case-wait") || !strings.Contains(a.Header.Get("Content-Type"), "text/html") {
				t.Errorf("unauthenticated page answer %q (%s)", a.Body, a.Header.Get("Content-Type"))
			}
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t, openPolicy)
	for _, path := range []string{
		admin.APIPrefix + "/cases", admin.APIPrefix + "/cases/case-wait", admin.APIPrefix + "/cases/nope",
		admin.PagesPrefix + "/", admin.PagesPrefix + "/cases/case-wait", admin.PagesPrefix + "/cases/case-wait/frame",
		admin.PagesPrefix + "/static/review.css", admin.PagesPrefix + "/nope",
	} {
		for _, c := range []*cred{nil, &alice} {
			a := f.do(t, c, http.MethodGet, path, "", nil)
			for h, want := range map[string]string{
				"Cache-Control":           "no-store",
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
				"X-Frame-Options":         "DENY",
				"Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
			} {
				if got := a.Header.Get(h); got != want {
					t.Errorf("GET %s (auth %v): %s = %q, want %q", path, c != nil, h, got, want)
				}
			}
		}
	}
}

func TestList(t *testing.T) {
	f := newFixture(t, openPolicy)
	if a := f.apiPost(t, &alice, "/cases/case-new/resolve", map[string]string{"result": "NOK", "reason": "not the same person"}); a.Status != http.StatusOK {
		t.Fatalf("resolve: %d %s", a.Status, a.Body)
	}
	ids := func(t *testing.T, a answer) []string {
		t.Helper()
		if a.Status != http.StatusOK {
			t.Fatalf("status %d: %s", a.Status, a.Body)
		}
		var out []string
		for _, c := range a.JSON(t)["cases"].([]any) {
			out = append(out, c.(map[string]any)["id"].(string))
		}
		return out
	}
	tests := []struct {
		query string
		want  string
		next  string // the nextCursor, "" for null
	}{
		{"", "case-wait,case-nok,case-new", ""},
		{"?status=OPEN", "case-wait,case-nok", ""},
		{"?status=open", "case-wait,case-nok", ""},
		{"?status=RESOLVED", "case-new", ""},
		{"?kind=approval", "case-nok", ""},
		{"?kind=evaluation&status=OPEN", "case-wait", ""},
		{"?olderThan=2h", "case-wait", ""},
		{"?olderThan=30m", "case-wait,case-nok", ""},
		{"?olderThan=1d", "", ""},
		{"?limit=2", "case-wait,case-nok", "case-nok"},
		{"?limit=2&after=case-nok", "case-new", ""},
		{"?limit=1&after=case-wait&status=OPEN", "case-nok", "case-nok"},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			a := f.apiGet(t, &alice, "/cases"+tc.query)
			if got := strings.Join(ids(t, a), ","); got != tc.want {
				t.Fatalf("cases %q, want %q", got, tc.want)
			}
			next, _ := a.JSON(t)["nextCursor"].(string)
			if next != tc.next {
				t.Fatalf("nextCursor %q, want %q", next, tc.next)
			}
		})
	}
	t.Run("a queue entry has age and reason codes but no personal data", func(t *testing.T) {
		a := f.apiGet(t, &alice, "/cases?status=OPEN&limit=1")
		c := a.JSON(t)["cases"].([]any)[0].(map[string]any)
		if c["ageSeconds"].(float64) != 3*3600 || c["reasonCodes"].([]any)[0] != "NAME_SIMILAR" || c["hasFrame"] != true || c["status"] != "OPEN" {
			t.Fatalf("queue entry %v", c)
		}
		for _, pii := range []string{"NOVAKOVA", "Nováková", "855412", "1985-04-12"} {
			if strings.Contains(a.Body, pii) {
				t.Errorf("the queue shows %q", pii)
			}
		}
	})
	for _, tc := range []struct{ query, field string }{
		{"?status=DONE", "status"}, {"?kind=lookup", "kind"}, {"?olderThan=soon", "olderThan"},
		{"?limit=0", "limit"}, {"?limit=501", "limit"}, {"?limit=x", "limit"}, {"?after=no-such-case", "afterId"},
	} {
		t.Run("refused "+tc.query, func(t *testing.T) {
			wantError(t, f.apiGet(t, &alice, "/cases"+tc.query), http.StatusBadRequest, "ERROR_GENERIC", tc.field)
		})
	}
}

func TestShow(t *testing.T) {
	f := newFixture(t, openPolicy)
	a := f.apiGet(t, &alice, "/cases/case-wait")
	if a.Status != http.StatusOK {
		t.Fatalf("%d %s", a.Status, a.Body)
	}
	d := a.JSON(t)
	if c := d["case"].(map[string]any); c["id"] != "case-wait" || c["kind"] != "evaluation" || c["score"] != 5.5 {
		t.Errorf("case %v", c)
	}
	rules := d["rules"].([]any)
	if len(rules) != 2 || rules[1].(map[string]any)["code"] != "NAME_SIMILAR" || rules[1].(map[string]any)["outcome"] != "WAIT" {
		t.Errorf("rules %v", rules)
	}
	if d["frameUrl"] != admin.APIPrefix+"/cases/case-wait/frame" {
		t.Errorf("frameUrl %v", d["frameUrl"])
	}
	if d["registry"].(map[string]any)["surname"] != "Nováková" || d["documents"].([]any)[0].(map[string]any)["surname"] != "NOVAKOVAA" {
		t.Errorf("registry %v documents %v", d["registry"], d["documents"])
	}
	marks := map[string]string{}
	for _, row := range d["comparison"].([]any) {
		r := row.(map[string]any)
		if r["compared"] == true {
			marks[r["field"].(string)] = r["documents"].([]any)[0].(map[string]any)["match"].(string)
		}
	}
	wantMarks := map[string]string{
		"givenNames": admin.MatchEquivalent, "surname": admin.MatchDiffers, "dateOfBirth": admin.MatchSame,
		"personalNumber": admin.MatchEquivalent, "nationality": admin.MatchSame,
	}
	for k, v := range wantMarks {
		if marks[k] != v {
			t.Errorf("comparison of %s = %q, want %q (all: %v)", k, marks[k], v, marks)
		}
	}
	if a := f.apiGet(t, &alice, "/cases/case-nok"); a.Status != http.StatusOK || a.JSON(t)["frameUrl"] != nil || a.JSON(t)["registry"] != nil {
		t.Errorf("case without evidence: %d %s", a.Status, a.Body)
	}
	wantError(t, f.apiGet(t, &alice, "/cases/no-such-case"), http.StatusNotFound, "ERROR_GENERIC", "not found")
	wantError(t, f.apiGet(t, &alice, "/cases/"+strings.Repeat("x", 200)), http.StatusBadRequest, "ERROR_GENERIC", "id")
	wantError(t, f.do(t, &alice, http.MethodDelete, admin.APIPrefix+"/cases/case-wait", "", nil), http.StatusMethodNotAllowed, "ERROR_GENERIC", "method")

	t.Run("frame", func(t *testing.T) {
		for _, prefix := range []string{admin.APIPrefix, admin.PagesPrefix} {
			a := f.do(t, &bob, http.MethodGet, prefix+"/cases/case-wait/frame", "", nil)
			if a.Status != http.StatusOK || a.Header.Get("Content-Type") != "image/jpeg" || a.Body != string(jpegFrame) ||
				a.Header.Get("Cache-Control") != "no-store" || a.Header.Get("Content-Disposition") != `inline; filename="frame.jpg"` {
				t.Errorf("%s frame: %d %s %q %q", prefix, a.Status, a.Header.Get("Content-Type"), a.Header.Get("Cache-Control"),
					a.Header.Get("Content-Disposition"))
			}
		}
		wantError(t, f.apiGet(t, &bob, "/cases/case-nok/frame"), http.StatusNotFound, "ERROR_GENERIC", "no frame")
	})
}

func TestClaimAndResolveRefusals(t *testing.T) {
	type step struct {
		who    cred
		path   string
		body   any
		status int
		msg    string // part of the error message, for refusals
	}
	ok := map[string]string{"result": "OK", "reason": "documents checked by hand"}
	tests := []struct {
		name   string
		policy policy.Review
		steps  []step
	}{
		{"resolve without claim when none is required", openPolicy, []step{
			{alice, "/cases/case-wait/resolve", ok, http.StatusOK, ""},
		}},
		{"resolving twice", openPolicy, []step{
			{alice, "/cases/case-wait/resolve", ok, http.StatusOK, ""},
			{alice, "/cases/case-wait/resolve", map[string]string{"result": "NOK", "reason": "changed my mind"}, http.StatusConflict, "already resolved"},
			{bob, "/cases/case-wait/resolve", ok, http.StatusConflict, "already resolved"},
			{bob, "/cases/case-wait/claim", nil, http.StatusConflict, "resolved"},
		}},
		{"resolving an unclaimed case when claiming is required", strictPolicy, []step{
			{alice, "/cases/case-wait/resolve", ok, http.StatusConflict, "claimed"},
		}},
		{"resolving a case claimed by another", strictPolicy, []step{
			{bob, "/cases/case-wait/claim", nil, http.StatusOK, ""},
			{alice, "/cases/case-wait/claim", nil, http.StatusConflict, "another reviewer"},
			{alice, "/cases/case-wait/resolve", ok, http.StatusConflict, "claimed"},
			{bob, "/cases/case-wait/claim", map[string]string{}, http.StatusOK, ""},
			{bob, "/cases/case-wait/resolve", ok, http.StatusOK, ""},
		}},
		{"missing reason", openPolicy, []step{
			{alice, "/cases/case-wait/resolve", map[string]string{"result": "OK"}, http.StatusBadRequest, "reason: is required"},
			{alice, "/cases/case-wait/resolve", map[string]string{"result": "OK", "reason": "   "}, http.StatusBadRequest, "reason: is required"},
		}},
		{"reason too long", openPolicy, []step{
			{alice, "/cases/case-wait/resolve", map[string]string{"result": "OK", "reason": strings.Repeat("x", 2001)}, http.StatusBadRequest, "reason"},
		}},
		{"bad result", openPolicy, []step{
			{alice, "/cases/case-wait/resolve", map[string]string{"result": "WAIT", "reason": "later"}, http.StatusBadRequest, "result"},
			{alice, "/cases/case-wait/resolve", map[string]string{"reason": "no result"}, http.StatusBadRequest, "result"},
		}},
		{"a body naming a second reviewer", strictPolicy, []step{
			{alice, "/cases/case-nok/claim", nil, http.StatusOK, ""},
			{alice, "/cases/case-nok/resolve", map[string]string{"result": "OK", "reason": "fine", "secondReviewer": "bob"}, http.StatusBadRequest, "secondReviewer"},
		}},
		{"a body that is not a JSON object", openPolicy, []step{
			{alice, "/cases/case-wait/resolve", "OK", http.StatusBadRequest, "body"},
			{alice, "/cases/case-wait/resolve", nil, http.StatusBadRequest, "body: is required"},
			{alice, "/cases/case-wait/resolve", map[string]any{"result": 1, "reason": "x"}, http.StatusBadRequest, "result"},
		}},
		{"unknown case", openPolicy, []step{
			{alice, "/cases/no-such-case/claim", nil, http.StatusNotFound, "not found"},
			{alice, "/cases/no-such-case/resolve", ok, http.StatusNotFound, "not found"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.policy)
			for i, s := range tc.steps {
				a := f.apiPost(t, &s.who, s.path, s.body)
				if s.msg != "" {
					wantError(t, a, s.status, "ERROR_GENERIC", s.msg)
					continue
				}
				if a.Status != s.status {
					t.Fatalf("step %d: %d %s", i, a.Status, a.Body)
				}
			}
			// Whatever was refused left no trace in the audit trail
			// beyond the successful steps.
			trail := f.apiGet(t, &alice, "/cases/case-wait/audit")
			n := 0
			for _, s := range tc.steps {
				if s.msg == "" && strings.HasPrefix(s.path, "/cases/case-wait/") {
					n++
				}
			}
			if got := len(trail.JSON(t)["audit"].([]any)); got > n {
				t.Errorf("audit has %d entries for %d successful actions: %s", got, n, trail.Body)
			}
		})
	}
	t.Run("content type and origin", func(t *testing.T) {
		f := newFixture(t, openPolicy)
		body := `{"result":"OK","reason":"fine"}`
		wantError(t, f.do(t, &alice, http.MethodPost, admin.APIPrefix+"/cases/case-wait/resolve", "text/plain", strings.NewReader(body)),
			http.StatusUnsupportedMediaType, "ERROR_GENERIC", "application/json")
		wantError(t, f.do(t, &alice, http.MethodPost, admin.APIPrefix+"/cases/case-wait/resolve", "application/x-www-form-urlencoded", strings.NewReader("result=OK&reason=x")),
			http.StatusUnsupportedMediaType, "ERROR_GENERIC", "application/json")
		wantError(t, f.do(t, &alice, http.MethodPost, admin.APIPrefix+"/cases/case-wait/resolve", "application/json", strings.NewReader(body), "Sec-Fetch-Site", "cross-site"),
			http.StatusForbidden, "ERROR_GENERIC", "cross-origin")
		wantError(t, f.do(t, &alice, http.MethodPost, admin.APIPrefix+"/cases/case-wait/resolve", "application/json", strings.NewReader(body), "Origin", "https://evil.example"),
			http.StatusForbidden, "ERROR_GENERIC", "cross-origin")
		wantError(t, f.do(t, &alice, http.MethodPost, admin.APIPrefix+"/cases/case-wait/resolve", "application/json", strings.NewReader(`{"reason":"`+strings.Repeat("x", 40000)+`"}`)),
			http.StatusRequestEntityTooLarge, "ERROR_GENERIC", "too large")
		if c, _ := f.store.ReviewCase(t.Context(), "case-wait"); c.Status != domain.ReviewOpen {
			t.Fatalf("a refused request changed the case: %+v", c)
		}
	})
}

func TestResolveAndAudit(t *testing.T) {
	f := newFixture(t, strictPolicy)
	if a := f.apiPost(t, &alice, "/cases/case-wait/claim", nil); a.Status != http.StatusOK || a.JSON(t)["claimedBy"] != "alice" || a.JSON(t)["status"] != "CLAIMED" {
		t.Fatalf("claim: %d %s", a.Status, a.Body)
	}
	f.clock.Advance(time.Minute)
	a := f.apiPost(t, &alice, "/cases/case-wait/resolve", map[string]string{"result": "ok", "reason": "surname typo in the OCR"})
	if a.Status != http.StatusOK {
		t.Fatalf("resolve: %d %s", a.Status, a.Body)
	}
	c := a.JSON(t)
	if c["status"] != "RESOLVED" || c["resolution"] != "OK" || c["resolvedBy"] != "alice" || c["resolutionReason"] != "surname typo in the OCR" {
		t.Fatalf("resolved case %v", c)
	}
	d, err := f.store.Decision(t.Context(), domain.KindEvaluation, "p-case-wait", "iv-case-wait")
	if err != nil || d.Result != domain.ResultOK {
		t.Fatalf("decision after the resolution: %+v %v", d, err)
	}
	trail := f.apiGet(t, &bob, "/cases/case-wait/audit").JSON(t)["audit"].([]any)
	if len(trail) != 2 {
		t.Fatalf("audit %v", trail)
	}
	claim, res := trail[0].(map[string]any), trail[1].(map[string]any)
	if claim["action"] != "CLAIM" || claim["actor"] != "alice" || claim["at"] != "2025-06-15T10:00:00Z" {
		t.Errorf("claim entry %v", claim)
	}
	if res["action"] != "RESOLVE" || res["actor"] != "alice" || res["result"] != "OK" || res["reason"] != "surname typo in the OCR" || res["at"] != "2025-06-15T10:01:00Z" {
		t.Errorf("resolve entry %v", res)
	}
	wantError(t, f.apiGet(t, &bob, "/cases/no-such-case/audit"), http.StatusNotFound, "ERROR_GENERIC", "not found")
}

// TestFourEyes: under four eyes, overriding a NOK answer to OK takes two
// authenticated reviewers: alice proposes, bob confirms.
func TestFourEyes(t *testing.T) {
	f := newFixture(t, strictPolicy)
	steps := []struct {
		who    cred
		path   string
		body   any
		status int
		check  func(t *testing.T, m map[string]any)
	}{
		{alice, "/cases/case-nok/claim", nil, http.StatusOK, nil},
		{alice, "/cases/case-nok/resolve", map[string]string{"result": "OK", "reason": "selfie matches the registry photo"}, http.StatusAccepted,
			func(t *testing.T, m map[string]any) {
				p, _ := m["proposal"].(map[string]any)
				if m["status"] != "CLAIMED" || m["awaitingSecondReviewer"] != true || p["proposedBy"] != "alice" || p["result"] != "OK" {
					t.Errorf("after the proposal: %v", m)
				}
			}},
		{alice, "/cases/case-nok/resolve", map[string]string{"result": "OK", "reason": "really"}, http.StatusConflict,
			func(t *testing.T, m map[string]any) {
				if !strings.Contains(m["message"].(string), "second, different reviewer") {
					t.Errorf("message %v", m)
				}
			}},
		{bob, "/cases/case-nok/resolve", map[string]string{"result": "OK", "reason": "agree, same face"}, http.StatusOK,
			func(t *testing.T, m map[string]any) {
				if m["status"] != "RESOLVED" || m["resolution"] != "OK" || m["resolvedBy"] != "alice" || m["secondReviewer"] != "bob" ||
					m["resolutionReason"] != "selfie matches the registry photo" || m["awaitingSecondReviewer"] != false {
					t.Errorf("after the confirmation: %v", m)
				}
			}},
	}
	for i, s := range steps {
		a := f.apiPost(t, &s.who, s.path, s.body)
		if a.Status != s.status {
			t.Fatalf("step %d: %d %s", i, a.Status, a.Body)
		}
		if d, _ := f.store.Decision(t.Context(), domain.KindApproval, "p-case-nok", "iv-case-nok"); (i < 3) != (d.Result == domain.ResultNOK) {
			t.Fatalf("step %d: the decision answers %s", i, d.Result)
		}
		if s.check != nil {
			s.check(t, a.JSON(t))
		}
	}
	trail := f.apiGet(t, &carol, "/cases/case-nok/audit").JSON(t)["audit"].([]any)
	var got []string
	for _, e := range trail {
		m := e.(map[string]any)
		got = append(got, m["action"].(string)+":"+m["actor"].(string))
	}
	if strings.Join(got, ",") != "CLAIM:alice,PROPOSE:alice,RESOLVE:alice" {
		t.Fatalf("audit %v", got)
	}
	if last := trail[2].(map[string]any); last["secondActor"] != "bob" || last["secondReason"] != "agree, same face" {
		t.Errorf("resolution entry %v", last)
	}
	// Every step came through the JSON API, by signed-in reviewers.
	for i, e := range trail {
		if ch := e.(map[string]any)["channel"]; ch != domain.ReviewChannelAPI {
			t.Errorf("audit entry %d: channel %v, want api", i, ch)
		}
	}
}
