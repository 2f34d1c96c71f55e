package lookup_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/lookup"
	"github.com/bankkit/onboarding-adapter/domain/policy"
	"github.com/bankkit/onboarding-adapter/ports"
)

var now = time.Date(2025, 6, 15, 10, 0, 0, 0, time.UTC)

var (
	jana = domain.Client{
		UserID: "u-jana", ClientNumber: "1000001", BirthDate: domain.MustDate("1985-04-12"),
		GivenNames: "Jana", Surname: "Nováková", PersonalNumber: "8554121234",
		Phone: "+420777123456", Nationality: "CZE", Status: domain.StatusActive,
	}
	blocked = domain.Client{UserID: "u-blocked", ClientNumber: "1000003", BirthDate: domain.MustDate("1990-07-21"), Status: domain.StatusBlocked}
	closed  = domain.Client{UserID: "u-closed", ClientNumber: "1000004", BirthDate: domain.MustDate("1970-01-01"), Status: domain.StatusClosed}
)

type fixture struct {
	svc    ports.LookupService
	reg    *memory.ClientRegistry
	texts  *memory.ConsentTextStore
	ledger *memory.ConsentLedger
}

func newFixture(t testing.TB, lp policy.Lookup, cp policy.Consent) fixture {
	t.Helper()
	clock := memory.NewFakeClock(now)
	f := fixture{
		reg:    memory.NewClientRegistry(memory.NewSequenceIDs("prospect"), jana, blocked, closed),
		texts:  memory.NewConsentTextStore(clock),
		ledger: memory.NewConsentLedger(clock),
	}
	f.publish(t, "GDPR", "en")
	f.publish(t, "GDPR", "cs")
	f.svc = lookup.New(f.reg, f.ledger, f.texts, lp, cp)
	return f
}

func (f fixture) publish(t testing.TB, typ, lang string) domain.ConsentText {
	t.Helper()
	text, err := f.texts.PublishConsentText(context.Background(), typ, lang, "<p>"+typ+" "+lang+"</p>")
	if err != nil {
		t.Fatal(err)
	}
	return text
}

func (f fixture) consent(t testing.TB, user, typ, lang string, version int, approved bool) {
	t.Helper()
	_, _, err := f.ledger.AppendConsent(context.Background(), domain.ConsentRecord{
		ProcessID: "p-old", UserID: user, ConsentType: typ, Approved: approved, Language: lang, TextVersion: version,
	})
	if err != nil {
		t.Fatal(err)
	}
}

func byNumber(birth string) map[string]string {
	return map[string]string{"clientNumber": "1000001", "birthDate": birth}
}

