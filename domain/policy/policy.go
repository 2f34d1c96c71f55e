// Package policy holds the business thresholds, lists and templates every
// onboarding service decides by. A bank changes them in a YAML file; the
// loader in cmd fills these plain values and Validate refuses a bad one at
// start, naming it, so a typo never reaches a decision.
package policy

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
)

// NotFoundAction is what lookup does with an identification the registry
// does not know.
type NotFoundAction string

// The not-found actions.
const (
	// NotFoundReject answers 404 (the 1.x caller then sends no OTP).
	NotFoundReject NotFoundAction = "reject"
	// NotFoundRegister creates a prospect with a stable generated user id.
	NotFoundRegister NotFoundAction = "register"
)

// Policy is the whole business configuration.
type Policy struct {
	Lookup     Lookup
	Decision   Decision
	Evaluation Evaluation
	OTP        OTP
	Consent    Consent
	Review     Review
}

// Lookup configures /user/lookup.
type Lookup struct {
	// Schemes are tried in order; the first whose keys are all present wins.
	Schemes [][]domain.IdentificationKey
	// NotFound says whether an unknown prospect is rejected or registered.
	NotFound NotFoundAction
}

// Decision holds what approval and evaluation share: score thresholds and
// how a case that needs a person is answered.
type Decision struct {
	// RejectBelow: a score under it is NOK.
	RejectBelow float64
	// ApproveFrom: a score at or over it is OK; between the two is WAIT.
	ApproveFrom float64
	// WaitSupported is false for callers that fail on WAIT (Onboarding
	// Server 1.x); they get ReviewFallback instead and a case is still opened.
	WaitSupported bool
	// ReviewFallback is OK or NOK.
	ReviewFallback domain.Result
	// KeepEvidence keeps the frame and document data on review cases until
	// they are resolved and the retention has passed.
	KeepEvidence bool
}

// Evaluation configures /client/evaluate.
type Evaluation struct {
	// PrimaryDocumentTypes are the identity documents of which a set needs
	// one (else NOK), and one carrying a name and a date of birth or
	// personal number that the registry record has too (else WAIT).
	PrimaryDocumentTypes []string
	MinimumAge           int
	// NameWaitDistance is the largest edit distance between folded names that
	// still goes to review instead of NOK.
	NameWaitDistance int
	// NationalityAllow, when not empty, is the only accepted nationalities;
	// when no document shows one the registry's is checked, and without
	// that too the evaluation goes to review.
	NationalityAllow []string
	// NationalityDeny is refused nationalities.
	NationalityDeny []string
	// WithoutDocumentData answers an evaluate call that carries no document
	// check result (older callers): OK, NOK or WAIT.
	WithoutDocumentData domain.Result
	// TimeZone is the IANA zone whose calendar date is "today" for the
	// document expiry and minimum age checks ("" is UTC). Set it to the
	// bank's zone (Europe/Prague): in UTC, from midnight to 01:00 or 02:00
	// there, a document that expired yesterday passed and an applicant
	// turning 18 today was refused.
	TimeZone string
}

