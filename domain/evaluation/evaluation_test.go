package evaluation_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/evaluation"
	"github.com/bankkit/onboarding-adapter/domain/policy"
	"github.com/bankkit/onboarding-adapter/ports"
)

// Today is 2025-06-15 (UTC) in every test. The clock answers in Prague
// summer time, where it is already 2025-06-16: the rules must take the UTC
// date, whatever zone the clock reports in.
var now = time.Date(2025, 6, 16, 1, 30, 0, 0, time.FixedZone("CEST", 2*60*60))

var (
	jana = domain.Client{
		UserID: "u-jana", ClientNumber: "1000001", BirthDate: domain.MustDate("1985-04-12"),
		GivenNames: "Jana", Surname: "Nováková", PersonalNumber: "8554121234",
		Phone: "+420777123456", Nationality: "CZE", Status: domain.StatusActive,
	}
	blocked = domain.Client{UserID: "u-blocked", ClientNumber: "1000003", BirthDate: domain.MustDate("1990-07-21"),
		GivenNames: "Karel", Surname: "Blokovaný", Status: domain.StatusBlocked}
	// adultToday turns 18 today; adultTomorrow turns 18 tomorrow.
	adultToday    = domain.Client{UserID: "u-18-today", BirthDate: domain.MustDate("2007-06-15"), GivenNames: "Petr", Surname: "Mladý", Status: domain.StatusActive}
	adultTomorrow = domain.Client{UserID: "u-18-tomorrow", BirthDate: domain.MustDate("2007-06-16"), GivenNames: "Petr", Surname: "Mladý", Status: domain.StatusActive}
	// prospect was registered from a personal number only: no birth date, no name.
	prospect = domain.Client{UserID: "u-prospect", PersonalNumber: "8554121234", Status: domain.StatusProspect}
)

var jpeg = []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10}

func image(kind string, extra byte) domain.Image {
	img, err := domain.NewImage(kind, append(append([]byte(nil), jpeg...), extra))
	if err != nil {
		panic(err)
	}
	return img
}

func idCard() ports.DocumentInput {
	return ports.DocumentInput{
		Type: "ID_CARD", Status: "SUCCESS",
		Data: ports.DocumentFields{
			GivenNames: "JANA", Surname: "NOVÁKOVÁ", DateOfBirth: "1985-04-12", PlaceOfBirth: "Praha", Sex: "F",
			Nationality: "CZE", PersonalNumber: "855412/1234", DocumentNumber: "123456789",
			DateOfIssue: "2020-01-01", DateOfExpiry: "2030-01-01", Authority: "MěÚ Praha",
		},
		Images: []domain.Image{image("FACE", 1), image("FRONT", 2)},
	}
}

func passport() ports.DocumentInput {
	d := idCard()
	d.Type, d.Data.DocumentNumber, d.Data.GivenNames, d.Data.Surname = "PASSPORT", "P1234567", "Jana", "Novakova"
	d.Images = []domain.Image{image("FACE", 3)}
	return d
}

func request() ports.EvaluationRequest {
	return ports.EvaluationRequest{
		ProcessID: "p-1", ProcessType: "ONBOARDING", UserID: "u-jana", IdentityVerificationID: "iv-1",
		Provider: "zenid", Status: "SUCCESS", HasDocumentCheck: true,
		Documents: []ports.DocumentInput{idCard()},
		Meta:      domain.RequestMeta{CorrelationID: "corr-1", RequestID: "req-1"},
	}
}

type fixture struct {
	svc   ports.EvaluationService
	store *memory.DecisionStore
}

func newFixture(t testing.TB, dp policy.Decision, ep policy.Evaluation) fixture {
	t.Helper()
	store := memory.NewDecisionStore()
	reg := memory.NewClientRegistry(memory.NewSequenceIDs("u"), jana, blocked, adultToday, adultTomorrow, prospect)
	svc := evaluation.New(store, reg, memory.NewFakeClock(now), memory.NewSequenceIDs("case"), dp, ep)
	return fixture{svc: svc, store: store}
}

func score(f float64) *float64 { return &f }

