// Package otp delivers the one-time codes the Onboarding Server generates
// (/otp/send). It finds the user's phone in the registry, deduplicates a
// re-sent (processId, code) so a retry after a caller timeout sends no
// second SMS, throttles sends per phone number and per process, renders
// the template for the code's type and language, and hands the message to
// the SMS gateway.
//
// The code is a secret: it appears only in the SMS text handed to the
// gateway, never in an error, a returned value or a stored key (the dedupe
// key is a keyed hash of it).
package otp

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/policy"
	"github.com/bankkit/onboarding-adapter/ports"
)

// MinKeyLen is the shortest HMAC key New accepts. The code space is small
// (8 digits by default), so the key is what keeps a leaked dedupe key from
// revealing the code; cmd should check configuration against it and name
// the variable, since New panics on a shorter key.
const MinKeyLen = 16

// pollInterval is how often a deduplicated request looks again for the
// outcome of the first send that is still in flight.
const pollInterval = 20 * time.Millisecond

// finishTimeout bounds recording the outcome after a send. The caller's
// deadline may have passed by then, but the outcome must still be recorded
// or every retry would wait for a send that already happened.
const finishTimeout = 2 * time.Second

type service struct {
	clients  ports.ClientFinder
	dedupe   ports.OTPDedupe
	throttle ports.OTPThrottle
	sender   ports.SMSSender
	key      []byte
	policy   policy.OTP
	// macs recycles the HMAC of the dedupe keys (see dedupeKey).
	macs sync.Pool
}

// New returns the OTP service. key is the HMAC key of the dedupe keys; it
// must be the same on every replica sharing the dedupe store and at least
// MinKeyLen bytes long (New panics otherwise: it is a wiring error that
// configuration validation must catch first).
func New(clients ports.ClientFinder, dedupe ports.OTPDedupe, throttle ports.OTPThrottle, sender ports.SMSSender, key []byte, p policy.OTP) ports.OTPService {
	if len(key) < MinKeyLen {
		panic(fmt.Sprintf("otp.New: HMAC key must be at least %d bytes", MinKeyLen))
	}
	s := &service{clients: clients, dedupe: dedupe, throttle: throttle, sender: sender,
		key: append([]byte(nil), key...), policy: p}
	s.macs.New = func() any { return &macState{h: hmac.New(sha256.New, s.key)} }
	return s
}

// SendOTP delivers r.Code once per (processId, code) within the dedupe
// window. Delivery failures and throttling are answered Sent false, not as
// errors; errors are for bad input, an unknown user and stores that cannot
// answer.
func (s *service) SendOTP(ctx context.Context, r ports.OTPRequest) (ports.OTPResult, error) {
	if err := s.validate(r); err != nil {
		return ports.OTPResult{}, err
	}
	phone, err := s.phone(ctx, r.UserID)
	if err != nil {
		return ports.OTPResult{}, err
	}
	key := s.dedupeKey(r.ProcessID, r.Code)
	claimed, prior, err := s.dedupe.BeginOTP(ctx, key, s.policy.DedupeWindow)
	if err != nil {
		return ports.OTPResult{}, fmt.Errorf("otp: begin dedupe: %w", err)
	}
	if !claimed {
		res, claimedLater, err := s.awaitPrior(ctx, key, prior)
		if err != nil || !claimedLater {
			return res, err
		}
	}
	// The reference lets the gateway's records be matched with ours; a
	// prefix of the keyed hash is stable per (process, code) and reveals
	// nothing about the code.
	return s.send(ctx, r, phone, key, key[:16])
}

func (s *service) validate(r ports.OTPRequest) error {
	switch {
	case strings.TrimSpace(r.ProcessID) == "":
		return domain.Invalid("processId", "is required")
	case strings.TrimSpace(r.UserID) == "":
		return domain.Invalid("userId", "is required")
	case !validCode(r.Code, s.policy.CodeMaxLength):
		// Never echo the code, not even a wrong one: it may be a real one
		// with a stray character.
		return domain.Invalid("otpCode", "must be 1 to %d letters or digits", s.policy.CodeMaxLength)
	case !r.Type.Valid():
		return domain.Invalid("otpType", "must be ACTIVATION or USER_VERIFICATION")
	}
	return nil
}