func TestLookupIdentification(t *testing.T) {
	tests := []struct {
		name      string
		id        map[string]string
		processID string
		wantUser  string
		wantCode  domain.ErrorCode
		wantField string
		wantMsg   string
	}{
		{name: "client number and ISO birth date", id: byNumber("1985-04-12"), wantUser: "u-jana"},
		{name: "birth date in Czech format", id: byNumber("12.4.1985"), wantUser: "u-jana"},
		{name: "birth date with spaces", id: byNumber(" 12. 4. 1985 "), wantUser: "u-jana"},
		{name: "birth date compact", id: byNumber("19850412"), wantUser: "u-jana"},
		{name: "client number with spaces", id: map[string]string{"clientNumber": " 1000001 ", "birthDate": "1985-04-12"}, wantUser: "u-jana"},
		{name: "personal number with slash", id: map[string]string{"personalNumber": "855412/1234"}, wantUser: "u-jana"},
		{name: "personal number plain", id: map[string]string{"personalNumber": "8554121234"}, wantUser: "u-jana"},
		{name: "first scheme wins", id: map[string]string{"clientNumber": "1000001", "birthDate": "1985-04-12", "personalNumber": "0000000000"}, wantUser: "u-jana"},
		{name: "incomplete first scheme falls through", id: map[string]string{"clientNumber": "1000001", "personalNumber": "855412/1234"}, wantUser: "u-jana"},
		{name: "blank value is absent", id: map[string]string{"clientNumber": "1000001", "birthDate": "  ", "personalNumber": "855412/1234"}, wantUser: "u-jana"},
		{name: "unknown keys are ignored", id: map[string]string{"personalNumber": "855412/1234", "shouldFail": "false"}, wantUser: "u-jana"},
		{name: "no scheme applies", id: map[string]string{"clientNumber": "1000001"},
			wantCode: domain.CodeInvalid, wantField: "identification", wantMsg: "expected clientNumber and birthDate, or personalNumber"},
		{name: "empty identification", id: nil,
			wantCode: domain.CodeInvalid, wantField: "identification", wantMsg: "expected clientNumber and birthDate, or personalNumber"},
		{name: "bad birth date", id: byNumber("1985-13-45"),
			wantCode: domain.CodeInvalid, wantField: "identification.birthDate", wantMsg: "must be a date in the format YYYY-MM-DD"},
		{name: "personal number without digits", id: map[string]string{"personalNumber": "/-"},
			wantCode: domain.CodeInvalid, wantField: "identification.personalNumber"},
		{name: "processId missing", id: byNumber("1985-04-12"), processID: " ",
			wantCode: domain.CodeInvalid, wantField: "processId", wantMsg: "is required"},
		{name: "unknown client is rejected", id: byNumber("1985-04-13"),
			wantCode: domain.CodeNotFound, wantField: "identification", wantMsg: "client not found"},
		{name: "blocked", id: map[string]string{"clientNumber": "1000003", "birthDate": "21.07.1990"},
			wantCode: domain.CodeNotEligible, wantMsg: "client is not eligible for onboarding"},
		{name: "closed", id: map[string]string{"clientNumber": "1000004", "birthDate": "1970-01-01"},
			wantCode: domain.CodeNotEligible, wantMsg: "client is not eligible for onboarding"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, policy.Default().Lookup, policy.Default().Consent)
			pid := "p-1"
			if tc.processID != "" {
				pid = tc.processID
			}
			res, err := f.svc.Lookup(context.Background(), ports.LookupRequest{ProcessID: pid, Identification: tc.id})
			if tc.wantCode == "" {
				if err != nil || res.UserID != tc.wantUser {
					t.Fatalf("Lookup = %+v, %v; want user %s", res, err, tc.wantUser)
				}
				return
			}
			de, ok := domain.AsError(err)
			if !ok || de.Code != tc.wantCode || de.Field != tc.wantField {
				t.Fatalf("err = %v, want %s %q", err, tc.wantCode, tc.wantField)
			}
			if tc.wantMsg != "" && de.Message != tc.wantMsg {
				t.Errorf("message = %q, want %q", de.Message, tc.wantMsg)
			}
			if res.UserID != "" {
				t.Errorf("a failed lookup answered user %q", res.UserID)
			}
		})
	}
}

func TestLookupExpectedKeysMessage(t *testing.T) {
	lp := policy.Default().Lookup
	lp.Schemes = [][]domain.IdentificationKey{
		{domain.KeyClientNumber, domain.KeyBirthDate, domain.KeyPhoneNumber},
		{domain.KeyPersonalNumber},
		{domain.KeyPhoneNumber},
	}
	f := newFixture(t, lp, policy.Default().Consent)
	_, err := f.svc.Lookup(context.Background(), ports.LookupRequest{ProcessID: "p-1", Identification: map[string]string{"x": "y"}})
	de, ok := domain.AsError(err)
	if want := "expected clientNumber, birthDate and phoneNumber, or personalNumber, or phoneNumber"; !ok || de.Message != want {
		t.Fatalf("err = %v, want message %q", err, want)
	}
}

