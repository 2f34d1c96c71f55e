package postgres_test

import (
	"context"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/adapters/postgres"
	"github.com/bankkit/onboarding-adapter/adapters/postgres/pgtest"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
	"github.com/bankkit/onboarding-adapter/ports/porttest"
)

// The behavioural suites of ports/porttest, the very ones the memory
// adapters pass. They use random identifiers, so each runs on its own fresh
// database in parallel with the others.

func newStores(t *testing.T) (*postgres.Stores, *pgxpool.Pool) {
	t.Helper()
	pool := pgtest.NewPool(t)
	return postgres.New(pool, memory.SystemClock{}, memory.NewRandomIDs()), pool
}

func TestClientRegistry(t *testing.T) {
	t.Parallel()
	s, _ := newStores(t)
	porttest.ClientRegistry(t, func(t *testing.T, clients ...domain.Client) ports.ClientRegistry {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Registry.AddClients(ctx, clients...); err != nil {
			t.Fatalf("adding the suite's clients: %v", err)
		}
		return s.Registry
	})
}

func TestConsentTextStore(t *testing.T) {
	t.Parallel()
	s, _ := newStores(t)
	porttest.ConsentTextStore(t, func(*testing.T) ports.ConsentTextStore { return s.ConsentTexts })
}

func TestConsentLedger(t *testing.T) {
	t.Parallel()
	s, _ := newStores(t)
	porttest.ConsentLedger(t, func(*testing.T) ports.ConsentLedger { return s.Ledger })
}

func TestConsentServings(t *testing.T) {
	t.Parallel()
	s, _ := newStores(t)
	porttest.ConsentServings(t, func(*testing.T) ports.ConsentServings { return s.Servings })
}

func TestDecisionStore(t *testing.T) {
	t.Parallel()
	s, _ := newStores(t)
	porttest.DecisionStore(t, func(*testing.T) (ports.DecisionStore, ports.ReviewCases) { return s.Decisions, s.Decisions })
}

// FindClientWithConsents answers as FindClient and LatestConsents do, in
// one statement.
func TestFindClientWithConsents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStores(t)
	suffix := strconv.FormatInt(time.Now().UnixNano(), 10)
	jana := domain.Client{UserID: "u-jana-" + suffix, ClientNumber: "J" + suffix, BirthDate: domain.MustDate("1985-04-12"),
		GivenNames: "Jana", Surname: "Nováková", PersonalNumber: "P" + suffix, Nationality: "CZE", Status: domain.StatusActive}
	petr := domain.Client{UserID: "u-petr-" + suffix, ClientNumber: "K" + suffix, BirthDate: domain.MustDate("1990-07-21"),
		GivenNames: "Petr", Surname: "Dvořák", PersonalNumber: "Q" + suffix, Nationality: "CZE", Status: domain.StatusActive}
	if err := s.Registry.AddClients(ctx, jana, petr); err != nil {
		t.Fatal(err)
	}
	appendConsent := func(user, typ string, approved bool, at time.Time) {
		t.Helper()
		_, _, err := s.Ledger.AppendConsent(ctx, domain.ConsentRecord{ProcessID: "p-" + typ + "-" + at.Format("150405.000"),
			UserID: user, ConsentType: typ, Approved: approved, Language: "en", TextVersion: 1, TextSHA256: digest, RecordedAt: at})
		if err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	appendConsent(jana.UserID, "GDPR", true, t0)
	appendConsent(jana.UserID, "GDPR", false, t0.Add(time.Hour)) // the newest GDPR record: a revocation
	appendConsent(jana.UserID, "TERMS", true, t0)
	appendConsent(petr.UserID, "GDPR", true, t0)

	types := []string{"GDPR", "TERMS", "MARKETING"}
	byNumber := domain.Identification{Scheme: []domain.IdentificationKey{domain.KeyClientNumber, domain.KeyBirthDate},
		Values: map[domain.IdentificationKey]string{domain.KeyClientNumber: jana.ClientNumber, domain.KeyBirthDate: "1985-04-12"}}
	c, consents, err := s.Registry.FindClientWithConsents(ctx, byNumber, types)
	if err != nil {
		t.Fatal(err)
	}
	wantClient, err := s.Registry.FindClient(ctx, byNumber)
	if err != nil {
		t.Fatal(err)
	}
	wantConsents, err := s.Ledger.LatestConsents(ctx, jana.UserID, types)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, wantClient) {
		t.Errorf("client %+v, want FindClient's %+v", c, wantClient)
	}
	if !reflect.DeepEqual(consents, wantConsents) || len(consents) != 2 || consents["GDPR"].Approved {
		t.Errorf("consents %+v, want LatestConsents' %+v (GDPR revoked, TERMS approved, no MARKETING)", consents, wantConsents)
	}

	// A client without records: the client, and an empty map (not nil).
	byPersonal := domain.Identification{Scheme: []domain.IdentificationKey{domain.KeyPersonalNumber},
		Values: map[domain.IdentificationKey]string{domain.KeyPersonalNumber: petr.PersonalNumber}}
	c, consents, err = s.Registry.FindClientWithConsents(ctx, byPersonal, []string{"TERMS"})
	if err != nil || c.UserID != petr.UserID || consents == nil || len(consents) != 0 {
		t.Errorf("client without TERMS records: %+v, %v, %v", c, consents, err)
	}

	// Not found: wrong birth date, an identification the registry cannot search.
	wrong := byNumber
	wrong.Values = map[domain.IdentificationKey]string{domain.KeyClientNumber: jana.ClientNumber, domain.KeyBirthDate: "1985-04-13"}
	for _, id := range []domain.Identification{wrong, {}} {
		if _, _, err := s.Registry.FindClientWithConsents(ctx, id, types); !domain.IsNotFound(err) {
			t.Errorf("%+v: err %v, want not found", id.Values, err)
		}
	}
}

