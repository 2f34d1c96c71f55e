package admin_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/review"
	"github.com/bankkit/onboarding-adapter/transport/admin"
)

func TestQueuePage(t *testing.T) {
	f := newFixture(t, openPolicy)
	a := f.do(t, &alice, http.MethodGet, admin.PagesPrefix+"/", "", nil)
	if a.Status != http.StatusOK || a.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("%d %s", a.Status, a.Header.Get("Content-Type"))
	}
	for _, want := range []string{`href="/review/cases/case-wait"`, `href="/review/cases/case-nok"`, "3h 0m", "1h 0m", "NAME_SIMILAR", `<span id="case-count">3</span>`, "Signed in as <strong>alice</strong>"} {
		if !strings.Contains(a.Body, want) {
			t.Errorf("the queue lacks %q", want)
		}
	}
	if strings.Index(a.Body, "case-wait") > strings.Index(a.Body, "case-nok") {
		t.Error("the queue is not oldest first")
	}
	for _, pii := range []string{"NOVAKOVA", "Nováková", "855412"} {
		if strings.Contains(a.Body, pii) {
			t.Errorf("the queue shows %q", pii)
		}
	}
	if a := f.do(t, &alice, http.MethodGet, admin.PagesPrefix+"/?olderThan=2h&kind=evaluation", "", nil); !strings.Contains(a.Body, `<span id="case-count">1</span>`) {
		t.Errorf("filtered queue:\n%s", a.Body)
	}
	if a := f.do(t, &alice, http.MethodGet, admin.PagesPrefix+"/?limit=1", "", nil); !strings.Contains(a.Body, `href="/review/?after=case-wait&amp;limit=1&amp;status=OPEN"`) {
		t.Errorf("no next page link:\n%s", a.Body)
	}
	if a := f.do(t, &alice, http.MethodGet, admin.PagesPrefix+"/?status=bogus", "", nil); a.Status != http.StatusBadRequest || !strings.Contains(a.Body, "status: must be") {
		t.Errorf("bad filter: %d", a.Status)
	}
	if a := f.do(t, &alice, http.MethodGet, admin.PagesPrefix, "", nil); a.Status != http.StatusSeeOther || a.Header.Get("Location") != "/review/" {
		t.Errorf("/review: %d %q", a.Status, a.Header.Get("Location"))
	}
	if a := f.do(t, &alice, http.MethodGet, admin.PagesPrefix+"/static/review.css", "", nil); a.Status != http.StatusOK || a.Header.Get("Content-Type") != "text/css; charset=utf-8" {
		t.Errorf("stylesheet: %d %s", a.Status, a.Header.Get("Content-Type"))
	}
	if a := f.do(t, &alice, http.MethodGet, admin.PagesPrefix+"/nope", "", nil); a.Status != http.StatusNotFound || !strings.Contains(a.Body, "404") {
		t.Errorf("unknown page: %d", a.Status)
	}
}

func TestCasePage(t *testing.T) {
	f := newFixture(t, openPolicy)
	a := f.do(t, &alice, http.MethodGet, admin.PagesPrefix+"/cases/case-wait", "", nil)
	if a.Status != http.StatusOK {
		t.Fatalf("%d %s", a.Status, a.Body)
	}
	for _, want := range []string{
		`<td>Nováková</td>`, `class="match-differs">NOVAKOVAA <span class="flag">differs</span>`,
		`class="match-equivalent">JANA`, `<img class="frame" src="/review/cases/case-wait/frame"`,
		"surname differs by 2 edits", `action="/review/cases/case-wait/resolve"`, `action="/review/cases/case-wait/claim"`,
		`name="result" value="OK"`, `name="result" value="NOK"`, `required`,
	} {
		if !strings.Contains(a.Body, want) {
			t.Errorf("the case page lacks %q", want)
		}
	}
	if strings.Contains(a.Body, "<script") || strings.Contains(a.Body, " style=") || regexp.MustCompile(` on[a-z]+=`).MatchString(a.Body) {
		t.Error("the page carries script or inline style, which the CSP would block")
	}
	if a := f.do(t, &alice, http.MethodGet, admin.PagesPrefix+"/cases/no-such-case", "", nil); a.Status != http.StatusNotFound {
		t.Errorf("unknown case: %d", a.Status)
	}
}

