package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

var _ ports.SMSSender = (*Resilient)(nil)

// Reason is the bounded-cardinality cause of an attempt's or a send's
// outcome, for logs and metric labels. It never carries message data.
type Reason string

// The reasons. Only ReasonThrottled, ReasonUnavailable and ReasonConnect
// are retried: they are the failures where the gateway provably did not
// take the message.
const (
	ReasonAccepted    Reason = "accepted"     // the gateway took the message: sent
	ReasonRejected    Reason = "rejected"     // the gateway refused this message (invalid number, 4xx, failure field): permanent
	ReasonInvalid     Reason = "invalid"      // refused before any request (no recipient, no text): permanent
	ReasonThrottled   Reason = "throttled"    // 429: not processed; retried after Retry-After if it fits
	ReasonUnavailable Reason = "unavailable"  // 503, 408, 425: not processed; retried
	ReasonConnect     Reason = "connect"      // no connection, so nothing was sent; retried
	ReasonTimeout     Reason = "timeout"      // no answer in time after the request went out: ambiguous, never resent
	ReasonNetwork     Reason = "network"      // connection broke after the request went out: ambiguous, never resent
	ReasonServerError Reason = "server_error" // 500, 502, 504, 409...: may have been processed, never resent
	ReasonBadResponse Reason = "bad_response" // an answer that cannot be read: ambiguous, never resent
	ReasonConfig      Reason = "config"       // credentials, URL or template wrong: every send fails until fixed
	ReasonBreakerOpen Reason = "breaker_open" // the circuit breaker refused the attempt; no request
	ReasonOverloaded  Reason = "overloaded"   // no concurrency slot before the deadline; no request
	ReasonCancelled   Reason = "cancelled"    // the caller's context ended first
)

// retryable reports the reasons where the gateway provably did not take
// the message, so a second request cannot produce a second SMS.
func (r Reason) retryable() bool {
	return r == ReasonThrottled || r == ReasonUnavailable || r == ReasonConnect
}

// Attempt is the result of one request to a gateway. Every string in it is
// safe to log: no message text, no full phone number, no secret.
type Attempt struct {
	Outcome    domain.OTPOutcome // OTPSent, OTPFailedPermanent or OTPFailedTransient
	Reason     Reason
	MessageID  string        // the gateway's id, when sent
	Status     int           // the HTTP status, 0 when there was none
	RetryAfter time.Duration // the gateway's Retry-After, 0 when absent
	Detail     string        // a short explanation, scrubbed of message data
	Err        error         // the underlying error, scrubbed the same way; nil when sent
}

// Gateway makes exactly one delivery attempt. It never retries and never
// logs: the Resilient wrapper around it decides about retries and logs
// once per send, so the rules for what may be resent live in one place.
type Gateway interface {
	// Name labels the gateway in logs, metrics and the breaker.
	Name() string
	// Attempt sends sms once within ctx and classifies the result.
	Attempt(ctx context.Context, sms domain.SMS) Attempt
}

// SendReport describes one finished send for metrics. It has no message
// data and no phone number, only bounded labels and numbers.
type SendReport struct {
	Gateway  string
	Outcome  domain.OTPOutcome
	Reason   Reason
	Status   int // the last HTTP status, 0 when none
	Attempts int // requests that reached the gateway or were tried
	Duration time.Duration
	Encoding domain.SMSEncoding
	Segments int
}

// Options are the dependencies and tuning shared by the senders. The zero
// value is usable: default resilience, a fresh HTTP client, slog.Default().
type Options struct {
	// Resilience is used by NewResilient, NewTwilioSender and
	// NewHTTPSender; NewSender takes Config.Resilience instead.
	Resilience ResilienceConfig
	// Client sends the gateway requests; nil means a dedicated client.
	// Wrap its transport (otelhttp) for traces. Redirects are never
	// followed whatever the client says: a redirected POST would be a
	// second send.
	Client *http.Client
	Logger *slog.Logger
	// OnStateChange is called on every breaker transition, after the
	// sender has logged it. It runs under the breaker's lock: keep it
	// quick (set a gauge, count) and do not send from it.
	OnStateChange func(gateway string, from, to gobreaker.State)
	// OnSend is called once per finished send, for metrics.
	OnSend func(SendReport)
}

