// Package evaluation decides /client/evaluate, called after the document
// check. Its rules compare what the documents say with each other and with
// the client registry: document status and validity, a primary identity
// document, age, birth date, personal number and names, nationality lists
// and the score thresholds. Older Onboarding Servers call it without
// document data; then only the rules that need none run and the policy
// answers the rest.
package evaluation

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/decision"
	"github.com/bankkit/onboarding-adapter/domain/names"
	"github.com/bankkit/onboarding-adapter/domain/policy"
	"github.com/bankkit/onboarding-adapter/ports"
)

// Rule names of evaluation, stored with each decision. Rules that look at
// one document are recorded once per document, in document order.
const (
	RuleApproval       = "approval.result"
	RuleDocumentData   = "document.data"
	RuleDocumentStatus = "document.status"
	RulePrimary        = "document.primary"
	RuleIdentityData   = "document.identityData"
	RuleExpiry         = "document.expiry"
	RuleSamePerson     = "documents.samePerson"
	RuleAge            = "age"
	RuleBirthDate      = "registry.birthDate"
	RulePersonalNumber = "registry.personalNumber"
	RuleName           = "registry.name"
	RuleNationality    = "nationality"
)

// DocumentSuccess is the only per-document status that passes.
const DocumentSuccess = "SUCCESS"

type service struct {
	engine *decision.Engine
	clock  ports.Clock
	dp     policy.Decision
	policy policy.Evaluation
	zone   *time.Location // whose calendar date is today
}

// New returns the evaluation service. Decisions are read from and stored in
// store (which also holds the approval decisions it consults); clients is
// the registry the documents are compared with (read through store instead
// when it reads users with decisions: see decision.NewEngine); clock tells today for
// expiry and age; ids names review cases.
func New(store ports.DecisionStore, clients ports.ClientFinder, clock ports.Clock, ids ports.IDGenerator, dp policy.Decision, p policy.Evaluation) ports.EvaluationService {
	return &service{engine: decision.NewEngine(store, clients, clock, ids, dp), clock: clock, dp: dp, policy: p, zone: p.Location()}
}

// Evaluate validates r and returns the stored decision for its identity
// verification, or decides and stores a new one. Malformed dates are
// refused before anything is stored, naming the document field.
func (s *service) Evaluate(ctx context.Context, r ports.EvaluationRequest) (domain.Decision, error) {
	// Older Onboarding Servers send no status (nor document data): they
	// call evaluate only after a successful document verification.
	if r.Status == "" && !r.HasDocumentCheck {
		r.Status = decision.StatusSuccess
	}
	req := decision.Request{
		Kind:                   domain.KindEvaluation,
		ProcessID:              r.ProcessID,
		IdentityVerificationID: r.IdentityVerificationID,
		UserID:                 r.UserID,
		Status:                 r.Status,
		Score:                  r.Score,
		Meta:                   r.Meta,
	}
	if err := decision.Validate(req); err != nil {
		return domain.Decision{}, err
	}
	docs, images, err := parseDocuments(r.Documents)
	if err != nil {
		return domain.Decision{}, err
	}
	d, err := s.engine.Decide(ctx, req, func(ctx context.Context, stored ports.VerificationDecisions, clients ports.ClientFinder) (decision.Outcome, error) {
		return s.rules(ctx, r, docs, images, stored, clients)
	})
	if err != nil {
		return domain.Decision{}, fmt.Errorf("evaluate: %w", err)
	}
	return d, nil
}

