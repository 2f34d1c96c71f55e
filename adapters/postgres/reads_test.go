package postgres_test

import (
	"bytes"
	"context"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/adapters/postgres"
	"github.com/bankkit/onboarding-adapter/adapters/postgres/pgtest"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
	"github.com/bankkit/onboarding-adapter/ports/porttest"
)

func TestClientRegistryUnbatched(t *testing.T) {
	t.Parallel()
	s := newUnbatchedStores(t)
	porttest.ClientRegistry(t, func(t *testing.T, clients ...domain.Client) ports.ClientRegistry {
		if err := s.Registry.AddClients(context.Background(), clients...); err != nil {
			t.Fatalf("adding the suite's clients: %v", err)
		}
		return s.Registry
	})
}

// statementCounter counts the batched registry searches, decision reads
// and reads by user id that succeeded, the failed batches, and the
// registry searches and reads by user id alone.
type statementCounter struct {
	batched, single, decisions, byUser, byUserAlone, failed atomic.Int64
}

func (c *statementCounter) count(sql string) {
	switch {
	case strings.Contains(sql, "WITH ORDINALITY AS k(v1"):
		c.batched.Add(1)
	case strings.Contains(sql, "WITH ORDINALITY AS k(process_id"):
		c.decisions.Add(1)
	case strings.Contains(sql, "WITH ORDINALITY AS k(id, i)"):
		c.byUser.Add(1)
	case strings.Contains(sql, "FROM clients WHERE status <> 'PROSPECT'"):
		c.single.Add(1)
	case strings.Contains(sql, "FROM clients WHERE user_id = $1"):
		c.byUserAlone.Add(1)
	}
}

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.count(d.SQL)
	return ctx
}

func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *statementCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (c *statementCounter) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	if d.Err != nil {
		if strings.Contains(d.SQL, "WITH ORDINALITY AS k(") {
			c.failed.Add(1)
		}
		return
	}
	c.count(d.SQL)
}

func (c *statementCounter) reset() {
	c.batched.Store(0)
	c.single.Store(0)
	c.decisions.Store(0)
	c.byUser.Store(0)
	c.byUserAlone.Store(0)
	c.failed.Store(0)
}

func (c *statementCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// newCountedStores returns stores whose batches wait out batchWindow and
// stores without batching, on one fresh database whose statements counter
// counts.
func newCountedStores(t *testing.T, opts ...postgres.Option) (batched, alone *postgres.Stores, counter *statementCounter) {
	t.Helper()
	counter = &statementCounter{}
	pool, err := postgres.NewPool(context.Background(), pgtest.NewDatabase(t), postgres.PoolConfig{Tracer: counter, ConnectTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	batched = postgres.New(pool, memory.SystemClock{}, memory.NewRandomIDs(), append(opts,
		postgres.WithBatching(postgres.FixedWindow(postgres.BatchConfig{Window: batchWindow, MaxItems: 1000})))...)
	alone = postgres.New(pool, memory.SystemClock{}, memory.NewRandomIDs(), postgres.WithBatching(postgres.BatchConfig{}))
	return batched, alone, counter
}

// Concurrent reads of clients by user id (the OTP sends' phone numbers)
// share one statement, and every caller gets what the read alone answers:
// five clients (one asked for three times), a prospect, an unknown id.
func TestClientsByUserIDShareAStatement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	batched, alone, counter := newCountedStores(t)
	suffix := strconv.FormatInt(time.Now().UnixNano(), 10)
	var ids []string
	for i := range 5 {
		c := janaClient(suffix + "-byuser-" + strconv.Itoa(i))
		c.Phone = "+42060100000" + strconv.Itoa(i)
		if err := batched.Registry.AddClients(ctx, c); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.UserID)
	}
	prospect, err := batched.Registry.RegisterProspect(ctx, domain.Identification{Scheme: []domain.IdentificationKey{domain.KeyPersonalNumber},
		Values: map[domain.IdentificationKey]string{domain.KeyPersonalNumber: "PN" + suffix}})
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, ids[0], ids[0], prospect.UserID, "u-nobody-"+suffix)

	type answer struct {
		client domain.Client
		code   domain.ErrorCode
	}
	ask := func(r *postgres.ClientRegistry, id string) answer {
		c, err := r.ClientByUserID(ctx, id)
		return answer{c, domain.CodeOf(err)}
	}
	counter.reset()
	got := make([]answer, len(ids))
	var calls []func()
	for i, id := range ids {
		calls = append(calls, func() { got[i] = ask(batched.Registry, id) })
	}
	together(calls...)
	if n, f, s := counter.byUser.Load(), counter.failed.Load(), counter.byUserAlone.Load(); n != 1 || f != 0 || s != 0 {
		t.Errorf("%d batch statements answered, %d failed, %d reads alone; want 1, 0, 0", n, f, s)
	}
	for i, id := range ids {
		if want := ask(alone.Registry, id); !reflect.DeepEqual(got[i], want) {
			t.Errorf("%s: batched %+v, alone %+v", id, got[i], want)
		}
	}
	if got[1].code != "" || got[1].client.UserID != ids[1] || got[1].client.Phone != "+420601000001" {
		t.Errorf("client 1: %+v", got[1])
	}
	if got[7].code != "" || got[7].client.Status != domain.StatusProspect {
		t.Errorf("the prospect: %+v", got[7])
	}
	if got[8].code != domain.CodeNotFound {
		t.Errorf("an unknown user id: %+v, want NotFound", got[8])
	}
}