// Resilient is the ports.SMSSender every real gateway is wrapped in. Per
// send it takes a concurrency slot, then makes attempts through a circuit
// breaker, each bounded by the attempt timeout, and retries with
// exponential backoff and jitter only where the gateway provably did not
// take the message: it could not be reached, it answered 429 (honouring a
// Retry-After that fits) or 503. After an ambiguous failure (a timeout or
// broken connection once the request was written, a 500, 502 or 504) it
// never resends: the gateway may have processed the message, and a second
// OTP SMS (two codes on the phone, the first one already invalid) is worse
// than a failed send the user can repeat with "resend". Permanent errors
// (invalid number, other 4xx) are not retried either.
type Resilient struct {
	gw     Gateway
	cfg    ResilienceConfig
	cb     *gobreaker.CircuitBreaker[struct{}]
	sem    chan struct{}
	logger *slog.Logger
	onSend func(SendReport)
}

// errGatewayFailed, errCallerGone and errNoVerdict are what the breaker
// counts: a failure of the gateway, or nothing (the caller gave up first;
// the gateway throttled).
var (
	errGatewayFailed = errors.New("sms: gateway failed")
	errCallerGone    = errors.New("sms: caller gone")
	errNoVerdict     = errors.New("sms: throttled, no verdict on the gateway's health")
)

// NewResilient wraps gw. The error names the variable of an invalid
// resilience setting.
func NewResilient(gw Gateway, opts Options) (*Resilient, error) {
	if gw == nil {
		return nil, errors.New("sms: no gateway")
	}
	if err := opts.Resilience.Validate(); err != nil {
		return nil, err
	}
	cfg := opts.Resilience.withDefaults()
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With(slog.String("gateway", gw.Name()))
	hook := opts.OnStateChange
	threshold := cfg.BreakerFailures
	r := &Resilient{
		gw:     gw,
		cfg:    cfg,
		sem:    make(chan struct{}, cfg.MaxConcurrency),
		logger: logger,
		onSend: opts.OnSend,
	}
	r.cb = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        gw.Name(),
		MaxRequests: 1,
		Timeout:     cfg.BreakerOpen,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= threshold },
		IsExcluded:  func(err error) bool { return errors.Is(err, errCallerGone) || errors.Is(err, errNoVerdict) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			level := slog.LevelWarn
			if to == gobreaker.StateClosed {
				level = slog.LevelInfo
			}
			logger.LogAttrs(context.Background(), level, "sms gateway circuit breaker changed state",
				slog.String("from", from.String()), slog.String("to", to.String()))
			if hook != nil {
				hook(name, from, to)
			}
		},
	})
	return r, nil
}

// Name returns the wrapped gateway's name.
func (r *Resilient) Name() string { return r.gw.Name() }

// State returns the breaker's state, for a gauge.
func (r *Resilient) State() gobreaker.State { return r.cb.State() }

// SendSMS delivers sms at most once as far as the gateway's answers allow
// to know (see Resilient). The result is OTPSent, OTPFailedPermanent or
// OTPFailedTransient; the error, for every outcome but sent, is a
// *SendError whose text holds no message data, no full number and no
// secret.
func (r *Resilient) SendSMS(ctx context.Context, sms domain.SMS) (domain.SendResult, error) {
	start := time.Now()
	if _, ok := ctx.Deadline(); !ok {
		// Every send needs an end; without the caller's, the worst case
		// of the configured attempts is it.
		var cancel context.CancelFunc
		budget := time.Duration(r.cfg.MaxAttempts)*r.cfg.AttemptTimeout + time.Duration(r.cfg.MaxAttempts-1)*r.cfg.BackoffMax
		ctx, cancel = context.WithTimeout(ctx, budget)
		defer cancel()
	}
	last, attempts := r.send(ctx, sms)
	return r.finish(ctx, sms, last, attempts, time.Since(start))
}