// parseDocuments turns the wire documents into domain data, strictly
// parsing dates (the contract fixes YYYY-MM-DD), and collects the digests
// of their images: the images themselves are never kept.
func parseDocuments(in []ports.DocumentInput) ([]domain.DocumentData, []domain.ImageDigest, error) {
	docs := make([]domain.DocumentData, 0, len(in))
	var images []domain.ImageDigest
	for i, d := range in {
		dd := domain.DocumentData{
			Type:           strings.TrimSpace(d.Type),
			Status:         strings.TrimSpace(d.Status),
			GivenNames:     d.Data.GivenNames,
			Surname:        d.Data.Surname,
			PlaceOfBirth:   d.Data.PlaceOfBirth,
			Sex:            d.Data.Sex,
			Nationality:    strings.ToUpper(strings.TrimSpace(d.Data.Nationality)),
			PersonalNumber: domain.NormalizePersonalNumber(d.Data.PersonalNumber),
			DocumentNumber: d.Data.DocumentNumber,
			Authority:      d.Data.Authority,
		}
		for _, f := range []struct {
			name string
			raw  string
			dst  *domain.Date
		}{
			{"dateOfBirth", d.Data.DateOfBirth, &dd.DateOfBirth},
			{"dateOfIssue", d.Data.DateOfIssue, &dd.DateOfIssue},
			{"dateOfExpiry", d.Data.DateOfExpiry, &dd.DateOfExpiry},
		} {
			raw := strings.TrimSpace(f.raw)
			if raw == "" {
				continue
			}
			v, err := domain.ParseDate(raw)
			if err != nil {
				return nil, nil, domain.Invalid(fmt.Sprintf("documentCheckResult.documents[%d].data.%s", i, f.name),
					"must be a date in the format YYYY-MM-DD")
			}
			*f.dst = v
		}
		docs = append(docs, dd)
		for _, img := range d.Images {
			images = append(images, img.Digest())
		}
	}
	return docs, images, nil
}

// rules runs the evaluation rules in the order their reasons should win
// (domain.Combine keeps the first of the strongest outcome).
func (s *service) rules(ctx context.Context, r ports.EvaluationRequest, docs []domain.DocumentData, images []domain.ImageDigest, stored ports.VerificationDecisions, clients ports.ClientFinder) (decision.Outcome, error) {
	// The rules of a decision grow in one slice: status, user (2),
	// approval or document data, score, the set's primary and identity
	// data, same person, age and a missing nationality, and per document
	// its status, expiry, nationality and up to three comparisons with the
	// registry.
	o := decision.Outcome{Images: images, Rules: make([]domain.RuleResult, 0, 10+6*len(docs))}
	if r.HasDocumentCheck {
		o.Evidence.Documents = docs
	}
	if more, err := o.AddCommonRules(ctx, clients, r.Status, r.UserID); !more || err != nil {
		return o, err
	}

	o.Rules = append(o.Rules, approvalRule(stored))

	if !r.HasDocumentCheck {
		rr := domain.RuleResult{Rule: RuleDocumentData, Outcome: s.policy.WithoutDocumentData,
			Code: domain.ReasonNoDocumentData, Detail: "no document check result was sent"}
		o.Rules = append(o.Rules, rr)
	} else {
		today := domain.DateOf(s.clock.Now().In(s.zone))
		o.Rules = s.appendDocumentRules(o.Rules, docs, o.Evidence.Registry, today)
	}
	if r.Score != nil {
		o.Rules = append(o.Rules, decision.ScoreRule(*r.Score, s.dp))
	}
	return o, nil
}

// approvalRule refuses an identity verification whose presence check was
// already rejected. Only NOK binds: approval may come before or after
// evaluation, and its WAIT is decided by its own review case. stored was
// read with the evaluation's own decision, before the rules ran.
func approvalRule(stored ports.VerificationDecisions) domain.RuleResult {
	ap, ok := stored.Of(domain.KindApproval)
	switch {
	case ok && ap.Result == domain.ResultNOK:
		return domain.RuleResult{Rule: RuleApproval, Outcome: domain.ResultNOK,
			Code: domain.ReasonVerificationRejected, Detail: "presence check of this verification was rejected"}
	case !ok:
		return domain.RuleResult{Rule: RuleApproval, Outcome: domain.ResultOK, Detail: "no approval recorded"}
	}
	return domain.RuleResult{Rule: RuleApproval, Outcome: domain.ResultOK}
}