// Location is the loaded TimeZone; UTC when it is empty or unknown (a
// policy that passed Validate has a known one).
func (e Evaluation) Location() *time.Location {
	loc, err := time.LoadLocation(e.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// OTP configures /otp/send.
type OTP struct {
	DefaultLanguage string
	// Templates per OTP type and language; each contains CodePlaceholder once.
	Templates map[domain.OTPType]map[string]string
	// SenderIDs per language; the "" key is the default sender id.
	SenderIDs      map[string]string
	ThrottleLimit  int
	ThrottleWindow time.Duration
	// PhoneThrottleLimit bounds the sends to one phone number over all
	// processes and users within PhoneThrottleWindow (0: no bound): each
	// process has its own ThrottleLimit, so whoever can start processes for
	// someone (knowing their personal number, or registering prospects with
	// their number) could otherwise send them SMS without end, at the
	// bank's cost.
	PhoneThrottleLimit  int
	PhoneThrottleWindow time.Duration
	DedupeWindow        time.Duration
	// MaxSegments bounds the SMS length a template may produce.
	MaxSegments int
	// CodeMaxLength bounds the code inserted into the template (the
	// Onboarding Server generates 4 to 12 digits).
	CodeMaxLength int
}

// CodePlaceholder marks where the code goes in an OTP template.
const CodePlaceholder = "{code}"

// Consent configures consent texts, storage and the lookup's consent value.
type Consent struct {
	// Enabled false makes lookup answer NOT_EVALUATED.
	Enabled bool
	// RequiredTypes must all be approved at their current version for
	// lookup to answer NOT_REQUIRED.
	RequiredTypes   []string
	DefaultLanguage string
	// MaxTextBytes bounds a published text so the JSON answer stays under the
	// caller's 1 MiB response limit.
	MaxTextBytes int
}

// Review configures the manual review of WAIT cases.
type Review struct {
	// Retention is how long evidence of a resolved case is kept.
	Retention time.Duration
	// RequireClaim makes reviewers claim a case before resolving it.
	RequireClaim bool
	// FourEyes requires a second reviewer to turn an automatic NOK into OK.
	FourEyes bool
}

// Default returns the defaults of DESIGN.md §3.
func Default() Policy {
	return Policy{
		Lookup: Lookup{
			Schemes: [][]domain.IdentificationKey{
				{domain.KeyClientNumber, domain.KeyBirthDate},
				{domain.KeyPersonalNumber},
			},
			NotFound: NotFoundReject,
		},
		Decision: Decision{
			RejectBelow:    4.0,
			ApproveFrom:    7.0,
			WaitSupported:  true,
			ReviewFallback: domain.ResultNOK,
			KeepEvidence:   true,
		},
		Evaluation: Evaluation{
			PrimaryDocumentTypes: []string{"ID_CARD", "PASSPORT"},
			MinimumAge:           18,
			NameWaitDistance:     2,
			WithoutDocumentData:  domain.ResultOK,
		},
		OTP: OTP{
			DefaultLanguage: "en",
			Templates: map[domain.OTPType]map[string]string{
				domain.OTPActivation: {
					"en": "Your activation code is {code}. Never share it with anyone.",
					"cs": "Váš aktivační kód je {code}. Nikomu jej nesdělujte.",
				},
				domain.OTPUserVerification: {
					"en": "Your verification code is {code}. Never share it with anyone.",
					"cs": "Váš ověřovací kód je {code}. Nikomu jej nesdělujte.",
				},
			},
			SenderIDs:           map[string]string{"": "MyBank"},
			ThrottleLimit:       5,
			ThrottleWindow:      15 * time.Minute,
			PhoneThrottleLimit:  10,
			PhoneThrottleWindow: time.Hour,
			DedupeWindow:        60 * time.Second,
			MaxSegments:         2,
			CodeMaxLength:       12,
		},
		Consent: Consent{
			Enabled:         true,
			RequiredTypes:   []string{"GDPR"},
			DefaultLanguage: "en",
			MaxTextBytes:    1<<20 - 4096,
		},
		Review: Review{
			Retention: 30 * 24 * time.Hour,
		},
	}
}

// Validate checks every value and returns one error naming each bad key by
// its YAML path.
func (p Policy) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("policy %s: %s", key, fmt.Sprintf(format, args...)))
	}
	if len(p.Lookup.Schemes) == 0 {
		bad("lookup.schemes", "at least one scheme is required")
	}
	for i, s := range p.Lookup.Schemes {
		if len(s) == 0 {
			bad(fmt.Sprintf("lookup.schemes[%d]", i), "a scheme needs at least one key")
		}
		seen := map[domain.IdentificationKey]bool{}
		for _, k := range s {
			if !k.Known() {
				bad(fmt.Sprintf("lookup.schemes[%d]", i), "unknown identification key %q (known: %s)", k, knownKeys())
			}
			if seen[k] {
				bad(fmt.Sprintf("lookup.schemes[%d]", i), "key %q appears twice", k)
			}
			seen[k] = true
		}
	}
	if p.Lookup.NotFound != NotFoundReject && p.Lookup.NotFound != NotFoundRegister {
		bad("lookup.notFound", "must be reject or register, not %q", p.Lookup.NotFound)
	}
	d := p.Decision
	// Written as !(in range) so NaN (YAML .nan), which fails every
	// comparison, is refused instead of disabling the thresholds.
	if !(d.RejectBelow >= 0 && d.RejectBelow <= 10) {
		bad("decision.rejectBelow", "must be between 0 and 10, not %v", d.RejectBelow)
	}
	if !(d.ApproveFrom >= 0 && d.ApproveFrom <= 10) {
		bad("decision.approveFrom", "must be between 0 and 10, not %v", d.ApproveFrom)
	}
	if d.ApproveFrom < d.RejectBelow {
		bad("decision.approveFrom", "must not be below decision.rejectBelow (%v < %v)", d.ApproveFrom, d.RejectBelow)
	}
	if d.ReviewFallback != domain.ResultOK && d.ReviewFallback != domain.ResultNOK {
		bad("decision.reviewFallback", "must be OK or NOK, not %q", d.ReviewFallback)
	}
	e := p.Evaluation
	if len(e.PrimaryDocumentTypes) == 0 {
		bad("evaluation.primaryDocumentTypes", "at least one document type is required")
	}
	if e.MinimumAge < 0 || e.MinimumAge > 150 {
		bad("evaluation.minimumAge", "must be between 0 and 150, not %d", e.MinimumAge)
	}
	if e.NameWaitDistance < 0 || e.NameWaitDistance > 10 {
		bad("evaluation.nameWaitDistance", "must be between 0 and 10, not %d", e.NameWaitDistance)
	}
	if _, err := time.LoadLocation(e.TimeZone); err != nil {
		bad("evaluation.timeZone", "unknown time zone %q (an IANA name such as Europe/Prague)", e.TimeZone)
	}
	for _, l := range []struct {
		key  string
		list []string
	}{{"evaluation.nationalityAllow", e.NationalityAllow}, {"evaluation.nationalityDeny", e.NationalityDeny}} {
		for _, n := range l.list {
			if !isAlpha3(n) {
				bad(l.key, "%q is not an ISO 3166-1 alpha-3 code", n)
			}
		}
	}
	if !e.WithoutDocumentData.Valid() {
		bad("evaluation.withoutDocumentData", "must be OK, NOK or WAIT, not %q", e.WithoutDocumentData)
	}
	p.validateOTP(bad)
	c := p.Consent
	if c.DefaultLanguage == "" {
		bad("consent.defaultLanguage", "is required")
	}
	for _, t := range c.RequiredTypes {
		if strings.TrimSpace(t) == "" {
			bad("consent.requiredTypes", "must not contain an empty type")
		}
	}
	if c.MaxTextBytes <= 0 || c.MaxTextBytes > 1<<20 {
		bad("consent.maxTextBytes", "must be between 1 and 1048576, not %d", c.MaxTextBytes)
	}
	if p.Review.Retention < time.Hour {
		bad("review.retention", "must be at least 1h, not %s", p.Review.Retention)
	}
	return errors.Join(errs...)
}