func TestLookupRegister(t *testing.T) {
	lp := policy.Default().Lookup
	lp.NotFound = policy.NotFoundRegister
	f := newFixture(t, lp, policy.Default().Consent)
	ctx := context.Background()
	ask := func(id map[string]string) string {
		t.Helper()
		res, err := f.svc.Lookup(ctx, ports.LookupRequest{ProcessID: "p-1", Identification: id})
		if err != nil || res.UserID == "" {
			t.Fatalf("Lookup = %+v, %v", res, err)
		}
		return res.UserID
	}
	first := ask(byNumber("1990-01-01"))
	if first == "u-jana" {
		t.Fatal("an unknown identification got a registry client")
	}
	// The same identification in another spelling is the same prospect.
	if again := ask(byNumber("1.1.1990")); again != first {
		t.Errorf("second lookup = %q, want the stable %q", again, first)
	}
	if other := ask(byNumber("1990-01-02")); other == first {
		t.Error("another identification got the same prospect")
	}
	c, err := f.reg.ClientByUserID(ctx, first)
	if err != nil || c.Status != domain.StatusProspect || c.BirthDate != domain.MustDate("1990-01-01") {
		t.Errorf("prospect = %+v, %v", c, err)
	}
	// Known clients are still found, blocked ones still refused.
	if got := ask(byNumber("1985-04-12")); got != "u-jana" {
		t.Errorf("known client = %q", got)
	}
	_, err = f.svc.Lookup(ctx, ports.LookupRequest{ProcessID: "p-1", Identification: map[string]string{"clientNumber": "1000003", "birthDate": "1990-07-21"}})
	if domain.CodeOf(err) != domain.CodeNotEligible {
		t.Errorf("blocked with register = %v", err)
	}
}

func TestLookupConsent(t *testing.T) {
	off := policy.Default().Consent
	off.Enabled = false
	two := policy.Default().Consent
	two.RequiredTypes = []string{"GDPR", "MARKETING"}
	none := policy.Default().Consent
	none.RequiredTypes = nil

	tests := []struct {
		name   string
		policy policy.Consent
		setup  func(t *testing.T, f fixture)
		want   string
	}{
		{"disabled", off, func(t *testing.T, f fixture) {}, ports.ConsentNotEvaluated},
		{"nothing recorded", policy.Default().Consent, func(t *testing.T, f fixture) {}, ports.ConsentRequired},
		{"approved at the current version", policy.Default().Consent, func(t *testing.T, f fixture) { f.consent(t, "u-jana", "GDPR", "en", 1, true) }, ports.ConsentNotRequired},
		{"approved in Czech at its current version", policy.Default().Consent, func(t *testing.T, f fixture) {
			f.publish(t, "GDPR", "en") // en moves to v2; cs stays v1
			f.consent(t, "u-jana", "GDPR", "cs", 1, true)
		}, ports.ConsentNotRequired},
		{"approved at an old version", policy.Default().Consent, func(t *testing.T, f fixture) {
			f.consent(t, "u-jana", "GDPR", "en", 1, true)
			f.publish(t, "GDPR", "en")
		}, ports.ConsentRequired},
		{"declined", policy.Default().Consent, func(t *testing.T, f fixture) { f.consent(t, "u-jana", "GDPR", "en", 1, false) }, ports.ConsentRequired},
		{"approved, then revoked", policy.Default().Consent, func(t *testing.T, f fixture) {
			f.consent(t, "u-jana", "GDPR", "en", 1, true)
			f.consent(t, "u-jana", "GDPR", "en", 1, false)
		}, ports.ConsentRequired},
		{"language without texts falls back to the default", policy.Default().Consent, func(t *testing.T, f fixture) {
			f.consent(t, "u-jana", "GDPR", "de", 1, true)
		}, ports.ConsentNotRequired},
		{"fallback to a newer default version", policy.Default().Consent, func(t *testing.T, f fixture) {
			f.consent(t, "u-jana", "GDPR", "de", 1, true)
			f.publish(t, "GDPR", "en")
		}, ports.ConsentRequired},
		{"another user's consent does not count", policy.Default().Consent, func(t *testing.T, f fixture) { f.consent(t, "u-other", "GDPR", "en", 1, true) }, ports.ConsentRequired},
		{"one of two types missing", two, func(t *testing.T, f fixture) {
			f.publish(t, "MARKETING", "en")
			f.consent(t, "u-jana", "GDPR", "en", 1, true)
		}, ports.ConsentRequired},
		{"both of two types approved", two, func(t *testing.T, f fixture) {
			f.publish(t, "MARKETING", "en")
			f.consent(t, "u-jana", "GDPR", "en", 1, true)
			f.consent(t, "u-jana", "MARKETING", "en", 1, true)
		}, ports.ConsentNotRequired},
		{"approved type whose text is unpublished", two, func(t *testing.T, f fixture) {
			f.consent(t, "u-jana", "GDPR", "en", 1, true)
			f.consent(t, "u-jana", "MARKETING", "en", 1, true)
		}, ports.ConsentRequired},
		{"no required types", none, func(t *testing.T, f fixture) {}, ports.ConsentNotRequired},
	}
	for _, oneRead := range []bool{false, true} {
		for _, tc := range tests {
			name := tc.name
			if oneRead {
				name = "registry reading consents with the client/" + name
			}
			t.Run(name, func(t *testing.T) {
				f := newFixture(t, policy.Default().Lookup, tc.policy)
				tc.setup(t, f)
				svc, ledger := f.svc, &countingLedger{ConsentLedger: f.ledger}
				var reg *withConsents
				if oneRead {
					reg = &withConsents{ClientRegistry: f.reg, ledger: f.ledger}
					svc = lookup.New(reg, ledger, f.texts, policy.Default().Lookup, tc.policy)
				}
				res, err := svc.Lookup(context.Background(), ports.LookupRequest{ProcessID: "p-1", Identification: byNumber("1985-04-12")})
				if err != nil || res.UserID != "u-jana" || res.Consent != tc.want {
					t.Fatalf("Lookup = %+v, %v; want consent %s", res, err, tc.want)
				}
				if reg != nil && tc.policy.Enabled && len(tc.policy.RequiredTypes) > 0 && (reg.calls != 1 || ledger.reads != 0) {
					t.Errorf("%d combined reads and %d ledger reads, want 1 and 0", reg.calls, ledger.reads)
				}
			})
		}
	}
}