// TestEscaping: data from documents and reviewers reaches the page only
// escaped, so a crafted document cannot run script in a reviewer's browser.
func TestEscaping(t *testing.T) {
	f := newFixture(t, openPolicy)
	ev := janaEvidence(`<script>alert(1)</script>`)
	ev.Documents[0].Authority = `" onmouseover="alert(2)`
	seedCase(t, f.store, "case-xss", domain.KindEvaluation, domain.ResultWAIT, t0.Add(-2*time.Hour), ev)
	tok := f.csrf(t, &alice, "case-xss")
	if a := f.formPost(t, &alice, "/review/cases/case-xss/resolve", url.Values{"csrf": {tok}, "result": {"NOK"}, "reason": {`<img src=x onerror=alert(3)>`}}); a.Status != http.StatusSeeOther {
		t.Fatalf("resolve: %d %s", a.Status, a.Body)
	}
	a := f.do(t, &alice, http.MethodGet, admin.PagesPrefix+"/cases/case-xss", "", nil)
	for _, raw := range []string{"<script>alert(1)", `" onmouseover="alert(2)`, "<img src=x"} {
		if strings.Contains(a.Body, raw) {
			t.Errorf("the page contains %q unescaped", raw)
		}
	}
	for _, escaped := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(3)&gt;"} {
		if !strings.Contains(a.Body, escaped) {
			t.Errorf("the page lacks the escaped %q", escaped)
		}
	}
	if j := f.apiGet(t, &alice, "/cases/case-xss"); strings.Contains(j.Body, "<script>") {
		t.Error("the JSON carries an unescaped <script>")
	}
}

func TestFormsNeedCSRFToken(t *testing.T) {
	f := newFixture(t, openPolicy)
	good := f.csrf(t, &alice, "case-wait")
	bobs := f.csrf(t, &bob, "case-wait")
	resolve := func(tok string) url.Values {
		return url.Values{"csrf": {tok}, "result": {"OK"}, "reason": {"looks right"}}
	}
	tests := []struct {
		name    string
		who     cred
		path    string
		form    url.Values
		headers []string
		status  int
	}{
		{"claim without a token", alice, "/review/cases/case-wait/claim", url.Values{}, nil, http.StatusForbidden},
		{"resolve without a token", alice, "/review/cases/case-wait/resolve", url.Values{"result": {"OK"}, "reason": {"x"}}, nil, http.StatusForbidden},
		{"a garbled token", alice, "/review/cases/case-wait/resolve", resolve(good[:len(good)-2] + "xx"), nil, http.StatusForbidden},
		{"another reviewer's token", alice, "/review/cases/case-wait/resolve", resolve(bobs), nil, http.StatusForbidden},
		{"a token from another site's page", alice, "/review/cases/case-wait/resolve", resolve(good), []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"a token from another origin", alice, "/review/cases/case-wait/resolve", resolve(good), []string{"Origin", "http://attacker.example"}, http.StatusForbidden},
		{"missing reason is shown on the case page", alice, "/review/cases/case-wait/resolve", url.Values{"csrf": {good}, "result": {"OK"}, "reason": {" "}}, nil, http.StatusBadRequest},
		{"claim with the token", alice, "/review/cases/case-wait/claim", url.Values{"csrf": {good}}, nil, http.StatusSeeOther},
		{"resolve with the token", alice, "/review/cases/case-wait/resolve", resolve(good), []string{"Sec-Fetch-Site", "same-origin"}, http.StatusSeeOther},
		{"resolving twice", alice, "/review/cases/case-wait/resolve", resolve(good), nil, http.StatusConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := f.formPost(t, &tc.who, tc.path, tc.form, tc.headers...)
			if a.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", a.Status, tc.status, a.Body)
			}
			if c, _ := f.store.ReviewCase(context.Background(), "case-wait"); tc.status == http.StatusForbidden && c.Status != domain.ReviewOpen {
				t.Fatalf("a refused form changed the case: %+v", c)
			}
		})
	}
	t.Run("the resolution redirects to the queue, which no longer lists the case", func(t *testing.T) {
		c, _ := f.store.ReviewCase(context.Background(), "case-wait")
		if c.Status != domain.ReviewResolved || c.ResolvedBy != "alice" || c.ResolutionReason != "looks right" {
			t.Fatalf("case %+v", c)
		}
		// Claimed and resolved through the pages: the audit says so, and
		// the case page shows it.
		trail, _ := f.store.ReviewAudit(context.Background(), "case-wait")
		if len(trail) != 2 || trail[0].Channel != domain.ReviewChannelUI || trail[1].Channel != domain.ReviewChannelUI {
			t.Fatalf("audit %+v, want the claim and the resolution from the ui", trail)
		}
		if page := f.do(t, &alice, http.MethodGet, "/review/cases/case-wait", "", nil); !strings.Contains(page.Body, "alice <small>(ui)</small>") {
			t.Errorf("the case page does not show where the actions came from:\n%s", page.Body)
		}
		q := f.do(t, &alice, http.MethodGet, "/review/?notice=resolved&case=case-wait", "", nil)
		if !strings.Contains(q.Body, "Case case-wait is resolved") || strings.Contains(q.Body, `href="/review/cases/case-wait"`) {
			t.Errorf("queue after the resolution:\n%s", q.Body)
		}
	})
	t.Run("an expired token", func(t *testing.T) {
		tok := f.csrf(t, &bob, "case-new")
		f.clock.Advance(admin.DefaultCSRFTTL + time.Minute)
		if a := f.formPost(t, &bob, "/review/cases/case-new/claim", url.Values{"csrf": {tok}}); a.Status != http.StatusForbidden {
			t.Fatalf("expired token: %d", a.Status)
		}
	})
}