// appendDocumentRules appends to rules the checks of the documents
// themselves, then against each other, then against the registry record
// (when the user is known).
func (s *service) appendDocumentRules(rules []domain.RuleResult, docs []domain.DocumentData, client *domain.Client, today domain.Date) []domain.RuleResult {
	add := func(rule string, out domain.Result, code, format string, args ...any) {
		rules = append(rules, domain.RuleResult{Rule: rule, Outcome: out, Code: code, Detail: fmt.Sprintf(format, args...)})
	}
	pass := func(rule string) { rules = append(rules, domain.RuleResult{Rule: rule, Outcome: domain.ResultOK}) }

	// identified: 0 no primary document names its holder with a date of
	// birth or personal number, 1 one does, 2 one of those the registry
	// record has too (so it is compared below).
	primary, identified := false, 0
	for i, d := range docs {
		if d.Status != DocumentSuccess {
			add(RuleDocumentStatus, domain.ResultNOK, domain.ReasonDocumentFailed, "documents[%d] was not verified", i)
		} else {
			pass(RuleDocumentStatus)
		}
		if slices.ContainsFunc(s.policy.PrimaryDocumentTypes, func(t string) bool { return strings.EqualFold(t, d.Type) }) {
			primary = true
			if identifies(d) {
				identified = max(identified, 1)
				if comparable(d, client) {
					identified = 2
				}
			}
		}
	}
	// The comparisons with the registry run only on what both sides
	// carry, so a primary document read without its holder's data, or
	// with none the registry record also has, would pass them all: a
	// person looks at it instead.
	switch {
	case !primary:
		add(RulePrimary, domain.ResultNOK, domain.ReasonNoPrimaryDocument, "no primary identity document (%s)",
			strings.Join(s.policy.PrimaryDocumentTypes, ", "))
	case identified == 0:
		pass(RulePrimary)
		add(RuleIdentityData, domain.ResultWAIT, domain.ReasonDocumentDataIncomplete,
			"no primary document carries a name and a date of birth or personal number")
	case identified == 1:
		pass(RulePrimary)
		add(RuleIdentityData, domain.ResultWAIT, domain.ReasonIdentityUnconfirmed,
			"no primary document carries a date of birth or personal number the registry record has too")
	default:
		pass(RulePrimary)
		pass(RuleIdentityData)
	}
	for _, d := range docs {
		// A document expiring today is still valid today.
		if !d.DateOfExpiry.IsZero() && d.DateOfExpiry.Before(today) {
			add(RuleExpiry, domain.ResultNOK, domain.ReasonDocumentExpired, "document expired on %s", d.DateOfExpiry)
		} else {
			pass(RuleExpiry)
		}
	}
	rules = append(rules, s.samePerson(docs))
	rules = append(rules, s.ageRule(docs, client, today))
	if client != nil {
		rules = s.appendRegistryRules(rules, docs, *client)
	}
	nationality := false
	for i, d := range docs {
		if d.Nationality == "" {
			continue
		}
		nationality = true
		if s.nationalityDenied(d.Nationality) {
			add(RuleNationality, domain.ResultNOK, domain.ReasonNationalityDenied, "nationality on documents[%d] is not accepted", i)
		} else {
			pass(RuleNationality)
		}
	}
	switch {
	case nationality:
	case client != nil && strings.TrimSpace(client.Nationality) != "":
		// No document shows one: the registry's, as the age rule falls
		// back to its date of birth.
		if s.nationalityDenied(strings.ToUpper(strings.TrimSpace(client.Nationality))) {
			add(RuleNationality, domain.ResultNOK, domain.ReasonNationalityDenied, "nationality in the registry is not accepted")
		} else {
			pass(RuleNationality)
		}
	case len(s.policy.NationalityAllow) > 0:
		// Only the listed nationalities are accepted, and nothing shows
		// one: a person checks it rather than the list passing unread.
		add(RuleNationality, domain.ResultWAIT, domain.ReasonNationalityUnverified,
			"nationality could not be verified: neither the documents nor the registry carry one")
	}
	return rules
}

