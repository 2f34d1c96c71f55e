package sms

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The providers ONBOARDING_SMS_PROVIDER selects.
const (
	ProviderLog    = "log"
	ProviderTwilio = "twilio"
	ProviderHTTP   = "http"
)

// The environment variables of the SMS gateways. The adapter never reads
// them (only cmd reads the environment); they are named here so that every
// Validate message, the README and cmd agree on one spelling. Secrets are
// also accepted as <NAME>_FILE, resolved by cmd.
const (
	EnvProvider = "ONBOARDING_SMS_PROVIDER"

	EnvTwilioBaseURL             = "ONBOARDING_TWILIO_BASE_URL"
	EnvTwilioAccountSID          = "ONBOARDING_TWILIO_ACCOUNT_SID"
	EnvTwilioAuthToken           = "ONBOARDING_TWILIO_AUTH_TOKEN"
	EnvTwilioFrom                = "ONBOARDING_TWILIO_FROM"
	EnvTwilioMessagingServiceSID = "ONBOARDING_TWILIO_MESSAGING_SERVICE_SID"
	EnvTwilioUseSenderID         = "ONBOARDING_TWILIO_USE_SENDER_ID"
	EnvTwilioValidityPeriod      = "ONBOARDING_TWILIO_VALIDITY_PERIOD"

	EnvHTTPURL            = "ONBOARDING_SMS_HTTP_URL"
	EnvHTTPMethod         = "ONBOARDING_SMS_HTTP_METHOD"
	EnvHTTPHeaders        = "ONBOARDING_SMS_HTTP_HEADERS"
	EnvHTTPAuth           = "ONBOARDING_SMS_HTTP_AUTH"
	EnvHTTPUsername       = "ONBOARDING_SMS_HTTP_USERNAME"
	EnvHTTPPassword       = "ONBOARDING_SMS_HTTP_PASSWORD"
	EnvHTTPToken          = "ONBOARDING_SMS_HTTP_TOKEN"
	EnvHTTPBodyTemplate   = "ONBOARDING_SMS_HTTP_BODY_TEMPLATE"
	EnvHTTPSuccessStatus  = "ONBOARDING_SMS_HTTP_SUCCESS_STATUSES"
	EnvHTTPSuccessField   = "ONBOARDING_SMS_HTTP_SUCCESS_FIELD"
	EnvHTTPSuccessValue   = "ONBOARDING_SMS_HTTP_SUCCESS_VALUE"
	EnvHTTPMessageIDField = "ONBOARDING_SMS_HTTP_MESSAGE_ID_FIELD"

	EnvAttemptTimeout  = "ONBOARDING_SMS_ATTEMPT_TIMEOUT"
	EnvMaxAttempts     = "ONBOARDING_SMS_MAX_ATTEMPTS"
	EnvMaxConcurrency  = "ONBOARDING_SMS_MAX_CONCURRENCY"
	EnvBreakerFailures = "ONBOARDING_SMS_BREAKER_FAILURES"
	EnvBreakerOpen     = "ONBOARDING_SMS_BREAKER_OPEN"
)

// Defaults of the configuration.
const (
	DefaultTwilioBaseURL   = "https://api.twilio.com"
	DefaultHTTPMethod      = "POST"
	DefaultSuccessStatuses = "200-299"
	DefaultAttemptTimeout  = 2500 * time.Millisecond
	DefaultMaxAttempts     = 3
	DefaultMaxConcurrency  = 32
	DefaultBreakerFailures = 5
	DefaultBreakerOpen     = 30 * time.Second
	DefaultBackoffBase     = 100 * time.Millisecond
	DefaultBackoffMax      = time.Second
	DefaultMaxRetryAfter   = 2 * time.Second
	DefaultMinAttemptTime  = 250 * time.Millisecond

	// DefaultBodyTemplate is the webhook body when none is configured: a
	// flat JSON object every field of which is escaped by the json helper.
	DefaultBodyTemplate = `{"to":{{json .To}},"text":{{json .Text}},"senderId":{{json .SenderID}},"reference":{{json .Reference}}}`
)