// Concurrent searches of one shape share one statement, and every caller
// gets what its search alone answers: found with its consents, not found,
// ambiguous (two clients with one personal number: not found).
func TestRegistrySearchesShareAStatement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	batched, alone, counter := newCountedStores(t)

	suffix := strconv.FormatInt(time.Now().UnixNano(), 10)
	var clients []domain.Client
	for i := range 12 {
		c := janaClient(suffix + "-" + strconv.Itoa(i))
		c.BirthDate = domain.DateOf(domain.MustDate("1980-01-01").Time().AddDate(0, 0, i))
		clients = append(clients, c)
	}
	twin := clients[11]
	twin.UserID, twin.ClientNumber = twin.UserID+"-twin", twin.ClientNumber+"-twin" // same personal number
	if err := batched.Registry.AddClients(ctx, append(clients, twin)...); err != nil {
		t.Fatal(err)
	}
	for i, c := range clients[:6] {
		_, _, err := batched.Ledger.AppendConsent(ctx, domain.ConsentRecord{ProcessID: "p-" + suffix, UserID: c.UserID,
			ConsentType: "GDPR", Approved: i%2 == 0, Language: "en", TextVersion: 1, TextSHA256: digest})
		if err != nil {
			t.Fatal(err)
		}
	}

	byNumber := func(number, birth string) domain.Identification {
		return domain.Identification{Scheme: []domain.IdentificationKey{domain.KeyClientNumber, domain.KeyBirthDate},
			Values: map[domain.IdentificationKey]string{domain.KeyClientNumber: number, domain.KeyBirthDate: birth}}
	}
	type search struct {
		name string
		id   domain.Identification
	}
	var searches []search
	for i, c := range clients {
		searches = append(searches, search{"client " + strconv.Itoa(i), byNumber(c.ClientNumber, c.BirthDate.String())})
	}
	searches = append(searches,
		search{"wrong birth date", byNumber(clients[0].ClientNumber, "1999-09-09")},
		search{"unknown number", byNumber("X"+suffix, "1980-01-01")},
		search{"by personal number", domain.Identification{Scheme: []domain.IdentificationKey{domain.KeyPersonalNumber},
			Values: map[domain.IdentificationKey]string{domain.KeyPersonalNumber: clients[3].PersonalNumber}}},
		search{"ambiguous personal number", domain.Identification{Scheme: []domain.IdentificationKey{domain.KeyPersonalNumber},
			Values: map[domain.IdentificationKey]string{domain.KeyPersonalNumber: twin.PersonalNumber}}},
	)

	type answer struct {
		client   domain.Client
		consents map[string]domain.ConsentRecord
		code     domain.ErrorCode
	}
	ask := func(r *postgres.ClientRegistry, id domain.Identification, consents bool) answer {
		var (
			a   answer
			err error
		)
		if consents {
			a.client, a.consents, err = r.FindClientWithConsents(ctx, id, []string{"GDPR", "TERMS"})
		} else {
			a.client, err = r.FindClient(ctx, id)
		}
		if err != nil {
			a.code = domain.CodeOf(err)
		}
		return a
	}
	for _, consents := range []bool{true, false} {
		counter.reset()
		got := make([]answer, len(searches))
		var calls []func()
		for i, s := range searches {
			calls = append(calls, func() { got[i] = ask(batched.Registry, s.id, consents) })
		}
		together(calls...)
		// Two shapes (client number and birth date; personal number), one
		// batch each, and nothing read alone.
		if n, f, s := counter.batched.Load(), counter.failed.Load(), counter.single.Load(); n != 2 || f != 0 || s != 0 {
			t.Errorf("consents %v: %d batch statements answered, %d failed, %d searches alone; want 2, 0, 0", consents, n, f, s)
		}
		for i, s := range searches {
			want := ask(alone.Registry, s.id, consents)
			if !reflect.DeepEqual(got[i], want) {
				t.Errorf("consents %v, %s: batched %+v, alone %+v", consents, s.name, got[i], want)
			}
		}
		if got[0].code != "" || got[0].client.UserID != clients[0].UserID ||
			(consents && (len(got[0].consents) != 1 || !got[0].consents["GDPR"].Approved)) {
			t.Errorf("consents %v, client 0: %+v, want found with its GDPR approval", consents, got[0])
		}
		for i, want := range map[int]domain.ErrorCode{12: domain.CodeNotFound, 13: domain.CodeNotFound, 15: domain.CodeNotFound} {
			if got[i].code != want {
				t.Errorf("consents %v, %s: code %q, want %q", consents, searches[i].name, got[i].code, want)
			}
		}
	}

	// Searches of one shape with other consent types: each gets its own.
	counter.reset()
	var gdpr, terms map[string]domain.ConsentRecord
	id := byNumber(clients[0].ClientNumber, clients[0].BirthDate.String())
	together(
		func() { _, gdpr, _ = batched.Registry.FindClientWithConsents(ctx, id, []string{"GDPR"}) },
		func() { _, terms, _ = batched.Registry.FindClientWithConsents(ctx, id, []string{"TERMS"}) },
	)
	if len(gdpr) != 1 || len(terms) != 0 {
		t.Errorf("GDPR %v, TERMS %v: want one GDPR record and no TERMS", gdpr, terms)
	}
}

