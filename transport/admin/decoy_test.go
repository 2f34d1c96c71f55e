package admin

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/domain/policy"
	"github.com/bankkit/onboarding-adapter/domain/review"
	"github.com/bankkit/onboarding-adapter/ports"
)

// An unknown name is compared with the decoy hash, at the cost of the
// users' hashes, so it does not answer faster than a hashed user's wrong
// password; without hashed users there is no bcrypt to match.
func TestUnknownNamesPayForBcryptToo(t *testing.T) {
	svc := reviewService()
	hash, err := bcrypt.GenerateFromPassword([]byte("carol-password-1"), bcrypt.MinCost+1)
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(svc, Config{Users: []User{{Name: "alice", Password: "alice-password-1"}, {Name: "carol", Password: string(hash)}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.decoys) != 0 {
		t.Fatal("the decoy hash was made at start, delaying it")
	}
	var compared [][]byte
	h.compareHash = func(hash, pw []byte) error {
		compared = append(compared, hash)
		return bcrypt.CompareHashAndPassword(hash, pw)
	}
	if cost, err := bcrypt.Cost(h.decoyAt(h.decoyCost)); err != nil || cost != bcrypt.MinCost+1 {
		t.Fatalf("decoy cost %d (%v), want the users' %d", cost, err, bcrypt.MinCost+1)
	}
	for _, tc := range []struct {
		name, user, password string
		ok                   bool
		hash                 []byte // the hash compared; nil: none
	}{
		{"unknown name", "mallory", "whatever-password", false, h.decoyAt(h.decoyCost)},
		{"hashed user, wrong password", "carol", "wrong-password-1", false, hash},
		{"hashed user", "carol", "carol-password-1", true, hash},
		{"clear-text user, wrong password", "alice", "wrong-password-1", false, nil},
	} {
		compared = nil
		r := httptest.NewRequest("GET", "/review/", nil)
		r.SetBasicAuth(tc.user, tc.password)
		if _, ok := h.authenticate(r); ok != tc.ok {
			t.Errorf("%s: authenticated %v, want %v", tc.name, ok, tc.ok)
		}
		switch {
		case tc.hash == nil && len(compared) != 0:
			t.Errorf("%s: %d bcrypt comparisons, want none", tc.name, len(compared))
		case tc.hash != nil && (len(compared) != 1 || !bytes.Equal(compared[0], tc.hash)):
			t.Errorf("%s: compared %q, want one comparison with %q", tc.name, compared, tc.hash)
		}
	}

	// A user hashed at a lower cost than another also pays decoys at every
	// cost from his up to the dearest but one: bcrypt's work doubles each
	// step, so his sign-in costs what an unknown name's does.
	cheap, err := bcrypt.GenerateFromPassword([]byte("dave-password-12"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	mixed, err := NewHandler(svc, Config{Users: []User{{Name: "carol", Password: string(hash)}, {Name: "dave", Password: string(cheap)}}})
	if err != nil {
		t.Fatal(err)
	}
	var costs []int
	mixed.compareHash = func(hash, pw []byte) error {
		c, _ := bcrypt.Cost(hash)
		costs = append(costs, c)
		return bcrypt.CompareHashAndPassword(hash, pw)
	}
	for _, pw := range []string{"dave-password-12", "wrong-password-1"} {
		costs = nil
		r := httptest.NewRequest("GET", "/review/", nil)
		r.SetBasicAuth("dave", pw)
		if _, ok := mixed.authenticate(r); ok != (pw == "dave-password-12") {
			t.Errorf("dave with %q: authenticated %v", pw, ok)
		}
		if len(costs) != 2 || costs[0] != bcrypt.MinCost || costs[1] != bcrypt.MinCost {
			t.Errorf("dave with %q: compared at costs %v, want his own then a decoy at his (2^4 + 2^4 = 2^5, carol's)", pw, costs)
		}
	}
	costs = nil
	r := httptest.NewRequest("GET", "/review/", nil)
	r.SetBasicAuth("carol", "wrong-password-1")
	mixed.authenticate(r)
	if len(costs) != 1 {
		t.Errorf("carol (the dearest hash): %d comparisons, want one", len(costs))
	}

	clear, err := NewHandler(svc, Config{Users: []User{{Name: "alice", Password: "alice-password-1"}}})
	if err != nil || clear.decoyAt(clear.decoyCost) != nil || clear.hashSlots != nil || clear.verified != nil {
		t.Fatalf("without hashed users: a decoy, sign-in slots or a cache (%v), want none", err)
	}
}

// Sign-ins checked against bcrypt at once are bounded: one more waits
// hashSlotWait for a slot and is then answered 503 with Retry-After; a
// slot freed lets the next one in.
func TestBcryptSignInsAreBounded(t *testing.T) {
	svc, hash := reviewService(), carolHash(t)
	h, err := NewHandler(svc, Config{Users: []User{{Name: "carol", Password: hash}}})
	if err != nil {
		t.Fatal(err)
	}
	if h.hashSlots == nil || cap(h.hashSlots) < 1 {
		t.Fatal("no bound on bcrypt sign-ins with a hashed user")
	}
	h.hashSlots = make(chan struct{}, 1)
	entered, release := make(chan struct{}), make(chan struct{})
	h.compareHash = func(hash, pw []byte) error {
		entered <- struct{}{}
		<-release
		return bcrypt.CompareHashAndPassword(hash, pw)
	}
	signIn := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", APIPrefix+"/cases", nil)
		r.SetBasicAuth("carol", "carol-password-1")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	first := make(chan int)
	go func() { first <- signIn().Code }()
	<-entered // the first sign-in holds the only slot
	start := time.Now()
	busy := signIn()
	if busy.Code != 503 || busy.Header().Get("Retry-After") != "1" {
		t.Fatalf("a sign-in past the bound: %d, Retry-After %q; want 503 and 1", busy.Code, busy.Header().Get("Retry-After"))
	}
	if waited := time.Since(start); waited < hashSlotWait/2 {
		t.Errorf("answered busy after %s, want a wait of about %s first", waited, hashSlotWait)
	}
	close(release)
	if code := <-first; code != 200 {
		t.Fatalf("the first sign-in: %d, want 200", code)
	}
	// The accepted sign-in is remembered: the next request of the page
	// needs neither a slot nor bcrypt (compareHash would block on entered).
	if code := signIn().Code; code != 200 {
		t.Fatalf("a remembered sign-in: %d, want 200", code)
	}
}

// A sign-in bcrypt accepted is taken again without bcrypt for verifiedFor;
// a wrong password, another name or a later request pays bcrypt again.
func TestVerifiedSignInsSkipBcrypt(t *testing.T) {
	svc, hash := reviewService(), carolHash(t)
	now := time.Unix(1_700_000_000, 0)
	h, err := NewHandler(svc, Config{Users: []User{{Name: "carol", Password: hash}}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	compares := 0
	h.compareHash = func(hash, pw []byte) error {
		compares++
		return bcrypt.CompareHashAndPassword(hash, pw)
	}
	signIn := func(user, pw string) int {
		r := httptest.NewRequest("GET", APIPrefix+"/cases", nil)
		r.SetBasicAuth(user, pw)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for i, tc := range []struct {
		user, pw     string
		advance      time.Duration
		wantCode     int
		wantCompares int
	}{
		{"carol", "carol-password-1", 0, 200, 1},
		{"carol", "carol-password-1", 30 * time.Second, 200, 0}, // remembered
		{"carol", "wrong-password-1", 0, 401, 1},                // never remembered
		{"carol", "carol-password-1", 31 * time.Second, 200, 1}, // a minute on: bcrypt again
		{"carol", "carol-password-1", 0, 200, 0},
	} {
		now = now.Add(tc.advance)
		compares = 0
		if code := signIn(tc.user, tc.pw); code != tc.wantCode || compares != tc.wantCompares {
			t.Errorf("sign-in %d (%s): %d with %d bcrypt comparisons, want %d with %d", i+1, tc.pw, code, compares, tc.wantCode, tc.wantCompares)
		}
	}
}

// Clear-text reviewers without the replicas' shared secret get a warning at
// start: their form tokens are keyed by the password alone.
func TestWarnsAboutTokensKeyedByPasswords(t *testing.T) {
	svc, hash := reviewService(), carolHash(t)
	for _, tc := range []struct {
		name   string
		users  []User
		secret []byte
		warn   bool
	}{
		{"clear text, no secret", []User{{Name: "alice", Password: "alice-password-1"}}, nil, true},
		{"clear text with the secret", []User{{Name: "alice", Password: "alice-password-1"}}, []byte("shared-secret-of-the-replicas-0123"), false},
		{"hashed only", []User{{Name: "carol", Password: hash}}, nil, false},
	} {
		var logs bytes.Buffer
		if _, err := NewHandler(svc, Config{Users: tc.users, CSRFSecret: tc.secret, Logger: slog.New(slog.NewTextHandler(&logs, nil))}); err != nil {
			t.Fatal(err)
		}
		warned := strings.Contains(logs.String(), "ONBOARDING_OTP_HASH_KEY")
		if warned != tc.warn {
			t.Errorf("%s: warned %v, want %v (%s)", tc.name, warned, tc.warn, logs.String())
		}
		if strings.Contains(logs.String(), "alice-password-1") || strings.Contains(logs.String(), "alice") {
			t.Errorf("%s: the warning names a reviewer or a password: %s", tc.name, logs.String())
		}
	}
}

// reviewService is a review service over an empty memory store.
func reviewService() ports.ReviewService {
	s := memory.NewDecisionStore()
	return review.New(s, s, memory.NewFakeClock(time.Unix(1_700_000_000, 0)), policy.Review{Retention: time.Hour})
}

// carolHash is a bcrypt hash of carol's password at the cheapest cost.
func carolHash(t *testing.T) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("carol-password-1"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(hash)
}