// HTTP authentication modes of the webhook sender (ONBOARDING_SMS_HTTP_AUTH).
const (
	AuthNone   = "none"
	AuthBasic  = "basic"
	AuthBearer = "bearer"
)

// EnvVar documents one configuration variable, for the README and for
// cmd's startup log of the effective configuration.
type EnvVar struct {
	Name        string
	Default     string // "" when there is none
	Secret      bool   // also accepted as Name+"_FILE"; never logged
	Description string
}

// EnvVars lists every variable of the SMS gateways with its default. It
// returns a fresh slice on each call, so nobody can change the list for
// everyone else.
func EnvVars() []EnvVar {
	return []EnvVar{
		{EnvProvider, ProviderLog, false, "gateway: log (development, sends nothing), twilio or http"},
		{EnvTwilioBaseURL, DefaultTwilioBaseURL, false, "Twilio API base URL; point it at a Twilio-compatible gateway if needed"},
		{EnvTwilioAccountSID, "", false, "Twilio account SID (AC...); also the Basic auth user"},
		{EnvTwilioAuthToken, "", true, "Twilio auth token (Basic auth password)"},
		{EnvTwilioFrom, "", false, "sender: a Twilio number in E.164 or an alphanumeric sender id; this or the messaging service SID is required"},
		{EnvTwilioMessagingServiceSID, "", false, "Twilio messaging service (MG...) that picks the sender"},
		{EnvTwilioUseSenderID, "false", false, "send the policy's per-language sender id as From instead of ONBOARDING_TWILIO_FROM"},
		{EnvTwilioValidityPeriod, "", false, "drop the SMS if not delivered within this period (Twilio ValidityPeriod, 1s..10h); empty: Twilio's default"},
		{EnvHTTPURL, "", false, "webhook URL (http or https, no credentials in it)"},
		{EnvHTTPMethod, DefaultHTTPMethod, false, "POST or PUT"},
		{EnvHTTPHeaders, "", false, `static headers, "Name=value,Name2=value2"; values are never logged`},
		{EnvHTTPAuth, AuthNone, false, "none, basic or bearer"},
		{EnvHTTPUsername, "", false, "Basic auth user"},
		{EnvHTTPPassword, "", true, "Basic auth password"},
		{EnvHTTPToken, "", true, "bearer token"},
		{EnvHTTPBodyTemplate, DefaultBodyTemplate, false, "Go text/template of the JSON body over .To .Text .SenderID .Reference .Encoding .Segments; embed strings with {{json .X}}"},
		{EnvHTTPSuccessStatus, DefaultSuccessStatuses, false, `HTTP statuses meaning accepted, e.g. "200-299" or "200,202"`},
		{EnvHTTPSuccessField, "", false, "optional dot path of a JSON field that must equal the success value, e.g. messages.0.status"},
		{EnvHTTPSuccessValue, "", false, "the value the success field must have, e.g. 0"},
		{EnvHTTPMessageIDField, "", false, "optional dot path of the gateway's message id, e.g. messages.0.message-id"},
		{EnvAttemptTimeout, DefaultAttemptTimeout.String(), false, "time limit of one request to the gateway"},
		{EnvMaxAttempts, strconv.Itoa(DefaultMaxAttempts), false, "attempts per SMS, counting the first; retries happen only when the gateway provably did not take the message"},
		{EnvMaxConcurrency, strconv.Itoa(DefaultMaxConcurrency), false, "SMS sends in flight per replica; beyond that a send waits until its deadline"},
		{EnvBreakerFailures, strconv.Itoa(DefaultBreakerFailures), false, "consecutive failed requests that open the circuit breaker"},
		{EnvBreakerOpen, DefaultBreakerOpen.String(), false, "how long the open breaker fails sends at once before it lets one probe through"},
	}
}

// Config selects and configures the sender; NewSender builds it. Only the
// chosen provider's section is read and validated.
type Config struct {
	Provider   string // log (default), twilio or http
	Twilio     TwilioConfig
	HTTP       HTTPConfig
	Resilience ResilienceConfig
}

