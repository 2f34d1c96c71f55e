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

	clear, err := NewHandler(svc, Config{Users: []User{{Name: "alice", Password: "alice-password-1"}}})
	if err != nil || clear.decoyHash() != nil {
		t.Fatalf("without hashed users: decoy %q (%v), want none", clear.decoy, err)
	}
}