func TestEvaluate(t *testing.T) {
	def := policy.Default()
	allowSVK, denyCZE, allowCZE := def.Evaluation, def.Evaluation, def.Evaluation
	allowSVK.NationalityAllow = []string{"SVK"}
	denyCZE.NationalityDeny = []string{"CZE"}
	allowCZE.NationalityAllow = []string{"CZE", "SVK"}
	prague := def.Evaluation
	prague.TimeZone = "Europe/Prague" // now is 01:30 on 2025-06-16 there, 23:30 on 06-15 in UTC
	withoutNOK, withoutWAIT := def.Evaluation, def.Evaluation
	withoutNOK.WithoutDocumentData = domain.ResultNOK
	withoutWAIT.WithoutDocumentData = domain.ResultWAIT

	doc := func(f func(*ports.DocumentInput)) func(*ports.EvaluationRequest) {
		return func(r *ports.EvaluationRequest) { f(&r.Documents[0]) }
	}
	tests := []struct {
		name       string
		policy     *policy.Evaluation // nil for the default
		approval   domain.Result      // approval decision stored for iv-1 first ("" for none)
		mutate     func(*ports.EvaluationRequest)
		wantResult domain.Result
		wantCode   string
		wantText   string // "" to skip
	}{
		{name: "all good", mutate: func(*ports.EvaluationRequest) {}, wantResult: domain.ResultOK},
		{name: "verification failed", mutate: func(r *ports.EvaluationRequest) { r.Status = "FAILURE" }, wantResult: domain.ResultNOK, wantCode: domain.ReasonVerificationFailed},
		{name: "document failed", mutate: doc(func(d *ports.DocumentInput) { d.Status = "FAILURE" }), wantResult: domain.ResultNOK, wantCode: domain.ReasonDocumentFailed},
		{name: "second document failed", mutate: func(r *ports.EvaluationRequest) {
			p := passport()
			p.Status = "REJECTED"
			r.Documents = append(r.Documents, p)
		}, wantResult: domain.ResultNOK, wantCode: domain.ReasonDocumentFailed},
		{name: "unknown user", mutate: func(r *ports.EvaluationRequest) { r.UserID = "u-nobody" }, wantResult: domain.ResultNOK, wantCode: domain.ReasonUserUnknown},
		{name: "blocked user", mutate: func(r *ports.EvaluationRequest) { r.UserID = "u-blocked" }, wantResult: domain.ResultNOK, wantCode: domain.ReasonUserNotEligible},
		{name: "approval NOK", approval: domain.ResultNOK, mutate: func(*ports.EvaluationRequest) {}, wantResult: domain.ResultNOK, wantCode: domain.ReasonVerificationRejected},
		{name: "approval OK", approval: domain.ResultOK, mutate: func(*ports.EvaluationRequest) {}, wantResult: domain.ResultOK},
		{name: "approval WAIT does not bind", approval: domain.ResultWAIT, mutate: func(*ports.EvaluationRequest) {}, wantResult: domain.ResultOK},
		{name: "approval NOK of another verification", approval: domain.ResultNOK, mutate: func(r *ports.EvaluationRequest) { r.IdentityVerificationID = "iv-2" }, wantResult: domain.ResultOK},
		{name: "driving licence only", mutate: doc(func(d *ports.DocumentInput) { d.Type = "DRIVING_LICENCE" }), wantResult: domain.ResultNOK, wantCode: domain.ReasonNoPrimaryDocument},
		{name: "no documents", mutate: func(r *ports.EvaluationRequest) { r.Documents = nil }, wantResult: domain.ResultNOK, wantCode: domain.ReasonNoPrimaryDocument},
		{name: "passport is primary", mutate: func(r *ports.EvaluationRequest) { r.Documents[0] = passport() }, wantResult: domain.ResultOK},
		{name: "primary type case-insensitive", mutate: doc(func(d *ports.DocumentInput) { d.Type = "id_card" }), wantResult: domain.ResultOK},
		{name: "licence beside an ID card", mutate: func(r *ports.EvaluationRequest) {
			l := idCard()
			l.Type = "DRIVING_LICENCE"
			r.Documents = append(r.Documents, l)
		}, wantResult: domain.ResultOK},
		{name: "expired yesterday", mutate: doc(func(d *ports.DocumentInput) { d.Data.DateOfExpiry = "2025-06-14" }),
			wantResult: domain.ResultNOK, wantCode: domain.ReasonDocumentExpired, wantText: "document expired on 2025-06-14"},
		{name: "expires today is valid", mutate: doc(func(d *ports.DocumentInput) { d.Data.DateOfExpiry = "2025-06-15" }), wantResult: domain.ResultOK},
		{name: "in the bank's zone it expired yesterday", policy: &prague, mutate: doc(func(d *ports.DocumentInput) { d.Data.DateOfExpiry = "2025-06-15" }),
			wantResult: domain.ResultNOK, wantCode: domain.ReasonDocumentExpired, wantText: "document expired on 2025-06-15"},
		{name: "expired second document", mutate: func(r *ports.EvaluationRequest) {
			p := passport()
			p.Data.DateOfExpiry = "2024-01-31"
			r.Documents = append(r.Documents, p)
		}, wantResult: domain.ResultNOK, wantCode: domain.ReasonDocumentExpired, wantText: "document expired on 2024-01-31"},
		{name: "no expiry date", mutate: doc(func(d *ports.DocumentInput) { d.Data.DateOfExpiry = "" }), wantResult: domain.ResultOK},
		{name: "18th birthday today", mutate: func(r *ports.EvaluationRequest) {
			r.UserID = "u-18-today"
			r.Documents[0].Data = ports.DocumentFields{GivenNames: "Petr", Surname: "Mladý", DateOfBirth: "2007-06-15", DateOfExpiry: "2030-01-01"}
		}, wantResult: domain.ResultOK},
		{name: "18th birthday tomorrow", mutate: func(r *ports.EvaluationRequest) {
			r.UserID = "u-18-tomorrow"
			r.Documents[0].Data = ports.DocumentFields{GivenNames: "Petr", Surname: "Mladý", DateOfBirth: "2007-06-16", DateOfExpiry: "2030-01-01"}
		}, wantResult: domain.ResultNOK, wantCode: domain.ReasonUnderage, wantText: "applicant is under 18"},
		{name: "in the bank's zone the 18th birthday is today", policy: &prague, mutate: func(r *ports.EvaluationRequest) {
			r.UserID = "u-18-tomorrow"
			r.Documents[0].Data = ports.DocumentFields{GivenNames: "Petr", Surname: "Mladý", DateOfBirth: "2007-06-16", DateOfExpiry: "2030-01-01"}
		}, wantResult: domain.ResultOK},
		{name: "age from the registry when documents lack it", mutate: func(r *ports.EvaluationRequest) {
			r.UserID = "u-18-tomorrow"
			r.Documents[0].Data = ports.DocumentFields{GivenNames: "Petr", Surname: "Mladý", DateOfExpiry: "2030-01-01"}
		}, wantResult: domain.ResultNOK, wantCode: domain.ReasonUnderage},
		{name: "no birth date anywhere goes to review", mutate: func(r *ports.EvaluationRequest) {
			r.UserID = "u-prospect"
			r.Documents[0].Data.DateOfBirth = ""
		}, wantResult: domain.ResultWAIT, wantCode: domain.ReasonAgeUnverified, wantText: "age could not be verified: no date of birth"},
		{name: "prospect without registry name or birth date", mutate: func(r *ports.EvaluationRequest) { r.UserID = "u-prospect" }, wantResult: domain.ResultOK},
		{name: "birth date differs", mutate: doc(func(d *ports.DocumentInput) { d.Data.DateOfBirth = "1985-04-13" }), wantResult: domain.ResultNOK, wantCode: domain.ReasonBirthDateMismatch},
		{name: "personal number differs", mutate: doc(func(d *ports.DocumentInput) { d.Data.PersonalNumber = "855412/1235" }), wantResult: domain.ResultNOK, wantCode: domain.ReasonPersonalNumberDiffer},
		{name: "personal number in another spelling", mutate: doc(func(d *ports.DocumentInput) { d.Data.PersonalNumber = " 8554121234 " }), wantResult: domain.ResultOK},
		{name: "no personal number on the document", mutate: doc(func(d *ports.DocumentInput) { d.Data.PersonalNumber = "" }), wantResult: domain.ResultOK},
		{name: "names equal after folding", mutate: doc(func(d *ports.DocumentInput) { d.Data.GivenNames, d.Data.Surname = "jana", "Novakova" }), wantResult: domain.ResultOK},
		{name: "names with extra spaces", mutate: doc(func(d *ports.DocumentInput) { d.Data.GivenNames, d.Data.Surname = " Jana ", " NOVÁKOVÁ  " }), wantResult: domain.ResultOK},
		{name: "name distance 2 goes to review", mutate: doc(func(d *ports.DocumentInput) { d.Data.GivenNames, d.Data.Surname = "JENA", "NOWAKOVA" }),
			wantResult: domain.ResultWAIT, wantCode: domain.ReasonNameSimilar},
		{name: "name distance 3 is rejected", mutate: doc(func(d *ports.DocumentInput) { d.Data.GivenNames, d.Data.Surname = "JENA", "NOWAKOWA" }),
			wantResult: domain.ResultNOK, wantCode: domain.ReasonNameMismatch},
		{name: "another name is rejected", mutate: doc(func(d *ports.DocumentInput) { d.Data.GivenNames, d.Data.Surname = "Eva", "Svobodová" }),
			wantResult: domain.ResultNOK, wantCode: domain.ReasonNameMismatch},
		{name: "second document of the same person", mutate: func(r *ports.EvaluationRequest) { r.Documents = append(r.Documents, passport()) }, wantResult: domain.ResultOK},
		{name: "second document of another person", mutate: func(r *ports.EvaluationRequest) {
			p := passport()
			p.Data.GivenNames, p.Data.Surname, p.Data.DateOfBirth, p.Data.PersonalNumber = "Eva", "Svobodová", "1990-01-01", "9001011234"
			r.Documents = append(r.Documents, p)
		}, wantResult: domain.ResultNOK, wantCode: domain.ReasonDocumentsDiffer},
		{name: "second document with a misread name goes to review", mutate: func(r *ports.EvaluationRequest) {
			p := passport()
			p.Data.Surname = "Novak0va" // one letter the OCR misread
			r.Documents = append(r.Documents, p)
		}, wantResult: domain.ResultWAIT, wantCode: domain.ReasonNameSimilar, wantText: "name on documents[1] differs from documents[0] by 1 character"},
		{name: "second document with a misread name and another birth date", mutate: func(r *ports.EvaluationRequest) {
			p := passport()
			p.Data.Surname, p.Data.DateOfBirth = "Novak0va", "1985-04-13"
			r.Documents = append(r.Documents, p)
		}, wantResult: domain.ResultNOK, wantCode: domain.ReasonDocumentsDiffer},
		{name: "second document with another birth date only", mutate: func(r *ports.EvaluationRequest) {
			p := passport()
			p.Data.DateOfBirth = "1985-04-13"
			r.Documents = append(r.Documents, p)
		}, wantResult: domain.ResultNOK, wantCode: domain.ReasonDocumentsDiffer},
		{name: "second document with another personal number only", mutate: func(r *ports.EvaluationRequest) {
			p := passport()
			p.Data.PersonalNumber = "8554121235"
			r.Documents = append(r.Documents, p)
		}, wantResult: domain.ResultNOK, wantCode: domain.ReasonDocumentsDiffer},
		{name: "primary document read without data goes to review", mutate: doc(func(d *ports.DocumentInput) { d.Data = ports.DocumentFields{} }),
			wantResult: domain.ResultWAIT, wantCode: domain.ReasonDocumentDataIncomplete,
			wantText: "no primary document carries a name and a date of birth or personal number"},
		{name: "name without birth date or personal number goes to review", mutate: doc(func(d *ports.DocumentInput) {
			d.Data = ports.DocumentFields{GivenNames: "Jana", Surname: "Nováková", DateOfExpiry: "2030-01-01"}
		}), wantResult: domain.ResultWAIT, wantCode: domain.ReasonDocumentDataIncomplete},
		{name: "birth date and personal number without a name go to review", mutate: doc(func(d *ports.DocumentInput) {
			d.Data.GivenNames, d.Data.Surname = " ", ""
		}), wantResult: domain.ResultWAIT, wantCode: domain.ReasonDocumentDataIncomplete},
		{name: "name and personal number identify", mutate: doc(func(d *ports.DocumentInput) {
			d.Data = ports.DocumentFields{GivenNames: "Jana", Surname: "Nováková", PersonalNumber: "855412/1234", DateOfExpiry: "2030-01-01"}
		}), wantResult: domain.ResultOK},
		{name: "name and birth date identify", mutate: doc(func(d *ports.DocumentInput) { d.Data.PersonalNumber = "" }), wantResult: domain.ResultOK},
		{name: "one identifying primary document is enough", mutate: func(r *ports.EvaluationRequest) {
			r.Documents[0].Data = ports.DocumentFields{}
			r.Documents = append(r.Documents, passport())
		}, wantResult: domain.ResultOK},
		{name: "a driving licence does not identify", mutate: func(r *ports.EvaluationRequest) {
			l := idCard()
			l.Type = "DRIVING_LICENCE"
			r.Documents[0].Data = ports.DocumentFields{}
			r.Documents = append(r.Documents, l)
		}, wantResult: domain.ResultWAIT, wantCode: domain.ReasonDocumentDataIncomplete},
		{name: "a rejected document wins over missing data", mutate: func(r *ports.EvaluationRequest) {
			r.Documents[0].Data = ports.DocumentFields{}
			r.Documents[0].Status = "FAILURE"
		}, wantResult: domain.ResultNOK, wantCode: domain.ReasonDocumentFailed},
		{name: "no nationality anywhere with an allow list goes to review", policy: &allowCZE, mutate: func(r *ports.EvaluationRequest) {
			r.UserID = "u-prospect"
			r.Documents[0].Data.Nationality = ""
		}, wantResult: domain.ResultWAIT, wantCode: domain.ReasonNationalityUnverified,
			wantText: "nationality could not be verified: neither the documents nor the registry carry one"},
		{name: "the registry's nationality when no document shows one: allowed", policy: &allowCZE, mutate: doc(func(d *ports.DocumentInput) { d.Data.Nationality = "" }),
			wantResult: domain.ResultOK},
		{name: "the registry's nationality when no document shows one: not allowed", policy: &allowSVK, mutate: doc(func(d *ports.DocumentInput) { d.Data.Nationality = "" }),
			wantResult: domain.ResultNOK, wantCode: domain.ReasonNationalityDenied, wantText: "nationality in the registry is not accepted"},
		{name: "the registry's nationality when no document shows one: denied", policy: &denyCZE, mutate: doc(func(d *ports.DocumentInput) { d.Data.Nationality = "" }),
			wantResult: domain.ResultNOK, wantCode: domain.ReasonNationalityDenied},
		{name: "a prospect's document with nothing its record has goes to review", mutate: func(r *ports.EvaluationRequest) {
			r.UserID = "u-prospect" // registered from a personal number only
			r.Documents[0].Data.PersonalNumber = ""
		}, wantResult: domain.ResultWAIT, wantCode: domain.ReasonIdentityUnconfirmed,
			wantText: "no primary document carries a date of birth or personal number the registry record has too"},
		{name: "no nationality anywhere with a deny list passes", policy: &denyCZE, mutate: func(r *ports.EvaluationRequest) {
			r.UserID = "u-prospect"
			r.Documents[0].Data.Nationality = ""
		}, wantResult: domain.ResultOK},
		{name: "no nationality without lists passes", mutate: doc(func(d *ports.DocumentInput) { d.Data.Nationality = "" }), wantResult: domain.ResultOK},
		{name: "an allowed nationality on a second document", policy: &allowCZE, mutate: func(r *ports.EvaluationRequest) {
			r.Documents[0].Data.Nationality = ""
			r.Documents = append(r.Documents, passport())
		}, wantResult: domain.ResultOK},
		{name: "nationality outside the allow list", policy: &allowSVK, mutate: func(*ports.EvaluationRequest) {}, wantResult: domain.ResultNOK, wantCode: domain.ReasonNationalityDenied},
		{name: "nationality in the allow list", policy: &allowCZE, mutate: func(*ports.EvaluationRequest) {}, wantResult: domain.ResultOK},
		{name: "nationality in the allow list, lower case", policy: &allowCZE, mutate: doc(func(d *ports.DocumentInput) { d.Data.Nationality = "cze" }), wantResult: domain.ResultOK},
		{name: "nationality in the deny list", policy: &denyCZE, mutate: func(*ports.EvaluationRequest) {}, wantResult: domain.ResultNOK, wantCode: domain.ReasonNationalityDenied},
		{name: "score 3.99", mutate: func(r *ports.EvaluationRequest) { r.Score = score(3.99) }, wantResult: domain.ResultNOK, wantCode: domain.ReasonScoreTooLow},
		{name: "score 4.0", mutate: func(r *ports.EvaluationRequest) { r.Score = score(4.0) }, wantResult: domain.ResultWAIT, wantCode: domain.ReasonScoreBorderline},
		{name: "score 6.99", mutate: func(r *ports.EvaluationRequest) { r.Score = score(6.99) }, wantResult: domain.ResultWAIT, wantCode: domain.ReasonScoreBorderline},
		{name: "score 7.0", mutate: func(r *ports.EvaluationRequest) { r.Score = score(7.0) }, wantResult: domain.ResultOK},
		{name: "without document data: OK by default", mutate: withoutDocs, wantResult: domain.ResultOK},
		{name: "without document data: policy NOK", policy: &withoutNOK, mutate: withoutDocs, wantResult: domain.ResultNOK, wantCode: domain.ReasonNoDocumentData},
		{name: "without document data: policy WAIT", policy: &withoutWAIT, mutate: withoutDocs, wantResult: domain.ResultWAIT, wantCode: domain.ReasonNoDocumentData},
		{name: "without document data: unknown user", mutate: func(r *ports.EvaluationRequest) { withoutDocs(r); r.UserID = "u-nobody" }, wantResult: domain.ResultNOK, wantCode: domain.ReasonUserUnknown},
		{name: "without document data: blocked user", mutate: func(r *ports.EvaluationRequest) { withoutDocs(r); r.UserID = "u-blocked" }, wantResult: domain.ResultNOK, wantCode: domain.ReasonUserNotEligible},
		{name: "without document data: approval NOK", approval: domain.ResultNOK, mutate: withoutDocs, wantResult: domain.ResultNOK, wantCode: domain.ReasonVerificationRejected},
		{name: "without document data: low score", mutate: func(r *ports.EvaluationRequest) { withoutDocs(r); r.Score = score(1) }, wantResult: domain.ResultNOK, wantCode: domain.ReasonScoreTooLow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ep := def.Evaluation
			if tc.policy != nil {
				ep = *tc.policy
			}
			f := newFixture(t, def.Decision, ep)
			ctx := context.Background()
			if tc.approval != "" {
				storeApproval(t, f.store, tc.approval)
			}
			r := request()
			tc.mutate(&r)
			d, err := f.svc.Evaluate(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			if d.Result != tc.wantResult || d.ReasonCode != tc.wantCode {
				t.Errorf("Evaluate = %s %q (%s), want %s %q", d.Result, d.ReasonCode, d.ReasonText, tc.wantResult, tc.wantCode)
			}
			if tc.wantText != "" && d.ReasonText != tc.wantText {
				t.Errorf("reason text = %q, want %q", d.ReasonText, tc.wantText)
			}
			assertNoPersonalData(t, d)
			stored, err := f.store.Decision(ctx, domain.KindEvaluation, r.ProcessID, r.IdentityVerificationID)
			if err != nil || stored.Result != d.Result || len(stored.Rules) != len(d.Rules) {
				t.Errorf("stored = %+v, %v", stored, err)
			}
		})
	}
}

