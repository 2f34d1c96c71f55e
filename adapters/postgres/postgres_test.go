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

// janaClient is an active registry client whose keys end in suffix, so
// tests sharing a database never meet each other's.
func janaClient(suffix string) domain.Client {
	return domain.Client{UserID: "u-jana-" + suffix, ClientNumber: "J" + suffix, BirthDate: domain.MustDate("1985-04-12"),
		GivenNames: "Jana", Surname: "Nováková", PersonalNumber: "P" + suffix, Phone: "+420601123456", Nationality: "CZE",
		Status: domain.StatusActive}
}

// FindClientWithConsents answers as FindClient and LatestConsents do, in
// one statement.
func TestFindClientWithConsents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStores(t)
	suffix := strconv.FormatInt(time.Now().UnixNano(), 10)
	jana := janaClient(suffix)
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

// VerificationDecisionsWithClient answers as VerificationDecisions and
// ClientByUserID do (nil for an unknown user), in one statement.
func TestVerificationDecisionsWithClient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStores(t)
	suffix := strconv.FormatInt(time.Now().UnixNano(), 10)
	jana := janaClient(suffix)
	if err := s.Registry.AddClients(ctx, jana); err != nil {
		t.Fatal(err)
	}
	prospect, err := s.Registry.RegisterProspect(ctx, domain.Identification{Scheme: []domain.IdentificationKey{domain.KeyPersonalNumber},
		Values: map[domain.IdentificationKey]string{domain.KeyPersonalNumber: "N" + suffix}})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	processID, ivID := "p-"+suffix, "iv-"+suffix
	score := 4.5
	approval := domain.Decision{Kind: domain.KindApproval, ProcessID: processID, IdentityVerificationID: ivID, UserID: jana.UserID,
		Result: domain.ResultWAIT, ReasonCode: domain.ReasonScoreBorderline, ReasonText: "score 4.50 is below 7.00", Score: &score,
		Rules:         []domain.RuleResult{{Rule: "score", Outcome: domain.ResultWAIT, Code: domain.ReasonScoreBorderline}},
		Images:        []domain.ImageDigest{{Kind: "FRAME", SHA256: digest, Size: 1234}},
		CorrelationID: "corr-1", RequestID: "req-1", DecidedAt: at}
	rc := &domain.ReviewCase{ID: "case-" + suffix, Kind: domain.KindApproval, ProcessID: processID, IdentityVerificationID: ivID,
		UserID: jana.UserID, Status: domain.ReviewOpen, ReasonCodes: []string{domain.ReasonScoreBorderline},
		Answered: domain.ResultWAIT, CreatedAt: at}
	approval.ReviewCaseID = rc.ID
	evaluation := domain.Decision{Kind: domain.KindEvaluation, ProcessID: processID, IdentityVerificationID: ivID, UserID: jana.UserID,
		Result: domain.ResultOK, Rules: []domain.RuleResult{{Rule: "user.known", Outcome: domain.ResultOK}},
		CorrelationID: "corr-2", RequestID: "req-2", DecidedAt: at.Add(time.Minute)}
	for _, d := range []struct {
		d  domain.Decision
		rc *domain.ReviewCase
	}{{approval, rc}, {evaluation, nil}} {
		if _, _, err := s.Decisions.SaveDecision(ctx, d.d, d.rc); err != nil {
			t.Fatal(err)
		}
	}
	// The reviewer's verdict must show in the combined read as it does in
	// VerificationDecisions.
	if _, err := s.Decisions.ClaimReviewCase(ctx, rc.ID, "alice", "", at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Decisions.ResolveReviewCase(ctx, ports.ReviewResolution{CaseID: rc.ID, Result: domain.ResultNOK,
		Reason: "frame shows another person", Reviewer: "alice", At: at.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, processID, ivID, userID string
		decisions                     int
	}{
		{"both decisions, registry client", processID, ivID, jana.UserID, 2},
		{"both decisions, unknown user", processID, ivID, "u-unknown-" + suffix, 2},
		{"no decision, registry client", "p-none-" + suffix, ivID, jana.UserID, 0},
		{"no decision, prospect", processID, "iv-none-" + suffix, prospect.UserID, 0},
		{"no decision, unknown user", "p-none-" + suffix, "iv-none-" + suffix, "u-unknown-" + suffix, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, client, err := s.Decisions.VerificationDecisionsWithClient(ctx, tc.processID, tc.ivID, tc.userID)
			if err != nil {
				t.Fatal(err)
			}
			want, err := s.Decisions.VerificationDecisions(ctx, tc.processID, tc.ivID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decisions %+v, want VerificationDecisions' %+v", got, want)
			}
			if n := countDecisions(got); n != tc.decisions {
				t.Errorf("%d decisions, want %d", n, tc.decisions)
			}
			if tc.decisions == 2 && (got.Approval.Result != domain.ResultNOK || got.Approval.ReasonCode != domain.ReasonReviewRejected) {
				t.Errorf("approval %+v, want the reviewer's NOK applied", got.Approval)
			}
			wantClient, err := s.Registry.ClientByUserID(ctx, tc.userID)
			switch {
			case domain.IsNotFound(err):
				if client != nil {
					t.Errorf("client %+v for a user the registry does not know", client)
				}
			case err != nil:
				t.Fatal(err)
			case client == nil || !reflect.DeepEqual(*client, wantClient):
				t.Errorf("client %+v, want ClientByUserID's %+v", client, wantClient)
			}
		})
	}
}

func countDecisions(v ports.VerificationDecisions) int {
	n := 0
	for _, d := range []*domain.Decision{v.Approval, v.Evaluation} {
		if d != nil {
			n++
		}
	}
	return n
}

// The hot read statements settle on their generic plan instead of being
// planned afresh on every run (which cost PostgreSQL several times the run
// itself while a consent type list was one text[] parameter): the lookup's
// two and the decisions' combined read.
func TestLookupStatementsUseTheGenericPlan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := postgres.NewPool(ctx, pgtest.NewDatabase(t), postgres.PoolConfig{MaxConns: 1, ConnectTimeout: 10 * time.Second})
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
	for n := range 10 {
		if _, _, err := s.Registry.FindClientWithConsents(ctx, id, []string{"GDPR"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Ledger.LatestConsents(ctx, c.UserID, []string{"GDPR", "TERMS"}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Decisions.VerificationDecisionsWithClient(ctx, "p-"+strconv.Itoa(n), "iv-1", c.UserID); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		like string
		want int
	}{
		{"%FROM consent_ledger%", 2},
		{"%LEFT JOIN clients u%FROM decisions%", 1},
	} {
		rows, err := pool.Query(ctx, `SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements
WHERE statement LIKE $1 AND statement NOT LIKE '%pg_prepared_statements%'`, tc.like)
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
		if rows.Err() != nil || n != tc.want {
			t.Fatalf("%d prepared statements like %q (err %v), want %d", n, tc.like, rows.Err(), tc.want)
		}
	}
}
