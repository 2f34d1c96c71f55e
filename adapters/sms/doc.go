// Package sms holds the SMS gateway adapters of ports.SMSSender: the
// development LogSender, which only logs, and the real gateways, Twilio
// (TwilioGateway) and a generic JSON webhook for in-house gateways
// (HTTPGateway), each wrapped in Resilient. NewSender builds the one
// ONBOARDING_SMS_PROVIDER names. Every adapter treats the message text as
// secret (it carries the OTP code): it never logs, traces or returns it in
// an error, and it logs the recipient only masked (+420****56).
//
// # Sending at most once
//
// A gateway is a single-attempt Gateway; Resilient decides about retries,
// once, for all of them. It retries, with exponential backoff and jitter
// inside the caller's deadline, only where the gateway provably did not
// take the message:
//
//   - the connection could not be opened (refused, DNS), so nothing was
//     written;
//   - 429 (Twilio code 20429), honouring Retry-After when it is at most
//     MaxRetryAfter and fits the deadline;
//   - 503, which gateways answer before they take a message.
//
// It never resends after an ambiguous failure: a timeout or a broken
// connection once the request was written, 500, 502, 504, or a success
// status with an unreadable answer. The gateway may have processed the
// message, and a second OTP SMS is worse than a failed send: the caller
// answers otpSent:false and the user presses "resend", which brings a new
// code; a duplicate would put two codes on the phone, one already invalid.
// Permanent refusals (invalid number, other 4xx, a failure field in a 200)
// are not retried either.
//
// A circuit breaker per gateway (sony/gobreaker) opens after
// BreakerFailures consecutive failed requests and then answers
// failed_transient at once, without a request, for BreakerOpen; one probe
// then decides whether it closes. A semaphore bounds the sends in flight;
// a send finding it full waits until its deadline, then fails transiently.
//
// # Configuration
//
// cmd reads the environment (adapters never do) and fills Config; EnvVars
// lists the same table for the README. Secrets are also accepted as
// <NAME>_FILE.
//
//	Variable                                 Default                 Meaning
//	ONBOARDING_SMS_PROVIDER                  log                     log, twilio or http
//	ONBOARDING_TWILIO_BASE_URL               https://api.twilio.com  API root (a Twilio-compatible gateway)
//	ONBOARDING_TWILIO_ACCOUNT_SID            -                       account SID, the Basic auth user
//	ONBOARDING_TWILIO_AUTH_TOKEN (+_FILE)    -                       auth token, secret
//	ONBOARDING_TWILIO_FROM                   -                       sender number or alphanumeric id
//	ONBOARDING_TWILIO_MESSAGING_SERVICE_SID  -                       messaging service (From or this is required)
//	ONBOARDING_TWILIO_USE_SENDER_ID          false                   send the policy's per-language sender id as From
//	ONBOARDING_TWILIO_VALIDITY_PERIOD        -                       drop the SMS if undelivered after this (1s..10h)
//	ONBOARDING_SMS_HTTP_URL                  -                       webhook URL
//	ONBOARDING_SMS_HTTP_METHOD               POST                    POST or PUT
//	ONBOARDING_SMS_HTTP_HEADERS              -                       "X-Api-Key=abc,X-Tenant=bank" (ParseHeaders)
//	ONBOARDING_SMS_HTTP_AUTH                 none                    none, basic or bearer
//	ONBOARDING_SMS_HTTP_USERNAME             -                       Basic auth user
//	ONBOARDING_SMS_HTTP_PASSWORD (+_FILE)    -                       Basic auth password, secret
//	ONBOARDING_SMS_HTTP_TOKEN (+_FILE)       -                       bearer token, secret
//	ONBOARDING_SMS_HTTP_BODY_TEMPLATE        DefaultBodyTemplate     text/template of the JSON body
//	ONBOARDING_SMS_HTTP_SUCCESS_STATUSES     200-299                 statuses meaning accepted
//	ONBOARDING_SMS_HTTP_SUCCESS_FIELD        -                       dot path that must equal the success value
//	ONBOARDING_SMS_HTTP_SUCCESS_VALUE        -                       e.g. 0 for Vonage's messages.0.status
//	ONBOARDING_SMS_HTTP_MESSAGE_ID_FIELD     -                       dot path of the gateway's message id
//	ONBOARDING_SMS_ATTEMPT_TIMEOUT           2.5s                    one request's time limit
//	ONBOARDING_SMS_MAX_ATTEMPTS              3                       attempts per SMS, the first included
//	ONBOARDING_SMS_MAX_CONCURRENCY           32                      sends in flight per replica
//	ONBOARDING_SMS_BREAKER_FAILURES          5                       consecutive failures that open the breaker
//	ONBOARDING_SMS_BREAKER_OPEN              30s                     how long the breaker stays open
//
// The webhook's body template sees TemplateData (.To, .Text, .SenderID,
// .Reference, .Encoding, .Segments) and the helpers json, which renders a
// value as JSON (strings quoted and escaped, so the text cannot break out
// of its field), and trimPrefix. It is proved at start on a sample with
// quotes, a backslash, a new line and non-ASCII text: the result must be
// JSON holding the recipient and the text.
//
// # Outcomes
//
// SendSMS answers domain.OTPSent, OTPFailedPermanent or OTPFailedTransient
// with a Reason (a metric label) and, for failures, a *SendError whose
// text is safe to log. Throttling and deduplication of OTP requests are
// decided before the sender, by the domain's OTP guard; a gateway that
// still answers 429 when the budget ends is failed_transient with the
// detail "throttled by gateway".
package sms