func withoutDocs(r *ports.EvaluationRequest) { r.HasDocumentCheck, r.Documents = false, nil }

// storeApproval records an approval decision for iv-1 as the approval
// service would have.
func storeApproval(t *testing.T, s *memory.DecisionStore, res domain.Result) {
	t.Helper()
	d := domain.Decision{Kind: domain.KindApproval, ProcessID: "p-1", IdentityVerificationID: "iv-1", UserID: "u-jana", Result: res, DecidedAt: now}
	var rc *domain.ReviewCase
	if res == domain.ResultWAIT {
		rc = &domain.ReviewCase{ID: "approval-case", Status: domain.ReviewOpen, Answered: res}
	}
	if _, _, err := s.SaveDecision(context.Background(), d, rc); err != nil {
		t.Fatal(err)
	}
}

// assertNoPersonalData fails when a reason or rule text carries a value of
// the demo identities: names, birth dates or personal numbers.
func assertNoPersonalData(t *testing.T, d domain.Decision) {
	t.Helper()
	texts := []string{d.ReasonText}
	for _, r := range d.Rules {
		texts = append(texts, r.Detail)
	}
	for _, s := range texts {
		l := strings.ToLower(s)
		for _, pd := range []string{"jana", "nov", "jena", "eva", "svobod", "petr", "1985", "2007-06", "855412", "1990-01-01"} {
			if strings.Contains(l, pd) {
				t.Errorf("text %q carries personal data %q", s, pd)
			}
		}
	}
}

