package admin

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/bankkit/onboarding-adapter/ports"
)

// Path prefixes of what this package serves on the admin listener.
const (
	PagesPrefix     = "/review"
	APIPrefix       = "/admin/api/review"
	ProfilingPrefix = "/debug/pprof"
)

// DefaultRealm is the Basic Auth realm the browser shows.
const DefaultRealm = "onboarding-adapter review"

// DefaultCSRFTTL is how long a form stays valid: a reviewer's working day.
const DefaultCSRFTTL = 12 * time.Hour

// MinPasswordLen is the shortest plain password accepted, as for the API's
// credentials.
const MinPasswordLen = 12

// maxBody bounds a form or JSON body: a reason of MaxReasonLen characters
// of up to four bytes each, percent-encoded (three bytes a byte), and a
// token.
const maxBody = 32 << 10

// User is one reviewer's credential. Password is the password itself or
// its bcrypt hash ($2a$, $2b$ or $2y$), so a users file need not hold
// passwords in clear.
type User struct {
	Name     string
	Password string
}

// hashed reports whether the password is a bcrypt hash.
func (u User) hashed() bool {
	return strings.HasPrefix(u.Password, "$2a$") || strings.HasPrefix(u.Password, "$2b$") || strings.HasPrefix(u.Password, "$2y$")
}

// ParseUsers reads reviewer credentials, one "name:password" (or
// "name:bcrypt-hash") per line; blank lines and lines starting with # are
// skipped. It is the format of ONBOARDING_ADMIN_USERS(_FILE). Errors name
// the line, never its content.
func ParseUsers(s string) ([]User, error) {
	var users []User
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, pw, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: want name:password", i+1)
		}
		users = append(users, User{Name: strings.TrimSpace(name), Password: pw})
	}
	return users, nil
}

