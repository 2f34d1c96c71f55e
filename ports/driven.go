package ports

import (
	"context"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
)

// Clock tells the time, so expiry, age and windows are testable.
type Clock interface {
	Now() time.Time
}

// IDGenerator makes identifiers for review cases and registered prospects.
type IDGenerator interface {
	NewID() string
}

// ClientFinder reads the bank's client registry.
type ClientFinder interface {
	// FindClient returns the client the identification names.
	// Errors: CodeNotFound, CodeUnavailable.
	FindClient(ctx context.Context, id domain.Identification) (domain.Client, error)
	// ClientByUserID returns the client or prospect with that user id.
	// Errors: CodeNotFound, CodeUnavailable.
	ClientByUserID(ctx context.Context, userID string) (domain.Client, error)
}

// ProspectRegistrar registers prospects the registry does not know.
type ProspectRegistrar interface {
	// RegisterProspect returns the prospect registered for the
	// identification's fingerprint, creating it (status PROSPECT) on first
	// use; concurrent calls with the same identification get the same user.
	// Errors: CodeUnavailable.
	RegisterProspect(ctx context.Context, id domain.Identification) (domain.Client, error)
}

// ClientRegistry is the registry with prospect registration.
type ClientRegistry interface {
	ClientFinder
	ProspectRegistrar
}

// ClientConsentsFinder is a ClientFinder that also reads the found
// client's latest consents in the same statement: a store holding both the
// registry and the consent ledger (PostgreSQL) then answers /user/lookup in
// one round trip instead of two.
type ClientConsentsFinder interface {
	// FindClientWithConsents is FindClient, together with the client's
	// newest record of each of consentTypes that has one (as
	// ConsentLedger.LatestConsents). Errors as FindClient's.
	FindClientWithConsents(ctx context.Context, id domain.Identification, consentTypes []string) (domain.Client, map[string]domain.ConsentRecord, error)
}

// ConsentTextReader reads published consent texts. The store and every
// cache in front of it implement it, so caches stack by wrapping.
type ConsentTextReader interface {
	// LatestConsentText returns the newest version of (consentType, language).
	// Errors: CodeNotFound when none is published, CodeUnavailable.
	LatestConsentText(ctx context.Context, consentType, language string) (domain.ConsentText, error)
}

// ConsentTextFallbackReader is a ConsentTextReader that reads a text in a
// language, else in a fallback language, in one call: a user whose language
// has no text of its own gets the default one, and a Redis cache without its
// in-process L1 then asks for both in one round trip instead of two.
type ConsentTextFallbackReader interface {
	ConsentTextReader
	// LatestConsentTextOr returns LatestConsentText(consentType, language)
	// or, when that is CodeNotFound, LatestConsentText(consentType,
	// fallback). Errors as LatestConsentText's.
	LatestConsentTextOr(ctx context.Context, consentType, language, fallback string) (domain.ConsentText, error)
}

// LatestConsentTextOr reads consentType in language, else in fallback: in
// one call when r is a ConsentTextFallbackReader, in two otherwise. It is
// what every caller of a reader that may or may not have the one-call read
// needs, so they all fall back the same way.
func LatestConsentTextOr(ctx context.Context, r ConsentTextReader, consentType, language, fallback string) (domain.ConsentText, error) {
	if f, ok := r.(ConsentTextFallbackReader); ok {
		return f.LatestConsentTextOr(ctx, consentType, language, fallback)
	}
	t, err := r.LatestConsentText(ctx, consentType, language)
	if domain.IsNotFound(err) && language != fallback {
		return r.LatestConsentText(ctx, consentType, fallback)
	}
	return t, err
}

// ConsentTextPublisher publishes new consent text versions.
type ConsentTextPublisher interface {
	// PublishConsentText stores html as the next version of (consentType,
	// language) and returns it. Errors: CodeInvalid, CodeUnavailable.
	PublishConsentText(ctx context.Context, consentType, language, html string) (domain.ConsentText, error)
}

// ConsentTextInvalidator drops cached versions of a consent text, in this
// replica and (for shared caches) in every other one.
type ConsentTextInvalidator interface {
	InvalidateConsentText(ctx context.Context, consentType, language string) error
}