func TestEvaluateWithoutDocumentDataRecordsTheRule(t *testing.T) {
	f := newFixture(t, policy.Default().Decision, policy.Default().Evaluation)
	r := request()
	withoutDocs(&r)
	d, err := f.svc.Evaluate(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if d.Result != domain.ResultOK || d.ReasonCode != "" || d.ResultReason() != "" {
		t.Errorf("decision = %s %q, want a plain OK", d.Result, d.ResultReason())
	}
	found := false
	for _, rr := range d.Rules {
		if rr.Code == domain.ReasonNoDocumentData && rr.Outcome == domain.ResultOK && rr.Rule == evaluation.RuleDocumentData {
			found = true
		}
	}
	if !found {
		t.Errorf("rules = %+v, want an OK rule with NO_DOCUMENT_DATA", d.Rules)
	}
}

// Older Onboarding Servers call evaluate only after a successful document
// check and send neither status nor document data.
func TestEvaluateOlderShapeWithoutStatus(t *testing.T) {
	f := newFixture(t, policy.Default().Decision, policy.Default().Evaluation)
	r := request()
	r.Status, r.Score, r.HasDocumentCheck, r.Documents = "", nil, false, nil
	d, err := f.svc.Evaluate(context.Background(), r)
	if err != nil || d.Result != domain.ResultOK {
		t.Fatalf("Evaluate(older shape) = %+v, %v; want OK", d, err)
	}
}

func TestEvaluateInvalidDates(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(*ports.EvaluationRequest)
		wantField string
	}{
		{"expiry not a date", func(r *ports.EvaluationRequest) { r.Documents[0].Data.DateOfExpiry = "soon" }, "documentCheckResult.documents[0].data.dateOfExpiry"},
		{"expiry not a calendar date", func(r *ports.EvaluationRequest) { r.Documents[0].Data.DateOfExpiry = "2030-02-30" }, "documentCheckResult.documents[0].data.dateOfExpiry"},
		{"birth date in Czech format", func(r *ports.EvaluationRequest) { r.Documents[0].Data.DateOfBirth = "12.4.1985" }, "documentCheckResult.documents[0].data.dateOfBirth"},
		{"issue date with time", func(r *ports.EvaluationRequest) { r.Documents[0].Data.DateOfIssue = "2020-01-01T00:00:00Z" }, "documentCheckResult.documents[0].data.dateOfIssue"},
		{"second document", func(r *ports.EvaluationRequest) {
			p := passport()
			p.Data.DateOfBirth = "1985/04/12"
			r.Documents = append(r.Documents, p)
		}, "documentCheckResult.documents[1].data.dateOfBirth"},
		{"common field first", func(r *ports.EvaluationRequest) { r.ProcessID = ""; r.Documents[0].Data.DateOfExpiry = "x" }, "processId"},
		{"status missing with document data", func(r *ports.EvaluationRequest) { r.Status = "" }, "status"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, policy.Default().Decision, policy.Default().Evaluation)
			r := request()
			tc.mutate(&r)
			_, err := f.svc.Evaluate(context.Background(), r)
			de, ok := domain.AsError(err)
			if !ok || de.Code != domain.CodeInvalid || de.Field != tc.wantField {
				t.Fatalf("err = %v, want invalid %s", err, tc.wantField)
			}
			if strings.Contains(de.Message, "1985") || strings.Contains(de.Message, "2030") {
				t.Errorf("message %q echoes the value", de.Message)
			}
			if _, err := f.store.Decision(context.Background(), domain.KindEvaluation, "p-1", "iv-1"); !domain.IsNotFound(err) {
				t.Error("an invalid request was stored")
			}
		})
	}
}

