package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// verifiedFor is how long a sign-in bcrypt accepted is taken again without
// bcrypt. A browser sends Basic Auth with every request, the page, its
// stylesheet and the frame image alike: without the cache each paid tens of
// milliseconds of a core, and with sign-ins bounded to a few at once, a
// page with its parts would queue behind each other.
const verifiedFor = time.Minute

// maxVerified bounds the remembered sign-ins; when full, expired ones go,
// then all (a reviewer then pays bcrypt once more).
const maxVerified = 256

// verifiedCache remembers (name, password) pairs bcrypt accepted, keyed by
// an HMAC under a secret of this process: it holds no password and no hash
// an attacker could test guesses against. Only a correct password can hit
// it, so answering faster on a hit tells nothing a caller does not know.
// A nil cache remembers nothing (no hashed reviewers).
type verifiedCache struct {
	secret []byte
	now    func() time.Time

	mu      sync.Mutex
	entries map[[sha256.Size]byte]verifiedEntry
}

type verifiedEntry struct {
	user  *credential
	until time.Time
}

func newVerifiedCache(now func() time.Time) (*verifiedCache, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("sign-in cache secret: %w", err)
	}
	return &verifiedCache{secret: secret, now: now, entries: map[[sha256.Size]byte]verifiedEntry{}}, nil
}

func (v *verifiedCache) key(r *http.Request) ([sha256.Size]byte, bool) {
	var k [sha256.Size]byte
	name, pw, ok := r.BasicAuth()
	if !ok {
		return k, false
	}
	m := hmac.New(sha256.New, v.secret)
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write([]byte(pw))
	m.Sum(k[:0])
	return k, true
}

// lookup returns the reviewer of r's credentials when bcrypt accepted them
// within verifiedFor.
func (v *verifiedCache) lookup(r *http.Request) (*credential, bool) {
	if v == nil {
		return nil, false
	}
	k, ok := v.key(r)
	if !ok {
		return nil, false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.entries[k]
	if !ok || !v.now().Before(e.until) {
		return nil, false
	}
	return e.user, true
}

// remember notes that bcrypt accepted r's credentials as user's.
func (v *verifiedCache) remember(r *http.Request, user *credential) {
	if v == nil {
		return
	}
	k, ok := v.key(r)
	if !ok {
		return
	}
	now := v.now()
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.entries) >= maxVerified {
		for key, e := range v.entries {
			if !now.Before(e.until) {
				delete(v.entries, key)
			}
		}
		if len(v.entries) >= maxVerified {
			clear(v.entries)
		}
	}
	v.entries[k] = verifiedEntry{user: user, until: now.Add(verifiedFor)}
}
