package memory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

// DemoClients returns the registry of the embedded service and of the
// `seed` subcommand: one client per case the service decides differently.
//
//   - 1000001 Jana Nováková: active, personal number, Czech name with
//     diacritics (the happy path of every scheme).
//   - 1000002 John Smith: active, no personal number, British, has already
//     approved GDPR (see DemoConsents), so lookup answers NOT_REQUIRED.
//   - 1000003 Petr Dvořák: blocked (not eligible).
//   - 1000004 Eva Svobodová: active without a phone (OTP cannot be sent).
//   - 1000005 Tomáš Černý: active but under 18 (evaluation NOK): born 16
//     years before today, so the demo does not age out of its own case.
//   - 1000006 Marie Horáková: closed (not eligible).
//   - 1000007 Lukas Müller: active, German, personal number.
//
// today is the day the data is loaded.
func DemoClients(today domain.Date) []domain.Client {
	return []domain.Client{
		{UserID: "u-1000001", ClientNumber: "1000001", BirthDate: domain.MustDate("1985-04-12"),
			GivenNames: "Jana", Surname: "Nováková", PersonalNumber: domain.NormalizePersonalNumber("855412/1234"),
			Phone: "+420777123456", Nationality: "CZE", Status: domain.StatusActive},
		{UserID: "u-1000002", ClientNumber: "1000002", BirthDate: domain.MustDate("1978-11-03"),
			GivenNames: "John", Surname: "Smith",
			Phone: "+447700900123", Nationality: "GBR", Status: domain.StatusActive},
		{UserID: "u-1000003", ClientNumber: "1000003", BirthDate: domain.MustDate("1990-07-21"),
			GivenNames: "Petr", Surname: "Dvořák",
			Phone: "+420602111222", Nationality: "CZE", Status: domain.StatusBlocked},
		{UserID: "u-1000004", ClientNumber: "1000004", BirthDate: domain.MustDate("1982-02-14"),
			GivenNames: "Eva", Surname: "Svobodová",
			Nationality: "CZE", Status: domain.StatusActive},
		{UserID: "u-1000005", ClientNumber: "1000005", BirthDate: DemoMinorBirthDate(today),
			GivenNames: "Tomáš", Surname: "Černý",
			Phone: "+420603333444", Nationality: "CZE", Status: domain.StatusActive},
		{UserID: "u-1000006", ClientNumber: "1000006", BirthDate: domain.MustDate("1969-09-30"),
			GivenNames: "Marie", Surname: "Horáková",
			Phone: "+420604555666", Nationality: "CZE", Status: domain.StatusClosed},
		{UserID: "u-1000007", ClientNumber: "1000007", BirthDate: domain.MustDate("1995-01-20"),
			GivenNames: "Lukas", Surname: "Müller", PersonalNumber: domain.NormalizePersonalNumber("950120/5678"),
			Phone: "+491701234567", Nationality: "DEU", Status: domain.StatusActive},
	}
}

// DemoMinorBirthDate is the birth date of the demo's minor (1000005) when
// the data is loaded on today: 16 years and a day earlier.
func DemoMinorBirthDate(today domain.Date) domain.Date {
	return domain.DateOf(today.Time().AddDate(-16, 0, -1))
}

// DemoConsentText is one consent text the demo publishes as version 1.
type DemoConsentText struct {
	Type     string
	Language string
	HTML     string
}