func TestNewHandlerChecksConfig(t *testing.T) {
	svc := newFixtureService(t)
	for _, tc := range []struct {
		name  string
		users []admin.User
	}{
		{"no users", nil},
		{"short password", []admin.User{{Name: "alice", Password: "short"}}},
		{"empty name", []admin.User{{Name: "", Password: alice.pass}}},
		{"name with a colon", []admin.User{{Name: "a:b", Password: alice.pass}}},
		{"duplicate name", []admin.User{{Name: "alice", Password: alice.pass}, {Name: "Alice", Password: bob.pass}}},
		{"broken bcrypt hash", []admin.User{{Name: "alice", Password: "$2a$10$broken"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := admin.NewHandler(svc, admin.Config{Users: tc.users}); err == nil {
				t.Fatal("accepted")
			} else if strings.Contains(err.Error(), alice.pass) || strings.Contains(err.Error(), bob.pass) {
				t.Fatalf("the error shows a password: %v", err)
			}
		})
	}
	if _, err := admin.NewHandler(nil, admin.Config{Users: []admin.User{{Name: "alice", Password: alice.pass}}}); err == nil {
		t.Error("accepted no service")
	}
}

func TestParseUsers(t *testing.T) {
	users, err := admin.ParseUsers("# reviewers\nalice:alice-password-123\n\n bob : pass:with:colons \n" + "carol:" + carolHash + "\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []admin.User{{Name: "alice", Password: "alice-password-123"}, {Name: "bob", Password: " pass:with:colons"}, {Name: "carol", Password: carolHash}}
	if len(users) != len(want) {
		t.Fatalf("users %+v", users)
	}
	for i := range want {
		if users[i] != want[i] {
			t.Errorf("user %d = %+v, want %+v", i, users[i], want[i])
		}
	}
	if _, err := admin.ParseUsers("alice\n"); err == nil || strings.Contains(err.Error(), "alice") {
		t.Errorf("a line without a password: %v", err)
	}
}

func TestNoticeShowsOnlyACaseID(t *testing.T) {
	f := newFixture(t, openPolicy)
	for _, tc := range []struct {
		query, want, notWant string
	}{
		{"?notice=resolved&case=case-wait", "Case case-wait is resolved", ""},
		{"?notice=resolved&case=" + url.QueryEscape("x is fake; call +420 123 456 789"), "", "call +420"},
		{"?notice=bogus&case=case-wait", "", "case-wait is"},
	} {
		a := f.do(t, &alice, http.MethodGet, admin.PagesPrefix+"/"+tc.query, "", nil)
		if tc.want != "" && !strings.Contains(a.Body, tc.want) {
			t.Errorf("%s: no %q", tc.query, tc.want)
		}
		if tc.notWant != "" && strings.Contains(a.Body, tc.notWant) {
			t.Errorf("%s: shows %q", tc.query, tc.notWant)
		}
	}
	if a := f.do(t, nil, http.MethodGet, admin.PagesPrefix+"/", "", nil); strings.Contains(a.Body, "Signed in as") {
		t.Error("the 401 page claims someone is signed in")
	}
}

// With the replicas' shared secret a form token issued by one replica is
// accepted by another with the same secret, and refused by a replica with
// another secret or none: the token depends on the secret, so it reveals
// nothing about the reviewer's password without it.
func TestCSRFTokensUseTheSharedSecret(t *testing.T) {
	store := memory.NewDecisionStore()
	seedCase(t, store, "case-wait", domain.KindEvaluation, domain.ResultWAIT, t0.Add(-3*time.Hour), janaEvidence("NOVAKOVAA"))
	clock := memory.NewFakeClock(t0)
	svc := review.New(store, store, clock, openPolicy)
	replica := func(secret []byte) *fixture {
		return &fixture{srv: mountWithSecret(t, svc, openPolicy, clock.Now, secret), store: store, clock: clock}
	}
	issuer := replica([]byte("the replicas' shared secret"))
	tok := issuer.csrf(t, &alice, "case-wait")
	for _, tc := range []struct {
		name string
		f    *fixture
		want int
	}{
		{"a replica with another secret", replica([]byte("another secret")), http.StatusForbidden},
		{"a replica without a secret", replica(nil), http.StatusForbidden},
		{"a replica with the same secret", replica([]byte("the replicas' shared secret")), http.StatusSeeOther},
	} {
		if a := tc.f.formPost(t, &alice, "/review/cases/case-wait/claim", url.Values{"csrf": {tok}}); a.Status != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, a.Status, tc.want)
		}
	}
}