// Config configures the reviewer API and pages.
type Config struct {
	// Users are the reviewers allowed in; at least one. Names are what the
	// audit trail records, so give every person their own.
	Users []User
	// Realm is the Basic Auth realm (default DefaultRealm).
	Realm string
	// CSRFTTL is how long a form's token is accepted (default DefaultCSRFTTL).
	CSRFTTL time.Duration
	// FourEyes and RequireClaim mirror the review policy, so the pages can
	// explain what a reviewer must do; the service enforces them.
	FourEyes     bool
	RequireClaim bool
	// Now tells the time for case ages, form tokens and the sign-in
	// throttle (default time.Now).
	Now func() time.Time
	// Logger receives one line per reviewer action and every internal error
	// (default: discard). It never receives personal data.
	Logger *slog.Logger
	// CSRFSecret, shared by every replica, keys the forms' tokens together
	// with each reviewer's credential. Without it the key comes from the
	// credential alone, and a leaked token (it is in every case page) lets
	// its holder test guesses of a clear-text password offline, at the
	// speed of SHA-256.
	CSRFSecret []byte
	// Profiling serves net/http/pprof under ProfilingPrefix behind the same
	// credentials, for an engineer chasing CPU or memory in production.
	// Off by default: a profile shows the code's shape and costs CPU.
	Profiling bool
	// LoginFailures is how many failed sign-ins of one name from one
	// client address are allowed before that pair is refused (429)
	// (default DefaultLoginFailures; negative turns the throttle off).
	LoginFailures int
	// LoginRefill is how often one more failure is forgiven (default
	// DefaultLoginRefill).
	LoginRefill time.Duration
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/review.css
var reviewCSS []byte

// Handler serves the review API and pages. Mount it with Routes.
type Handler struct {
	svc   ports.ReviewService
	cfg   Config
	users []credential
	// decoy is a bcrypt hash of nothing anyone knows, at decoyCost, the
	// highest cost of the users' hashes (0 when none is hashed): an unknown
	// name is compared with it, so a response does not take less time for
	// a name that does not exist than for a bcrypt-hashed one. It is made
	// on the first unknown name, not at start, which it would delay by a
	// bcrypt hashing.
	decoyCost int
	decoysMu  sync.Mutex
	decoys    map[int][]byte // by cost, made on first use
	// verified remembers sign-ins a bcrypt comparison accepted, for
	// verifiedFor, so a reviewer's page and its parts (each signing in
	// again: Basic Auth) pay bcrypt once a minute, not once a request.
	verified *verifiedCache
	// compareHash is bcrypt.CompareHashAndPassword (tests count its calls).
	compareHash func(hash, password []byte) error
	// hashSlots bounds the sign-ins checked against bcrypt at once (nil
	// without hashed users): each costs tens of milliseconds of a core,
	// and the admin listener shares the process with the API, so a flood
	// of sign-ins, each with a fresh name and so a fresh throttle bucket,
	// must not take every core from the Onboarding Server's calls.
	hashSlots chan struct{}
	mux       *http.ServeMux
	pages     *template.Template
	cop       *http.CrossOriginProtection
	throttle  *loginThrottle // nil: off
}

// credential is a User prepared for constant-time checks.
type credential struct {
	User
	nameSum [32]byte
	pwSum   [32]byte // of a clear password
	csrfKey []byte
	cost    int // of a bcrypt hash; 0 for a clear password
}

// NewHandler checks c and builds the handler over svc.
func NewHandler(svc ports.ReviewService, c Config) (*Handler, error) {
	if svc == nil {
		return nil, errors.New("admin: no review service")
	}
	if len(c.Users) == 0 {
		return nil, errors.New("admin: at least one reviewer credential is required")
	}
	seen := map[string]bool{}
	decoyCost := 0
	h := &Handler{svc: svc, cfg: c}
	for i, u := range c.Users {
		cost := 0
		switch {
		case u.Name == "" || strings.ContainsAny(u.Name, ":\r\n\t") || len(u.Name) > 64:
			return nil, fmt.Errorf("admin: user %d: the name must be 1-64 characters without ':' or control characters", i+1)
		case seen[strings.ToLower(u.Name)]:
			return nil, fmt.Errorf("admin: user %d: the name %q is used twice", i+1, u.Name)
		case u.hashed():
			c, err := bcrypt.Cost([]byte(u.Password))
			if err != nil {
				return nil, fmt.Errorf("admin: user %q: not a valid bcrypt hash", u.Name)
			}
			cost = c
			decoyCost = max(decoyCost, cost)
		case len(u.Password) < MinPasswordLen:
			return nil, fmt.Errorf("admin: user %q: the password must be at least %d characters", u.Name, MinPasswordLen)
		}
		seen[strings.ToLower(u.Name)] = true
		cr := credential{User: u, nameSum: sha256.Sum256([]byte(u.Name)), pwSum: sha256.Sum256([]byte(u.Password)), cost: cost}
		cr.csrfKey = csrfKey(c.CSRFSecret, u)
		h.users = append(h.users, cr)
	}
	h.compareHash, h.decoyCost = bcrypt.CompareHashAndPassword, decoyCost
	if h.cfg.Realm == "" {
		h.cfg.Realm = DefaultRealm
	}
	if h.cfg.CSRFTTL <= 0 {
		h.cfg.CSRFTTL = DefaultCSRFTTL
	}
	if h.cfg.Now == nil {
		h.cfg.Now = time.Now
	}
	if h.cfg.Logger == nil {
		h.cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if len(c.CSRFSecret) == 0 && slices.ContainsFunc(h.users, func(u credential) bool { return !u.hashed() }) {
		// No names: the warning is about the configuration, not a person.
		h.cfg.Logger.Warn("review forms' tokens are keyed by clear-text reviewer passwords alone: " +
			"a token leaked from a page would let its holder test password guesses offline; " +
			"set ONBOARDING_OTP_HASH_KEY (the replicas' shared secret) or give reviewers bcrypt hashes")
	}
	if h.cfg.LoginFailures == 0 {
		h.cfg.LoginFailures = DefaultLoginFailures
	}
	if h.cfg.LoginRefill <= 0 {
		h.cfg.LoginRefill = DefaultLoginRefill
	}
	if h.cfg.LoginFailures > 0 {
		h.throttle = newLoginThrottle(h.cfg.LoginFailures, h.cfg.LoginRefill, h.cfg.Now)
	}
	if decoyCost > 0 {
		h.hashSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))
		v, err := newVerifiedCache(h.cfg.Now)
		if err != nil {
			return nil, fmt.Errorf("admin: %w", err)
		}
		h.verified = v
	}
	sub, err := fs.Sub(templateFS, "templates")
	if err != nil {
		return nil, fmt.Errorf("admin: templates: %w", err)
	}
	h.pages, err = template.New("pages").Funcs(templateFuncs(h.cfg.Now)).ParseFS(sub, "*.html")
	if err != nil {
		return nil, fmt.Errorf("admin: templates: %w", err)
	}
	h.cop = http.NewCrossOriginProtection()
	h.mux = http.NewServeMux()
	h.routes()
	return h, nil
}