// ConsentTextStore is the durable home of consent texts.
type ConsentTextStore interface {
	ConsentTextReader
	ConsentTextPublisher
}

// ConsentLedger is the append-only record of consent decisions.
type ConsentLedger interface {
	// AppendConsent appends rec unless the latest record of (ProcessID,
	// UserID, ConsentType) already has the same Approved value and rec's
	// text is no newer version of that record's (same Language, higher
	// TextVersion); it returns the stored record (the new one, or the
	// latest one it repeats) and whether a row was added. Concurrent
	// identical calls add one row. The same decision on a newer version (a
	// new text the user was shown) is a new consent, which the lookup's
	// check needs; any other difference of text is taken for a re-send
	// whose serving resolved otherwise, and adds no row.
	// A record is never recorded before its history's latest (RecordedAt
	// is raised to it): replicas' clocks differ, and LatestConsent orders
	// by time. rec's TextServed is stored as given. The record is durable
	// when it returns. Errors: CodeUnavailable.
	AppendConsent(ctx context.Context, rec domain.ConsentRecord) (domain.ConsentRecord, bool, error)
	// LatestConsent returns the user's newest record of consentType across
	// processes. Errors: CodeNotFound, CodeUnavailable.
	LatestConsent(ctx context.Context, userID, consentType string) (domain.ConsentRecord, error)
	// LatestConsents is LatestConsent for several types in one read, so
	// the lookup's consent check costs one round trip however many types
	// policy requires. The map holds the newest record of each type that
	// has one; a type without a record is absent (not an error).
	// Errors: CodeUnavailable.
	LatestConsents(ctx context.Context, userID string, consentTypes []string) (map[string]domain.ConsentRecord, error)
}

// ServedConsentAppender is a ConsentLedger that looks up the consent text
// served to the process in the same write, as ConsentServings.LastServing
// would: a store holding both (PostgreSQL) then stores a consent in one
// statement instead of a read and a write.
type ServedConsentAppender interface {
	ConsentLedger
	// AppendServedConsent is AppendConsent of rec with its Language,
	// TextVersion and TextSHA256 replaced by those of the serving recorded
	// for (rec.ProcessID, rec.ConsentType), and TextServed true, when there
	// is one; rec carries the current text, recorded as it is when there is
	// none.
	AppendServedConsent(ctx context.Context, rec domain.ConsentRecord) (domain.ConsentRecord, bool, error)
}

// ConsentServings remembers which consent text a process was shown.
type ConsentServings interface {
	// RecordServing stores (replaces) the serving of (ProcessID, ConsentType).
	RecordServing(ctx context.Context, s domain.ConsentServing) error
	// LastServing returns it. Errors: CodeNotFound, CodeUnavailable.
	LastServing(ctx context.Context, processID, consentType string) (domain.ConsentServing, error)
}

// DecisionReader reads one stored decision: the review service reads the
// other kind's decision of a case's identity verification before letting a
// reviewer answer OK, as deciding did.
type DecisionReader interface {
	// Decision returns the stored decision of (kind, processID,
	// identityVerificationID), with the review resolution applied when its
	// case was resolved. Errors: CodeNotFound, CodeUnavailable.
	Decision(ctx context.Context, kind domain.DecisionKind, processID, identityVerificationID string) (domain.Decision, error)
}

// DecisionStore keeps decisions durable and idempotent.
type DecisionStore interface {
	DecisionReader
	// VerificationDecisions returns the decisions of both kinds stored for
	// (processID, identityVerificationID), each as Decision returns it, in
	// one read: deciding needs its own kind's (a repeat is answered from
	// it) and the other kind's (approval and evaluation of one
	// verification bind each other). Errors: CodeUnavailable.
	VerificationDecisions(ctx context.Context, processID, identityVerificationID string) (VerificationDecisions, error)
	// SaveDecision stores d, and rc as its review case when not nil, in one
	// step, unless a decision with the same key exists. It returns the stored
	// decision (d, or the one that won a race) and whether d was stored.
	// Errors: CodeUnavailable; CodeConflict when rc's id already names
	// another decision's case (nothing is then stored, and the caller may
	// save again with a fresh id).
	SaveDecision(ctx context.Context, d domain.Decision, rc *domain.ReviewCase) (domain.Decision, bool, error)
}