// withConsents is a registry that reads the client's consents with it, as
// the PostgreSQL one does; err, when set, is its answer.
type withConsents struct {
	ports.ClientRegistry
	ledger ports.ConsentLedger
	calls  int
	err    error
}

func (w *withConsents) FindClientWithConsents(ctx context.Context, id domain.Identification, types []string) (domain.Client, map[string]domain.ConsentRecord, error) {
	w.calls++
	if w.err != nil {
		return domain.Client{}, nil, w.err
	}
	c, err := w.FindClient(ctx, id)
	if err != nil {
		return domain.Client{}, nil, err
	}
	latest, err := w.ledger.LatestConsents(ctx, c.UserID, types)
	return c, latest, err
}

// countingRegistry counts FindClient calls.
type countingRegistry struct {
	ports.ClientRegistry
	finds int
}

func (c *countingRegistry) FindClient(ctx context.Context, id domain.Identification) (domain.Client, error) {
	c.finds++
	return c.ClientRegistry.FindClient(ctx, id)
}

// countingLedger counts the service's own reads of the ledger.
type countingLedger struct {
	ports.ConsentLedger
	reads int
}

func (c *countingLedger) LatestConsents(ctx context.Context, user string, types []string) (map[string]domain.ConsentRecord, error) {
	c.reads++
	return c.ConsentLedger.LatestConsents(ctx, user, types)
}