// DemoConsentTexts returns the GDPR and MARKETING texts in English and Czech.
func DemoConsentTexts() []DemoConsentText {
	return []DemoConsentText{
		{Type: "GDPR", Language: "en", HTML: "<h1>Consent to the processing of personal data</h1>" +
			"<p>I consent to MyBank processing my personal data, including the data of my identity document " +
			"and the photographs taken during onboarding, in order to verify my identity and open my account. " +
			"MyBank keeps the data for as long as the law requires. I may withdraw this consent at any time in " +
			"the app or at a branch; the withdrawal does not affect processing that took place before it. " +
			"My rights are described at mybank.example/privacy.</p>"},
		{Type: "GDPR", Language: "cs", HTML: "<h1>Souhlas se zpracováním osobních údajů</h1>" +
			"<p>Souhlasím, aby MyBank zpracovávala mé osobní údaje, včetně údajů z mého dokladu totožnosti " +
			"a fotografií pořízených během registrace, za účelem ověření mé totožnosti a založení účtu. " +
			"MyBank údaje uchovává po dobu, kterou vyžaduje zákon. Souhlas mohu kdykoli odvolat v aplikaci " +
			"nebo na pobočce; odvolání nemá vliv na zpracování, ke kterému došlo před ním. " +
			"Má práva jsou popsána na mybank.example/soukromi.</p>"},
		{Type: "MARKETING", Language: "en", HTML: "<h1>Consent to marketing communication</h1>" +
			"<p>I agree that MyBank may use my contact details and information about the products I use " +
			"to send me offers of its own products and services by e-mail, SMS and push notification. " +
			"I may withdraw this consent at any time in the app settings, free of charge and without giving " +
			"a reason.</p>"},
		{Type: "MARKETING", Language: "cs", HTML: "<h1>Souhlas s marketingovou komunikací</h1>" +
			"<p>Souhlasím, aby MyBank využívala mé kontaktní údaje a informace o produktech, které používám, " +
			"k zasílání nabídek vlastních produktů a služeb e-mailem, SMS a push notifikacemi. " +
			"Souhlas mohu kdykoli bezplatně a bez udání důvodu odvolat v nastavení aplikace.</p>"},
	}
}

// DemoConsents returns the consents the demo users already gave, naming
// version 1 of the texts of DemoConsentTexts (what a fresh store publishes).
func DemoConsents() []domain.ConsentRecord {
	var gdprEN DemoConsentText
	for _, t := range DemoConsentTexts() {
		if t.Type == "GDPR" && t.Language == "en" {
			gdprEN = t
		}
	}
	sum := sha256.Sum256([]byte(gdprEN.HTML))
	return []domain.ConsentRecord{{
		ProcessID: "demo-seed", UserID: "u-1000002", ConsentType: gdprEN.Type, Approved: true,
		Language: gdprEN.Language, TextVersion: 1, TextSHA256: hex.EncodeToString(sum[:]),
		RequestID: "demo-seed", CorrelationID: "demo-seed",
	}}
}

// Demo holds every in-memory adapter of the embedded service, seeded.
type Demo struct {
	Registry     *ClientRegistry
	ConsentTexts *ConsentTextStore
	Ledger       *ConsentLedger
	Servings     *ConsentServings
	Decisions    *DecisionStore
	OTPGuard     *OTPGuard
	Events       *ProcessEvents
}

// NewDemo builds the in-memory adapters and seeds them with DemoClients,
// DemoConsentTexts and DemoConsents; ids names prospects registered later.
// maxRecords bounds the decisions, consent records, servings and process
// events kept (see DefaultMaxRecords; below 1: unbounded, and the last
// DefaultProcessEvents events).
func NewDemo(clock ports.Clock, ids ports.IDGenerator, maxRecords int) (*Demo, error) {
	ctx := context.Background()
	d := &Demo{
		Registry:     NewClientRegistry(ids, DemoClients(domain.DateOf(clock.Now()))...),
		ConsentTexts: NewConsentTextStore(clock),
		Ledger:       NewConsentLedgerLimit(clock, maxRecords),
		Servings:     NewConsentServingsLimit(maxRecords),
		Decisions:    NewDecisionStoreLimit(maxRecords),
		OTPGuard:     NewOTPGuard(clock),
		Events:       NewProcessEventsLimit(maxRecords),
	}
	for _, t := range DemoConsentTexts() {
		if _, err := d.ConsentTexts.PublishConsentText(ctx, t.Type, t.Language, t.HTML); err != nil {
			return nil, fmt.Errorf("seed consent text %s/%s: %w", t.Type, t.Language, err)
		}
	}
	for _, r := range DemoConsents() {
		if _, _, err := d.Ledger.AppendConsent(ctx, r); err != nil {
			return nil, fmt.Errorf("seed consent of %s: %w", r.UserID, err)
		}
	}
	return d, nil
}