// DecisionsWithClientFinder is implemented by a DecisionStore that also
// reads the registry record of the request's user in the same statement: a
// store holding both the decisions and the registry (PostgreSQL) then gives
// a decision everything it reads in one round trip instead of two. Only a
// store whose registry is the one the services are wired with may
// implement it: the decision engine then reads the request's user from it.
type DecisionsWithClientFinder interface {
	// VerificationDecisionsWithClient is VerificationDecisions, together
	// with the client or prospect whose user id is userID (as
	// ClientFinder.ClientByUserID finds it), or nil when there is none.
	// Errors: CodeUnavailable.
	VerificationDecisionsWithClient(ctx context.Context, processID, identityVerificationID, userID string) (VerificationDecisions, *domain.Client, error)
}

// VerificationDecisions are the decisions stored for one identity
// verification of a process: at most one per kind, nil when none is stored.
type VerificationDecisions struct {
	Approval   *domain.Decision
	Evaluation *domain.Decision
}

// Of returns the decision of kind and whether one is stored.
func (v VerificationDecisions) Of(kind domain.DecisionKind) (domain.Decision, bool) {
	var d *domain.Decision
	switch kind {
	case domain.KindApproval:
		d = v.Approval
	case domain.KindEvaluation:
		d = v.Evaluation
	}
	if d == nil {
		return domain.Decision{}, false
	}
	return *d, true
}

// ReviewFilter selects review cases for the queue.
type ReviewFilter struct {
	Status        domain.ReviewStatus // "" for any
	Kind          domain.DecisionKind // "" for any
	CreatedBefore time.Time           // zero for any age
	AfterID       string              // cursor: cases created after this one
	Limit         int
}

// ReviewResolution is a reviewer's verdict on a case. Under four eyes the
// review service sets SecondReviewer and SecondReason from the second
// reviewer's confirmation; callers of the service never set them.
type ReviewResolution struct {
	CaseID         string
	Result         domain.Result // OK or NOK
	Reason         string
	Reviewer       string
	SecondReviewer string
	SecondReason   string // the second reviewer's note, kept in the audit trail
	At             time.Time
	// SignedIn is true when Reviewer was proven by a sign-in (the admin
	// listener's review UI and API), false when it was typed (the review
	// CLI, run by whoever can reach the database). Four eyes needs it:
	// with a typed name one person could propose as a colleague and
	// confirm as themselves.
	SignedIn bool
	// Channel is where the request came from (domain.ReviewChannel*),
	// recorded in the audit row; "" records none. The review service sets
	// SignedIn from it when it is given.
	Channel string
}

// Validate is what every store checks before it proposes or resolves: a
// resolution the audit trail could not attribute or the decision could not
// answer is refused whichever adapter holds the cases.
func (r ReviewResolution) Validate() error {
	if r.Result != domain.ResultOK && r.Result != domain.ResultNOK {
		return domain.Invalid("result", "must be OK or NOK")
	}
	if r.Reviewer == "" {
		return domain.Invalid("reviewer", "must not be empty")
	}
	return nil
}

