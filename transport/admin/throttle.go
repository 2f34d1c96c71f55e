package admin

import (
	"cmp"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Sign-in throttling defaults: DefaultLoginFailures failed sign-ins of one
// name from one client address are allowed, and one more is forgiven
// every DefaultLoginRefill (ten a minute); a successful sign-in gives its
// token back and forgives nothing (sign-ins checked at the same moment
// each hold one meanwhile). A reviewer who mistypes a password a few
// times never notices; a guesser gets ten guesses a minute instead of
// thousands a second against a clear-text password.
const (
	DefaultLoginFailures = 10
	DefaultLoginRefill   = 6 * time.Second
)

// maxLoginKeys bounds the (address, name) pairs remembered at once.
const maxLoginKeys = 10_000

// loginThrottle is a token bucket per (client address, name presented):
// every sign-in with credentials takes a token before they are checked, a
// successful one gives it back, and one token comes back every refill up
// to burst. A pair with no token left is refused before its credentials
// are checked (429 with Retry-After), the right ones too, so guessing on
// gains nothing, and parallel guesses cannot all be checked on one token.
// Keying by the name presented means guessing one reviewer's password
// does not lock out the others behind the same address (a port-forward,
// an ingress), and every name, known or not, is counted alike, so the
// answers do not tell which names exist. The address is the
// connection's: X-Forwarded-For is the client's to write.
type loginThrottle struct {
	burst   float64
	refill  time.Duration
	now     func() time.Time
	maxKeys int

	mu      sync.Mutex
	buckets map[string]*bucket
}

// bucket is one pair's tokens as of last.
type bucket struct {
	tokens float64
	last   time.Time
	warned bool // the lockout was logged; cleared once every failure is forgiven
}

func newLoginThrottle(burst int, refill time.Duration, now func() time.Time) *loginThrottle {
	return &loginThrottle{burst: float64(burst), refill: refill, now: now, maxKeys: maxLoginKeys,
		buckets: make(map[string]*bucket)}
}

// loginKey is the throttle's key of a sign-in: the address and the name
// as presented, cut to the longest a reviewer's name may be.
func loginKey(address, name string) string {
	if len(name) > 64 {
		name = name[:64]
	}
	return address + "\x00" + name
}

// epsilon absorbs the rounding of refills added in pieces, so a client
// that waits exactly Retry-After finds its token.
const epsilon = 1e-9

// level brings b's tokens up to now (a clock gone backwards adds nothing).
func (t *loginThrottle) level(b *bucket, now time.Time) {
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = math.Min(t.burst, b.tokens+float64(elapsed)/float64(t.refill))
		b.last = now
	}
	if b.tokens >= t.burst-epsilon {
		b.warned = false
	}
}

// take charges one sign-in of key; when none is left it reports how long
// until one is.
func (t *loginThrottle) take(key string) (wait time.Duration, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	b := t.buckets[key]
	if b == nil {
		if len(t.buckets) >= t.maxKeys {
			t.evict(now)
		}
		b = &bucket{tokens: t.burst, last: now}
		t.buckets[key] = b
	}
	t.level(b, now)
	if b.tokens < 1-epsilon {
		return time.Duration(math.Round((1 - b.tokens) * float64(t.refill))), false
	}
	b.tokens = math.Max(0, b.tokens-1)
	return 0, true
}

// refund gives back the token of a successful sign-in.
func (t *loginThrottle) refund(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if b := t.buckets[key]; b != nil {
		t.level(b, t.now())
		b.tokens = math.Min(t.burst, b.tokens+1)
	}
}

// lockedOut reports, once per lockout, that key has just used its last
// token on a failure: the moment to log it.
func (t *loginThrottle) lockedOut(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buckets[key]
	if b == nil || b.tokens >= 1-epsilon || b.warned {
		return false
	}
	b.warned = true
	return true
}

// evict makes room for a tenth of maxKeys, so one scan serves many new
// pairs: the pairs whose failures are all forgiven go first, then those
// with the most tokens left. A locked-out pair goes last, so a client
// cannot lift its own lockout by sending new names until its pair is
// pushed out.
func (t *loginThrottle) evict(now time.Time) {
	target := t.maxKeys - max(1, t.maxKeys/10)
	type entry struct {
		key    string
		tokens float64
	}
	rest := make([]entry, 0, len(t.buckets))
	for key, b := range t.buckets {
		t.level(b, now)
		if b.tokens >= t.burst-epsilon {
			delete(t.buckets, key)
			continue
		}
		rest = append(rest, entry{key, b.tokens})
	}
	if len(t.buckets) <= target {
		return
	}
	slices.SortFunc(rest, func(a, b entry) int { return cmp.Compare(b.tokens, a.tokens) })
	for _, e := range rest[:len(t.buckets)-target] {
		delete(t.buckets, e.key)
	}
}

// clientAddress is the host part of the connection's remote address.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// retryAfterSeconds is d rounded up to whole seconds, at least one, for a
// Retry-After header.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
