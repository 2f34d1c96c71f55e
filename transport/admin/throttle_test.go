package admin_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/transport/admin"
)

// TestSignInThrottle: a name that fails DefaultLoginFailures sign-ins from
// one address is refused there, right credentials included, with
// Retry-After, on the API and the pages, until a failure is forgiven; one
// more failure then blocks it again at once. Other names from the same
// address are not affected.
func TestSignInThrottle(t *testing.T) {
	f := newFixture(t, openPolicy)
	wrong := &cred{alice.user, "not-alices-password"}
	list := admin.APIPrefix + "/cases"
	for i := range admin.DefaultLoginFailures {
		if a := f.do(t, wrong, http.MethodGet, list, "", nil); a.Status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i+1, a.Status)
		}
	}
	a := f.do(t, &alice, http.MethodGet, list, "", nil)
	if a.Status != http.StatusTooManyRequests || a.Header.Get("Retry-After") != "6" {
		t.Fatalf("the right password after %d failures: %d, Retry-After %q; want 429 and 6",
			admin.DefaultLoginFailures, a.Status, a.Header.Get("Retry-After"))
	}
	if body := a.JSON(t); body["errorCode"] != "ERROR_GENERIC" || !strings.Contains(body["message"].(string), "Too many failed sign-ins") {
		t.Fatalf("API body %v", body)
	}
	if p := f.do(t, &alice, http.MethodGet, admin.PagesPrefix+"/", "", nil); p.Status != http.StatusTooManyRequests ||
		!strings.Contains(p.Header.Get("Content-Type"), "text/html") || p.Header.Get("Retry-After") == "" {
		t.Fatalf("the queue page for the blocked name: %d %q, Retry-After %q", p.Status, p.Header.Get("Content-Type"), p.Header.Get("Retry-After"))
	}
	if a := f.do(t, &bob, http.MethodGet, list, "", nil); a.Status != http.StatusOK {
		t.Fatalf("bob from the same address: %d, want 200", a.Status)
	}
	if a := f.do(t, nil, http.MethodGet, list, "", nil); a.Status != http.StatusUnauthorized {
		t.Fatalf("no credentials from the same address: %d, want 401", a.Status)
	}

	f.clock.Advance(admin.DefaultLoginRefill) // one failure forgiven
	if a := f.do(t, &alice, http.MethodGet, list, "", nil); a.Status != http.StatusOK {
		t.Fatalf("after %s: %d, want 200", admin.DefaultLoginRefill, a.Status)
	}
	if a := f.do(t, wrong, http.MethodGet, list, "", nil); a.Status != http.StatusUnauthorized {
		t.Fatalf("a wrong password with one failure left: %d, want 401", a.Status)
	}
	if a := f.do(t, &alice, http.MethodGet, list, "", nil); a.Status != http.StatusTooManyRequests {
		t.Fatalf("after using the forgiven failure: %d, want 429", a.Status)
	}
}

// TestSignInThrottleParallelGuesses: guesses sent at once cannot all be
// checked on the same tokens: of many parallel wrong sign-ins at one
// instant, at most DefaultLoginFailures are checked (401), the rest 429.
func TestSignInThrottleParallelGuesses(t *testing.T) {
	f := newFixture(t, openPolicy)
	wrong := &cred{alice.user, "not-alices-password"}
	const n = 3 * admin.DefaultLoginFailures
	statuses := make([]int, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			req, err := http.NewRequest(http.MethodGet, f.srv.URL+admin.APIPrefix+"/cases", nil)
			if err != nil {
				errs[i] = err
				return
			}
			req.SetBasicAuth(wrong.user, wrong.pass)
			resp, err := f.srv.Client().Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	checked := 0
	for _, st := range statuses {
		switch st {
		case http.StatusUnauthorized:
			checked++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("status %d", st)
		}
	}
	if checked != admin.DefaultLoginFailures {
		t.Fatalf("%d of %d parallel guesses were checked, want %d", checked, n, admin.DefaultLoginFailures)
	}
}

// TestSignInThrottleCountsOnlyFailedCredentials: requests without
// credentials (a browser's first) and successful sign-ins take nothing.
func TestSignInThrottleCountsOnlyFailedCredentials(t *testing.T) {
	f := newFixture(t, openPolicy)
	list := admin.APIPrefix + "/cases"
	for range 3 * admin.DefaultLoginFailures {
		if a := f.do(t, nil, http.MethodGet, list, "", nil); a.Status != http.StatusUnauthorized {
			t.Fatalf("without credentials: %d, want 401", a.Status)
		}
		if a := f.do(t, &alice, http.MethodGet, list, "", nil); a.Status != http.StatusOK {
			t.Fatalf("alice: %d, want 200", a.Status)
		}
	}
}

// TestSignInThrottlePerAddress: one address's failures do not block
// another's, names unknown or known are counted alike (the answers do not
// tell which exist), and a negative LoginFailures turns the throttle off.
func TestSignInThrottlePerAddress(t *testing.T) {
	clock := memory.NewFakeClock(t0)
	serve := func(h http.Handler, addr string, c cred) int {
		r := httptest.NewRequest(http.MethodGet, admin.APIPrefix+"/cases", nil)
		r.RemoteAddr = addr
		r.SetBasicAuth(c.user, c.pass)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	newHandler := func(failures int) http.Handler {
		h, err := admin.NewHandler(emptyReviews(clock, openPolicy), admin.Config{
			Users: []admin.User{{Name: alice.user, Password: alice.pass}}, Now: clock.Now, LoginFailures: failures,
			LoginRefill: time.Minute,
		})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	wrong := cred{alice.user, "not-alices-password"}

	h := newHandler(3)
	for range 3 {
		serve(h, "198.51.100.7:40000", wrong)
	}
	if got := serve(h, "198.51.100.7:40001", alice); got != http.StatusTooManyRequests {
		t.Fatalf("the failing address, another port: %d, want 429", got)
	}
	if got := serve(h, "203.0.113.9:40000", alice); got != http.StatusOK {
		t.Fatalf("another address: %d, want 200", got)
	}
	unknown := cred{"mallory", "not-a-password-1"}
	var got []int
	for range 4 {
		got = append(got, serve(h, "[2001:db8::7]:40000", unknown))
	}
	if want := []int{401, 401, 401, 429}; !slices.Equal(got, want) {
		t.Fatalf("an unknown name from an IPv6 address: %v, want %v, as a known one", got, want)
	}

	off := newHandler(-1)
	for range 50 {
		serve(off, "198.51.100.7:40000", wrong)
	}
	if got := serve(off, "198.51.100.7:40000", alice); got != http.StatusOK {
		t.Fatalf("throttle off: %d, want 200", got)
	}
}
