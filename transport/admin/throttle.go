package admin

import (
	"math"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Sign-in throttling defaults: a client address may fail DefaultLoginFailures
// sign-ins in a row, and is forgiven one failure every DefaultLoginRefill
// after that (ten a minute). A reviewer who mistypes a password a few times
// never notices; a guesser gets ten guesses a minute instead of thousands a
// second against a clear-text password.
const (
	DefaultLoginFailures = 10
	DefaultLoginRefill   = 6 * time.Second
)

// maxLoginSources bounds the client addresses remembered at once. Past it,
// those forgiven every failure are forgotten first.
const maxLoginSources = 10_000

// loginThrottle counts failed sign-ins per client address in a token
// bucket: a failure takes a token, one comes back every refill, and an
// address with no token left is refused before its credentials are
// checked (429 with Retry-After), the right ones too, so guessing on gains
// nothing. Requests without credentials (a browser's first, which prompts
// for them) and successful ones take nothing. The address is the
// connection's: X-Forwarded-For is the client's to write.
type loginThrottle struct {
	burst  int
	refill time.Duration
	now    func() time.Time

	mu      sync.Mutex
	sources map[string]*rate.Limiter
}

func newLoginThrottle(burst int, refill time.Duration, now func() time.Time) *loginThrottle {
	return &loginThrottle{burst: burst, refill: refill, now: now, sources: make(map[string]*rate.Limiter)}
}

// blocked reports whether src has no failure left, and how long until it
// has one.
func (t *loginThrottle) blocked(src string) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	lim := t.sources[src]
	if lim == nil {
		return 0, false
	}
	tokens := lim.TokensAt(t.now())
	if tokens >= 1 {
		return 0, false
	}
	return time.Duration((1 - tokens) * float64(t.refill)), true
}

// failed takes a token of src; it reports whether that was the last one.
func (t *loginThrottle) failed(src string) (exhausted bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	lim := t.sources[src]
	if lim == nil {
		if len(t.sources) >= maxLoginSources {
			t.forget(now)
		}
		lim = rate.NewLimiter(rate.Every(t.refill), t.burst)
		lim.SetBurstAt(now, t.burst) // full as of now, whatever the clock says
		t.sources[src] = lim
	}
	lim.AllowN(now, 1)
	return lim.TokensAt(now) < 1
}

// forget drops the addresses whose failures are all forgiven, and, if none
// is, the one closest to it: the map stays within maxLoginSources.
func (t *loginThrottle) forget(now time.Time) {
	closest, most := "", math.Inf(-1)
	for src, lim := range t.sources {
		tokens := lim.TokensAt(now)
		if tokens >= float64(t.burst) {
			delete(t.sources, src)
			continue
		}
		if tokens > most {
			closest, most = src, tokens
		}
	}
	if len(t.sources) >= maxLoginSources {
		delete(t.sources, closest)
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