// Validate reports every problem of the chosen provider's configuration at
// once, each naming its environment variable.
func (c Config) Validate() error {
	switch strings.ToLower(strings.TrimSpace(c.Provider)) {
	case "", ProviderLog:
		return nil
	case ProviderTwilio:
		return errors.Join(c.Twilio.Validate(), c.Resilience.Validate())
	case ProviderHTTP:
		return errors.Join(c.HTTP.Validate(), c.Resilience.Validate())
	default:
		return fmt.Errorf("%s: unknown provider %q (want log, twilio or http)", EnvProvider, c.Provider)
	}
}

// TwilioConfig configures the Twilio sender. AccountSID and AuthToken, and
// From or MessagingServiceSID, are required.
type TwilioConfig struct {
	// BaseURL is the API root, without the /2010-04-01 part; empty means
	// DefaultTwilioBaseURL.
	BaseURL    string
	AccountSID string
	AuthToken  string // secret
	// From is the sender: a number in E.164 or an alphanumeric sender id.
	From string
	// MessagingServiceSID lets Twilio pick the sender from a pool; sent
	// together with From when both are set.
	MessagingServiceSID string
	// UseSenderID sends the policy's per-language SMS.SenderID as From
	// when the message carries one, falling back to From otherwise. Off by
	// default: an alphanumeric sender must be registered with Twilio for
	// the destination country, else every message is refused.
	UseSenderID bool
	// ValidityPeriod, when not zero, asks Twilio to drop a message not
	// delivered within it: an OTP that arrives after it expired is noise.
	ValidityPeriod time.Duration
}

// Validate reports every problem at once, each naming its variable.
func (c TwilioConfig) Validate() error {
	var errs []error
	if c.BaseURL != "" {
		if err := checkURL(c.BaseURL, false); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvTwilioBaseURL, err))
		}
	}
	switch {
	case c.AccountSID == "":
		errs = append(errs, fmt.Errorf("%s: required", EnvTwilioAccountSID))
	case !isSIDLike(c.AccountSID):
		errs = append(errs, fmt.Errorf("%s: must be letters and digits only (AC followed by 32 hex digits)", EnvTwilioAccountSID))
	}
	if c.AuthToken == "" {
		errs = append(errs, fmt.Errorf("%s (or %s_FILE): required", EnvTwilioAuthToken, EnvTwilioAuthToken))
	} else if strings.ContainsAny(c.AuthToken, "\r\n") {
		errs = append(errs, fmt.Errorf("%s: must be one line", EnvTwilioAuthToken))
	}
	if c.From == "" && c.MessagingServiceSID == "" {
		errs = append(errs, fmt.Errorf("%s or %s: one is required", EnvTwilioFrom, EnvTwilioMessagingServiceSID))
	}
	if c.MessagingServiceSID != "" && !isSIDLike(c.MessagingServiceSID) {
		errs = append(errs, fmt.Errorf("%s: must be letters and digits only (MG followed by 32 hex digits)", EnvTwilioMessagingServiceSID))
	}
	if strings.ContainsAny(c.From, "\r\n") {
		errs = append(errs, fmt.Errorf("%s: must be one line", EnvTwilioFrom))
	}
	if c.ValidityPeriod != 0 && (c.ValidityPeriod < time.Second || c.ValidityPeriod > 10*time.Hour) {
		errs = append(errs, fmt.Errorf("%s: %s is outside 1s..10h", EnvTwilioValidityPeriod, c.ValidityPeriod))
	}
	return errors.Join(errs...)
}

// LogValue shows the configuration without the auth token.
func (c TwilioConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("base_url", orDefault(c.BaseURL, DefaultTwilioBaseURL)),
		slog.String("account_sid", c.AccountSID),
		slog.String("auth_token", redact(c.AuthToken)),
		slog.String("from", c.From),
		slog.String("messaging_service_sid", c.MessagingServiceSID),
		slog.Bool("use_sender_id", c.UseSenderID),
		slog.Duration("validity_period", c.ValidityPeriod),
	)
}