// send runs the attempts and returns the last one and how many were made.
func (r *Resilient) send(ctx context.Context, sms domain.SMS) (Attempt, int) {
	if a, ok := checkMessage(sms); !ok {
		return a, 0
	}
	if ctx.Err() != nil {
		return Attempt{Outcome: domain.OTPFailedTransient, Reason: ReasonCancelled,
			Detail: "cancelled before sending", Err: ctx.Err()}, 0
	}
	if r.cb.State() == gobreaker.StateOpen {
		// Answer at once even when every slot is held by slow sends.
		return breakerRefused(gobreaker.ErrOpenState), 0
	}
	select {
	case r.sem <- struct{}{}:
	default:
		select {
		case r.sem <- struct{}{}:
		case <-ctx.Done():
			return Attempt{Outcome: domain.OTPFailedTransient, Reason: ReasonOverloaded,
				Detail: "too many SMS sends in flight; no slot before the deadline", Err: ctx.Err()}, 0
		}
	}
	defer func() { <-r.sem }()

	var last Attempt
	for n := 1; ; n++ {
		last = r.try(ctx, sms)
		if last.Outcome == domain.OTPSent || !last.Reason.retryable() || n >= r.cfg.MaxAttempts {
			return last, n
		}
		delay, why := r.retryDelay(ctx, n, last)
		if why != "" {
			last.Detail += "; not retried: " + why
			return last, n
		}
		r.logger.LogAttrs(ctx, slog.LevelInfo, "sms gateway did not take the message, retrying",
			slog.String("to", domain.MaskPhone(sms.To)), slog.String("reference", sms.Reference),
			slog.Int("attempt", n), slog.String("reason", string(last.Reason)),
			slog.Int("status", last.Status), slog.Duration("delay", delay))
		if !sleep(ctx, delay) {
			last.Detail += "; not retried: deadline reached during backoff"
			return last, n
		}
	}
}

// try makes one attempt through the breaker, bounded by the attempt
// timeout.
func (r *Resilient) try(ctx context.Context, sms domain.SMS) Attempt {
	var a Attempt
	ran := false
	_, err := r.cb.Execute(func() (struct{}, error) {
		ran = true
		actx, cancel := context.WithTimeout(ctx, r.cfg.AttemptTimeout)
		defer cancel()
		a = r.gw.Attempt(actx, sms)
		return struct{}{}, breakerVerdict(ctx, &a)
	})
	if !ran {
		return breakerRefused(err)
	}
	return a
}

// breakerRefused is the attempt the breaker did not let through.
func breakerRefused(err error) Attempt {
	detail := "circuit breaker open: the gateway failed repeatedly; not called"
	if errors.Is(err, gobreaker.ErrTooManyRequests) {
		detail = "circuit breaker half-open and its probe is in flight; not called"
	}
	return Attempt{Outcome: domain.OTPFailedTransient, Reason: ReasonBreakerOpen, Detail: detail, Err: err}
}

// breakerVerdict tells the breaker what the attempt says about the
// gateway: an answer about the message (sent, refused) is a healthy
// gateway; a throttling answer (429 and the like: the gateway is up and
// asks for less, which backoff and Retry-After give it) is no verdict
// either way (counted as failures, a burst of them opened the breaker and
// refused every send for its open period; counted as successes, they
// would hide 5xx answers among them and close a half-open breaker); a
// failure while the caller was still waiting is a failure; a failure after
// the caller gave up says nothing, and is relabelled so that logs and
// metrics do not blame the gateway.
func breakerVerdict(parent context.Context, a *Attempt) error {
	switch a.Reason {
	case ReasonAccepted, ReasonRejected, ReasonInvalid:
		return nil
	case ReasonThrottled:
		return errNoVerdict // neither a failure nor a success: it must not close a half-open breaker either
	}
	if parent.Err() != nil && (a.Reason == ReasonTimeout || a.Reason == ReasonNetwork || a.Reason == ReasonConnect) {
		a.Reason = ReasonCancelled
		a.Detail = "caller's deadline or cancellation: " + a.Detail
		return errCallerGone
	}
	return errGatewayFailed
}

// retryDelay returns how long to wait before attempt n+1, or why there is
// no attempt n+1: a Retry-After longer than the cap, or a deadline that
// leaves no room for a useful attempt after the wait.
func (r *Resilient) retryDelay(ctx context.Context, n int, last Attempt) (time.Duration, string) {
	ceiling := min(r.cfg.BackoffBase<<(n-1), r.cfg.BackoffMax)
	delay := ceiling/2 + rand.N(ceiling/2+1) // jitter in [ceiling/2, ceiling]
	if last.RetryAfter > 0 {
		if last.RetryAfter > r.cfg.MaxRetryAfter {
			return 0, fmt.Sprintf("Retry-After %s exceeds the %s cap", last.RetryAfter, r.cfg.MaxRetryAfter)
		}
		delay = max(delay, last.RetryAfter)
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline)-delay < r.cfg.MinAttemptTime {
		return 0, "the deadline leaves no time for another attempt"
	}
	return delay, ""
}

