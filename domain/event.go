package domain

import "time"

// ProcessEvent is a notification from older Onboarding Servers about a
// process (type FINISHED and friends). It is recorded for audit and fraud
// analysis and never fails the caller.
type ProcessEvent struct {
	Type                   string
	ProcessID              string
	ProcessType            string
	UserID                 string
	IdentityVerificationID string
	Data                   map[string]any // free-form, with secret-looking keys removed
	RequestID              string
	CorrelationID          string
	ReceivedAt             time.Time
}