func TestEvaluateImagesAndEvidence(t *testing.T) {
	for _, keep := range []bool{true, false} {
		t.Run("keep="+strconv.FormatBool(keep), func(t *testing.T) {
			dp := policy.Default().Decision
			dp.KeepEvidence = keep
			f := newFixture(t, dp, policy.Default().Evaluation)
			ctx := context.Background()
			r := request()
			r.Documents = append(r.Documents, passport())
			r.Score = score(5) // WAIT: opens a case
			d, err := f.svc.Evaluate(ctx, r)
			if err != nil || d.Result != domain.ResultWAIT {
				t.Fatalf("Evaluate = %+v, %v", d, err)
			}
			want := []domain.ImageDigest{
				r.Documents[0].Images[0].Digest(), r.Documents[0].Images[1].Digest(), r.Documents[1].Images[0].Digest(),
			}
			if len(d.Images) != len(want) {
				t.Fatalf("images = %+v, want %+v", d.Images, want)
			}
			for i := range want {
				if d.Images[i] != want[i] {
					t.Errorf("image %d = %+v, want %+v", i, d.Images[i], want[i])
				}
			}
			c, err := f.store.ReviewCase(ctx, d.ReviewCaseID)
			if err != nil {
				t.Fatal(err)
			}
			if !keep {
				if len(c.Evidence.Documents) != 0 || c.Evidence.Registry != nil || c.Evidence.Frame != nil {
					t.Errorf("evidence kept against policy: %+v", c.Evidence)
				}
				return
			}
			if len(c.Evidence.Documents) != 2 || c.Evidence.Documents[0].DateOfExpiry != domain.MustDate("2030-01-01") ||
				c.Evidence.Documents[0].PersonalNumber != "8554121234" || c.Evidence.Documents[1].Type != "PASSPORT" {
				t.Errorf("document evidence = %+v", c.Evidence.Documents)
			}
			if c.Evidence.Registry == nil || c.Evidence.Registry.UserID != "u-jana" {
				t.Errorf("registry evidence = %+v", c.Evidence.Registry)
			}
			if c.Evidence.Frame != nil {
				t.Error("evaluation keeps no images as evidence")
			}
		})
	}
}