// When the combined read fails, the client and its consents are read
// apart; when it finds nobody, the not-found policy applies as usual.
func TestLookupCombinedReadFallbacks(t *testing.T) {
	ctx := context.Background()
	t.Run("combined read unavailable: unavailable at once, no second wait", func(t *testing.T) {
		f := newFixture(t, policy.Default().Lookup, policy.Default().Consent)
		reg := &withConsents{ClientRegistry: &countingRegistry{ClientRegistry: f.reg}, ledger: f.ledger,
			err: domain.Unavailable(errors.New("timeout"), "down")}
		svc := lookup.New(reg, f.ledger, f.texts, policy.Default().Lookup, policy.Default().Consent)
		_, err := svc.Lookup(ctx, ports.LookupRequest{ProcessID: "p-1", Identification: byNumber("1985-04-12")})
		if domain.CodeOf(err) != domain.CodeUnavailable || reg.ClientRegistry.(*countingRegistry).finds != 0 {
			t.Fatalf("err = %v after %d plain reads; want unavailable after none", err, reg.ClientRegistry.(*countingRegistry).finds)
		}
	})
	t.Run("combined read fails otherwise: read apart", func(t *testing.T) {
		f := newFixture(t, policy.Default().Lookup, policy.Default().Consent)
		f.consent(t, "u-jana", "GDPR", "en", 1, true)
		reg := &withConsents{ClientRegistry: f.reg, ledger: f.ledger, err: domain.Internal(errors.New("scan"), "unreadable row")}
		ledger := &countingLedger{ConsentLedger: f.ledger}
		svc := lookup.New(reg, ledger, f.texts, policy.Default().Lookup, policy.Default().Consent)
		res, err := svc.Lookup(ctx, ports.LookupRequest{ProcessID: "p-1", Identification: byNumber("1985-04-12")})
		if err != nil || res.UserID != "u-jana" || res.Consent != ports.ConsentNotRequired || ledger.reads != 1 {
			t.Fatalf("Lookup = %+v, %v after %d ledger reads; want u-jana NOT_REQUIRED after 1", res, err, ledger.reads)
		}
	})
	t.Run("not found, register policy: a prospect", func(t *testing.T) {
		lp := policy.Default().Lookup
		lp.NotFound = policy.NotFoundRegister
		f := newFixture(t, lp, policy.Default().Consent)
		reg := &withConsents{ClientRegistry: f.reg, ledger: f.ledger}
		svc := lookup.New(reg, f.ledger, f.texts, lp, policy.Default().Consent)
		res, err := svc.Lookup(ctx, ports.LookupRequest{ProcessID: "p-1", Identification: byNumber("1999-09-09")})
		if err != nil || res.UserID == "" || res.UserID == "u-jana" || res.Consent != ports.ConsentRequired || reg.calls != 1 {
			t.Fatalf("Lookup = %+v, %v after %d combined reads; want a prospect, consent REQUIRED, 1 read", res, err, reg.calls)
		}
	})
	t.Run("not found, reject policy", func(t *testing.T) {
		f := newFixture(t, policy.Default().Lookup, policy.Default().Consent)
		svc := lookup.New(&withConsents{ClientRegistry: f.reg, ledger: f.ledger}, f.ledger, f.texts, policy.Default().Lookup, policy.Default().Consent)
		_, err := svc.Lookup(ctx, ports.LookupRequest{ProcessID: "p-1", Identification: byNumber("1999-09-09")})
		if de, ok := domain.AsError(err); !ok || de.Code != domain.CodeNotFound || de.Field != "identification" {
			t.Fatalf("err = %v, want not found naming identification", err)
		}
	})
}

// brokenLedger and brokenTexts cannot answer.
type brokenLedger struct{ ports.ConsentLedger }

func (brokenLedger) LatestConsent(context.Context, string, string) (domain.ConsentRecord, error) {
	return domain.ConsentRecord{}, domain.Unavailable(errors.New("timeout"), "ledger unavailable")
}

func (brokenLedger) LatestConsents(context.Context, string, []string) (map[string]domain.ConsentRecord, error) {
	return nil, domain.Unavailable(errors.New("timeout"), "ledger unavailable")
}

type brokenTexts struct{}

func (brokenTexts) LatestConsentText(context.Context, string, string) (domain.ConsentText, error) {
	return domain.ConsentText{}, domain.Unavailable(errors.New("timeout"), "texts unavailable")
}