// Routes returns the patterns to mount on the admin listener, for
// httptransport.AdminConfig.Extra.
func (h *Handler) Routes() map[string]http.Handler {
	r := map[string]http.Handler{
		PagesPrefix:       h,
		PagesPrefix + "/": h,
		APIPrefix + "/":   h,
	}
	if h.cfg.Profiling {
		r[ProfilingPrefix+"/"] = h
	}
	return r
}

func (h *Handler) routes() {
	h.mux.HandleFunc("GET "+PagesPrefix, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, PagesPrefix+"/", http.StatusSeeOther)
	})
	h.mux.HandleFunc("GET "+PagesPrefix+"/{$}", h.pageQueue)
	h.mux.HandleFunc("GET "+PagesPrefix+"/static/review.css", serveCSS)
	h.mux.HandleFunc("GET "+PagesPrefix+"/cases/{id}", h.pageCase)
	h.mux.HandleFunc("GET "+PagesPrefix+"/cases/{id}/frame", h.frame)
	h.mux.HandleFunc("POST "+PagesPrefix+"/cases/{id}/claim", h.pageClaim)
	h.mux.HandleFunc("POST "+PagesPrefix+"/cases/{id}/resolve", h.pageResolve)

	h.mux.HandleFunc("GET "+APIPrefix+"/cases", h.apiList)
	h.mux.HandleFunc("GET "+APIPrefix+"/cases/{id}", h.apiGet)
	h.mux.HandleFunc("GET "+APIPrefix+"/cases/{id}/audit", h.apiAudit)
	h.mux.HandleFunc("GET "+APIPrefix+"/cases/{id}/frame", h.frame)
	h.mux.HandleFunc("POST "+APIPrefix+"/cases/{id}/claim", h.apiClaim)
	h.mux.HandleFunc("POST "+APIPrefix+"/cases/{id}/resolve", h.apiResolve)
	if h.cfg.Profiling {
		h.profilingRoutes()
	}
}

// contentSecurityPolicy allows the page's own CSS and images and nothing
// else: no script of any origin, no framing, forms only to this origin.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// ServeHTTP sets the security headers, refuses cross-origin writes,
// authenticates the reviewer and routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("Pragma", "no-cache")
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	api := isAPI(r)
	if err := h.cop.Check(r); err != nil {
		h.fail(w, r, api, http.StatusForbidden, "cross-origin request refused")
		return
	}
	name, _, presented := r.BasicAuth()
	throttled := presented && h.throttle != nil
	key := ""
	if throttled {
		key = loginKey(clientAddress(r), name)
		if wait, ok := h.throttle.take(key); !ok {
			hd.Set("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
			h.fail(w, r, api, http.StatusTooManyRequests, "Too many failed sign-ins; try again later.")
			return
		}
	}
	user, ok := h.verified.lookup(r)
	if !ok {
		if presented && !h.acquireHashSlot(r.Context()) {
			if throttled {
				h.throttle.refund(key) // nothing was checked
			}
			hd.Set("Retry-After", "1")
			h.fail(w, r, api, http.StatusServiceUnavailable, "Sign-in is busy; try again in a moment.")
			return
		}
		func() {
			defer h.releaseHashSlot(presented)
			user, ok = h.authenticate(r)
		}()
	}
	if throttled && ok {
		h.throttle.refund(key)
	}
	if !ok {
		if throttled && h.throttle.lockedOut(key) {
			// No address or name: an SRE finds the source in the network's
			// own logs; the service's carry no personal data.
			h.cfg.Logger.WarnContext(r.Context(), "review sign-ins throttled after repeated failures",
				slog.Int("failures", h.cfg.LoginFailures), slog.Duration("refill", h.cfg.LoginRefill))
		}
		hd.Set("WWW-Authenticate", `Basic realm="`+h.cfg.Realm+`", charset="UTF-8"`)
		if api {
			writeJSON(w, http.StatusUnauthorized, errorBody{ErrorCode: errorUnauthorized, Message: "reviewer credentials required"})
			return
		}
		h.fail(w, r, false, http.StatusUnauthorized, "Reviewer credentials required.")
		return
	}
	next, pattern := h.mux.Handler(r)
	if pattern == "" {
		status, msg := http.StatusNotFound, "not found"
		if c := probe(next, r); c == http.StatusMethodNotAllowed {
			status, msg = c, "method not allowed"
		}
		h.fail(w, r, api, status, msg)
		return
	}
	h.mux.ServeHTTP(w, r.WithContext(withReviewer(r.Context(), user)))
}