func TestEvaluateIsIdempotent(t *testing.T) {
	f := newFixture(t, policy.Default().Decision, policy.Default().Evaluation)
	ctx := context.Background()
	r := request()
	r.Documents[0].Data.DateOfExpiry = "2020-01-01"
	first, err := f.svc.Evaluate(ctx, r)
	if err != nil || first.Result != domain.ResultNOK {
		t.Fatalf("first = %+v, %v", first, err)
	}
	// The caller re-sends up to five times; a changed body still gets the
	// stored answer.
	r = request()
	r.Meta.RequestID = "req-2"
	second, err := f.svc.Evaluate(ctx, r)
	if err != nil || second.Result != domain.ResultNOK || second.ReasonCode != domain.ReasonDocumentExpired || second.RequestID != "req-1" {
		t.Errorf("second = %+v, %v; want the stored NOK", second, err)
	}
}

func TestEvaluateReviewFallback(t *testing.T) {
	dp := policy.Default().Decision
	dp.WaitSupported = false
	f := newFixture(t, dp, policy.Default().Evaluation)
	ctx := context.Background()
	r := request()
	r.Documents[0].Data.Surname = "NOWAKOVA" // distance 1: review
	d, err := f.svc.Evaluate(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if d.Result != domain.ResultNOK || d.ReasonCode != domain.ReasonReviewFallback || !strings.Contains(d.ReasonText, domain.ReasonNameSimilar) {
		t.Fatalf("decision = %s %q, want NOK REVIEW_FALLBACK naming NAME_SIMILAR", d.Result, d.ResultReason())
	}
	c, err := f.store.ReviewCase(ctx, d.ReviewCaseID)
	if err != nil || c.Status != domain.ReviewOpen || c.Answered != domain.ResultNOK || c.ReasonCodes[0] != domain.ReasonNameSimilar {
		t.Errorf("case = %+v, %v", c, err)
	}
}

type downRegistry struct{ ports.ClientFinder }

func (downRegistry) ClientByUserID(context.Context, string) (domain.Client, error) {
	return domain.Client{}, domain.Unavailable(errors.New("refused"), "registry unavailable")
}

func TestEvaluateRegistryDown(t *testing.T) {
	store := memory.NewDecisionStore()
	svc := evaluation.New(store, downRegistry{}, memory.NewFakeClock(now), memory.NewSequenceIDs("case"), policy.Default().Decision, policy.Default().Evaluation)
	if _, err := svc.Evaluate(context.Background(), request()); domain.CodeOf(err) != domain.CodeUnavailable {
		t.Fatalf("err = %v, want unavailable", err)
	}
	if _, err := store.Decision(context.Background(), domain.KindEvaluation, "p-1", "iv-1"); !domain.IsNotFound(err) {
		t.Error("a decision was stored without the registry's answer")
	}
}

func BenchmarkEvaluate(b *testing.B) {
	f := newFixture(b, policy.Default().Decision, policy.Default().Evaluation)
	ctx := context.Background()
	r := request()
	r.Documents = append(r.Documents, passport())
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.IdentityVerificationID = "iv-" + strconv.Itoa(i)
		if _, err := f.svc.Evaluate(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}
