package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
)

var _ Gateway = (*TwilioGateway)(nil)

// TwilioGateway makes one Twilio Messages API request per Attempt: a
// form-encoded POST to {BaseURL}/2010-04-01/Accounts/{AccountSid}/Messages.json
// with Basic auth. Use NewTwilioSender for the resilient sender.
type TwilioGateway struct {
	endpoint    string
	accountSID  string
	authToken   string
	from        string
	serviceSID  string
	useSenderID bool
	validity    int // seconds, 0 = not sent
	client      *http.Client
}

// NewTwilioSender returns the resilient Twilio sender
// (ONBOARDING_SMS_PROVIDER=twilio).
func NewTwilioSender(cfg TwilioConfig, opts Options) (*Resilient, error) {
	gw, err := NewTwilioGateway(cfg, gatewayClient(opts.Client, opts.Resilience.withDefaults().MaxConcurrency))
	if err != nil {
		return nil, err
	}
	return NewResilient(gw, opts)
}

// NewTwilioGateway validates cfg and returns the single-attempt gateway.
// client must not follow redirects (see gatewayClient); nil means a
// dedicated client.
func NewTwilioGateway(cfg TwilioConfig, client *http.Client) (*TwilioGateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if client == nil {
		client = gatewayClient(nil, DefaultMaxConcurrency)
	}
	base := strings.TrimRight(orDefault(cfg.BaseURL, DefaultTwilioBaseURL), "/")
	return &TwilioGateway{
		endpoint:    base + "/2010-04-01/Accounts/" + url.PathEscape(cfg.AccountSID) + "/Messages.json",
		accountSID:  cfg.AccountSID,
		authToken:   cfg.AuthToken,
		from:        cfg.From,
		serviceSID:  cfg.MessagingServiceSID,
		useSenderID: cfg.UseSenderID,
		validity:    int(cfg.ValidityPeriod.Seconds()),
		client:      client,
	}, nil
}

// Name returns "twilio".
func (g *TwilioGateway) Name() string { return ProviderTwilio }

// Attempt posts the message once and classifies Twilio's answer.
func (g *TwilioGateway) Attempt(ctx context.Context, sms domain.SMS) Attempt {
	form := url.Values{}
	form.Set("To", sms.To)
	form.Set("Body", sms.Text)
	from := g.from
	if g.useSenderID && sms.SenderID != "" {
		from = sms.SenderID
	}
	if from != "" {
		form.Set("From", from)
	}
	if g.serviceSID != "" {
		form.Set("MessagingServiceSid", g.serviceSID)
	}
	if g.validity > 0 {
		form.Set("ValidityPeriod", strconv.Itoa(g.validity))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return configFailure("twilio: cannot build the request")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.SetBasicAuth(g.accountSID, g.authToken)

	ans, failed := roundTrip(g.client, req)
	if failed != nil {
		return *failed
	}
	if ans.status == http.StatusCreated || ans.status == http.StatusOK {
		return twilioAccepted(ans)
	}
	return twilioFailure(ans)
}

// twilioMessage is the part of Twilio's Message resource read here.
type twilioMessage struct {
	SID       string          `json:"sid"`
	Status    string          `json:"status"`
	ErrorCode json.RawMessage `json:"error_code"`
}

// twilioAccepted reads a 200/201 answer: a message resource with a sid
// and a status. A status that means "on its way" is sent; failed,
// undelivered or canceled is a refusal; anything unreadable is ambiguous
// (the message may exist) and so neither sent nor resent.
func twilioAccepted(ans answer) Attempt {
	var m twilioMessage
	if ans.truncated || json.Unmarshal(ans.body, &m) != nil {
		return badAnswer(ans.status, "twilio answered success with a body that is not a message resource")
	}
	if m.SID == "" || !isSIDLike(m.SID) {
		return badAnswer(ans.status, "twilio answered success without a valid message sid")
	}
	switch m.Status {
	case "queued", "accepted", "sending", "sent", "delivered", "scheduled":
		return Attempt{Outcome: domain.OTPSent, Reason: ReasonAccepted, MessageID: m.SID, Status: ans.status,
			Detail: "twilio status " + m.Status}
	case "failed", "undelivered", "canceled":
		detail := "twilio created the message with status " + m.Status
		if code := rawCode(m.ErrorCode); code != "" {
			detail += " (error " + code + ")"
		}
		return Attempt{Outcome: domain.OTPFailedPermanent, Reason: ReasonRejected, MessageID: m.SID, Status: ans.status,
			Detail: detail, Err: fmt.Errorf("twilio: %s", detail)}
	default:
		return badAnswer(ans.status, "twilio answered an unknown message status "+strconv.Quote(scrub(truncate(m.Status, 32))))
	}
}

// twilioError is Twilio's error body.
type twilioError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  int    `json:"status"`
}

