package domain

// RequestMeta carries the caller's correlation and request ids into stored
// records and logs. The Onboarding Server sends fresh random ids on every
// call, so they are for tracing only, never for idempotency.
type RequestMeta struct {
	CorrelationID string
	RequestID     string
}
