// Package config reads the service's configuration from ONBOARDING_*
// environment variables (every secret also from a file named by its *_FILE
// twin, as Kubernetes mounts secrets) and the business policy from an
// optional YAML file, and validates both before anything starts, so a bad
// value stops the process with a message naming the variable or key.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/bankkit/onboarding-adapter/adapters/sms"
	httptransport "github.com/bankkit/onboarding-adapter/transport/http"
)

// Prefix is the common prefix of every variable.
const Prefix = "ONBOARDING_"

// Secret is a configuration value that must never be printed: it renders
// as "***" in logs, %v and %s, and only Value reveals it.
type Secret string

// Value returns the secret itself.
func (s Secret) Value() string { return string(s) }

// String masks the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "***"
}

// LogValue masks the secret in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Config is the whole process configuration. Field tags name the variables
// (without the prefix); secrets may come from the file named by NAME_FILE.
type Config struct {
	HTTPAddr          string        `env:"HTTP_ADDR" envDefault:":8080"`
	AdminAddr         string        `env:"ADMIN_ADDR" envDefault:":9090"`
	BasePath          string        `env:"BASE_PATH"`
	BasicAuthUsername string        `env:"BASIC_AUTH_USERNAME"`
	BasicAuthPassword Secret        `env:"BASIC_AUTH_PASSWORD"`
	BasicAuthNextUser string        `env:"BASIC_AUTH_NEXT_USERNAME"`
	BasicAuthNextPass Secret        `env:"BASIC_AUTH_NEXT_PASSWORD"`
	DatabaseURL       Secret        `env:"DATABASE_URL"`
	RedisURL          Secret        `env:"REDIS_URL"`
	SMSProvider       string        `env:"SMS_PROVIDER" envDefault:"log"`
	PolicyFile        string        `env:"POLICY_FILE"`
	LogLevel          string        `env:"LOG_LEVEL" envDefault:"info"`
	LogFormat         string        `env:"LOG_FORMAT" envDefault:"json"`
	CorrelationHeader string        `env:"CORRELATION_HEADER" envDefault:"X-Correlation-Id"`
	RequestIDHeader   string        `env:"REQUEST_ID_HEADER" envDefault:"X-Request-Id"`
	RequestTimeout    time.Duration `env:"REQUEST_TIMEOUT" envDefault:"4s"`
	MaxBodyBytes      int64         `env:"MAX_BODY_BYTES" envDefault:"65536"`
	MaxImageBodyBytes int64         `env:"MAX_IMAGE_BODY_BYTES" envDefault:"10485760"`
	ShutdownTimeout   time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`
	GCHeapFloor       int64         `env:"GC_HEAP_FLOOR" envDefault:"16777216"` // bytes; 0 = GOGC alone (see internal/gcfloor)
	OTPHashKey        Secret        `env:"OTP_HASH_KEY"`
	DemoData          bool          `env:"DEMO_DATA" envDefault:"true"`
	MemoryMaxRecords  int           `env:"MEMORY_MAX_RECORDS" envDefault:"2000"` // in-memory storage only (memory.DefaultMaxRecords: TestLoadDefaults holds them equal); 0 = unbounded
	MigrateAtStart    bool          `env:"MIGRATE_AT_START" envDefault:"false"`
	DBMaxConns        int32         `env:"DB_MAX_CONNS" envDefault:"16"`
	DBMinConns        int32         `env:"DB_MIN_CONNS" envDefault:"2"`
	DBMaxConnLifetime time.Duration `env:"DB_MAX_CONN_LIFETIME" envDefault:"15m"`
	DBConnectTimeout  time.Duration `env:"DB_CONNECT_TIMEOUT" envDefault:"1s"`
	DBBatchWindow     time.Duration `env:"DB_BATCH_WINDOW" envDefault:"1ms"` // group commit of durable writes; 0 = off
	DBBatchLanes      int           `env:"DB_BATCH_LANES" envDefault:"1"`    // write batches of a store in flight; 0 = every batch under load waits out the window
	RedisCacheTTL     time.Duration `env:"REDIS_CACHE_TTL" envDefault:"10m"`
	RedisLanes        int           `env:"REDIS_LANES" envDefault:"2"` // Redis round trips of consent-text reads and OTP scripts in flight; more share a pipeline
	ConsentL1TTL      time.Duration `env:"CONSENT_L1_TTL" envDefault:"30s"`
	ConsentL1Entries  int           `env:"CONSENT_L1_ENTRIES" envDefault:"1024"`

	// RedisKeyPrefix starts every Redis key and the invalidation channel,
	// so environments or tenants sharing one Redis do not read each
	// other's cached texts or OTP claims; replicas of one deployment must
	// share it. The default is redis.DefaultKeyPrefix (TestLoadDefaults
	// holds them equal); see checkRedisKeyPrefix for what is accepted.
	RedisKeyPrefix string `env:"REDIS_KEY_PREFIX" envDefault:"onboarding:"`

	// Overload and shutdown. MaxInFlight bounds the API requests served at
	// once; one more is answered 503 with Retry-After at once. ShutdownDelay
	// keeps serving after SIGTERM with readiness already false, so load
	// balancers without a preStop hook stop sending before the listener
	// closes; the Helm chart's preStop sleep does this, hence 0 by default.
	MaxInFlight int `env:"MAX_IN_FLIGHT" envDefault:"256"`
	// MaxInFlightBodyBytes bounds the memory the bodies of the requests in
	// flight hold (transport/http.Config.MaxInFlightBodyBytes); 0: half of
	// the Go memory limit (GOMEMLIMIT) when one is set, else 512 MiB.
	MaxInFlightBodyBytes int64         `env:"MAX_IN_FLIGHT_BODY_BYTES" envDefault:"0"`
	ShutdownDelay        time.Duration `env:"SHUTDOWN_DELAY" envDefault:"0s"`

	// Review UI and CLI: the reviewers' own credentials (never the API's)
	// and overrides of the policy's review section.
	AdminUsername      string        `env:"ADMIN_USERNAME"`
	AdminPassword      Secret        `env:"ADMIN_PASSWORD"`
	AdminUsers         Secret        `env:"ADMIN_USERS"`
	AdminLoginFailures int           `env:"ADMIN_LOGIN_FAILURES" envDefault:"10"` // failed sign-ins of a name from an address before 429; 0 = no throttle
	AdminLoginRefill   time.Duration `env:"ADMIN_LOGIN_REFILL" envDefault:"6s"`   // one failure forgiven every this long
	ReviewRetention    time.Duration `env:"REVIEW_RETENTION"`
	ReviewRequireClaim *bool         `env:"REVIEW_REQUIRE_CLAIM"`
	ReviewFourEyes     *bool         `env:"REVIEW_FOUR_EYES"`

	// Pprof serves the runtime profiles on the admin listener behind the
	// reviewers' credentials; off by default.
	Pprof bool `env:"PPROF_ENABLED" envDefault:"false"`

	// SMS gateway settings; see adapters/sms for their meaning. Only the
	// section of ONBOARDING_SMS_PROVIDER is read.
	TwilioBaseURL             string        `env:"TWILIO_BASE_URL"`
	TwilioAccountSID          string        `env:"TWILIO_ACCOUNT_SID"`
	TwilioAuthToken           Secret        `env:"TWILIO_AUTH_TOKEN"`
	TwilioFrom                string        `env:"TWILIO_FROM"`
	TwilioMessagingServiceSID string        `env:"TWILIO_MESSAGING_SERVICE_SID"`
	TwilioUseSenderID         bool          `env:"TWILIO_USE_SENDER_ID" envDefault:"false"`
	TwilioValidityPeriod      time.Duration `env:"TWILIO_VALIDITY_PERIOD"`
	SMSHTTPURL                string        `env:"SMS_HTTP_URL"`
	SMSHTTPMethod             string        `env:"SMS_HTTP_METHOD"`
	SMSHTTPHeaders            Secret        `env:"SMS_HTTP_HEADERS"`
	SMSHTTPAuth               string        `env:"SMS_HTTP_AUTH"`
	SMSHTTPUsername           string        `env:"SMS_HTTP_USERNAME"`
	SMSHTTPPassword           Secret        `env:"SMS_HTTP_PASSWORD"`
	SMSHTTPToken              Secret        `env:"SMS_HTTP_TOKEN"`
	SMSHTTPBodyTemplate       string        `env:"SMS_HTTP_BODY_TEMPLATE"`
	SMSHTTPSuccessStatuses    string        `env:"SMS_HTTP_SUCCESS_STATUSES"`
	SMSHTTPSuccessField       string        `env:"SMS_HTTP_SUCCESS_FIELD"`
	SMSHTTPSuccessValue       string        `env:"SMS_HTTP_SUCCESS_VALUE"`
	SMSHTTPMessageIDField     string        `env:"SMS_HTTP_MESSAGE_ID_FIELD"`
	SMSAttemptTimeout         time.Duration `env:"SMS_ATTEMPT_TIMEOUT"`
	SMSMaxAttempts            int           `env:"SMS_MAX_ATTEMPTS"`
	SMSMaxConcurrency         int           `env:"SMS_MAX_CONCURRENCY"`
	SMSBreakerFailures        uint32        `env:"SMS_BREAKER_FAILURES"`
	SMSBreakerOpen            time.Duration `env:"SMS_BREAKER_OPEN"`
}

// SMS returns the SMS sender configuration; zero values take the sender's
// defaults.
func (c Config) SMS() (sms.Config, error) {
	headers, err := sms.ParseHeaders(c.SMSHTTPHeaders.Value())
	if err != nil {
		return sms.Config{}, fmt.Errorf("%s: %w", sms.EnvHTTPHeaders, err)
	}
	return sms.Config{
		Provider: c.SMSProvider,
		Twilio: sms.TwilioConfig{
			BaseURL: c.TwilioBaseURL, AccountSID: c.TwilioAccountSID, AuthToken: c.TwilioAuthToken.Value(),
			From: c.TwilioFrom, MessagingServiceSID: c.TwilioMessagingServiceSID,
			UseSenderID: c.TwilioUseSenderID, ValidityPeriod: c.TwilioValidityPeriod,
		},
		HTTP: sms.HTTPConfig{
			URL: c.SMSHTTPURL, Method: c.SMSHTTPMethod, Headers: headers, AuthMode: c.SMSHTTPAuth,
			Username: c.SMSHTTPUsername, Password: c.SMSHTTPPassword.Value(), BearerToken: c.SMSHTTPToken.Value(),
			BodyTemplate: c.SMSHTTPBodyTemplate, SuccessStatuses: c.SMSHTTPSuccessStatuses,
			SuccessField: c.SMSHTTPSuccessField, SuccessValue: c.SMSHTTPSuccessValue, MessageIDField: c.SMSHTTPMessageIDField,
		},
		Resilience: sms.ResilienceConfig{
			AttemptTimeout: c.SMSAttemptTimeout, MaxAttempts: c.SMSMaxAttempts, MaxConcurrency: c.SMSMaxConcurrency,
			BreakerFailures: c.SMSBreakerFailures, BreakerOpen: c.SMSBreakerOpen,
		},
	}, nil
}

// secretVars are the variables that may be given as NAME_FILE.
var secretVars = []string{
	"BASIC_AUTH_USERNAME", "BASIC_AUTH_PASSWORD", "BASIC_AUTH_NEXT_USERNAME", "BASIC_AUTH_NEXT_PASSWORD",
	"DATABASE_URL", "REDIS_URL", "OTP_HASH_KEY",
	"TWILIO_AUTH_TOKEN", "SMS_HTTP_PASSWORD", "SMS_HTTP_TOKEN", "SMS_HTTP_HEADERS",
	"ADMIN_USERNAME", "ADMIN_PASSWORD", "ADMIN_USERS",
}

// Environ turns os.Environ-style "K=V" pairs into a map.
func Environ(pairs []string) map[string]string {
	m := make(map[string]string, len(pairs))
	for _, p := range pairs {
		if k, v, ok := strings.Cut(p, "="); ok {
			m[k] = v
		}
	}
	return m
}

// ResolveFiles replaces every ONBOARDING_X_FILE of a secret variable by
// ONBOARDING_X holding the file's content (trailing newline trimmed). Setting
// both is an error, since which one wins would be a guess.
func ResolveFiles(environ map[string]string, readFile func(string) ([]byte, error)) (map[string]string, error) {
	out := make(map[string]string, len(environ))
	for k, v := range environ {
		out[k] = v
	}
	for _, name := range secretVars {
		key, fileKey := Prefix+name, Prefix+name+"_FILE"
		path, ok := environ[fileKey]
		if !ok || path == "" {
			continue
		}
		if v, set := environ[key]; set && v != "" {
			return nil, fmt.Errorf("%s and %s are both set; set only one", key, fileKey)
		}
		b, err := readFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: reading the secret file: %w", fileKey, err)
		}
		out[key] = strings.TrimRight(string(b), "\r\n")
		delete(out, fileKey)
	}
	return out, nil
}

// Load parses and validates the configuration from environ.
func Load(environ map[string]string) (Config, error) {
	resolved, err := ResolveFiles(environ, os.ReadFile)
	if err != nil {
		return Config{}, err
	}
	var c Config
	if err := env.ParseWithOptions(&c, env.Options{Environment: resolved, Prefix: Prefix}); err != nil {
		return Config{}, nameVariables(err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// nameVariables rewrites the parser's errors, which name struct fields, so
// they name the environment variable the operator has to fix.
func nameVariables(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return fmt.Errorf("configuration: %w", err)
	}
	t := reflect.TypeOf(Config{})
	errs := make([]error, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			if f, ok := t.FieldByName(pe.Name); ok {
				errs = append(errs, fmt.Errorf("%s%s: cannot parse: %w", Prefix, f.Tag.Get("env"), pe.Err))
				continue
			}
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// Validate checks every value and names each bad variable.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s%s: %s", Prefix, name, fmt.Sprintf(format, args...)))
	}
	for _, a := range []struct{ name, v string }{{"HTTP_ADDR", c.HTTPAddr}, {"ADMIN_ADDR", c.AdminAddr}} {
		// A numeric port: a service name (":http") depends on the image's
		// /etc/services, which the distroless image does not have.
		if _, port, err := net.SplitHostPort(a.v); err != nil {
			bad(a.name, "must be host:port or :port, not %q", a.v)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			bad(a.name, "must end in a port number 0-65535, not %q", a.v)
		}
	}
	if c.HTTPAddr == c.AdminAddr {
		bad("ADMIN_ADDR", "must differ from %sHTTP_ADDR: health and metrics live on their own listener", Prefix)
	}
	if c.BasePath != "" {
		if !strings.HasPrefix(c.BasePath, "/") || strings.HasSuffix(c.BasePath, "/") {
			bad("BASE_PATH", "must start with / and not end with / (for example /api/v1), not %q", c.BasePath)
		} else if err := httptransport.CheckBasePath(c.BasePath); err != nil {
			bad("BASE_PATH", "%v", err)
		}
	}
	if (c.BasicAuthUsername == "") != (c.BasicAuthPassword == "") {
		bad("BASIC_AUTH_PASSWORD", "username and password must be set together")
	}
	if (c.BasicAuthNextUser == "") != (c.BasicAuthNextPass == "") {
		bad("BASIC_AUTH_NEXT_PASSWORD", "the next username and password must be set together")
	}
	if c.BasicAuthNextUser != "" && c.BasicAuthUsername == "" {
		bad("BASIC_AUTH_NEXT_USERNAME", "needs %sBASIC_AUTH_USERNAME too", Prefix)
	}
	for _, u := range []struct{ name, v string }{{"BASIC_AUTH_USERNAME", c.BasicAuthUsername}, {"BASIC_AUTH_NEXT_USERNAME", c.BasicAuthNextUser}} {
		if strings.ContainsAny(u.v, ":\r\n") {
			// Basic Auth splits user:password at the first colon.
			bad(u.name, "must not contain ':' or a line break")
		}
	}
	if c.BasicAuthPassword != "" && len(c.BasicAuthPassword) < 12 {
		bad("BASIC_AUTH_PASSWORD", "must be at least 12 characters")
	}
	if c.BasicAuthNextPass != "" && len(c.BasicAuthNextPass) < 12 {
		bad("BASIC_AUTH_NEXT_PASSWORD", "must be at least 12 characters")
	}
	if c.DatabaseURL != "" {
		if u, err := url.Parse(c.DatabaseURL.Value()); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			bad("DATABASE_URL", "must be a postgres:// URL")
		}
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL.Value()); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			bad("REDIS_URL", "must be a redis:// or rediss:// URL")
		}
	}
	switch c.SMSProvider {
	case "log", "twilio", "http":
		if sc, err := c.SMS(); err != nil {
			errs = append(errs, err)
		} else if err := sc.Validate(); err != nil {
			errs = append(errs, err)
		}
	default:
		bad("SMS_PROVIDER", "must be log, twilio or http, not %q", c.SMSProvider)
	}
	if _, err := c.SlogLevel(); err != nil {
		bad("LOG_LEVEL", "must be debug, info, warn or error, not %q", c.LogLevel)
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		bad("LOG_FORMAT", "must be json or text, not %q", c.LogFormat)
	}
	for _, h := range []struct{ name, v string }{{"CORRELATION_HEADER", c.CorrelationHeader}, {"REQUEST_ID_HEADER", c.RequestIDHeader}} {
		if !validHeaderName(h.v) {
			bad(h.name, "must be an HTTP header name, not %q", h.v)
		}
	}
	if strings.EqualFold(c.CorrelationHeader, c.RequestIDHeader) {
		bad("REQUEST_ID_HEADER", "must differ from the correlation header")
	}
	if c.RequestTimeout < 100*time.Millisecond || c.RequestTimeout > 4900*time.Millisecond {
		bad("REQUEST_TIMEOUT", "must be between 100ms and 4.9s (the caller gives up after 5s), not %s", c.RequestTimeout)
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 64<<20 {
		bad("MAX_BODY_BYTES", "must be between 1024 and 67108864, not %d", c.MaxBodyBytes)
	}
	if c.GCHeapFloor != 0 && (c.GCHeapFloor < 4<<20 || c.GCHeapFloor > 1<<30) {
		bad("GC_HEAP_FLOOR", "must be 0 (off) or between 4194304 and 1073741824 bytes, not %d", c.GCHeapFloor)
	}
	if c.MaxImageBodyBytes < c.MaxBodyBytes || c.MaxImageBodyBytes > 64<<20 {
		bad("MAX_IMAGE_BODY_BYTES", "must be between %sMAX_BODY_BYTES and 67108864, not %d", Prefix, c.MaxImageBodyBytes)
	}
	if c.ShutdownTimeout < time.Second || c.ShutdownTimeout > 10*time.Minute {
		bad("SHUTDOWN_TIMEOUT", "must be between 1s and 10m, not %s", c.ShutdownTimeout)
	} else if c.ShutdownTimeout < c.RequestTimeout {
		// Shorter, SIGTERM would cut requests still within their deadline.
		bad("SHUTDOWN_TIMEOUT", "must be at least %sREQUEST_TIMEOUT (%s), not %s", Prefix, c.RequestTimeout, c.ShutdownTimeout)
	}
	if c.ShutdownDelay < 0 || c.ShutdownDelay > time.Minute {
		bad("SHUTDOWN_DELAY", "must be between 0s and 1m, not %s", c.ShutdownDelay)
	}
	if c.MaxInFlightBodyBytes != 0 && (c.MaxInFlightBodyBytes < 1<<20 || c.MaxInFlightBodyBytes > 64<<30) {
		bad("MAX_IN_FLIGHT_BODY_BYTES", "must be 0 (half the memory limit) or between 1048576 and 68719476736, not %d", c.MaxInFlightBodyBytes)
	}
	if c.MaxInFlight < 1 || c.MaxInFlight > 100000 {
		bad("MAX_IN_FLIGHT", "must be between 1 and 100000, not %d", c.MaxInFlight)
	}
	if c.DBMaxConns < 1 || c.DBMaxConns > 1000 {
		bad("DB_MAX_CONNS", "must be between 1 and 1000, not %d", c.DBMaxConns)
	}
	if c.DBMinConns < 0 || c.DBMinConns > c.DBMaxConns {
		bad("DB_MIN_CONNS", "must be between 0 and %sDB_MAX_CONNS, not %d", Prefix, c.DBMinConns)
	}
	if c.DBMaxConnLifetime < time.Minute || c.DBMaxConnLifetime > 24*time.Hour {
		bad("DB_MAX_CONN_LIFETIME", "must be between 1m and 24h, not %s", c.DBMaxConnLifetime)
	}
	if c.DBConnectTimeout < 100*time.Millisecond || c.DBConnectTimeout > 30*time.Second {
		bad("DB_CONNECT_TIMEOUT", "must be between 100ms and 30s, not %s", c.DBConnectTimeout)
	}
	if c.DBBatchWindow < 0 || c.DBBatchWindow > 50*time.Millisecond {
		bad("DB_BATCH_WINDOW", "must be between 0 (off) and 50ms, not %s", c.DBBatchWindow)
	}
	if c.AdminLoginFailures < 0 || c.AdminLoginFailures > 1000 {
		bad("ADMIN_LOGIN_FAILURES", "must be between 0 (no throttle) and 1000, not %d", c.AdminLoginFailures)
	}
	if c.AdminLoginRefill < 100*time.Millisecond || c.AdminLoginRefill > time.Hour {
		bad("ADMIN_LOGIN_REFILL", "must be between 100ms and 1h, not %s", c.AdminLoginRefill)
	}
	if c.DBBatchLanes < 0 || c.DBBatchLanes > 16 {
		bad("DB_BATCH_LANES", "must be between 0 (wait out the window) and 16, not %d", c.DBBatchLanes)
	}
	if c.RedisCacheTTL < time.Second || c.RedisCacheTTL > 24*time.Hour {
		bad("REDIS_CACHE_TTL", "must be between 1s and 24h, not %s", c.RedisCacheTTL)
	}
	if c.RedisLanes < 1 || c.RedisLanes > 64 {
		bad("REDIS_LANES", "must be between 1 and 64, not %d", c.RedisLanes)
	}
	if err := checkRedisKeyPrefix(c.RedisKeyPrefix); err != nil {
		bad("REDIS_KEY_PREFIX", "%v", err)
	}
	if c.ConsentL1TTL < 0 || c.ConsentL1TTL > time.Hour {
		bad("CONSENT_L1_TTL", "must be between 0 (off) and 1h, not %s", c.ConsentL1TTL)
	}
	if c.ConsentL1Entries < 1 || c.ConsentL1Entries > 1<<20 {
		bad("CONSENT_L1_ENTRIES", "must be between 1 and 1048576, not %d", c.ConsentL1Entries)
	}
	if c.MemoryMaxRecords < 0 || c.MemoryMaxRecords > 10_000_000 {
		bad("MEMORY_MAX_RECORDS", "must be between 0 (unbounded) and 10000000, not %d", c.MemoryMaxRecords)
	}
	if c.MigrateAtStart && c.DatabaseURL == "" {
		bad("MIGRATE_AT_START", "needs %sDATABASE_URL", Prefix)
	}
	if (c.AdminUsername == "") != (c.AdminPassword == "") {
		bad("ADMIN_PASSWORD", "the review UI's username and password must be set together")
	}
	if c.AdminPassword != "" && len(c.AdminPassword) < 12 {
		bad("ADMIN_PASSWORD", "must be at least 12 characters")
	}
	if c.AdminUsername != "" && (strings.EqualFold(c.AdminUsername, c.BasicAuthUsername) || strings.EqualFold(c.AdminUsername, c.BasicAuthNextUser)) {
		bad("ADMIN_USERNAME", "must differ from %[1]sBASIC_AUTH_USERNAME and %[1]sBASIC_AUTH_NEXT_USERNAME: reviewers never use the API's credentials", Prefix)
	}
	if c.AdminPassword != "" && (c.AdminPassword == c.BasicAuthPassword || c.AdminPassword == c.BasicAuthNextPass) {
		bad("ADMIN_PASSWORD", "must differ from the API's passwords: reviewers never use the API's credentials")
	}
	if c.Pprof && c.AdminUsername == "" && c.AdminUsers == "" {
		bad("PPROF_ENABLED", "needs %[1]sADMIN_USERNAME and %[1]sADMIN_PASSWORD (or %[1]sADMIN_USERS): profiles are never served without credentials", Prefix)
	}
	if c.ReviewRetention != 0 && (c.ReviewRetention < time.Hour || c.ReviewRetention > 10*365*24*time.Hour) {
		bad("REVIEW_RETENTION", "must be between 1h and 87600h (empty: the policy's review.retention), not %s", c.ReviewRetention)
	}
	if c.OTPHashKey != "" && len(c.OTPHashKey) < 32 {
		bad("OTP_HASH_KEY", "must be at least 32 characters")
	}
	return errors.Join(errs...)
}

// maxRedisKeyPrefixLen bounds ONBOARDING_REDIS_KEY_PREFIX: the prefix is
// sent with every key of every command, and a name, not a payload.
const maxRedisKeyPrefixLen = 64

// checkRedisKeyPrefix accepts 1 to maxRedisKeyPrefixLen letters, digits and
// ". _ - :", ending with ':'. The narrow set is what keeps deployments
// apart: no glob metacharacter (* ? [ ] \), so SCAN <prefix>* (how the load
// harness and the tests delete a deployment's keys) matches that prefix
// literally; no braces, so the adapters' hash tags ({type|language}) stay
// the first in the key and Redis Cluster slots stay per text, not one for
// the whole deployment; no space, quote or control character, so the
// prefix survives shells, YAML and redis-cli unquoted. The final ':'
// separates the prefix from the adapters' own names, and keeps one
// prefix's pattern off another's keys ("prod*" matches "prod2...",
// "prod:*" does not; a prefix that begins with another, "prod:eu:", still
// falls under it, which the documentation warns about).
func checkRedisKeyPrefix(p string) error {
	if p == "" {
		return errors.New("must not be empty")
	}
	if len(p) > maxRedisKeyPrefixLen {
		return fmt.Errorf("must be at most %d characters, not %d", maxRedisKeyPrefixLen, len(p))
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' || r == ':') {
			return fmt.Errorf("may hold only letters, digits and . _ - : (no glob or hash-tag characters), not %q", p)
		}
	}
	if !strings.HasSuffix(p, ":") {
		return fmt.Errorf("must end with ':' (for example %q), not %q", p+":", p)
	}
	return nil
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// SlogLevel parses LogLevel.
func (c Config) SlogLevel() (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(c.LogLevel))
	return l, err
}

// LogValue lists the configuration for the start-up log line; secrets are
// masked by their type, and URLs lose their credentials.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("http_addr", c.HTTPAddr),
		slog.String("admin_addr", c.AdminAddr),
		slog.String("base_path", c.BasePath),
		slog.Bool("basic_auth", c.BasicAuthUsername != ""),
		slog.Bool("basic_auth_rotation", c.BasicAuthNextUser != ""),
		slog.String("database", redactURL(c.DatabaseURL)),
		slog.String("redis", redactURL(c.RedisURL)),
		slog.String("sms_provider", c.SMSProvider),
		slog.String("policy_file", c.PolicyFile),
		slog.String("log_level", c.LogLevel),
		slog.Duration("request_timeout", c.RequestTimeout),
		slog.Int64("max_body_bytes", c.MaxBodyBytes),
		slog.Int64("max_image_body_bytes", c.MaxImageBodyBytes),
		slog.Int64("gc_heap_floor", c.GCHeapFloor),
		slog.Int("max_in_flight", c.MaxInFlight),
		slog.Int64("max_in_flight_body_bytes", c.MaxInFlightBodyBytes),
		slog.Duration("shutdown_delay", c.ShutdownDelay),
		slog.Bool("otp_hash_key_set", c.OTPHashKey != ""),
		slog.Bool("demo_data", c.DemoData),
		slog.Int("memory_max_records", c.MemoryMaxRecords),
		slog.Bool("migrate_at_start", c.MigrateAtStart),
		slog.Bool("review_ui", c.AdminUsername != "" || c.AdminUsers != ""),
		slog.Int("admin_login_failures", c.AdminLoginFailures),
		slog.Duration("admin_login_refill", c.AdminLoginRefill),
		slog.Bool("pprof", c.Pprof),
		slog.Int("db_max_conns", int(c.DBMaxConns)),
		slog.Duration("db_batch_window", c.DBBatchWindow),
		slog.Int("db_batch_lanes", c.DBBatchLanes),
		slog.Duration("redis_cache_ttl", c.RedisCacheTTL),
		slog.Int("redis_lanes", c.RedisLanes),
		slog.String("redis_key_prefix", c.RedisKeyPrefix),
		slog.Duration("consent_l1_ttl", c.ConsentL1TTL),
	}
	return slog.GroupValue(attrs...)
}

// redactURL keeps scheme, hosts and path of a connection URL and drops the
// user info and query (which may hold a password).
func redactURL(s Secret) string {
	if s == "" {
		return "memory"
	}
	u, err := url.Parse(s.Value())
	if err != nil {
		return "***"
	}
	u.User = nil
	q := u.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		if !strings.Contains(strings.ToLower(k), "pass") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	u.RawQuery = ""
	out := u.String()
	if len(keys) > 0 {
		out += " params=" + strings.Join(keys, ",")
	}
	return out
}
