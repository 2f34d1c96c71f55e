package domain

import "time"

// ReviewStatus is where a review case stands in the reviewer's queue.
type ReviewStatus string

// The review statuses: OPEN on creation, CLAIMED by a reviewer, RESOLVED with
// OK or NOK.
const (
	ReviewOpen     ReviewStatus = "OPEN"
	ReviewClaimed  ReviewStatus = "CLAIMED"
	ReviewResolved ReviewStatus = "RESOLVED"
)

// Valid reports whether s is a known status.
func (s ReviewStatus) Valid() bool {
	return s == ReviewOpen || s == ReviewClaimed || s == ReviewResolved
}

// DocumentData is the normalised data read from one identity document.
type DocumentData struct {
	Type           string
	Status         string
	GivenNames     string
	Surname        string
	DateOfBirth    Date
	PlaceOfBirth   string
	Sex            string
	Nationality    string
	PersonalNumber string
	DocumentNumber string
	DateOfIssue    Date
	DateOfExpiry   Date
	Authority      string
}

// ReviewEvidence is what a reviewer needs to decide a case: the data read
// from documents, the registry record it was compared with, and the
// presence-check frame when policy keeps it. It is purged after resolution
// plus the retention period; the decision and its rule results stay.
type ReviewEvidence struct {
	Documents []DocumentData
	Registry  *Client
	Frame     []byte // JPEG or PNG, only when kept
}

// ReviewCase is a decision that needs a person: opened for WAIT (or for the
// review fallback of callers without WAIT) and closed by a reviewer's OK or NOK.
type ReviewCase struct {
	ID                     string
	Kind                   DecisionKind
	ProcessID              string
	IdentityVerificationID string
	UserID                 string
	Status                 ReviewStatus
	ReasonCodes            []string
	Answered               Result // what the caller was told when the case opened
	ClaimedBy              string
	Resolution             Result // OK or NOK once resolved
	ResolutionReason       string
	ResolvedBy             string
	SecondReviewer         string // four-eyes approver of a NOK-to-OK override
	// Proposal is a verdict waiting for a second reviewer under four eyes
	// (zero when none); it stays on the case after the resolution, as a record.
	Proposal ReviewProposal
	// Score and Rules are those of the case's decision, read with the case
	// so a reviewer sees why the decision needed a person. Stores fill them
	// on every read; they are not part of what SaveDecision takes.
	Score          *float64
	Rules          []RuleResult
	Evidence       ReviewEvidence
	EvidencePurged bool
	CreatedAt      time.Time
	ClaimedAt      time.Time
	ResolvedAt     time.Time
}

// ReviewProposal is a first reviewer's verdict that needs a second,
// different reviewer before it takes effect: the maker-checker flow of a
// four-eyes override (turning an answer the caller got as NOK into OK).
type ReviewProposal struct {
	Result Result // OK or NOK; "" when there is no proposal
	Reason string
	By     string
	At     time.Time
}

// Pending reports whether the proposal exists.
func (p ReviewProposal) Pending() bool { return p.By != "" }

// AwaitsSecondReviewer reports whether the case holds a four-eyes proposal
// that no second reviewer has confirmed yet: what the review service
// returns after a first reviewer's override.
func (c ReviewCase) AwaitsSecondReviewer() bool {
	return c.Status != ReviewResolved && c.Proposal.Pending()
}

// The actions of the review audit trail.
const (
	ReviewActionClaim   = "CLAIM"
	ReviewActionPropose = "PROPOSE"
	ReviewActionResolve = "RESOLVE"
	ReviewActionPurge   = "PURGE_EVIDENCE"
)

// ReviewAuditEntry is one row of the append-only audit trail of a review
// case: who did what, when and why. A four-eyes resolution names the
// reviewer whose verdict it is (Actor, Reason) and the second reviewer who
// confirmed it (SecondActor, SecondReason).
type ReviewAuditEntry struct {
	CaseID       string
	Action       string // one of the ReviewAction* constants
	Actor        string // the reviewer, or "retention" for a purge
	Reason       string
	Result       Result // OK or NOK for PROPOSE and RESOLVE, else ""
	SecondActor  string
	SecondReason string
	// Channel is where the request that wrote the entry came from, one of
	// the ReviewChannel* constants (for a confirmed four-eyes override, the
	// second reviewer's request); "" when not recorded (an earlier
	// release's binary).
	Channel string
	At      time.Time
}

// Where a review action came from, as its audit entry records it: a
// reviewer proven by a sign-in acts through the pages or the API; the CLI's
// reviewer is a name an operator with database access typed, which proves
// nobody, so a compliance officer must be able to tell the two apart.
const (
	ReviewChannelUI        = "ui"
	ReviewChannelAPI       = "api"
	ReviewChannelCLI       = "cli"
	ReviewChannelRetention = "retention" // the evidence purge
)

// ValidReviewChannel reports whether c is one a reviewer acts through
// (the purge's is the store's own).
func ValidReviewChannel(c string) bool {
	return c == ReviewChannelUI || c == ReviewChannelAPI || c == ReviewChannelCLI
}

// CompleteFrom fills the fields of a case opened with decision d that the
// opener left empty: the decision's key and user, status OPEN, and the
// decision's time as the creation time.
func (c *ReviewCase) CompleteFrom(d Decision) {
	if c.Kind == "" {
		c.Kind = d.Kind
	}
	if c.ProcessID == "" {
		c.ProcessID = d.ProcessID
	}
	if c.IdentityVerificationID == "" {
		c.IdentityVerificationID = d.IdentityVerificationID
	}
	if c.UserID == "" {
		c.UserID = d.UserID
	}
	if c.Status == "" {
		c.Status = ReviewOpen
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = d.DecidedAt
	}
}