func (p Policy) validateOTP(bad func(key, format string, args ...any)) {
	o := p.OTP
	if o.DefaultLanguage == "" {
		bad("otp.defaultLanguage", "is required")
	} else if !languageCode(o.DefaultLanguage) {
		bad("otp.defaultLanguage", languageMessage)
	}
	for lang := range o.SenderIDs {
		if lang != "" && !languageCode(lang) {
			bad("otp.senderIds."+lang, languageMessage)
		}
	}
	if o.ThrottleLimit < 1 {
		bad("otp.throttleLimit", "must be at least 1, not %d", o.ThrottleLimit)
	}
	if o.ThrottleWindow <= 0 {
		bad("otp.throttleWindow", "must be positive, not %s", o.ThrottleWindow)
	}
	if o.PhoneThrottleLimit < 0 {
		bad("otp.phoneThrottleLimit", "must be 0 (no bound) or more, not %d", o.PhoneThrottleLimit)
	}
	if o.PhoneThrottleLimit > 0 && o.PhoneThrottleWindow <= 0 {
		bad("otp.phoneThrottleWindow", "must be positive, not %s", o.PhoneThrottleWindow)
	}
	if o.DedupeWindow < minDedupeWindow {
		// A claim shorter than a send (the request's deadline, under 5 s,
		// and the outcome's recording) could expire while its SMS is in
		// flight, and a retry would then send a second one.
		bad("otp.dedupeWindow", "must be at least %s (longer than a send can take), not %s", minDedupeWindow, o.DedupeWindow)
	}
	// Template lengths are measured against maxSegments with a code of
	// codeMaxLength digits; with either out of range that measurement would
	// only repeat the error once per template (or, for a negative length,
	// panic in strings.Repeat), so it is skipped.
	measure := true
	if o.MaxSegments < 1 || o.MaxSegments > 10 {
		bad("otp.maxSegments", "must be between 1 and 10, not %d", o.MaxSegments)
		measure = false
	}
	if o.CodeMaxLength < 4 || o.CodeMaxLength > 32 {
		bad("otp.codeMaxLength", "must be between 4 and 32, not %d", o.CodeMaxLength)
		measure = false
	}
	for _, t := range []domain.OTPType{domain.OTPActivation, domain.OTPUserVerification} {
		if _, ok := o.Templates[t][o.DefaultLanguage]; !ok {
			bad(fmt.Sprintf("otp.templates.%s", t), "needs a template in the default language %q", o.DefaultLanguage)
		}
	}
	for t, byLang := range o.Templates {
		if !t.Valid() {
			bad("otp.templates", "unknown OTP type %q", t)
		}
		for lang, text := range byLang {
			key := fmt.Sprintf("otp.templates.%s.%s", t, lang)
			if !languageCode(lang) {
				bad(key, languageMessage)
				continue
			}
			if strings.Count(text, CodePlaceholder) != 1 {
				bad(key, "must contain %s exactly once", CodePlaceholder)
				continue
			}
			if !measure {
				continue
			}
			// Measure with the longest code so a long code cannot push the
			// message over the limit at run time.
			sample := strings.Replace(text, CodePlaceholder, strings.Repeat("0", o.CodeMaxLength), 1)
			if enc, n := domain.MeasureSMS(sample); n > o.MaxSegments {
				bad(key, "takes %d %s segments, more than otp.maxSegments %d", n, enc, o.MaxSegments)
			}
		}
	}
}