func validCode(code string, maxLen int) bool {
	if code == "" || len(code) > maxLen {
		return false
	}
	for i := 0; i < len(code); i++ {
		c := code[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// phone returns the user's number in E.164.
func (s *service) phone(ctx context.Context, userID string) (string, error) {
	c, err := s.clients.ClientByUserID(ctx, userID)
	switch {
	case domain.IsNotFound(err):
		return "", domain.NotFound("userId", "user not found")
	case err != nil:
		return "", fmt.Errorf("otp: read client: %w", err)
	}
	if strings.TrimSpace(c.Phone) == "" {
		return "", domain.Invalid("userId", "client has no phone number")
	}
	p, ok := domain.NormalizePhone(c.Phone)
	if !ok {
		return "", domain.Invalid("userId", "client has no usable phone number")
	}
	return p, nil
}

// macState is one HMAC with its scratch space. A fresh hmac.New per send
// cost two SHA-256 states, two 64-byte pads and a hash of the inner pad;
// a reset HMAC starts again from its saved inner state.
type macState struct {
	h   hash.Hash
	in  []byte
	sum [sha256.Size]byte
}

// dedupeKey is the hex of the keyed hash of (processId, code): the dedupe
// key reveals neither, and the NUL separator keeps ("ab", "1") and ("a",
// "b1") apart. The HMAC is reset and the scratch input wiped before the
// state goes back to the pool, so no code stays in it.
func (s *service) dedupeKey(processID, code string) string {
	return s.mac(processID, code)
}

// mac is the hex HMAC of a, NUL, b with the service's key, from a recycled
// HMAC whose state and scratch input are wiped before it goes back.
func (s *service) mac(a, b string) string {
	m := s.macs.Get().(*macState) // reset when put back
	m.in = append(append(append(m.in[:0], a...), 0), b...)
	m.h.Write(m.in)
	key := hex.EncodeToString(m.h.Sum(m.sum[:0]))
	// The HMAC's inner state still holds the input's last block until a
	// reset, and the scratch input all of it.
	m.h.Reset()
	clear(m.in)
	clear(m.sum[:])
	s.macs.Put(m)
	return key
}

// awaitPrior answers a re-sent code with the first send's outcome, waiting
// while that send is in flight. If the caller gives up first, the answer is
// "not sent (pending)" rather than an error: the first request will tell.
// It reports claimed when the first claim expired without an outcome (its
// sender died): this request then owns the key and must send itself.
func (s *service) awaitPrior(ctx context.Context, key string, prior domain.OTPOutcome) (ports.OTPResult, bool, error) {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for prior == domain.OTPPending {
		select {
		case <-ctx.Done():
			return ports.OTPResult{Sent: false, Outcome: domain.OTPPending, Deduped: true}, false, nil
		case <-t.C:
		}
		claimed, p, err := s.dedupe.BeginOTP(ctx, key, s.policy.DedupeWindow)
		if err != nil {
			if ctx.Err() != nil {
				// The caller gave up during the poll: as above.
				return ports.OTPResult{Sent: false, Outcome: domain.OTPPending, Deduped: true}, false, nil
			}
			return ports.OTPResult{}, false, fmt.Errorf("otp: poll dedupe: %w", err)
		}
		if claimed {
			return ports.OTPResult{}, true, nil
		}
		prior = p
	}
	return ports.OTPResult{Sent: prior.Delivered(), Outcome: prior, Deduped: true}, false, nil
}

// send runs the claimed path: throttle, render, hand to the gateway, and
// record the outcome whatever happens, so no retry waits forever. A send
// the gateway provably did not take is refunded to the throttle; if its
// caller was gone by then (callerGone: it disconnected, and will retry the
// same code), the claim is released instead of finished, so that retry
// sends the code rather than repeat a failure nobody was told of.
func (s *service) send(ctx context.Context, r ports.OTPRequest, phone, key, ref string) (ports.OTPResult, error) {
	outcome := domain.OTPFailedTransient
	abandoned := false // the caller was gone before the gateway took the SMS
	defer func() { s.finish(ctx, key, outcome, abandoned) }()

	// The send's id in the throttle's log: fresh per send, as a code
	// re-sent after the dedupe window is a send of its own.
	sendID := strconv.FormatUint(rand.Uint64(), 36)
	// The phone's bound first: a flood of fresh process ids for one number
	// is then refused without a throttle entry per process.
	var phoneKey string
	if s.policy.PhoneThrottleLimit > 0 {
		phoneKey = s.phoneThrottleKey(phone)
		ok, err := s.throttle.AllowOTP(ctx, phoneKey, sendID, s.policy.PhoneThrottleLimit, s.policy.PhoneThrottleWindow)
		if err != nil {
			if callerGone(ctx) {
				// The store may have counted the send before the caller left.
				abandoned = true
				s.refundKey(ctx, phoneKey, sendID)
			}
			return ports.OTPResult{}, fmt.Errorf("otp: phone throttle: %w", err)
		}
		if !ok {
			outcome = domain.OTPThrottled
			return ports.OTPResult{Sent: false, Outcome: outcome, ThrottledBy: domain.OTPBoundPhone}, nil
		}
	}
	ok, err := s.throttle.AllowOTP(ctx, r.ProcessID, sendID, s.policy.ThrottleLimit, s.policy.ThrottleWindow)
	gone := err != nil && callerGone(ctx) // before the refund, which may outlast the deadline
	if err != nil || !ok {
		// No SMS goes out: the phone's count gives the send back.
		s.refundKey(ctx, phoneKey, sendID)
	}
	if err != nil {
		if gone {
			// The store may have counted the send before the caller left.
			abandoned = true
			s.refundKey(ctx, r.ProcessID, sendID)
		}
		return ports.OTPResult{}, fmt.Errorf("otp: throttle: %w", err)
	}
	if !ok {
		outcome = domain.OTPThrottled
		return ports.OTPResult{Sent: false, Outcome: outcome, ThrottledBy: domain.OTPBoundProcess}, nil
	}
	lang := normalizeLanguage(r.Language, s.policy.DefaultLanguage)
	tmpl, lang, found := s.policy.Template(r.Type, lang)
	if !found {
		outcome = domain.OTPFailedPermanent
		return ports.OTPResult{}, domain.Internal(nil, "no OTP template for type %s", r.Type)
	}
	text := strings.Replace(tmpl, policy.CodePlaceholder, r.Code, 1)
	enc, segments := domain.MeasureSMS(text)
	res, _ := s.sender.SendSMS(ctx, domain.SMS{
		To: phone, Text: text, SenderID: s.policy.SenderID(lang),
		Reference: ref, Encoding: enc, Segments: segments,
	})
	if res.NotSubmitted && res.Outcome != domain.OTPSent {
		abandoned = callerGone(ctx) // before the refund, which may outlast the deadline
		s.refundKey(ctx, r.ProcessID, sendID)
		s.refundKey(ctx, phoneKey, sendID)
	}
	// The gateway's error explains a failure for its own logs; here only
	// the classified outcome matters. Anything unclassified is transient.
	switch res.Outcome {
	case domain.OTPSent, domain.OTPFailedPermanent, domain.OTPFailedTransient:
		outcome = res.Outcome
	default:
		outcome = domain.OTPFailedTransient
	}
	return ports.OTPResult{Sent: outcome.Delivered(), Outcome: outcome}, nil
}

// callerGone reports whether the caller left (disconnected, or its own
// shorter timeout ended the request): it will retry the same code, having
// had no answer. The service's own request deadline is not that: the
// caller is then answered otpSent false, and a retry of the code is
// answered the same, as for any send.
func callerGone(ctx context.Context) bool { return errors.Is(ctx.Err(), context.Canceled) }

// finish records the outcome on a context the caller's deadline does not
// cancel, or, for a send abandoned before the gateway took it, releases the
// claim when the store can (else records the outcome). A failure to record
// is not the caller's problem (the SMS went out or not either way); the
// claim then expires after the dedupe window.
func (s *service) finish(ctx context.Context, key string, outcome domain.OTPOutcome, abandoned bool) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	if abandoned {
		if released, err := s.dedupe.ReleaseOTP(fctx, key); err == nil && released {
			return
		}
	}
	_ = s.dedupe.FinishOTP(fctx, key, outcome, s.policy.DedupeWindow)
}

// refundKey takes a send off one throttle key ("" for none), on a context
// the caller's deadline does not cancel (see finish). A refund that fails
// leaves the send counted: the user may be throttled sooner, never allowed
// more sends than the limit.
func (s *service) refundKey(ctx context.Context, key, sendID string) {
	if key == "" {
		return
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	_ = s.throttle.RefundOTP(fctx, key, sendID)
}

// phoneThrottleKey is the throttle's key of the sends to a phone number over
// all processes and users: the keyed hash of the number, so neither store
// holds a number anyone could find again by hashing every number, with a
// NUL first, which no process id holds (the transport refuses NUL).
func (s *service) phoneThrottleKey(phone string) string {
	return "\x00phone\x00" + s.mac("phone", phone)
}

// normalizeLanguage reduces "cs-CZ" or " CS " to "cs", and "" to def: the
// app sends what the device has, templates are keyed by ISO 639-1.
func normalizeLanguage(lang, def string) string {
	lang = strings.ToLower(strings.TrimSpace(lang))
	if i := strings.IndexAny(lang, "-_"); i >= 0 {
		lang = lang[:i]
	}
	if lang == "" {
		return def
	}
	return lang
}