// brokenRegistry fails FindClient; noIDRegistry answers a client without a
// user id.
type brokenRegistry struct{ ports.ClientRegistry }

func (brokenRegistry) FindClient(context.Context, domain.Identification) (domain.Client, error) {
	return domain.Client{}, domain.Unavailable(errors.New("refused"), "registry unavailable")
}

type noIDRegistry struct{ ports.ClientRegistry }

func (noIDRegistry) FindClient(context.Context, domain.Identification) (domain.Client, error) {
	return domain.Client{Status: domain.StatusActive}, nil
}

type brokenRegistrar struct{ ports.ClientRegistry }

func (brokenRegistrar) RegisterProspect(context.Context, domain.Identification) (domain.Client, error) {
	return domain.Client{}, domain.Unavailable(errors.New("refused"), "registry unavailable")
}

func TestLookupDependencies(t *testing.T) {
	ctx := context.Background()
	req := ports.LookupRequest{ProcessID: "p-1", Identification: byNumber("1985-04-12")}
	base := newFixture(t, policy.Default().Lookup, policy.Default().Consent)
	base.consent(t, "u-jana", "GDPR", "en", 1, true)
	register := policy.Default().Lookup
	register.NotFound = policy.NotFoundRegister

	t.Run("consent ledger down answers REQUIRED", func(t *testing.T) {
		svc := lookup.New(base.reg, brokenLedger{}, base.texts, policy.Default().Lookup, policy.Default().Consent)
		res, err := svc.Lookup(ctx, req)
		if err != nil || res.UserID != "u-jana" || res.Consent != ports.ConsentRequired {
			t.Errorf("Lookup = %+v, %v", res, err)
		}
	})
	t.Run("consent texts down answers REQUIRED", func(t *testing.T) {
		svc := lookup.New(base.reg, base.ledger, brokenTexts{}, policy.Default().Lookup, policy.Default().Consent)
		res, err := svc.Lookup(ctx, req)
		if err != nil || res.UserID != "u-jana" || res.Consent != ports.ConsentRequired {
			t.Errorf("Lookup = %+v, %v", res, err)
		}
	})
	t.Run("registry down is unavailable", func(t *testing.T) {
		svc := lookup.New(brokenRegistry{base.reg}, base.ledger, base.texts, policy.Default().Lookup, policy.Default().Consent)
		if _, err := svc.Lookup(ctx, req); domain.CodeOf(err) != domain.CodeUnavailable {
			t.Errorf("err = %v, want unavailable", err)
		}
	})
	t.Run("registration down is unavailable", func(t *testing.T) {
		svc := lookup.New(brokenRegistrar{base.reg}, base.ledger, base.texts, register, policy.Default().Consent)
		_, err := svc.Lookup(ctx, ports.LookupRequest{ProcessID: "p-1", Identification: byNumber("1990-01-01")})
		if domain.CodeOf(err) != domain.CodeUnavailable {
			t.Errorf("err = %v, want unavailable", err)
		}
	})
	t.Run("a client without user id is never answered", func(t *testing.T) {
		svc := lookup.New(noIDRegistry{base.reg}, base.ledger, base.texts, policy.Default().Lookup, policy.Default().Consent)
		if res, err := svc.Lookup(ctx, req); domain.CodeOf(err) != domain.CodeInternal || res.UserID != "" {
			t.Errorf("Lookup = %+v, %v; want internal", res, err)
		}
	})
}

func BenchmarkLookup(b *testing.B) {
	f := newFixture(b, policy.Default().Lookup, policy.Default().Consent)
	f.consent(b, "u-jana", "GDPR", "en", 1, true)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		req := ports.LookupRequest{ProcessID: "p-" + strconv.Itoa(i), Identification: byNumber("12.4.1985")}
		if res, err := f.svc.Lookup(ctx, req); err != nil || res.Consent != ports.ConsentNotRequired {
			b.Fatal(res, err)
		}
	}
}
