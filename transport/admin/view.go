package admin

import (
	"net/url"
	"strings"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/names"
)

// Match values of a compared cell.
const (
	MatchSame       = "same"       // equal as written
	MatchEquivalent = "equivalent" // equal after the rules' normalisation (case, diacritics, separators)
	MatchDiffers    = "differs"    // different even after normalisation: what the reviewer must look at
	MatchMissing    = "missing"    // one side has no value
)

// caseJSON is a case in the queue and the head of a case's detail. It
// holds no personal data beyond the identifiers the decision already logs.
type caseJSON struct {
	ID                     string        `json:"id"`
	Kind                   string        `json:"kind"`
	Status                 string        `json:"status"`
	ProcessID              string        `json:"processId"`
	IdentityVerificationID string        `json:"identityVerificationId"`
	UserID                 string        `json:"userId"`
	ReasonCodes            []string      `json:"reasonCodes"`
	Answered               string        `json:"answered"`
	Score                  *float64      `json:"score,omitempty"`
	CreatedAt              time.Time     `json:"createdAt"`
	AgeSeconds             int64         `json:"ageSeconds"`
	ClaimedBy              string        `json:"claimedBy,omitempty"`
	ClaimedAt              *time.Time    `json:"claimedAt,omitempty"`
	Resolution             string        `json:"resolution,omitempty"`
	ResolutionReason       string        `json:"resolutionReason,omitempty"`
	ResolvedBy             string        `json:"resolvedBy,omitempty"`
	SecondReviewer         string        `json:"secondReviewer,omitempty"`
	ResolvedAt             *time.Time    `json:"resolvedAt,omitempty"`
	Proposal               *proposalJSON `json:"proposal,omitempty"`
	AwaitingSecondReviewer bool          `json:"awaitingSecondReviewer"`
	EvidencePurged         bool          `json:"evidencePurged"`
	HasFrame               bool          `json:"hasFrame"`
}

type proposalJSON struct {
	Result     string    `json:"result"`
	Reason     string    `json:"reason"`
	ProposedBy string    `json:"proposedBy"`
	ProposedAt time.Time `json:"proposedAt"`
}

// detailJSON is one case with what a reviewer decides on.
type detailJSON struct {
	Case       caseJSON       `json:"case"`
	Rules      []ruleJSON     `json:"rules"`
	Documents  []documentJSON `json:"documents"`
	Registry   *registryJSON  `json:"registry"`
	Comparison []CompareRow   `json:"comparison"`
	FrameURL   string         `json:"frameUrl,omitempty"`
	Audit      []auditJSON    `json:"audit"`
}