// The hot lookup statements settle on their generic plan instead of being
// planned afresh on every run (which cost PostgreSQL several times the run
// itself while a consent type list was one text[] parameter).
func TestLookupStatementsUseTheGenericPlan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := postgres.NewPool(ctx, pgtest.NewDatabase(t), postgres.PoolConfig{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s := postgres.New(pool, memory.SystemClock{}, memory.NewRandomIDs())
	defer s.Close()
	suffix := strconv.FormatInt(time.Now().UnixNano(), 10)
	c := domain.Client{UserID: "u-" + suffix, ClientNumber: "G" + suffix, BirthDate: domain.MustDate("1985-04-12"),
		GivenNames: "Jana", Surname: "Nováková", Status: domain.StatusActive}
	if err := s.Registry.AddClients(ctx, c); err != nil {
		t.Fatal(err)
	}
	id := domain.Identification{Scheme: []domain.IdentificationKey{domain.KeyClientNumber, domain.KeyBirthDate},
		Values: map[domain.IdentificationKey]string{domain.KeyClientNumber: c.ClientNumber, domain.KeyBirthDate: "1985-04-12"}}
	for range 10 {
		if _, _, err := s.Registry.FindClientWithConsents(ctx, id, []string{"GDPR"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Ledger.LatestConsents(ctx, c.UserID, []string{"GDPR", "TERMS"}); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := pool.Query(ctx, `SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements
WHERE statement LIKE '%FROM consent_ledger%' AND statement NOT LIKE '%pg_prepared_statements%'`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var (
			stmt            string
			generic, custom int64
		)
		if err := rows.Scan(&stmt, &generic, &custom); err != nil {
			t.Fatal(err)
		}
		n++
		if generic < 4 || custom > 6 {
			t.Errorf("%d generic and %d custom plans in 10 runs, want the generic plan after the first five:\n%s", generic, custom, stmt)
		}
	}
	if rows.Err() != nil || n != 2 {
		t.Fatalf("%d prepared statements reading consent_ledger (err %v), want 2", n, rows.Err())
	}
}
