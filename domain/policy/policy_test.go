package policy_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/policy"
)

func TestDefaultValidates(t *testing.T) {
	if err := policy.Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
}

// TestDefaultMatchesDesign pins the defaults DESIGN.md §3 promises, so a
// changed default is a deliberate edit here too.
func TestDefaultMatchesDesign(t *testing.T) {
	p := policy.Default()
	checks := []struct {
		name      string
		got, want any
	}{
		{"schemes", len(p.Lookup.Schemes), 2},
		{"scheme 0", keys(p.Lookup.Schemes[0]), "clientNumber+birthDate"},
		{"scheme 1", keys(p.Lookup.Schemes[1]), "personalNumber"},
		{"notFound", p.Lookup.NotFound, policy.NotFoundReject},
		{"rejectBelow", p.Decision.RejectBelow, 4.0},
		{"approveFrom", p.Decision.ApproveFrom, 7.0},
		{"waitSupported", p.Decision.WaitSupported, true},
		{"reviewFallback", p.Decision.ReviewFallback, domain.ResultNOK},
		{"primary documents", strings.Join(p.Evaluation.PrimaryDocumentTypes, ","), "ID_CARD,PASSPORT"},
		{"minimumAge", p.Evaluation.MinimumAge, 18},
		{"nameWaitDistance", p.Evaluation.NameWaitDistance, 2},
		{"withoutDocumentData", p.Evaluation.WithoutDocumentData, domain.ResultOK},
		{"throttleLimit", p.OTP.ThrottleLimit, 5},
		{"throttleWindow", p.OTP.ThrottleWindow, 15 * time.Minute},
		{"phoneThrottleLimit", p.OTP.PhoneThrottleLimit, 10},
		{"phoneThrottleWindow", p.OTP.PhoneThrottleWindow, time.Hour},
		{"dedupeWindow", p.OTP.DedupeWindow, 60 * time.Second},
		{"consent enabled", p.Consent.Enabled, true},
		{"consent max bytes under 1 MiB", p.Consent.MaxTextBytes < 1<<20, true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("default %s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestDefaultIsFresh: callers (and the YAML loader) change the returned
// policy; a shared map would leak one change into every later Default().
func TestDefaultIsFresh(t *testing.T) {
	a := policy.Default()
	a.OTP.Templates[domain.OTPActivation]["en"] = "changed {code}"
	a.OTP.SenderIDs[""] = "Changed"
	a.Lookup.Schemes[0][0] = domain.KeyPhoneNumber
	b := policy.Default()
	if b.OTP.Templates[domain.OTPActivation]["en"] == "changed {code}" || b.OTP.SenderIDs[""] == "Changed" ||
		b.Lookup.Schemes[0][0] != domain.KeyClientNumber {
		t.Error("Default() shares state between calls")
	}
}

func keys(ks []domain.IdentificationKey) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, "+")
}

// bad is one expected error: the YAML key it must name and a fragment of its
// text.
type bad struct{ key, text string }

func TestValidate(t *testing.T) {
	long := strings.Repeat("a", 150) // 150 + a 10-digit code = 160 GSM-7 septets
	tests := []struct {
		name   string
		change func(*policy.Policy)
		want   []bad // empty: the changed policy is valid
	}{
		{"unknown time zone", func(p *policy.Policy) { p.Evaluation.TimeZone = "Europe/Atlantis" },
			[]bad{{"evaluation.timeZone", `unknown time zone "Europe/Atlantis"`}}},
		{"the bank's time zone", func(p *policy.Policy) { p.Evaluation.TimeZone = "Europe/Prague" }, nil},
		// lookup
		{"no schemes", func(p *policy.Policy) { p.Lookup.Schemes = nil },
			[]bad{{"lookup.schemes", "at least one scheme"}}},
		{"empty scheme", func(p *policy.Policy) { p.Lookup.Schemes = append(p.Lookup.Schemes, nil) },
			[]bad{{"lookup.schemes[2]", "at least one key"}}},
		{"unknown key", func(p *policy.Policy) {
			p.Lookup.Schemes[1] = []domain.IdentificationKey{domain.KeyPersonalNumber, "email"}
		}, []bad{{"lookup.schemes[1]", `unknown identification key "email"`}}},
		{"key with wrong case", func(p *policy.Policy) { p.Lookup.Schemes[0][1] = "birthdate" },
			[]bad{{"lookup.schemes[0]", `unknown identification key "birthdate"`}}},
		{"duplicate key", func(p *policy.Policy) {
			p.Lookup.Schemes[0] = []domain.IdentificationKey{domain.KeyBirthDate, domain.KeyClientNumber, domain.KeyBirthDate}
		}, []bad{{"lookup.schemes[0]", `"birthDate" appears twice`}}},
		{"phone scheme", func(p *policy.Policy) {
			p.Lookup.Schemes = [][]domain.IdentificationKey{{domain.KeyPhoneNumber, domain.KeyBirthDate}}
		}, nil},
		{"notFound empty", func(p *policy.Policy) { p.Lookup.NotFound = "" },
			[]bad{{"lookup.notFound", "reject or register"}}},
		{"notFound upper case", func(p *policy.Policy) { p.Lookup.NotFound = "REGISTER" },
			[]bad{{"lookup.notFound", `not "REGISTER"`}}},
		{"notFound register", func(p *policy.Policy) { p.Lookup.NotFound = policy.NotFoundRegister }, nil},

		// decision thresholds
		{"rejectBelow negative", func(p *policy.Policy) { p.Decision.RejectBelow = -0.1 },
			[]bad{{"decision.rejectBelow", "between 0 and 10"}}},
		{"rejectBelow over 10", func(p *policy.Policy) { p.Decision.RejectBelow = 10.5; p.Decision.ApproveFrom = 10 },
			[]bad{{"decision.rejectBelow", "between 0 and 10"}, {"decision.approveFrom", "must not be below"}}},
		{"rejectBelow NaN", func(p *policy.Policy) { p.Decision.RejectBelow = math.NaN() },
			[]bad{{"decision.rejectBelow", "NaN"}}},
		{"approveFrom over 10", func(p *policy.Policy) { p.Decision.ApproveFrom = 10.01 },
			[]bad{{"decision.approveFrom", "between 0 and 10"}}},
		{"approveFrom negative", func(p *policy.Policy) { p.Decision.ApproveFrom = -1; p.Decision.RejectBelow = 0 },
			[]bad{{"decision.approveFrom", "between 0 and 10"}, {"decision.approveFrom", "must not be below"}}},
		{"approveFrom infinite", func(p *policy.Policy) { p.Decision.ApproveFrom = math.Inf(1) },
			[]bad{{"decision.approveFrom", "between 0 and 10"}}},
		{"approveFrom NaN", func(p *policy.Policy) { p.Decision.ApproveFrom = math.NaN() },
			[]bad{{"decision.approveFrom", "NaN"}}},
		{"thresholds crossed", func(p *policy.Policy) { p.Decision.RejectBelow, p.Decision.ApproveFrom = 7, 4 },
			[]bad{{"decision.approveFrom", "must not be below decision.rejectBelow"}}},
		{"thresholds equal (no WAIT band)", func(p *policy.Policy) { p.Decision.RejectBelow, p.Decision.ApproveFrom = 5, 5 }, nil},
		{"thresholds at the bounds", func(p *policy.Policy) { p.Decision.RejectBelow, p.Decision.ApproveFrom = 0, 10 }, nil},
		{"reviewFallback WAIT", func(p *policy.Policy) { p.Decision.ReviewFallback = domain.ResultWAIT },
			[]bad{{"decision.reviewFallback", "OK or NOK"}}},
		{"reviewFallback empty", func(p *policy.Policy) { p.Decision.ReviewFallback = "" },
			[]bad{{"decision.reviewFallback", "OK or NOK"}}},
		{"reviewFallback OK", func(p *policy.Policy) { p.Decision.ReviewFallback = domain.ResultOK }, nil},

		// evaluation
		{"no primary types", func(p *policy.Policy) { p.Evaluation.PrimaryDocumentTypes = nil },
			[]bad{{"evaluation.primaryDocumentTypes", "at least one"}}},
		{"minimumAge negative", func(p *policy.Policy) { p.Evaluation.MinimumAge = -1 },
			[]bad{{"evaluation.minimumAge", "between 0 and 150"}}},
		{"minimumAge 151", func(p *policy.Policy) { p.Evaluation.MinimumAge = 151 },
			[]bad{{"evaluation.minimumAge", "not 151"}}},
		{"minimumAge 0", func(p *policy.Policy) { p.Evaluation.MinimumAge = 0 }, nil},
		{"nameWaitDistance negative", func(p *policy.Policy) { p.Evaluation.NameWaitDistance = -1 },
			[]bad{{"evaluation.nameWaitDistance", "between 0 and 10"}}},
		{"nameWaitDistance 11", func(p *policy.Policy) { p.Evaluation.NameWaitDistance = 11 },
			[]bad{{"evaluation.nameWaitDistance", "not 11"}}},
		{"nameWaitDistance 0", func(p *policy.Policy) { p.Evaluation.NameWaitDistance = 0 }, nil},
		{"nationality lists valid", func(p *policy.Policy) {
			p.Evaluation.NationalityAllow = []string{"CZE", "SVK"}
			p.Evaluation.NationalityDeny = []string{"PRK"}
		}, nil},
		{"nationality lower case", func(p *policy.Policy) { p.Evaluation.NationalityAllow = []string{"CZE", "svk"} },
			[]bad{{"evaluation.nationalityAllow", `"svk" is not an ISO 3166-1 alpha-3 code`}}},
		{"nationality alpha-2", func(p *policy.Policy) { p.Evaluation.NationalityDeny = []string{"RU"} },
			[]bad{{"evaluation.nationalityDeny", `"RU"`}}},
		{"nationality four letters", func(p *policy.Policy) { p.Evaluation.NationalityDeny = []string{"CZEC"} },
			[]bad{{"evaluation.nationalityDeny", `"CZEC"`}}},
		{"nationality digits", func(p *policy.Policy) { p.Evaluation.NationalityAllow = []string{"203"} },
			[]bad{{"evaluation.nationalityAllow", `"203"`}}},
		{"nationality punctuation", func(p *policy.Policy) { p.Evaluation.NationalityAllow = []string{"D<<"} },
			[]bad{{"evaluation.nationalityAllow", `"D<<"`}}},
		{"nationality empty", func(p *policy.Policy) { p.Evaluation.NationalityDeny = []string{""} },
			[]bad{{"evaluation.nationalityDeny", `""`}}},
		{"withoutDocumentData empty", func(p *policy.Policy) { p.Evaluation.WithoutDocumentData = "" },
			[]bad{{"evaluation.withoutDocumentData", "OK, NOK or WAIT"}}},
		{"withoutDocumentData lower case", func(p *policy.Policy) { p.Evaluation.WithoutDocumentData = "ok" },
			[]bad{{"evaluation.withoutDocumentData", `not "ok"`}}},
		{"withoutDocumentData WAIT", func(p *policy.Policy) { p.Evaluation.WithoutDocumentData = domain.ResultWAIT }, nil},
		{"withoutDocumentData NOK", func(p *policy.Policy) { p.Evaluation.WithoutDocumentData = domain.ResultNOK }, nil},

		// otp
		{"otp default language missing", func(p *policy.Policy) { p.OTP.DefaultLanguage = "" }, []bad{
			{"otp.defaultLanguage", "is required"},
			{"otp.templates.ACTIVATION", "default language"},
			{"otp.templates.USER_VERIFICATION", "default language"},
		}},
		{"otp default language without templates", func(p *policy.Policy) { p.OTP.DefaultLanguage = "de" }, []bad{
			{"otp.templates.ACTIVATION", `default language "de"`},
			{"otp.templates.USER_VERIFICATION", `default language "de"`},
		}},
		{"otp default language cs", func(p *policy.Policy) { p.OTP.DefaultLanguage = "cs" }, nil},
		{"otp template language with a region", func(p *policy.Policy) {
			p.OTP.Templates[domain.OTPActivation]["cs-CZ"] = "Kód {code}"
		}, []bad{{"otp.templates.ACTIVATION.cs-CZ", "lower-case ISO 639"}}},
		{"otp template language in capitals", func(p *policy.Policy) {
			p.OTP.Templates[domain.OTPUserVerification]["DE"] = "Code {code}"
		}, []bad{{"otp.templates.USER_VERIFICATION.DE", "lower-case ISO 639"}}},
		{"otp sender id language with a region", func(p *policy.Policy) { p.OTP.SenderIDs["cs_CZ"] = "MojeBanka" },
			[]bad{{"otp.senderIds.cs_CZ", "lower-case ISO 639"}}},
		{"otp sender id in a language code", func(p *policy.Policy) { p.OTP.SenderIDs["cs"] = "MojeBanka" }, nil},
		{"otp default language with a region", func(p *policy.Policy) { p.OTP.DefaultLanguage = "en-GB" }, []bad{
			{"otp.defaultLanguage", "lower-case ISO 639"},
			{"otp.templates.ACTIVATION", "default language"},
			{"otp.templates.USER_VERIFICATION", "default language"},
		}},
		{"otp one type lacks default language", func(p *policy.Policy) {
			delete(p.OTP.Templates[domain.OTPUserVerification], "en")
		}, []bad{{"otp.templates.USER_VERIFICATION", `default language "en"`}}},
		{"otp type missing entirely", func(p *policy.Policy) {
			delete(p.OTP.Templates, domain.OTPActivation)
		}, []bad{{"otp.templates.ACTIVATION", "default language"}}},
		{"otp throttleLimit 0", func(p *policy.Policy) { p.OTP.ThrottleLimit = 0 },
			[]bad{{"otp.throttleLimit", "at least 1"}}},
		{"otp throttleLimit 1", func(p *policy.Policy) { p.OTP.ThrottleLimit = 1 }, nil},
		{"otp phoneThrottleLimit negative", func(p *policy.Policy) { p.OTP.PhoneThrottleLimit = -1 },
			[]bad{{"otp.phoneThrottleLimit", "0 (no bound) or more"}}},
		{"otp phoneThrottleLimit 0 without a window", func(p *policy.Policy) { p.OTP.PhoneThrottleLimit, p.OTP.PhoneThrottleWindow = 0, 0 }, nil},
		{"otp phoneThrottleWindow 0", func(p *policy.Policy) { p.OTP.PhoneThrottleWindow = 0 },
			[]bad{{"otp.phoneThrottleWindow", "must be positive"}}},
		{"otp throttleWindow 0", func(p *policy.Policy) { p.OTP.ThrottleWindow = 0 },
			[]bad{{"otp.throttleWindow", "positive"}}},
		{"otp throttleWindow negative", func(p *policy.Policy) { p.OTP.ThrottleWindow = -time.Minute },
			[]bad{{"otp.throttleWindow", "-1m0s"}}},
		{"otp dedupeWindow 0", func(p *policy.Policy) { p.OTP.DedupeWindow = 0 },
			[]bad{{"otp.dedupeWindow", "at least 10s"}}},
		{"otp dedupeWindow shorter than a send", func(p *policy.Policy) { p.OTP.DedupeWindow = 3 * time.Second },
			[]bad{{"otp.dedupeWindow", "not 3s"}}},
		{"otp dedupeWindow 10s", func(p *policy.Policy) { p.OTP.DedupeWindow = 10 * time.Second }, nil},
		{"otp maxSegments 0", func(p *policy.Policy) { p.OTP.MaxSegments = 0 },
			[]bad{{"otp.maxSegments", "between 1 and 10"}}},
		{"otp maxSegments 11", func(p *policy.Policy) { p.OTP.MaxSegments = 11 },
			[]bad{{"otp.maxSegments", "not 11"}}},
		{"otp codeMaxLength 3", func(p *policy.Policy) { p.OTP.CodeMaxLength = 3 },
			[]bad{{"otp.codeMaxLength", "between 4 and 32"}}},
		{"otp codeMaxLength negative", func(p *policy.Policy) { p.OTP.CodeMaxLength = -1 },
			[]bad{{"otp.codeMaxLength", "not -1"}}},
		{"otp maxSegments 0 with a bad template", func(p *policy.Policy) {
			p.OTP.MaxSegments = 0
			p.OTP.Templates[domain.OTPActivation]["en"] = "no placeholder"
		}, []bad{{"otp.maxSegments", "not 0"}, {"otp.templates.ACTIVATION.en", "exactly once"}}},
		{"otp codeMaxLength 33", func(p *policy.Policy) { p.OTP.CodeMaxLength = 33 },
			[]bad{{"otp.codeMaxLength", "not 33"}}},
		{"otp placeholder missing", func(p *policy.Policy) {
			p.OTP.Templates[domain.OTPActivation]["cs"] = "Váš aktivační kód. Nikomu jej nesdělujte."
		}, []bad{{"otp.templates.ACTIVATION.cs", "must contain {code} exactly once"}}},
		{"otp placeholder misspelt", func(p *policy.Policy) {
			p.OTP.Templates[domain.OTPUserVerification]["en"] = "Your code is {CODE}."
		}, []bad{{"otp.templates.USER_VERIFICATION.en", "{code} exactly once"}}},
		{"otp placeholder twice", func(p *policy.Policy) {
			p.OTP.Templates[domain.OTPActivation]["en"] = "Code {code}. Again: {code}."
		}, []bad{{"otp.templates.ACTIVATION.en", "exactly once"}}},
		{"otp extra language", func(p *policy.Policy) {
			p.OTP.Templates[domain.OTPActivation]["de"] = "Ihr Aktivierungscode lautet {code}."
		}, nil},
		// Segments are measured with a code of codeMaxLength digits: the
		// same template passes with 10 digits (160 septets) and fails with
		// 11 (161).
		{"otp template fits with longest code", func(p *policy.Policy) {
			p.OTP.MaxSegments, p.OTP.CodeMaxLength = 1, 10
			p.OTP.Templates[domain.OTPActivation]["en"] = long + "{code}"
		}, nil},
		{"otp template too long with longest code", func(p *policy.Policy) {
			p.OTP.MaxSegments, p.OTP.CodeMaxLength = 1, 11
			p.OTP.Templates[domain.OTPActivation]["en"] = long + "{code}"
		}, []bad{{"otp.templates.ACTIVATION.en", "takes 2 GSM-7 segments, more than otp.maxSegments 1"}}},
		{"otp UCS-2 template too long", func(p *policy.Policy) {
			p.OTP.MaxSegments = 1
			p.OTP.Templates[domain.OTPUserVerification]["cs"] = strings.Repeat("ř", 59) + "{code}"
		}, []bad{{"otp.templates.USER_VERIFICATION.cs", "takes 2 UCS-2 segments"}}},
		{"otp default templates fit one segment", func(p *policy.Policy) { p.OTP.MaxSegments = 1 }, nil},
		{"otp unknown type", func(p *policy.Policy) {
			p.OTP.Templates["LOGIN"] = map[string]string{"en": "Login code {code}"}
		}, []bad{{"otp.templates", `unknown OTP type "LOGIN"`}}},

		// consent
		{"consent default language", func(p *policy.Policy) { p.Consent.DefaultLanguage = "" },
			[]bad{{"consent.defaultLanguage", "is required"}}},
		{"consent empty required type", func(p *policy.Policy) { p.Consent.RequiredTypes = []string{"GDPR", "  "} },
			[]bad{{"consent.requiredTypes", "empty type"}}},
		{"consent no required types", func(p *policy.Policy) { p.Consent.RequiredTypes = nil }, nil},
		{"consent maxTextBytes 0", func(p *policy.Policy) { p.Consent.MaxTextBytes = 0 },
			[]bad{{"consent.maxTextBytes", "between 1 and 1048576"}}},
		{"consent maxTextBytes over 1 MiB", func(p *policy.Policy) { p.Consent.MaxTextBytes = 1<<20 + 1 },
			[]bad{{"consent.maxTextBytes", "not 1048577"}}},
		{"consent maxTextBytes 1", func(p *policy.Policy) { p.Consent.MaxTextBytes = 1 }, nil},

		// review
		{"review retention 0", func(p *policy.Policy) { p.Review.Retention = 0 },
			[]bad{{"review.retention", "at least 1h"}}},
		{"review retention 59m", func(p *policy.Policy) { p.Review.Retention = 59 * time.Minute },
			[]bad{{"review.retention", "not 59m0s"}}},
		{"review retention 1h", func(p *policy.Policy) { p.Review.Retention = time.Hour }, nil},

		// several at once are all reported
		{"many errors together", func(p *policy.Policy) {
			p.Lookup.Schemes = nil
			p.Decision.ReviewFallback = domain.ResultWAIT
			p.Evaluation.MinimumAge = -3
			p.OTP.ThrottleLimit = 0
			p.Consent.MaxTextBytes = -1
			p.Review.Retention = time.Minute
		}, []bad{
			{"lookup.schemes", "at least one scheme"},
			{"decision.reviewFallback", "OK or NOK"},
			{"evaluation.minimumAge", "not -3"},
			{"otp.throttleLimit", "at least 1"},
			{"consent.maxTextBytes", "not -1"},
			{"review.retention", "at least 1h"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := policy.Default()
			tc.change(&p)
			err := p.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors for %v", tc.want)
			}
			got := splitJoined(err)
			if len(got) != len(tc.want) {
				t.Errorf("Validate() reported %d errors, want %d:\n%v", len(got), len(tc.want), err)
			}
			// Match each expected error to a distinct reported one; the
			// order of template errors follows map iteration.
			used := make([]bool, len(got))
			for _, w := range tc.want {
				found := false
				for i, g := range got {
					if !used[i] && strings.HasPrefix(g, "policy "+w.key+": ") && strings.Contains(g, w.text) {
						used[i], found = true, true
						break
					}
				}
				if !found {
					t.Errorf("no error naming %s with %q in:\n%v", w.key, w.text, err)
				}
			}
		})
	}
}

// splitJoined returns the texts of the errors errors.Join combined, so a
// test can count them.
func splitJoined(err error) []string {
	var out []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, e.Error())
		}
		return out
	}
	return []string{err.Error()}
}

