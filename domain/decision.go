package domain

import (
	"strings"
	"time"
)

// DecisionKind tells which endpoint made a decision: approval after the
// presence check, evaluation after the document check.
type DecisionKind string

// The decision kinds.
const (
	KindApproval   DecisionKind = "approval"
	KindEvaluation DecisionKind = "evaluation"
)

// Valid reports whether k is a known kind.
func (k DecisionKind) Valid() bool { return k == KindApproval || k == KindEvaluation }

// Result is the outcome the Onboarding Server acts on.
type Result string

// The results of the wire contract.
const (
	ResultOK   Result = "OK"
	ResultNOK  Result = "NOK"
	ResultWAIT Result = "WAIT"
)

// Valid reports whether r is OK, NOK or WAIT.
func (r Result) Valid() bool { return r == ResultOK || r == ResultNOK || r == ResultWAIT }

// Severity orders results so the strongest rule wins: NOK over WAIT over OK.
func (r Result) Severity() int {
	switch r {
	case ResultNOK:
		return 2
	case ResultWAIT:
		return 1
	}
	return 0
}

// Reason codes: stable, upper-case, part of the contract with the bank's
// operations. Human texts beside them may change; codes may not.
const (
	ReasonVerificationFailed   = "VERIFICATION_FAILED"
	ReasonUserUnknown          = "USER_UNKNOWN"
	ReasonUserNotEligible      = "USER_NOT_ELIGIBLE"
	ReasonScoreTooLow          = "SCORE_TOO_LOW"
	ReasonScoreBorderline      = "SCORE_BORDERLINE"
	ReasonEvaluationRejected   = "EVALUATION_REJECTED"
	ReasonEvaluationPending    = "EVALUATION_PENDING"
	ReasonVerificationRejected = "VERIFICATION_REJECTED"
	ReasonDocumentFailed       = "DOCUMENT_FAILED"
	ReasonNoPrimaryDocument    = "NO_PRIMARY_DOCUMENT"
	// ReasonDocumentDataIncomplete is a WAIT: no primary document carries
	// a name and a date of birth or personal number, so nothing
	// identifies its holder with the registry record.
	ReasonDocumentDataIncomplete = "DOCUMENT_DATA_INCOMPLETE"
	// ReasonIdentityUnconfirmed is a WAIT: a primary document names its
	// holder, but none of its dates of birth or personal numbers is one the
	// registry record has too (a prospect registered from other keys), so
	// nothing ties the document to the record.
	ReasonIdentityUnconfirmed = "IDENTITY_UNCONFIRMED"
	ReasonDocumentExpired     = "DOCUMENT_EXPIRED"
	ReasonUnderage            = "UNDERAGE"
	// ReasonAgeUnverified is a WAIT: neither the documents nor the
	// registry give a date of birth, so a person checks the age.
	ReasonAgeUnverified        = "AGE_UNVERIFIED"
	ReasonBirthDateMismatch    = "BIRTH_DATE_MISMATCH"
	ReasonPersonalNumberDiffer = "PERSONAL_NUMBER_MISMATCH"
	ReasonNameMismatch         = "NAME_MISMATCH"
	ReasonNameSimilar          = "NAME_SIMILAR"
	ReasonDocumentsDiffer      = "DOCUMENTS_DIFFER"
	ReasonNationalityDenied    = "NATIONALITY_NOT_ALLOWED"
	// ReasonNationalityUnverified is a WAIT: policy accepts only listed
	// nationalities and neither the documents nor the registry carry one.
	ReasonNationalityUnverified = "NATIONALITY_UNVERIFIED"
	ReasonNoDocumentData        = "NO_DOCUMENT_DATA"
	ReasonReviewResolved        = "REVIEW_RESOLVED"
	ReasonReviewFallback        = "REVIEW_FALLBACK"
	// ReasonReviewRejected is what a decision answers once a reviewer
	// resolved its case with NOK.
	ReasonReviewRejected = "REVIEW_REJECTED"
)

// RuleResult is the outcome of one rule, stored with the decision so a
// reviewer or auditor sees why it was taken.
type RuleResult struct {
	Rule    string // stable rule name, e.g. "score", "document.expiry"
	Outcome Result
	Code    string // reason code when the rule did not pass
	Detail  string // short human text without personal data
}

// ImageDigest stands in for an image the service does not keep: a SHA-256
// and a size prove what was seen without storing a face.
type ImageDigest struct {
	Kind   string // FRAME, FACE, ...
	SHA256 string // hex
	Size   int
}

// Decision is the durable answer to one (kind, processId,
// identityVerificationId). Once stored it is returned again for re-sent
// requests, until a reviewer resolves its case.
type Decision struct {
	Kind                   DecisionKind
	ProcessID              string
	IdentityVerificationID string
	UserID                 string
	Result                 Result // what the caller is answered
	ReasonCode             string // "" for a plain OK
	ReasonText             string
	Score                  *float64
	Rules                  []RuleResult
	Images                 []ImageDigest
	ReviewCaseID           string // set when the decision opened a review case
	CorrelationID          string
	RequestID              string
	DecidedAt              time.Time
}

// ResultReason renders the wire resultReason: "CODE: text" or just the code,
// and "" when there is no reason (the transport sends null).
func (d Decision) ResultReason() string {
	switch {
	case d.ReasonCode == "":
		return ""
	case d.ReasonText == "":
		return d.ReasonCode
	}
	return d.ReasonCode + ": " + d.ReasonText
}

// Combine reduces rule results to the strongest outcome and its first reason:
// NOK beats WAIT beats OK, and among equals the earlier rule wins.
// A rule with an unknown outcome counts as NOK: a buggy rule must fail
// closed, never let an onboarding through.
func Combine(rules []RuleResult) (Result, RuleResult) {
	out, why := ResultOK, RuleResult{}
	for _, r := range rules {
		if !r.Outcome.Valid() {
			r.Outcome = ResultNOK
		}
		if r.Outcome.Severity() > out.Severity() {
			out, why = r.Outcome, r
		}
	}
	return out, why
}

// ReasonCodes lists the codes of the rules that did not pass, in order.
func ReasonCodes(rules []RuleResult) []string {
	var codes []string
	for _, r := range rules {
		if r.Outcome != ResultOK && r.Code != "" {
			codes = append(codes, r.Code)
		}
	}
	return codes
}

// ValidReasonCode reports whether s looks like a reason code: upper-case
// letters, digits and underscores.
func ValidReasonCode(s string) bool {
	if s == "" {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_')
	}) < 0
}
