package domain

import "log/slog"

// OTPType is the purpose of a one-time code; each has its own SMS template.
type OTPType string

// The OTP types the Onboarding Server sends.
const (
	OTPActivation       OTPType = "ACTIVATION"
	OTPUserVerification OTPType = "USER_VERIFICATION"
)

// Valid reports whether t is a known OTP type.
func (t OTPType) Valid() bool { return t == OTPActivation || t == OTPUserVerification }

// OTPOutcome classifies one /otp/send request. Only OTPSent answers
// otpSent:true; a deduplicated request repeats the first request's outcome.
type OTPOutcome string

// The OTP outcomes, used in metrics and logs (never with the code).
const (
	OTPSent            OTPOutcome = "sent"
	OTPFailedPermanent OTPOutcome = "failed_permanent"
	OTPFailedTransient OTPOutcome = "failed_transient"
	OTPThrottled       OTPOutcome = "throttled"
	OTPPending         OTPOutcome = "pending" // a first send is still in flight
)

// Delivered reports whether the outcome means the SMS went out.
func (o OTPOutcome) Delivered() bool { return o == OTPSent }

// OTPBound names the throttle that refused a send, so operators can tell
// a number being flooded over many processes (the SMS-pumping pattern)
// from one process asking too often. It is reported in metrics and spans
// only: the answer and the dedupe store carry OTPThrottled alone.
type OTPBound string

// The OTP throttles.
const (
	OTPBoundPhone   OTPBound = "phone"   // sends to one number, over all processes and users
	OTPBoundProcess OTPBound = "process" // sends within one onboarding process
)

// SMS is one message handed to a gateway. Text contains the code: adapters
// must never log it; Reference is a non-secret id for the gateway's records.
type SMS struct {
	To        string // E.164
	Text      string
	SenderID  string
	Reference string
	Encoding  SMSEncoding
	Segments  int
}

// LogValue hides the text and masks the recipient.
func (s SMS) LogValue() slog.Value {
	return slog.GroupValue(slog.String("to", MaskPhone(s.To)), slog.String("ref", s.Reference),
		slog.String("encoding", string(s.Encoding)), slog.Int("segments", s.Segments))
}

// SendResult is what a gateway reports for one SMS.
type SendResult struct {
	Outcome   OTPOutcome // OTPSent, OTPFailedPermanent or OTPFailedTransient
	MessageID string
	Detail    string // gateway status or error text, without the message
	// NotSubmitted is true when the gateway provably did not take the
	// message: it was never requested (breaker open, no concurrency slot,
	// refused before any request) or every request was refused unprocessed
	// for the gateway being down (no connection, 503). No SMS can arrive
	// and none is charged, so the send does not count against the user's
	// throttle. A failure after the request went out (a timeout, a 500) is
	// ambiguous and stays false, and so does a 429: the gateway asks for
	// fewer requests, which the throttle helps give it.
	NotSubmitted bool
}