// minDedupeWindow is the shortest dedupe window: twice the caller's
// patience (5 s), so a claim outlives any send it guards.
const minDedupeWindow = 10 * time.Second

// languageMessage says why a language key is refused: requests' languages
// are reduced to their lower-case primary subtag ("cs-CZ", " CS " read
// "cs"), so a key written otherwise would never be chosen and its users
// would silently get the default language.
const languageMessage = "must be a lower-case ISO 639 language code such as cs or en (a request's cs-CZ is read as cs)"

// languageCode reports whether s has the shape of a lower-case ISO 639-1
// or 639-2 code.
func languageCode(s string) bool {
	if len(s) < 2 || len(s) > 3 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return true
}

// isAlpha3 reports whether s has the shape of an ISO 3166-1 alpha-3 code:
// three letters A to Z, as documents and the registry print them.
func isAlpha3(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

func knownKeys() string {
	ks := domain.KnownIdentificationKeys()
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// Template returns the OTP template for t in lang, falling back to the
// default language, and the language actually used.
func (o OTP) Template(t domain.OTPType, lang string) (string, string, bool) {
	if text, ok := o.Templates[t][lang]; ok {
		return text, lang, true
	}
	text, ok := o.Templates[t][o.DefaultLanguage]
	return text, o.DefaultLanguage, ok
}

// SenderID returns the sender id for lang, else the default one.
func (o OTP) SenderID(lang string) string {
	if s, ok := o.SenderIDs[lang]; ok {
		return s
	}
	return o.SenderIDs[""]
}
