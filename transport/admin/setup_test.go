package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/policy"
	"github.com/bankkit/onboarding-adapter/domain/review"
	"github.com/bankkit/onboarding-adapter/ports"
	"github.com/bankkit/onboarding-adapter/transport/admin"
	httptransport "github.com/bankkit/onboarding-adapter/transport/http"
)

var t0 = time.Date(2025, 6, 15, 10, 0, 0, 0, time.UTC)

// The reviewers of the tests. carol's password is stored as a bcrypt hash
// (of "carol-password-123", cost 4).
var (
	alice = cred{"alice", "alice-password-123"}
	bob   = cred{"bob", "bob-password-12345"}
	carol = cred{"carol", "carol-password-123"}
)

type cred struct{ user, pass string }

const carolHash = "$2a$04$ZcLM2nIAj4C6ShICZuDZX.IuK0dkMbYV48Pfq1jxPxo6nQWFWqBhu"

// jpegFrame is the start of a JPEG: enough for the frame endpoint, which
// sniffs the format.
var jpegFrame = []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F', 0, 1, 2, 3}

// fixture is the admin listener with the review handler mounted, as cmd
// mounts it, over a memory store seeded with three cases.
type fixture struct {
	srv   *httptest.Server
	store *memory.DecisionStore
	clock *memory.FakeClock
}

// seedCase stores a decision with an open case.
func seedCase(t testing.TB, s *memory.DecisionStore, id string, kind domain.DecisionKind, answered domain.Result, created time.Time, ev domain.ReviewEvidence) {
	t.Helper()
	score := 5.5
	d := domain.Decision{Kind: kind, ProcessID: "p-" + id, IdentityVerificationID: "iv-" + id, UserID: "u-1000001",
		Result: answered, ReasonCode: domain.ReasonNameSimilar, ReasonText: "names differ slightly", Score: &score,
		Rules: []domain.RuleResult{
			{Rule: "score", Outcome: domain.ResultOK},
			{Rule: "document.names", Outcome: domain.ResultWAIT, Code: domain.ReasonNameSimilar, Detail: "surname differs by 2 edits"},
		},
		DecidedAt: created}
	rc := &domain.ReviewCase{ID: id, Status: domain.ReviewOpen, ReasonCodes: []string{domain.ReasonNameSimilar},
		Answered: answered, CreatedAt: created, Evidence: ev}
	if _, _, err := s.SaveDecision(context.Background(), d, rc); err != nil {
		t.Fatal(err)
	}
}

func janaEvidence(surname string) domain.ReviewEvidence {
	return domain.ReviewEvidence{
		Documents: []domain.DocumentData{{Type: "ID_CARD", Status: "SUCCESS", GivenNames: "JANA", Surname: surname,
			DateOfBirth: domain.MustDate("1985-04-12"), Nationality: "CZE", PersonalNumber: "855412/1234",
			DocumentNumber: "123456789", DateOfExpiry: domain.MustDate("2030-01-15")}},
		Registry: &domain.Client{UserID: "u-1000001", ClientNumber: "1000001", BirthDate: domain.MustDate("1985-04-12"),
			GivenNames: "Jana", Surname: "Nováková", PersonalNumber: "8554121234", Nationality: "CZE", Status: domain.StatusActive},
		Frame: jpegFrame,
	}
}

// newFixture seeds: case-wait (evaluation, WAIT, 3 h old, evidence and
// frame), case-nok (approval, answered NOK by the review fallback, 1 h
// old, no evidence) and case-new (evaluation, WAIT, 1 min old).
func newFixture(t *testing.T, p policy.Review) *fixture {
	t.Helper()
	store := memory.NewDecisionStore()
	seedCase(t, store, "case-wait", domain.KindEvaluation, domain.ResultWAIT, t0.Add(-3*time.Hour), janaEvidence("NOVAKOVAA"))
	seedCase(t, store, "case-nok", domain.KindApproval, domain.ResultNOK, t0.Add(-time.Hour), domain.ReviewEvidence{})
	seedCase(t, store, "case-new", domain.KindEvaluation, domain.ResultWAIT, t0.Add(-time.Minute), janaEvidence("Nováková"))
	clock := memory.NewFakeClock(t0)
	return &fixture{srv: mount(t, review.New(store, store, clock, p), p, clock.Now), store: store, clock: clock}
}

