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
	Evidence               ReviewEvidence
	EvidencePurged         bool
	CreatedAt              time.Time
	ClaimedAt              time.Time
	ResolvedAt             time.Time
}