func TestValidateJoinsErrors(t *testing.T) {
	p := policy.Default()
	p.OTP.ThrottleLimit = 0
	p.Review.Retention = 0
	err := p.Validate()
	var j interface{ Unwrap() []error }
	if !errors.As(err, &j) || len(j.Unwrap()) != 2 {
		t.Fatalf("Validate() = %v, want two errors joined by errors.Join", err)
	}
	if lines := strings.Split(err.Error(), "\n"); len(lines) != 2 {
		t.Errorf("joined error has %d lines, want one per problem: %q", len(lines), err.Error())
	}
}

func TestOTPTemplate(t *testing.T) {
	o := policy.Default().OTP
	o.Templates[domain.OTPActivation]["de"] = "Ihr Code {code}"
	tests := []struct {
		name     string
		otpType  domain.OTPType
		lang     string
		wantText string
		wantLang string
		wantOK   bool
	}{
		{"exact language", domain.OTPActivation, "cs", "Váš aktivační kód je {code}. Nikomu jej nesdělujte.", "cs", true},
		{"default language asked", domain.OTPActivation, "en", "Your activation code is {code}. Never share it with anyone.", "en", true},
		{"extra language", domain.OTPActivation, "de", "Ihr Code {code}", "de", true},
		{"language only for other type falls back", domain.OTPUserVerification, "de", "Your verification code is {code}. Never share it with anyone.", "en", true},
		{"unknown language falls back", domain.OTPUserVerification, "sk", "Your verification code is {code}. Never share it with anyone.", "en", true},
		{"empty language falls back", domain.OTPActivation, "", "Your activation code is {code}. Never share it with anyone.", "en", true},
		{"unknown type", domain.OTPType("LOGIN"), "cs", "", "en", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text, lang, ok := o.Template(tc.otpType, tc.lang)
			if text != tc.wantText || lang != tc.wantLang || ok != tc.wantOK {
				t.Errorf("Template(%s, %q) = %q, %q, %v; want %q, %q, %v", tc.otpType, tc.lang, text, lang, ok, tc.wantText, tc.wantLang, tc.wantOK)
			}
		})
	}

	// Without a template in the default language there is nothing to fall
	// back to, and the caller is told so.
	delete(o.Templates[domain.OTPUserVerification], "en")
	if text, _, ok := o.Template(domain.OTPUserVerification, "sk"); ok || text != "" {
		t.Errorf("Template without default = %q, %v; want not found", text, ok)
	}
}

func TestOTPSenderID(t *testing.T) {
	o := policy.OTP{SenderIDs: map[string]string{"": "MyBank", "cs": "MojeBanka"}}
	tests := []struct{ lang, want string }{
		{"cs", "MojeBanka"},
		{"en", "MyBank"},
		{"", "MyBank"},
	}
	for _, tc := range tests {
		if got := o.SenderID(tc.lang); got != tc.want {
			t.Errorf("SenderID(%q) = %q, want %q", tc.lang, got, tc.want)
		}
	}
	if got := (policy.OTP{}).SenderID("cs"); got != "" {
		t.Errorf("SenderID without configuration = %q, want empty (gateway default)", got)
	}
}