// String is LogValue for fmt, so a stray %v cannot print the token.
func (c TwilioConfig) String() string { return c.LogValue().String() }

// HTTPConfig configures the generic JSON webhook sender for in-house
// gateways. Only URL is required.
type HTTPConfig struct {
	URL     string
	Method  string            // POST (default) or PUT
	Headers map[string]string // static headers; values may be secrets
	// AuthMode is none (default), basic (Username, Password) or bearer
	// (BearerToken).
	AuthMode    string
	Username    string
	Password    string // secret
	BearerToken string // secret
	// BodyTemplate is a Go text/template rendering the JSON body from
	// TemplateData; empty means DefaultBodyTemplate. Strings must be
	// embedded with {{json .X}}, which quotes and escapes them.
	BodyTemplate string
	// SuccessStatuses lists the statuses meaning "accepted" as ranges
	// and single codes, e.g. "200-299" (the default) or "200,202".
	SuccessStatuses string
	// SuccessField, when set, is the dot path of a JSON answer field
	// (object keys and array indexes, e.g. messages.0.status) that must
	// equal SuccessValue, for gateways answering 200 on failure.
	SuccessField string
	SuccessValue string
	// MessageIDField is the optional dot path of the gateway's id of
	// the message, e.g. messages.0.message-id.
	MessageIDField string
}

// Validate reports every problem at once, each naming its variable. It
// also renders the body template over sample data and checks that the
// result is JSON carrying the recipient and the text, so a broken
// template fails at start and not on the first OTP.
func (c HTTPConfig) Validate() error {
	_, err := c.compile()
	return err
}

// LogValue shows the configuration without secrets: the URL without
// query or credentials, header names without values, the auth mode
// without its credentials.
func (c HTTPConfig) LogValue() slog.Value {
	names := make([]string, 0, len(c.Headers))
	for k := range c.Headers {
		names = append(names, k)
	}
	slices.Sort(names)
	return slog.GroupValue(
		slog.String("url", safeURL(c.URL)),
		slog.String("method", orDefault(strings.ToUpper(c.Method), DefaultHTTPMethod)),
		slog.String("headers", strings.Join(names, ",")),
		slog.String("auth", orDefault(strings.ToLower(c.AuthMode), AuthNone)),
		slog.String("username", c.Username),
		slog.String("password", redact(c.Password)),
		slog.String("token", redact(c.BearerToken)),
		slog.Bool("custom_body_template", c.BodyTemplate != ""),
		slog.String("success_statuses", orDefault(c.SuccessStatuses, DefaultSuccessStatuses)),
		slog.String("success_field", c.SuccessField),
		slog.String("success_value", c.SuccessValue),
		slog.String("message_id_field", c.MessageIDField),
	)
}

// String is LogValue for fmt, so a stray %v cannot print a secret.
func (c HTTPConfig) String() string { return c.LogValue().String() }

// ResilienceConfig bounds what one SMS may cost and how the sender reacts
// to a failing gateway. Zero fields take the defaults.
type ResilienceConfig struct {
	// AttemptTimeout bounds one request to the gateway.
	AttemptTimeout time.Duration
	// MaxAttempts counts the first attempt; retries happen only where the
	// gateway provably did not take the message.
	MaxAttempts int
	// MaxConcurrency bounds the sends in flight; a send finding no slot
	// waits until its context ends, then fails transiently.
	MaxConcurrency int
	// BreakerFailures consecutive failed requests open the breaker.
	BreakerFailures uint32
	// BreakerOpen is how long the open breaker fails sends at once.
	BreakerOpen time.Duration
	// BackoffBase and BackoffMax shape the exponential backoff (with full
	// jitter) between attempts.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// MaxRetryAfter is the longest Retry-After the sender honours; a
	// gateway asking for more is not retried within this send.
	MaxRetryAfter time.Duration
	// MinAttemptTime is the least time that must remain before the
	// context's deadline, after the backoff, for a retry to be tried.
	MinAttemptTime time.Duration
}

