package postgres_test

import (
	"context"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/adapters/postgres"
	"github.com/bankkit/onboarding-adapter/adapters/postgres/pgtest"
	"github.com/bankkit/onboarding-adapter/domain"
)

func demoSeed() postgres.SeedData {
	var texts []postgres.SeedText
	for _, t := range memory.DemoConsentTexts() {
		texts = append(texts, postgres.SeedText{Type: t.Type, Language: t.Language, HTML: t.HTML})
	}
	return postgres.SeedData{Clients: memory.DemoClients(domain.DateOf(time.Now())), Texts: texts, Consents: memory.DemoConsents()}
}

func TestSeedIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, pool := newStores(t)
	data := demoSeed()
	want := postgres.SeedResult{Clients: len(data.Clients), Texts: len(data.Texts), Consents: len(data.Consents)}

	for run, want := range []postgres.SeedResult{want, {}} {
		got, err := postgres.Seed(ctx, pool, data)
		if err != nil {
			t.Fatalf("run %d: %v", run+1, err)
		}
		if got != want {
			t.Fatalf("run %d added %+v, want %+v", run+1, got, want)
		}
	}
	jana, err := s.Registry.FindClient(ctx, identification(domain.KeyClientNumber, "1000001", domain.KeyBirthDate, "1985-04-12"))
	if err != nil || jana.Surname != "Nováková" || jana.PersonalNumber != "8554121234" {
		t.Fatalf("seeded client = %+v, %v", jana, err)
	}
	gdpr, err := s.ConsentTexts.LatestConsentText(ctx, "GDPR", "cs")
	if err != nil || gdpr.Version != 1 {
		t.Fatalf("seeded text = %+v, %v", gdpr, err)
	}
	consent, err := s.Ledger.LatestConsent(ctx, "u-1000002", "GDPR")
	if err != nil || !consent.Approved || consent.TextSHA256 != gdpr0(t, s).SHA256 {
		t.Fatalf("seeded consent = %+v, %v", consent, err)
	}

	// A changed text is published as the next version; the others stay.
	data.Texts[0].HTML += "<p>Updated.</p>"
	got, err := postgres.Seed(ctx, pool, data)
	if err != nil || got != (postgres.SeedResult{Texts: 1}) {
		t.Fatalf("seeding a changed text added %+v (%v), want one text", got, err)
	}
	latest, err := s.ConsentTexts.LatestConsentText(ctx, data.Texts[0].Type, data.Texts[0].Language)
	if err != nil || latest.Version != 2 {
		t.Fatalf("changed text = version %d (%v), want 2", latest.Version, err)
	}
}

func gdpr0(t *testing.T, s *postgres.Stores) domain.ConsentText {
	t.Helper()
	txt, err := s.ConsentTexts.LatestConsentText(context.Background(), "GDPR", "en")
	if err != nil {
		t.Fatal(err)
	}
	return txt
}