// twilioConfigCode describes the Twilio errors that fail every message
// until an operator fixes the account or the sender settings; they count
// against the gateway (breaker, alerts) rather than against a number.
func twilioConfigCode(code int) (string, bool) {
	switch code {
	case 20003:
		return "authentication failed", true
	case 20404:
		return "account or resource not found", true
	case 21212, 21659:
		return "the From number is invalid or not a Twilio number", true
	case 21603:
		return "From or MessagingServiceSid is required", true
	case 21606:
		return "the From number cannot send this message", true
	case 21701, 21702, 21703, 21704, 21705:
		return "the messaging service is invalid or has no sender", true
	case 21611:
		return "the From number has too many messages queued", true
	}
	return "", false
}

// twilioNumberCode describes the errors that mean "this recipient cannot
// get this SMS" with a fixed text: Twilio's own text echoes the number.
func twilioNumberCode(code int) (string, bool) {
	switch code {
	case 21211, 21217:
		return "invalid To number", true
	case 21214, 21612:
		return "the To number cannot be reached from this sender", true
	case 21408:
		return "sending to the To number's region is not enabled", true
	case 21610:
		return "the recipient has unsubscribed (STOP)", true
	case 21614, 21635:
		return "the To number is not a mobile number or cannot receive SMS", true
	case 21617:
		return "the message body is too long", true
	}
	return "", false
}

// twilioFailure classifies a non-success answer by status and Twilio code.
// Twilio's message is kept only after scrubbing, since it can echo the
// recipient's number.
func twilioFailure(ans answer) Attempt {
	a := statusFailure(ans, ProviderTwilio)
	var e twilioError
	if !ans.truncated && json.Unmarshal(bytes.TrimSpace(ans.body), &e) == nil && e.Code != 0 {
		desc, known := twilioNumberCode(e.Code)
		if cfgDesc, isConfig := twilioConfigCode(e.Code); isConfig {
			desc, known = cfgDesc, true
			a.Outcome, a.Reason = domain.OTPFailedTransient, ReasonConfig
		}
		if e.Code == 20429 {
			a.Outcome, a.Reason, a.RetryAfter = domain.OTPFailedTransient, ReasonThrottled, retryAfter(ans.header, time.Now())
			desc, known = "throttled by gateway", true
		}
		if !known {
			desc = scrub(truncate(e.Message, 160))
		}
		base := a.Detail
		a.Detail = fmt.Sprintf("twilio error %d: %s", e.Code, desc)
		if a.Reason != ReasonRejected && a.Reason != ReasonThrottled {
			a.Detail += "; " + base
		}
		a.Err = fmt.Errorf("twilio: HTTP %d, error %d", ans.status, e.Code)
	}
	return a
}

// badAnswer is a success status whose body cannot be trusted: the message
// may exist, so the attempt is transient and, being ambiguous, not resent.
func badAnswer(status int, detail string) Attempt {
	return Attempt{Outcome: domain.OTPFailedTransient, Reason: ReasonBadResponse, Status: status,
		Detail: detail + "; the message may have been taken, so it is not resent",
		Err:    fmt.Errorf("%s (HTTP %d)", detail, status)}
}

// configFailure is an attempt that could not even be built.
func configFailure(detail string) Attempt {
	return Attempt{Outcome: domain.OTPFailedTransient, Reason: ReasonConfig, Detail: detail,
		Err: fmt.Errorf("%s", detail)}
}

// rawCode renders a JSON error code (number, string or null) for a detail.
func rawCode(raw json.RawMessage) string {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	if s == "" || s == "null" {
		return ""
	}
	if _, err := strconv.Atoi(s); err != nil {
		return "?"
	}
	return s
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