// Concurrent reads of decisions with their client share one statement, and
// each caller gets what its read alone answers.
func TestDecisionReadsShareAStatement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	batched, alone, counter := newCountedStores(t)
	suffix := strconv.FormatInt(time.Now().UnixNano(), 10)
	jana := janaClient(suffix)
	if err := batched.Registry.AddClients(ctx, jana); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	score := 5.0
	decide := func(kind domain.DecisionKind, process string, result domain.Result, rc *domain.ReviewCase) {
		t.Helper()
		d := domain.Decision{Kind: kind, ProcessID: process, IdentityVerificationID: "iv-" + process, UserID: jana.UserID,
			Result: result, Score: &score, Rules: []domain.RuleResult{{Rule: "score", Outcome: result}}, DecidedAt: at}
		if rc != nil {
			d.ReasonCode, d.ReviewCaseID = domain.ReasonScoreBorderline, rc.ID
		}
		if _, _, err := batched.Decisions.SaveDecision(ctx, d, rc); err != nil {
			t.Fatal(err)
		}
	}
	decide(domain.KindApproval, "p1-"+suffix, domain.ResultOK, nil)
	decide(domain.KindEvaluation, "p1-"+suffix, domain.ResultOK, nil)
	decide(domain.KindEvaluation, "p2-"+suffix, domain.ResultNOK, nil)
	decide(domain.KindApproval, "p3-"+suffix, domain.ResultWAIT, &domain.ReviewCase{ID: "case-" + suffix,
		Kind: domain.KindApproval, ProcessID: "p3-" + suffix, IdentityVerificationID: "iv-p3-" + suffix, UserID: jana.UserID,
		Status: domain.ReviewOpen, ReasonCodes: []string{domain.ReasonScoreBorderline}, Answered: domain.ResultWAIT, CreatedAt: at})

	type read struct{ process, user string }
	var reads []read
	for _, p := range []string{"p1-", "p2-", "p3-", "p4-"} {
		for _, u := range []string{jana.UserID, "u-unknown-" + suffix} {
			reads = append(reads, read{p + suffix, u})
		}
	}
	type answer struct {
		decisions ports.VerificationDecisions
		client    *domain.Client
		err       error
	}
	got := make([]answer, len(reads))
	counter.reset()
	var calls []func()
	for i, r := range reads {
		calls = append(calls, func() {
			var a answer
			a.decisions, a.client, a.err = batched.Decisions.VerificationDecisionsWithClient(ctx, r.process, "iv-"+r.process, r.user)
			got[i] = a
		})
	}
	together(calls...)
	if n, f := counter.decisions.Load(), counter.failed.Load(); n != 1 || f != 0 {
		t.Errorf("%d batch statements answered, %d failed; want 1, 0", n, f)
	}
	for i, r := range reads {
		var want answer
		want.decisions, want.client, want.err = alone.Decisions.VerificationDecisionsWithClient(ctx, r.process, "iv-"+r.process, r.user)
		if want.err != nil || !reflect.DeepEqual(got[i], want) {
			t.Errorf("%+v: batched %+v, alone %+v", r, got[i], want)
		}
	}
	if a := got[0]; a.decisions.Approval == nil || a.decisions.Evaluation == nil || a.client == nil || a.client.UserID != jana.UserID {
		t.Errorf("p1 of jana: %+v, want both decisions and the client", a)
	}
	if a := got[5]; a.decisions.Approval == nil || a.decisions.Approval.Result != domain.ResultWAIT || a.client != nil {
		t.Errorf("p3 of an unknown user: %+v, want the WAIT approval and no client", a)
	}
}