type ruleJSON struct {
	Rule    string `json:"rule"`
	Outcome string `json:"outcome"`
	Code    string `json:"code,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

type documentJSON struct {
	Type           string `json:"type"`
	Status         string `json:"status"`
	GivenNames     string `json:"givenNames"`
	Surname        string `json:"surname"`
	DateOfBirth    string `json:"dateOfBirth"`
	PlaceOfBirth   string `json:"placeOfBirth"`
	Sex            string `json:"sex"`
	Nationality    string `json:"nationality"`
	PersonalNumber string `json:"personalNumber"`
	DocumentNumber string `json:"documentNumber"`
	DateOfIssue    string `json:"dateOfIssue"`
	DateOfExpiry   string `json:"dateOfExpiry"`
	Authority      string `json:"authority"`
}

type registryJSON struct {
	UserID         string `json:"userId"`
	ClientNumber   string `json:"clientNumber"`
	GivenNames     string `json:"givenNames"`
	Surname        string `json:"surname"`
	BirthDate      string `json:"birthDate"`
	PersonalNumber string `json:"personalNumber"`
	Nationality    string `json:"nationality"`
	Status         string `json:"status"`
}

// CompareRow is one field of the side-by-side view: the registry's value
// and each document's, each marked against the registry (Match* values)
// when the decision rules compare the field.
type CompareRow struct {
	Field    string        `json:"field"`
	Label    string        `json:"-"`
	Registry string        `json:"registry"`
	Compared bool          `json:"compared"`
	Docs     []CompareCell `json:"documents"`
}

// CompareCell is one document's value of a CompareRow.
type CompareCell struct {
	Value string `json:"value"`
	Match string `json:"match,omitempty"`
}

type auditJSON struct {
	Action       string `json:"action"`
	Actor        string `json:"actor"`
	Reason       string `json:"reason,omitempty"`
	Result       string `json:"result,omitempty"`
	SecondActor  string `json:"secondActor,omitempty"`
	SecondReason string `json:"secondReason,omitempty"`
	// Channel: ui, api, cli (a typed reviewer name) or retention; absent
	// when not recorded.
	Channel string    `json:"channel,omitempty"`
	At      time.Time `json:"at"`
}

// CaseView is a case as the API lists it, for other front ends (the CLI's
// --json) to print the same shape.
func CaseView(c domain.ReviewCase, now time.Time) any { return toCaseJSON(c, now) }

// DetailView is a case with its rules, evidence, comparison and audit trail
// as the API shows it; the frame itself is not included.
func DetailView(c domain.ReviewCase, trail []domain.ReviewAuditEntry, now time.Time) any {
	return toDetailJSON(c, trail, now, "")
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toCaseJSON(c domain.ReviewCase, now time.Time) caseJSON {
	out := caseJSON{
		ID: c.ID, Kind: string(c.Kind), Status: string(c.Status), ProcessID: c.ProcessID,
		IdentityVerificationID: c.IdentityVerificationID, UserID: c.UserID, ReasonCodes: c.ReasonCodes,
		Answered: string(c.Answered), Score: c.Score, CreatedAt: c.CreatedAt,
		AgeSeconds: int64(now.Sub(c.CreatedAt).Seconds()), ClaimedBy: c.ClaimedBy, ClaimedAt: timePtr(c.ClaimedAt),
		Resolution: string(c.Resolution), ResolutionReason: c.ResolutionReason, ResolvedBy: c.ResolvedBy,
		SecondReviewer: c.SecondReviewer, ResolvedAt: timePtr(c.ResolvedAt),
		AwaitingSecondReviewer: c.AwaitsSecondReviewer(), EvidencePurged: c.EvidencePurged,
		HasFrame: domain.ImageFormat(c.Evidence.Frame) != "",
	}
	if out.ReasonCodes == nil {
		out.ReasonCodes = []string{}
	}
	if p := c.Proposal; p.Pending() {
		out.Proposal = &proposalJSON{Result: string(p.Result), Reason: p.Reason, ProposedBy: p.By, ProposedAt: p.At}
	}
	return out
}

func dateString(d domain.Date) string {
	if d.IsZero() {
		return ""
	}
	return d.String()
}

func toDetailJSON(c domain.ReviewCase, trail []domain.ReviewAuditEntry, now time.Time, frameURL string) detailJSON {
	out := detailJSON{Case: toCaseJSON(c, now), Rules: []ruleJSON{}, Documents: []documentJSON{}, Audit: []auditJSON{}}
	for _, r := range c.Rules {
		out.Rules = append(out.Rules, ruleJSON{Rule: r.Rule, Outcome: string(r.Outcome), Code: r.Code, Detail: r.Detail})
	}
	for _, d := range c.Evidence.Documents {
		out.Documents = append(out.Documents, documentJSON{
			Type: d.Type, Status: d.Status, GivenNames: d.GivenNames, Surname: d.Surname,
			DateOfBirth: dateString(d.DateOfBirth), PlaceOfBirth: d.PlaceOfBirth, Sex: d.Sex, Nationality: d.Nationality,
			PersonalNumber: d.PersonalNumber, DocumentNumber: d.DocumentNumber, DateOfIssue: dateString(d.DateOfIssue),
			DateOfExpiry: dateString(d.DateOfExpiry), Authority: d.Authority,
		})
	}
	if r := c.Evidence.Registry; r != nil {
		out.Registry = &registryJSON{UserID: r.UserID, ClientNumber: r.ClientNumber, GivenNames: r.GivenNames,
			Surname: r.Surname, BirthDate: dateString(r.BirthDate), PersonalNumber: r.PersonalNumber,
			Nationality: r.Nationality, Status: string(r.Status)}
	}
	out.Comparison = Compare(c.Evidence)
	if out.Case.HasFrame {
		out.FrameURL = frameURL
	}
	for _, e := range trail {
		out.Audit = append(out.Audit, auditJSON{Action: e.Action, Actor: e.Actor, Reason: e.Reason, Result: string(e.Result),
			SecondActor: e.SecondActor, SecondReason: e.SecondReason, Channel: e.Channel, At: e.At})
	}
	return out
}

// field is one row of the comparison: how to read it from the registry
// and from a document, and how the decision rules compare it (nil: shown,
// not compared).
type field struct {
	key, label string
	registry   func(domain.Client) string
	document   func(domain.DocumentData) string
	normalize  func(string) string
}

var upper = strings.ToUpper

// compareFields are the rows of the side-by-side view, compared fields
// first. Normalisation is the evaluation rules': names folded (case and
// diacritics), personal numbers without separators, dates exact.
func compareFields() []field {
	none := func(domain.Client) string { return "" }
	return []field{
		{"givenNames", "Given names", func(c domain.Client) string { return c.GivenNames }, func(d domain.DocumentData) string { return d.GivenNames }, names.Fold},
		{"surname", "Surname", func(c domain.Client) string { return c.Surname }, func(d domain.DocumentData) string { return d.Surname }, names.Fold},
		{"dateOfBirth", "Date of birth", func(c domain.Client) string { return dateString(c.BirthDate) }, func(d domain.DocumentData) string { return dateString(d.DateOfBirth) }, strings.TrimSpace},
		{"personalNumber", "Personal number", func(c domain.Client) string { return c.PersonalNumber }, func(d domain.DocumentData) string { return d.PersonalNumber }, domain.NormalizePersonalNumber},
		{"nationality", "Nationality", func(c domain.Client) string { return c.Nationality }, func(d domain.DocumentData) string { return d.Nationality }, upper},
		{"clientNumber", "Client number", func(c domain.Client) string { return c.ClientNumber }, nil, nil},
		{"registryStatus", "Registry status", func(c domain.Client) string { return string(c.Status) }, nil, nil},
		{"documentType", "Document type", none, func(d domain.DocumentData) string { return d.Type }, nil},
		{"documentStatus", "Document check", none, func(d domain.DocumentData) string { return d.Status }, nil},
		{"documentNumber", "Document number", none, func(d domain.DocumentData) string { return d.DocumentNumber }, nil},
		{"dateOfIssue", "Date of issue", none, func(d domain.DocumentData) string { return dateString(d.DateOfIssue) }, nil},
		{"dateOfExpiry", "Date of expiry", none, func(d domain.DocumentData) string { return dateString(d.DateOfExpiry) }, nil},
		{"sex", "Sex", none, func(d domain.DocumentData) string { return d.Sex }, nil},
		{"placeOfBirth", "Place of birth", none, func(d domain.DocumentData) string { return d.PlaceOfBirth }, nil},
		{"authority", "Issuing authority", none, func(d domain.DocumentData) string { return d.Authority }, nil},
	}
}

// Compare builds the side-by-side rows of the evidence, marking every
// document value of a compared field against the registry. Rows empty on
// every side are left out.
func Compare(ev domain.ReviewEvidence) []CompareRow {
	rows := []CompareRow{}
	for _, f := range compareFields() {
		row := CompareRow{Field: f.key, Label: f.label, Compared: f.normalize != nil, Docs: []CompareCell{}}
		if ev.Registry != nil {
			row.Registry = f.registry(*ev.Registry)
		}
		present := row.Registry != ""
		for _, d := range ev.Documents {
			cell := CompareCell{}
			if f.document != nil {
				cell.Value = f.document(d)
			}
			present = present || cell.Value != ""
			if row.Compared && ev.Registry != nil {
				cell.Match = match(row.Registry, cell.Value, f.normalize)
			}
			row.Docs = append(row.Docs, cell)
		}
		if present {
			rows = append(rows, row)
		}
	}
	return rows
}

func match(registry, doc string, normalize func(string) string) string {
	switch {
	case registry == "" || doc == "":
		return MatchMissing
	case registry == doc:
		return MatchSame
	case normalize(registry) == normalize(doc):
		return MatchEquivalent
	}
	return MatchDiffers
}

// frameURL is where a case's frame is served, under the pages or the API.
func frameURL(prefix, id string) string {
	return prefix + "/cases/" + url.PathEscape(id) + "/frame"
}