// mount serves svc as cmd does: the review handler's routes in the admin
// listener's Extra.
func mount(t *testing.T, svc ports.ReviewService, p policy.Review, now func() time.Time) *httptest.Server {
	t.Helper()
	return mountWithSecret(t, svc, p, now, nil)
}

// mountWithSecret is mount with the replicas' CSRF secret.
func mountWithSecret(t *testing.T, svc ports.ReviewService, p policy.Review, now func() time.Time, secret []byte) *httptest.Server {
	t.Helper()
	h, err := admin.NewHandler(svc, admin.Config{
		Users:    []admin.User{{Name: alice.user, Password: alice.pass}, {Name: bob.user, Password: bob.pass}, {Name: carol.user, Password: carolHash}},
		FourEyes: p.FourEyes, RequireClaim: p.RequireClaim, Now: now, CSRFSecret: secret,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httptransport.NewAdminHandler(httptransport.AdminConfig{Extra: h.Routes()}))
	t.Cleanup(srv.Close)
	return srv
}

// answer is one HTTP answer.
type answer struct {
	Status int
	Header http.Header
	Body   string
}

// JSON decodes the body into a generic map.
func (a answer) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(a.Body), &m); err != nil {
		t.Fatalf("body is not a JSON object: %q", a.Body)
	}
	return m
}

// do sends a request as c (nil: no credentials) with headers.
func (f *fixture) do(t *testing.T, c *cred, method, path, contentType string, body io.Reader, headers ...string) answer {
	t.Helper()
	return doReq(t, f.srv.URL, c, method, path, contentType, body, headers...)
}

func doReq(t *testing.T, base string, c *cred, method, path, contentType string, body io.Reader, headers ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c != nil {
		req.SetBasicAuth(c.user, c.pass)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

// apiPost POSTs v as JSON to the API.
func (f *fixture) apiPost(t *testing.T, c *cred, path string, v any) answer {
	t.Helper()
	var body io.Reader = http.NoBody
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	return f.do(t, c, http.MethodPost, admin.APIPrefix+path, "application/json", body)
}

func (f *fixture) apiGet(t *testing.T, c *cred, path string) answer {
	t.Helper()
	return f.do(t, c, http.MethodGet, admin.APIPrefix+path, "", nil)
}

// formPost POSTs a form to a page as c.
func (f *fixture) formPost(t *testing.T, c *cred, path string, form url.Values, headers ...string) answer {
	t.Helper()
	return f.do(t, c, http.MethodPost, path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), headers...)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf loads the case page as c and returns the token of its forms.
func (f *fixture) csrf(t *testing.T, c *cred, id string) string {
	t.Helper()
	a := f.do(t, c, http.MethodGet, admin.PagesPrefix+"/cases/"+id, "", nil)
	m := csrfRE.FindStringSubmatch(a.Body)
	if a.Status != http.StatusOK || m == nil {
		t.Fatalf("case page %s: %d without a CSRF token:\n%s", id, a.Status, a.Body)
	}
	return m[1]
}

// wantError checks an API error answer: the status and the
// {"errorCode","message"} body, the message containing msg.
func wantError(t *testing.T, a answer, status int, code, msg string) {
	t.Helper()
	if a.Status != status {
		t.Fatalf("status %d, want %d: %s", a.Status, status, a.Body)
	}
	m := a.JSON(t)
	if m["errorCode"] != code || !strings.Contains(m["message"].(string), msg) || len(m) != 2 {
		t.Fatalf("body %s, want errorCode %s and a message with %q", a.Body, code, msg)
	}
}

// newFixtureService is a review service over an empty memory store.
func newFixtureService(t *testing.T) ports.ReviewService {
	t.Helper()
	return emptyReviews(memory.NewFakeClock(t0), openPolicy)
}

// emptyReviews is the review service over an empty memory store, which
// keeps the cases and the decisions as the service's stores do.
func emptyReviews(clock ports.Clock, p policy.Review) ports.ReviewService {
	s := memory.NewDecisionStore()
	return review.New(s, s, clock, p)
}