// nationalityDenied reports whether policy refuses the nationality n.
func (s *service) nationalityDenied(n string) bool {
	return slices.Contains(s.policy.NationalityDeny, n) ||
		len(s.policy.NationalityAllow) > 0 && !slices.Contains(s.policy.NationalityAllow, n)
}

// comparable reports whether d carries a date of birth or personal number
// that client's record has too, so that the registry rules compare it.
func comparable(d domain.DocumentData, client *domain.Client) bool {
	if client == nil {
		return true // no record to compare with: the document's own data is all there is
	}
	return !d.DateOfBirth.IsZero() && !client.BirthDate.IsZero() ||
		d.PersonalNumber != "" && domain.NormalizePersonalNumber(client.PersonalNumber) != ""
}

// identifies reports whether d carries what identifies its holder: a name,
// and a date of birth or a personal number.
func identifies(d domain.DocumentData) bool {
	named := strings.TrimSpace(d.GivenNames) != "" || strings.TrimSpace(d.Surname) != ""
	return named && (!d.DateOfBirth.IsZero() || d.PersonalNumber != "")
}

// samePerson refuses a set of documents that describe more than one person
// (someone else's passport beside one's own ID card). Only fields present
// on both documents are compared. Names are compared as with the registry:
// a few edits (a letter the OCR of one document misread) go to a person,
// more is another person; dates of birth and personal numbers must be equal.
func (s *service) samePerson(docs []domain.DocumentData) domain.RuleResult {
	similar := domain.RuleResult{Rule: RuleSamePerson, Outcome: domain.ResultOK}
	for i := 1; i < len(docs); i++ {
		a, b := docs[0], docs[i]
		na, nb := fullName(a.GivenNames, a.Surname), fullName(b.GivenNames, b.Surname)
		sameName, dist := domain.ResultOK, 0
		if na != "" && nb != "" {
			sameName, dist = s.compareNames(na, nb)
		}
		switch {
		case sameName == domain.ResultNOK,
			!a.DateOfBirth.IsZero() && !b.DateOfBirth.IsZero() && a.DateOfBirth != b.DateOfBirth,
			a.PersonalNumber != "" && b.PersonalNumber != "" && a.PersonalNumber != b.PersonalNumber:
			return domain.RuleResult{Rule: RuleSamePerson, Outcome: domain.ResultNOK, Code: domain.ReasonDocumentsDiffer,
				Detail: fmt.Sprintf("documents[%d] describes another person than documents[0]", i)}
		case sameName == domain.ResultWAIT && similar.Outcome == domain.ResultOK:
			similar = domain.RuleResult{Rule: RuleSamePerson, Outcome: domain.ResultWAIT, Code: domain.ReasonNameSimilar,
				Detail: fmt.Sprintf("name on documents[%d] differs from documents[0] by %s", i, characters(dist))}
		}
	}
	return similar
}

// ageRule checks the minimum age on today, from the first document's date
// of birth, else the registry's. A person is of age on the birthday itself.
// When no date of birth is known at all, the case goes to review rather
// than passing an age nobody checked.
func (s *service) ageRule(docs []domain.DocumentData, client *domain.Client, today domain.Date) domain.RuleResult {
	var born domain.Date
	for _, d := range docs {
		if !d.DateOfBirth.IsZero() {
			born = d.DateOfBirth
			break
		}
	}
	if born.IsZero() && client != nil {
		born = client.BirthDate
	}
	switch {
	case born.IsZero():
		return domain.RuleResult{Rule: RuleAge, Outcome: domain.ResultWAIT, Code: domain.ReasonAgeUnverified,
			Detail: "age could not be verified: no date of birth"}
	case born.AgeOn(today) < s.policy.MinimumAge:
		return domain.RuleResult{Rule: RuleAge, Outcome: domain.ResultNOK, Code: domain.ReasonUnderage,
			Detail: fmt.Sprintf("applicant is under %d", s.policy.MinimumAge)}
	}
	return domain.RuleResult{Rule: RuleAge, Outcome: domain.ResultOK}
}

