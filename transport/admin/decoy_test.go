package admin

import (
	"bytes"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/domain/policy"
	"github.com/bankkit/onboarding-adapter/domain/review"
)

// An unknown name is compared with the decoy hash, at the cost of the
// users' hashes, so it does not answer faster than a hashed user's wrong
// password; without hashed users there is no bcrypt to match.
func TestUnknownNamesPayForBcryptToo(t *testing.T) {
	svc := review.New(memory.NewDecisionStore(), memory.NewFakeClock(time.Unix(1_700_000_000, 0)), policy.Review{Retention: time.Hour})
	hash, err := bcrypt.GenerateFromPassword([]byte("carol-password-1"), bcrypt.MinCost+1)
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(svc, Config{Users: []User{{Name: "alice", Password: "alice-password-1"}, {Name: "carol", Password: string(hash)}}})
	if err != nil {
		t.Fatal(err)
	}
	if h.decoy != nil {
		t.Fatal("the decoy hash was made at start, delaying it")
	}
	var compared [][]byte
	h.compareHash = func(hash, pw []byte) error {
		compared = append(compared, hash)
		return bcrypt.CompareHashAndPassword(hash, pw)
	}
	if cost, err := bcrypt.Cost(h.decoyHash()); err != nil || cost != bcrypt.MinCost+1 {
		t.Fatalf("decoy cost %d (%v), want the users' %d", cost, err, bcrypt.MinCost+1)
	}
	for _, tc := range []struct {
		name, user, password string
		ok                   bool
		hash                 []byte // the hash compared; nil: none
	}{
		{"unknown name", "mallory", "whatever-password", false, h.decoy},
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

	// A user hashed at a lower cost than another also pays the decoy, so
	// the cheaper hash does not tell that the name exists.
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
		if len(costs) != 2 || costs[0] != bcrypt.MinCost || costs[1] != bcrypt.MinCost+1 {
			t.Errorf("dave with %q: compared at costs %v, want his own then the decoy's", pw, costs)
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
	if err != nil || clear.decoyHash() != nil {
		t.Fatalf("without hashed users: decoy %q (%v), want none", clear.decoy, err)
	}
}

// Sign-ins checked against bcrypt at once are bounded: one more waits
// hashSlotWait for a slot and is then answered 503 with Retry-After; a
// slot freed lets the next one in.
func TestBcryptSignInsAreBounded(t *testing.T) {
	svc := review.New(memory.NewDecisionStore(), memory.NewFakeClock(time.Unix(1_700_000_000, 0)), policy.Review{Retention: time.Hour})
	hash, err := bcrypt.GenerateFromPassword([]byte("carol-password-1"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(svc, Config{Users: []User{{Name: "carol", Password: string(hash)}}})
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
	go func() { <-entered }()
	if code := signIn().Code; code != 200 {
		t.Fatalf("a sign-in after the slot was freed: %d, want 200", code)
	}
}
