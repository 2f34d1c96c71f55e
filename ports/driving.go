package ports

import (
	"context"

	"github.com/bankkit/onboarding-adapter/domain"
)

// LookupRequest is /user/lookup. Identification holds the scalar values of
// the caller's free-form map, as strings.
type LookupRequest struct {
	ProcessID      string
	ProcessType    string
	Identification map[string]string
	Meta           domain.RequestMeta
}

// Consent values of the lookup answer.
const (
	ConsentRequired     = "REQUIRED"
	ConsentNotRequired  = "NOT_REQUIRED"
	ConsentNotEvaluated = "NOT_EVALUATED"
)

// LookupResult is the answer of /user/lookup.
type LookupResult struct {
	UserID  string
	Consent string // ConsentRequired, ConsentNotRequired or ConsentNotEvaluated
}

// LookupService identifies a prospect.
type LookupService interface {
	// Lookup errors: CodeInvalid (no scheme applies, bad value),
	// CodeNotFound (unknown and policy rejects), CodeNotEligible,
	// CodeUnavailable.
	Lookup(ctx context.Context, r LookupRequest) (LookupResult, error)
}

// ApprovalRequest is /client/approve.
type ApprovalRequest struct {
	ProcessID              string
	ProcessType            string
	UserID                 string
	IdentityVerificationID string
	Provider               string
	Status                 string
	Score                  *float64
	// Frame is nil when absent. Its Data is valid only until the call
	// returns (the transport reuses the buffer): a service that keeps the
	// bytes copies them.
	Frame *domain.Image
	Meta  domain.RequestMeta
}

// ApprovalService decides after the presence check.
type ApprovalService interface {
	// Approve returns the stored or new decision.
	// Errors: CodeInvalid, CodeUnavailable.
	Approve(ctx context.Context, r ApprovalRequest) (domain.Decision, error)
}

// DocumentFields is the data read from one document, with dates as sent.
type DocumentFields struct {
	GivenNames     string
	Surname        string
	DateOfBirth    string
	PlaceOfBirth   string
	Sex            string
	Nationality    string
	PersonalNumber string
	DocumentNumber string
	DateOfIssue    string
	DateOfExpiry   string
	Authority      string
}

// DocumentInput is one document of /client/evaluate.
type DocumentInput struct {
	Type   string
	Status string
	Data   DocumentFields
	Images []domain.Image
}

// EvaluationRequest is /client/evaluate. Documents is nil when the caller
// sent no documentCheckResult (older Onboarding Servers).
type EvaluationRequest struct {
	ProcessID              string
	ProcessType            string
	UserID                 string
	IdentityVerificationID string
	Provider               string
	Status                 string
	Score                  *float64
	HasDocumentCheck       bool
	Documents              []DocumentInput
	Meta                   domain.RequestMeta
}

// EvaluationService decides after the document check.
type EvaluationService interface {
	// Evaluate returns the stored or new decision.
	// Errors: CodeInvalid, CodeUnavailable.
	Evaluate(ctx context.Context, r EvaluationRequest) (domain.Decision, error)
}

// OTPRequest is /otp/send. Code is secret: never log it.
type OTPRequest struct {
	ProcessID   string
	ProcessType string
	UserID      string
	Language    string
	Code        string
	Type        domain.OTPType
	Resend      bool
	Meta        domain.RequestMeta
}

// OTPResult is the answer of /otp/send.
type OTPResult struct {
	Sent    bool
	Outcome domain.OTPOutcome
	Deduped bool
	// ThrottledBy is the throttle that refused this send (Outcome
	// OTPThrottled, not Deduped), for operators; empty otherwise, and on a
	// deduplicated answer, as the dedupe store keeps the outcome only.
	ThrottledBy domain.OTPBound
}

// OTPService delivers one-time codes.
type OTPService interface {
	// SendOTP errors: CodeInvalid, CodeNotFound (unknown user),
	// CodeUnavailable. Delivery failures are results, not errors.
	SendOTP(ctx context.Context, r OTPRequest) (OTPResult, error)
}

// ConsentTextRequest is /consent/text.
type ConsentTextRequest struct {
	ProcessID   string
	ProcessType string
	UserID      string
	ConsentType string
	Language    string
	Meta        domain.RequestMeta
}

// ConsentStorageRequest is /consent/storage.
type ConsentStorageRequest struct {
	ProcessID   string
	ProcessType string
	UserID      string
	ConsentType string
	Approved    bool
	Meta        domain.RequestMeta
}

// ConsentService serves consent texts and records decisions.
type ConsentService interface {
	// ConsentText returns the HTML for the type and language (with
	// fallback). Errors: CodeInvalid (unknown type), CodeUnavailable.
	ConsentText(ctx context.Context, r ConsentTextRequest) (domain.ConsentText, error)
	// StoreConsent returns once the record is durable.
	// Errors: CodeInvalid, CodeUnavailable.
	StoreConsent(ctx context.Context, r ConsentStorageRequest) (domain.ConsentRecord, error)
}

// ProcessEventRequest is /process/event.
type ProcessEventRequest struct {
	Type                   string
	ProcessID              string
	ProcessType            string
	UserID                 string
	IdentityVerificationID string
	Data                   map[string]any
	Meta                   domain.RequestMeta
}

// ProcessEventService records process events.
type ProcessEventService interface {
	// RecordEvent errors only on invalid input; storage failures are
	// logged and swallowed so the caller is never failed by them.
	RecordEvent(ctx context.Context, r ProcessEventRequest) error
}

// ReviewService is the reviewers' side of review cases.
type ReviewService interface {
	// List returns cases oldest first. Errors: CodeInvalid, CodeUnavailable.
	List(ctx context.Context, f ReviewFilter) ([]domain.ReviewCase, error)
	// Get returns one case. Errors: CodeInvalid, CodeNotFound, CodeUnavailable.
	Get(ctx context.Context, id string) (domain.ReviewCase, error)
	// Claim assigns a case to the reviewer; channel
	// (domain.ReviewChannel*) says where the request came from, for the
	// audit trail. Errors: CodeInvalid, CodeNotFound, CodeConflict,
	// CodeUnavailable.
	Claim(ctx context.Context, id, reviewer, channel string) (domain.ReviewCase, error)
	// Resolve closes a case, or, for a four-eyes override, records the
	// first reviewer's proposal (the returned case is then not RESOLVED and
	// has a pending Proposal) or applies a second reviewer's confirmation.
	// Errors: CodeInvalid, CodeNotFound, CodeConflict, CodeUnavailable.
	Resolve(ctx context.Context, r ReviewResolution) (domain.ReviewCase, error)
	// Audit returns the case's audit trail, oldest first.
	// Errors: CodeInvalid, CodeNotFound, CodeUnavailable.
	Audit(ctx context.Context, id string) ([]domain.ReviewAuditEntry, error)
	// Purge drops the evidence of cases resolved longer ago than the
	// retention period and returns how many it purged. note says who ran
	// it and how (the audit trail's reason, after the retention and the
	// cut-off the service writes there). Errors: CodeInvalid,
	// CodeUnavailable.
	Purge(ctx context.Context, note string) (int, error)
}