// appendRegistryRules appends to rules the comparison of each document
// with the registry record. Texts name the field that differs, never its
// values: they are personal data.
func (s *service) appendRegistryRules(rules []domain.RuleResult, docs []domain.DocumentData, c domain.Client) []domain.RuleResult {
	regName := fullName(c.GivenNames, c.Surname)
	regPN := domain.NormalizePersonalNumber(c.PersonalNumber)
	for i, d := range docs {
		if !d.DateOfBirth.IsZero() && !c.BirthDate.IsZero() {
			if d.DateOfBirth != c.BirthDate {
				rules = append(rules, domain.RuleResult{Rule: RuleBirthDate, Outcome: domain.ResultNOK,
					Code: domain.ReasonBirthDateMismatch, Detail: fmt.Sprintf("date of birth on documents[%d] differs from the registry", i)})
			} else {
				rules = append(rules, domain.RuleResult{Rule: RuleBirthDate, Outcome: domain.ResultOK})
			}
		}
		if d.PersonalNumber != "" && regPN != "" {
			if d.PersonalNumber != regPN {
				rules = append(rules, domain.RuleResult{Rule: RulePersonalNumber, Outcome: domain.ResultNOK,
					Code: domain.ReasonPersonalNumberDiffer, Detail: fmt.Sprintf("personal number on documents[%d] differs from the registry", i)})
			} else {
				rules = append(rules, domain.RuleResult{Rule: RulePersonalNumber, Outcome: domain.ResultOK})
			}
		}
		if docName := fullName(d.GivenNames, d.Surname); docName != "" && regName != "" {
			rules = append(rules, s.nameRule(i, docName, regName))
		}
	}
	return rules
}

// nameRule compares folded names: equal passes, a few edits (a typo, a
// letter OCR misread) go to a person, more is another name.
func (s *service) nameRule(i int, docName, regName string) domain.RuleResult {
	switch res, dist := s.compareNames(docName, regName); res {
	case domain.ResultOK:
		return domain.RuleResult{Rule: RuleName, Outcome: domain.ResultOK}
	case domain.ResultWAIT:
		return domain.RuleResult{Rule: RuleName, Outcome: domain.ResultWAIT, Code: domain.ReasonNameSimilar,
			Detail: fmt.Sprintf("name on documents[%d] differs from the registry by %s", i, characters(dist))}
	}
	return domain.RuleResult{Rule: RuleName, Outcome: domain.ResultNOK, Code: domain.ReasonNameMismatch,
		Detail: fmt.Sprintf("name on documents[%d] does not match the registry", i)}
}

// compareNames classifies two folded names: equal is OK, within
// NameWaitDistance edits WAIT (with the distance), further apart NOK.
func (s *service) compareNames(a, b string) (domain.Result, int) {
	if a == b {
		return domain.ResultOK, 0
	}
	if dist := names.EditDistance(a, b); dist <= s.policy.NameWaitDistance {
		return domain.ResultWAIT, dist
	}
	return domain.ResultNOK, 0
}

// fullName folds given names and surname into one comparable string, or ""
// when neither is known.
func fullName(given, surname string) string {
	return names.Fold(given + " " + surname)
}

// characters is "1 character" or "n characters".
func characters(n int) string {
	if n == 1 {
		return "1 character"
	}
	return strconv.Itoa(n) + " characters"
}