// A value the database refuses (a NUL byte) fails its batch: the batch's
// searches run alone, so only that caller gets the error, and the fallback
// is logged with its SQLSTATE but without the value.
func TestBatchedSearchRefusedValueFailsAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var logs bytes.Buffer
	batched, _, counter := newCountedStores(t, postgres.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	suffix := strconv.FormatInt(time.Now().UnixNano(), 10)
	jana := janaClient(suffix)
	if err := batched.Registry.AddClients(ctx, jana); err != nil {
		t.Fatal(err)
	}
	id := func(number string) domain.Identification {
		return domain.Identification{Scheme: []domain.IdentificationKey{domain.KeyClientNumber, domain.KeyBirthDate},
			Values: map[domain.IdentificationKey]string{domain.KeyClientNumber: number, domain.KeyBirthDate: "1985-04-12"}}
	}
	bad := "secret\x00" + suffix
	var good1, good2, refused error
	together(
		func() { _, good1 = batched.Registry.FindClient(ctx, id(jana.ClientNumber)) },
		func() { _, good2 = batched.Registry.FindClient(ctx, id(jana.ClientNumber)) },
		func() { _, refused = batched.Registry.FindClient(ctx, id(bad)) },
	)
	if good1 != nil || good2 != nil || domain.CodeOf(refused) != domain.CodeInvalid {
		t.Errorf("answers %v, %v, %v: want the two good searches found and the refused one invalid", good1, good2, refused)
	}
	if f, s := counter.failed.Load(), counter.single.Load(); f != 1 || s != 3 {
		t.Errorf("%d failed batches, %d searches alone; want 1 and 3", f, s)
	}
	out := logs.String()
	if !strings.Contains(out, `"sqlstate":"22021"`) || !strings.Contains(out, `"calls":3`) || strings.Contains(out, "secret") {
		t.Errorf("fallback log %q: want one warning with SQLSTATE 22021 and 3 calls, without the value", out)
	}
}
