package httptransport

import (
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/bankkit/onboarding-adapter/ports"
)

// Defaults of Config, chosen against the caller: it gives up after 5 s, so
// the server-side deadline stays below that; consents and lookups are small,
// while approve and evaluate carry base64 images.
const (
	DefaultCorrelationHeader = "X-Correlation-Id"
	DefaultRequestIDHeader   = "X-Request-Id"
	DefaultRequestTimeout    = 4 * time.Second
	DefaultMaxBodyBytes      = 64 << 10
	DefaultMaxImageBodyBytes = 10 << 20
	// DefaultMaxInFlightBodyBytes bounds what the bodies of the requests in
	// flight hold when Config leaves it unset (see
	// Config.MaxInFlightBodyBytes); the service sets it from its memory
	// limit.
	DefaultMaxInFlightBodyBytes = 512 << 20
	// DefaultMaxInFlight bounds the API requests one replica serves at
	// once. A replica on two cores answers a few thousand requests per
	// second, so 256 in flight means a dependency is slow or down: queueing
	// more would only make them all miss the caller's 5 s.
	DefaultMaxInFlight = 256
)

// maxCredentials is two so a password (or user) can be rotated without
// downtime: configure the new pair beside the old, switch the caller, drop
// the old pair.
const maxCredentials = 2

// Services are the driving ports the HTTP API calls. Every one is required:
// a route without its service would be a nil-pointer panic waiting for its
// first request.
type Services struct {
	Lookup     ports.LookupService
	Approval   ports.ApprovalService
	Evaluation ports.EvaluationService
	OTP        ports.OTPService
	Consent    ports.ConsentService
	Events     ports.ProcessEventService
}