// ReviewCases is the review queue.
type ReviewCases interface {
	// ReviewCase returns one case. Errors: CodeNotFound, CodeUnavailable.
	ReviewCase(ctx context.Context, id string) (domain.ReviewCase, error)
	// ListReviewCases returns cases oldest first. Their Evidence.Frame
	// holds only the image's first bytes, enough for domain.ImageFormat
	// to tell that one is kept; ReviewCase returns it whole.
	ListReviewCases(ctx context.Context, f ReviewFilter) ([]domain.ReviewCase, error)
	// ClaimReviewCase assigns an open case to reviewer.
	// Errors: CodeNotFound, CodeConflict (already claimed by another or
	// resolved), CodeUnavailable.
	// channel (domain.ReviewChannel*, "" for none) goes in the audit row.
	ClaimReviewCase(ctx context.Context, id, reviewer, channel string, at time.Time) (domain.ReviewCase, error)
	// ResolveReviewCase closes a case and sets its decision's result in the
	// same step. Errors: CodeNotFound, CodeConflict (already resolved),
	// CodeUnavailable.
	ResolveReviewCase(ctx context.Context, r ReviewResolution) (domain.ReviewCase, error)
	// PurgeReviewEvidence drops the evidence of cases resolved before t and
	// returns how many were purged; decisions stay. Each purged case's
	// audit entry carries reason.
	PurgeReviewEvidence(ctx context.Context, resolvedBefore time.Time, reason string) (int, error)
	// ProposeReviewResolution records r as the case's pending four-eyes
	// proposal (r.Reviewer proposes r.Result for r.Reason at r.At) without
	// resolving it, audited as PROPOSE. Errors: CodeNotFound, CodeConflict
	// (resolved, or a proposal is already pending), CodeUnavailable.
	ProposeReviewResolution(ctx context.Context, r ReviewResolution) (domain.ReviewCase, error)
	// ReviewAudit returns the audit trail of a case (claims, proposals,
	// resolutions, purges), oldest first. The trail is append-only: no
	// method changes or removes an entry. Errors: CodeNotFound (no such
	// case), CodeUnavailable.
	ReviewAudit(ctx context.Context, caseID string) ([]domain.ReviewAuditEntry, error)
}

// OTPDedupe makes a re-sent (processId, code) send no second SMS.
type OTPDedupe interface {
	// BeginOTP claims key for ttl. claimed is true for the first caller,
	// who must send and then FinishOTP; later callers get the recorded
	// outcome (OTPPending while the first send is in flight).
	// Errors: CodeUnavailable.
	BeginOTP(ctx context.Context, key string, ttl time.Duration) (claimed bool, prior domain.OTPOutcome, err error)
	// FinishOTP records the outcome of the claimed send.
	FinishOTP(ctx context.Context, key string, outcome domain.OTPOutcome, ttl time.Duration) error
	// ReleaseOTP gives up the claim of key for a send that never reached
	// the gateway because its caller was gone first (timed out or
	// disconnected): the key is free again, so the caller's retry of the
	// code sends it instead of being answered with an outcome for an SMS
	// nobody tried to send (no code is sent twice: none went out).
	// released is false when the key holds an outcome, or a claim the store
	// cannot tell is this call's; the caller then records an outcome with
	// FinishOTP, as for any send. A key no longer held counts as released.
	// A store that keeps no token per claim (memory) takes any claim for
	// this call's: a caller releases within its request's deadline, well
	// before the dedupe window lets anyone claim the key again.
	// Errors: CodeInvalid.
	ReleaseOTP(ctx context.Context, key string) (released bool, err error)
}

// OTPThrottle bounds sends per key: a process id, or the keyed hash of a
// phone number (domain/otp), which stores treat alike.
type OTPThrottle interface {
	// AllowOTP counts one send for processID, named sendID (unique per
	// send: a store may count a repeated sendID once), and reports whether
	// it is within limit sends per window. Errors: CodeInvalid,
	// CodeUnavailable.
	AllowOTP(ctx context.Context, processID, sendID string, limit int, window time.Duration) (bool, error)
	// RefundOTP takes back the send AllowOTP counted as sendID, and no
	// other, for a send the gateway provably did not take: a user whose
	// codes could not be sent during a gateway outage is not locked out
	// once it is back. Refunding a send not counted (or refunded already)
	// changes nothing. Errors: CodeInvalid, CodeUnavailable.
	RefundOTP(ctx context.Context, processID, sendID string) error
}

// SMSSender hands a message to a gateway.
type SMSSender interface {
	// SendSMS sends sms once. The result classifies the outcome; the error,
	// when not nil, explains a failure for logs and never contains the text.
	SendSMS(ctx context.Context, sms domain.SMS) (domain.SendResult, error)
}

// ProcessEventRecorder stores process events.
type ProcessEventRecorder interface {
	// RecordProcessEvent stores e. Errors: CodeUnavailable.
	RecordProcessEvent(ctx context.Context, e domain.ProcessEvent) error
}

// HealthChecker is implemented by adapters whose dependency readiness
// depends on.
type HealthChecker interface {
	// Ping returns nil when the dependency answers.
	Ping(ctx context.Context) error
}