// finish turns the last attempt into the port's result, logs the send
// once and reports it.
func (r *Resilient) finish(ctx context.Context, sms domain.SMS, a Attempt, attempts int, took time.Duration) (domain.SendResult, error) {
	if a.Reason == ReasonThrottled && a.Outcome != domain.OTPSent {
		a.Detail = "throttled by gateway"
	}
	attrs := []slog.Attr{
		slog.String("to", domain.MaskPhone(sms.To)),
		slog.String("reference", sms.Reference),
		slog.String("outcome", string(a.Outcome)),
		slog.String("reason", string(a.Reason)),
		slog.Int("status", a.Status),
		slog.Int("attempts", attempts),
		slog.Duration("duration", took),
		slog.String("encoding", string(sms.Encoding)),
		slog.Int("segments", sms.Segments),
	}
	var err error
	switch {
	case a.Outcome == domain.OTPSent:
		attrs = append(attrs, slog.String("message_id", a.MessageID))
		r.logger.LogAttrs(ctx, slog.LevelInfo, "sms sent", attrs...)
	default:
		err = &SendError{Gateway: r.gw.Name(), Reason: a.Reason, Status: a.Status, Detail: a.Detail, Err: a.Err}
		level := slog.LevelWarn
		if a.Reason == ReasonConfig {
			level = slog.LevelError
		}
		attrs = append(attrs, slog.String("detail", a.Detail))
		if a.Err != nil {
			attrs = append(attrs, slog.String("error", a.Err.Error()))
		}
		r.logger.LogAttrs(ctx, level, "sms not sent", attrs...)
	}
	if r.onSend != nil {
		r.onSend(SendReport{Gateway: r.gw.Name(), Outcome: a.Outcome, Reason: a.Reason, Status: a.Status,
			Attempts: attempts, Duration: took, Encoding: sms.Encoding, Segments: sms.Segments})
	}
	return domain.SendResult{Outcome: a.Outcome, MessageID: a.MessageID, Detail: a.Detail,
		NotSubmitted: a.Outcome != domain.OTPSent && notSubmitted(a, attempts)}, err
}

// notSubmitted reports whether the gateway provably did not take the
// message: no request was made (refused before sending, breaker open, no
// slot, the caller gone first), or the last attempt was refused unprocessed
// (no connection, 503) or not let through by the breaker. Attempts before
// the last were all refused unprocessed too, or the send would not have
// tried again. A 429 is not: the gateway is up and asks for fewer
// requests, and the OTP throttle, which a NotSubmitted send is refunded
// to, is then what keeps each user's resends from adding to them (429s do
// not open the breaker).
func notSubmitted(last Attempt, attempts int) bool {
	switch {
	case attempts == 0:
		return true
	case last.Reason == ReasonThrottled:
		return false
	}
	return last.Reason.retryable() || last.Reason == ReasonBreakerOpen
}

// checkMessage refuses, before any request, a message no gateway could
// deliver.
func checkMessage(sms domain.SMS) (Attempt, bool) {
	invalid := func(detail string) (Attempt, bool) {
		return Attempt{Outcome: domain.OTPFailedPermanent, Reason: ReasonInvalid, Detail: detail,
			Err: errors.New(detail)}, false
	}
	switch {
	case sms.To == "":
		return invalid("message has no recipient")
	case sms.Text == "":
		return invalid("message has no text")
	}
	if n, ok := domain.NormalizePhone(sms.To); !ok || n != sms.To {
		return invalid("recipient is not an E.164 number")
	}
	return Attempt{}, true
}

// sleep waits d or until ctx ends, reporting whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// SendError explains a send that did not end in OTPSent. Its text names
// the gateway, the reason and the HTTP status and never contains the
// message text, the full recipient or a credential.
type SendError struct {
	Gateway string
	Reason  Reason
	Status  int
	Detail  string
	Err     error
}

// Error returns the safe explanation.
func (e *SendError) Error() string {
	s := "sms " + e.Gateway + ": " + string(e.Reason)
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap exposes the underlying error (context deadline, dial error) for
// errors.Is.
func (e *SendError) Unwrap() error { return e.Err }