func TestSeedSyntheticClients(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, pool := newStores(t)
	if _, err := postgres.Seed(ctx, pool, demoSeed()); err != nil {
		t.Fatal(err)
	}
	const n = 5000
	count := func(query string) int64 {
		t.Helper()
		var c int64
		if err := pool.QueryRow(ctx, query).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name    string
		prepare string
		want    int64
	}{
		{"empty range", "", n},
		{"all there", "", 0},
		{"some missing", `DELETE FROM clients WHERE client_number IN ('20000000', '20000100', '20004999')`, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.prepare != "" {
				if _, err := pool.Exec(ctx, tc.prepare); err != nil {
					t.Fatal(err)
				}
			}
			added, err := postgres.SeedSyntheticClients(ctx, pool, n, 42)
			if err != nil || added != tc.want {
				t.Fatalf("added %d (%v), want %d", added, err, tc.want)
			}
			if total := count(`SELECT count(*) FROM clients WHERE client_number >= '20000000'`); total != n {
				t.Fatalf("%d synthetic clients stored, want %d", total, n)
			}
		})
	}

	t.Run("realistic and unique", func(t *testing.T) {
		for _, tc := range []struct {
			what  string
			query string
			want  int64
		}{
			{"duplicate personal numbers", `SELECT count(*) - count(DISTINCT personal_number) FROM clients WHERE personal_number IS NOT NULL`, 0},
			{"duplicate phones", `SELECT count(*) - count(DISTINCT phone) FROM clients WHERE phone IS NOT NULL`, 0},
			{"birth dates outside 1940-2007", `SELECT count(*) FROM clients WHERE client_number >= '20000000'
  AND birth_date NOT BETWEEN '1940-01-01' AND '2007-12-31'`, 0},
			{"ten-digit birth numbers not divisible by 11", `SELECT count(*) FROM clients WHERE client_number >= '20000000'
  AND length(personal_number) = 10 AND personal_number::bigint % 11 <> 0`, 0},
			{"ten-digit birth numbers before 1954", `SELECT count(*) FROM clients WHERE client_number >= '20000000'
  AND length(personal_number) = 10 AND birth_date < '1954-01-01'`, 0},
		} {
			if got := count(tc.query); got != tc.want {
				t.Errorf("%s: %d, want %d", tc.what, got, tc.want)
			}
		}
		for _, tc := range []struct {
			what   string
			query  string
			lo, hi int64 // per mille of n
		}{
			{"active", `SELECT count(*) FROM clients WHERE client_number >= '20000000' AND status = 'ACTIVE'`, 890, 950},
			{"blocked", `SELECT count(*) FROM clients WHERE client_number >= '20000000' AND status = 'BLOCKED'`, 30, 70},
			{"closed", `SELECT count(*) FROM clients WHERE client_number >= '20000000' AND status = 'CLOSED'`, 15, 45},
			{"Czech", `SELECT count(*) FROM clients WHERE client_number >= '20000000' AND nationality = 'CZE'`, 740, 820},
			{"with a diacritic in the name", `SELECT count(*) FROM clients WHERE client_number >= '20000000'
  AND given_names || surname ~ '[^ -~]'`, 300, 900},
			{"women (month + 50)", `SELECT count(*) FROM clients WHERE client_number >= '20000000'
  AND substr(personal_number, 3, 1) IN ('5', '6')`, 350, 500},
		} {
			got := count(tc.query) * 1000 / n
			if got < tc.lo || got > tc.hi {
				t.Errorf("%s: %d‰ of the clients, want %d‰ to %d‰", tc.what, got, tc.lo, tc.hi)
			}
		}
	})

	t.Run("the demo clients are still found", func(t *testing.T) {
		for _, c := range memory.DemoClients(domain.DateOf(time.Now())) {
			if c.PersonalNumber == "" {
				continue
			}
			got, err := s.Registry.FindClient(ctx, identification(domain.KeyPersonalNumber, c.PersonalNumber))
			if err != nil || got.UserID != c.UserID {
				t.Fatalf("demo client %s by personal number = %+v, %v", c.ClientNumber, got, err)
			}
		}
	})

	t.Run("generated clients are found", func(t *testing.T) {
		clients := postgres.SyntheticClients(n, 42)
		for _, i := range []int{1, 777, n - 2} {
			c := clients[i]
			got, err := s.Registry.FindClient(ctx, identification(domain.KeyClientNumber, c.ClientNumber, domain.KeyBirthDate, c.BirthDate.String()))
			if err != nil || !reflect.DeepEqual(got, c) {
				t.Fatalf("client %d = %+v, %v; want %+v", i, got, err, c)
			}
		}
	})
}

func TestSyntheticClientsAreDeterministic(t *testing.T) {
	t.Parallel()
	a, b, other := postgres.SyntheticClients(300, 1), postgres.SyntheticClients(300, 1), postgres.SyntheticClients(300, 2)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed generated different clients")
	}
	if reflect.DeepEqual(a, other) {
		t.Fatal("another seed generated the same clients")
	}
	for i, c := range a {
		if c.ClientNumber != strconv.Itoa(postgres.FirstSyntheticClientNumber+i) || len(c.UserID) != 36 ||
			!c.Status.Valid() || c.GivenNames == "" || c.Surname == "" || strings.TrimSpace(c.Nationality) == "" {
			t.Fatalf("client %d = %+v", i, c)
		}
		if c.Phone != "" {
			if p, ok := domain.NormalizePhone(c.Phone); !ok || p != c.Phone {
				t.Fatalf("client %d phone %q is not E.164", i, c.Phone)
			}
		}
	}
}

func TestSeedNeedsSyntheticCountInRange(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	if added, err := postgres.SeedSyntheticClients(context.Background(), pool, postgres.MaxSyntheticClients+1, 1); domain.CodeOf(err) != domain.CodeInvalid || added != 0 {
		t.Fatalf("too many clients: added %d, err %v; want CodeInvalid", added, err)
	}
	if added, err := postgres.SeedSyntheticClients(context.Background(), pool, 0, 1); err != nil || added != 0 {
		t.Fatalf("zero clients: added %d, err %v", added, err)
	}
}