// withDefaults fills zero fields.
func (c ResilienceConfig) withDefaults() ResilienceConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.AttemptTimeout, DefaultAttemptTimeout)
	def(&c.BreakerOpen, DefaultBreakerOpen)
	def(&c.BackoffBase, DefaultBackoffBase)
	def(&c.BackoffMax, DefaultBackoffMax)
	def(&c.MaxRetryAfter, DefaultMaxRetryAfter)
	def(&c.MinAttemptTime, min(DefaultMinAttemptTime, c.AttemptTimeout))
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.MaxConcurrency == 0 {
		c.MaxConcurrency = DefaultMaxConcurrency
	}
	if c.BreakerFailures == 0 {
		c.BreakerFailures = DefaultBreakerFailures
	}
	return c
}

// Validate reports every out-of-range value at once, each naming its
// variable. Zero values are valid: they mean the default.
func (c ResilienceConfig) Validate() error {
	var errs []error
	if c.AttemptTimeout < 0 || c.AttemptTimeout > time.Minute {
		errs = append(errs, fmt.Errorf("%s: %s is outside 0..1m", EnvAttemptTimeout, c.AttemptTimeout))
	}
	if c.MaxAttempts < 0 || c.MaxAttempts > 10 {
		errs = append(errs, fmt.Errorf("%s: %d is outside 1..10", EnvMaxAttempts, c.MaxAttempts))
	}
	if c.MaxConcurrency < 0 || c.MaxConcurrency > 10000 {
		errs = append(errs, fmt.Errorf("%s: %d is outside 1..10000", EnvMaxConcurrency, c.MaxConcurrency))
	}
	if c.BreakerFailures > 1000 {
		errs = append(errs, fmt.Errorf("%s: %d is outside 1..1000", EnvBreakerFailures, c.BreakerFailures))
	}
	if c.BreakerOpen < 0 || c.BreakerOpen > time.Hour {
		errs = append(errs, fmt.Errorf("%s: %s is outside 0..1h", EnvBreakerOpen, c.BreakerOpen))
	}
	if c.BackoffBase < 0 || c.BackoffMax < 0 || c.MaxRetryAfter < 0 || c.MinAttemptTime < 0 {
		errs = append(errs, errors.New("sms resilience: backoff, retry-after and attempt budgets must not be negative"))
	}
	return errors.Join(errs...)
}

// ParseHeaders reads ONBOARDING_SMS_HTTP_HEADERS ("Name=value,Name2=value2";
// a value may contain '=' but not ','). The error names the variable and
// the header, never a value.
func ParseHeaders(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for i, part := range strings.Split(s, ",") {
		name, value, ok := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("%s: entry %d is not Name=value", EnvHTTPHeaders, i+1)
		}
		if !isToken(name) {
			// The name is not printed: a comma inside a header's value
			// (this variable is a secret) makes a "name" of its tail.
			return nil, fmt.Errorf("%s: entry %d: the header name is not a valid HTTP token", EnvHTTPHeaders, i+1)
		}
		out[name] = strings.TrimSpace(value)
	}
	return out, nil
}

// checkURL accepts an absolute http(s) URL without credentials or
// fragment, and without a query unless allowQuery: credentials belong in
// the auth settings, where they are redacted, not in a URL that ends up
// in logs and traces.
func checkURL(raw string, allowQuery bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("must start with https:// (or http:// for a gateway inside the cluster)")
	case u.Host == "":
		return errors.New("has no host")
	case u.User != nil:
		return errors.New("must not contain credentials; use the auth settings")
	case u.Fragment != "":
		return errors.New("must not contain a fragment")
	case u.RawQuery != "" && !allowQuery:
		return errors.New("must not contain a query")
	}
	return nil
}

// isSIDLike reports whether s is safe to put in a URL path as-is.
func isSIDLike(s string) bool {
	if len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// isToken reports whether s is an RFC 9110 token (a valid header name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r >= 0x7f || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

// redact shows whether a secret is set, never any of it.
func redact(s string) string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// safeURL keeps scheme, host and path: a query may hold an API key.
func safeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "[unparsable]"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// orDefault returns s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