func isAPI(r *http.Request) bool {
	return r.URL.Path == APIPrefix || strings.HasPrefix(r.URL.Path, APIPrefix+"/")
}

// probe runs the mux's own not-found or not-allowed handler into a
// recorder and returns its status, so the answer can be in this package's
// format.
func probe(h http.Handler, r *http.Request) int {
	rec := &statusRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	return rec.status
}

type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header { return s.header }
func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
}
func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return len(b), nil
}

// authenticate checks the Basic credentials against every user in
// constant time per user, and returns the reviewer's name.
func (h *Handler) authenticate(r *http.Request) (*credential, bool) {
	name, pw, ok := r.BasicAuth()
	if !ok {
		return nil, false
	}
	nameSum, pwSum := sha256.Sum256([]byte(name)), sha256.Sum256([]byte(pw))
	var match *credential
	for i := range h.users {
		if subtle.ConstantTimeCompare(nameSum[:], h.users[i].nameSum[:]) == 1 {
			match = &h.users[i]
		}
	}
	if match == nil {
		if decoy := h.decoyAt(h.decoyCost); decoy != nil {
			_ = h.compareHash(decoy, []byte(pw))
		}
		return nil, false
	}
	if match.hashed() {
		ok := h.compareHash([]byte(match.Password), []byte(pw)) == nil
		// A cheaper hash than the dearest answers sooner than an unknown
		// name (compared with the decoy at the dearest cost), which
		// would tell that this name exists. bcrypt's work doubles with
		// each cost step, so decoys at costs c, c+1, … max-1 add up to
		// the difference: 2^c + (2^max - 2^c) = 2^max.
		for c := match.cost; c < h.decoyCost; c++ {
			if decoy := h.decoyAt(c); decoy != nil {
				_ = h.compareHash(decoy, []byte(pw))
			}
		}
		if ok {
			h.verified.remember(r, match)
		}
		return match, ok
	}
	return match, subtle.ConstantTimeCompare(pwSum[:], match.pwSum[:]) == 1
}

func serveCSS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	_, _ = w.Write(reviewCSS)
}

// csrfKey is the key of u's form tokens: an HMAC under the replicas' shared
// secret when there is one, else a digest of the credential alone.
func csrfKey(secret []byte, u User) []byte {
	msg := []byte("onboarding-adapter/review/csrf\x00" + u.Name + "\x00" + u.Password)
	if len(secret) == 0 {
		k := sha256.Sum256(msg)
		return k[:]
	}
	m := hmac.New(sha256.New, secret)
	m.Write(msg)
	return m.Sum(nil)
}

// hashSlotWait is how long a sign-in waits for a bcrypt slot before it is
// answered 503: long enough for a reviewer's page and its parts, which
// each sign in again, short against a flood.
const hashSlotWait = time.Second

// acquireHashSlot takes a bcrypt slot, waiting up to hashSlotWait; true at
// once without hashed users.
func (h *Handler) acquireHashSlot(ctx context.Context) bool {
	if h.hashSlots == nil {
		return true
	}
	select {
	case h.hashSlots <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(hashSlotWait)
	defer t.Stop()
	select {
	case h.hashSlots <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// releaseHashSlot gives back the slot a sign-in with credentials took.
func (h *Handler) releaseHashSlot(presented bool) {
	if presented && h.hashSlots != nil {
		<-h.hashSlots
	}
}

// decoyAt returns a bcrypt hash of nothing anyone knows at cost, making
// it on first use; nil for cost 0 (no user is hashed) or when the
// system's randomness failed, which leaves only timing exposed.
func (h *Handler) decoyAt(cost int) []byte {
	if cost == 0 {
		return nil
	}
	h.decoysMu.Lock()
	defer h.decoysMu.Unlock()
	if d, ok := h.decoys[cost]; ok {
		return d
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil
	}
	d, err := bcrypt.GenerateFromPassword(secret, cost)
	if err != nil {
		return nil
	}
	if h.decoys == nil {
		h.decoys = map[int][]byte{}
	}
	h.decoys[cost] = d
	return d
}