func (s Services) validate() error {
	var missing []string
	for _, f := range []struct {
		name string
		nil  bool
	}{
		{"Lookup", s.Lookup == nil},
		{"Approval", s.Approval == nil},
		{"Evaluation", s.Evaluation == nil},
		{"OTP", s.OTP == nil},
		{"Consent", s.Consent == nil},
		{"Events", s.Events == nil},
	} {
		if f.nil {
			missing = append(missing, "Services."+f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("httptransport: %s not set", strings.Join(missing, ", "))
	}
	return nil
}

// Credential is one Basic Auth user and password the caller may present.
type Credential struct {
	Username string
	Password string
}

// String masks the password, so a Config printed at start-up never shows it.
func (c Credential) String() string { return c.Username + ":***" }

// LogValue masks the password in structured logs.
func (c Credential) LogValue() slog.Value {
	return slog.GroupValue(slog.String("username", c.Username), slog.String("password", "***"))
}

// Config is everything NewHandler needs besides the services. The zero value
// of every field means its default.
type Config struct {
	// BasePath prefixes every route, e.g. "/api/v1" serves
	// "POST /api/v1/user/lookup". Empty or "/" serves the routes at the root;
	// a trailing slash is dropped.
	BasePath string
	// Credentials are 0 to 2 Basic Auth pairs. When any is set, every API
	// route requires one of them; two pairs allow rotation.
	Credentials []Credential
	// CorrelationHeader and RequestIDHeader name the id headers (default
	// X-Correlation-Id and X-Request-Id): the caller can rename them.
	CorrelationHeader string
	RequestIDHeader   string
	// RequestTimeout is the deadline of every request (default 4s, below the
	// caller's 5 s).
	RequestTimeout time.Duration
	// MaxBodyBytes bounds request bodies (default 64 KiB);
	// MaxImageBodyBytes bounds those of /client/approve and /client/evaluate,
	// which carry base64 images (default 10 MiB).
	MaxBodyBytes      int64
	MaxImageBodyBytes int64
	// MaxInFlight bounds the requests served at once (default 256); one
	// more is answered 503 with Retry-After at once, without reading its
	// body, instead of waiting in a queue past the caller's time-out.
	MaxInFlight int
	// MaxInFlightBodyBytes bounds the memory the bodies of the image
	// routes' requests in flight hold (every route whose limit is
	// MaxImageBodyBytes), each counted as twice its size (its bytes, and
	// the images decoded from them); a body of unannounced length counts
	// its buffer's room as it grows. A body that does not fit beside those
	// held is answered 503 with Retry-After before it is read (part-way,
	// for one of unannounced length); one alone always fits. The in-flight bound alone would let 256 image
	// bodies of up to 10 MiB each hold gigabytes. Default
	// DefaultMaxInFlightBodyBytes.
	MaxInFlightBodyBytes int64
	// Logger receives the access log and error details (default: discard).
	Logger *slog.Logger
	// EndpointMiddleware, when set, is applied exactly once to each
	// endpoint, with the endpoint's name (see the Endpoint* constants), so
	// one middleware makes the span and the latency metric of every route.
	// It must return only once the endpoint has (no call left running in a
	// goroutine past a timeout): a decoded frame's buffer is reused as soon
	// as the request is answered (domain.Image).
	EndpointMiddleware func(name string) endpoint.Middleware
}

// withDefaults fills unset fields and normalises the base path.
func (c Config) withDefaults() Config {
	c.BasePath = strings.TrimSuffix(c.BasePath, "/")
	if c.CorrelationHeader == "" {
		c.CorrelationHeader = DefaultCorrelationHeader
	}
	if c.RequestIDHeader == "" {
		c.RequestIDHeader = DefaultRequestIDHeader
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxImageBodyBytes == 0 {
		c.MaxImageBodyBytes = DefaultMaxImageBodyBytes
	}
	if c.MaxInFlightBodyBytes == 0 {
		c.MaxInFlightBodyBytes = DefaultMaxInFlightBodyBytes
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validate refuses a configuration that would misbehave at run time, naming
// the field. It expects withDefaults to have run.
func (c Config) validate() error {
	var errs []error
	if err := CheckBasePath(c.BasePath); err != nil {
		errs = append(errs, fmt.Errorf("BasePath %w", err))
	}
	if len(c.Credentials) > maxCredentials {
		errs = append(errs, fmt.Errorf("too many Credentials: at most %d pairs, got %d", maxCredentials, len(c.Credentials)))
	}
	for i, cr := range c.Credentials {
		if cr.Username == "" || cr.Password == "" {
			errs = append(errs, fmt.Errorf("empty username or password in Credentials[%d]", i))
		}
		if strings.ContainsRune(cr.Username, ':') {
			errs = append(errs, fmt.Errorf("username of Credentials[%d] must not contain ':' (Basic Auth splits on it)", i))
		}
	}
	for _, h := range [...]struct{ name, value string }{
		{"CorrelationHeader", c.CorrelationHeader},
		{"RequestIDHeader", c.RequestIDHeader},
	} {
		if !isToken(h.value) {
			errs = append(errs, fmt.Errorf("%s %q is not a valid header name", h.name, h.value))
		}
	}
	if strings.EqualFold(c.CorrelationHeader, c.RequestIDHeader) {
		errs = append(errs, fmt.Errorf("CorrelationHeader and RequestIDHeader must differ, both are %q", c.CorrelationHeader))
	}
	if c.RequestTimeout < 0 {
		errs = append(errs, fmt.Errorf("invalid RequestTimeout %s: must be positive", c.RequestTimeout))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("invalid MaxBodyBytes %d: must be positive", c.MaxBodyBytes))
	}
	if c.MaxImageBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("invalid MaxImageBodyBytes %d: must be positive", c.MaxImageBodyBytes))
	}
	if c.MaxInFlightBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("invalid MaxInFlightBodyBytes %d: must be positive", c.MaxInFlightBodyBytes))
	}
	if c.MaxInFlight < 0 {
		errs = append(errs, fmt.Errorf("invalid MaxInFlight %d: must be positive", c.MaxInFlight))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("httptransport: invalid config: %w", err)
	}
	return nil
}

// CheckBasePath reports why p cannot prefix the routes (nil when it can),
// so configuration can refuse it at start naming its own variable: "" is
// none, and a trailing slash is dropped; the rest must be a clean absolute
// path of letters, digits and -._~/, since the router matches it byte for
// byte and a request for a cleaned path would never reach it.
func CheckBasePath(p string) error {
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return nil
	}
	if !strings.HasPrefix(p, "/") || path.Clean(p) != p ||
		strings.IndexFunc(p, func(r rune) bool { return !isPathChar(r) }) >= 0 {
		return fmt.Errorf("%q must be a clean absolute path of letters, digits and -._~/", p)
	}
	return nil
}

func isPathChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~/", r)
}

// isToken reports whether s is an RFC 9110 token, the syntax of header names.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}
