package memory_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func TestFakeClock(t *testing.T) {
	c := memory.NewFakeClock(t0)
	if got := c.Now(); !got.Equal(t0) {
		t.Fatalf("Now = %v, want %v", got, t0)
	}
	if got := c.Advance(90 * time.Second); !got.Equal(t0.Add(90*time.Second)) || !c.Now().Equal(got) {
		t.Fatalf("Advance = %v, Now = %v, want %v", got, c.Now(), t0.Add(90*time.Second))
	}
	c.Set(t0.Add(-time.Hour))
	if got := c.Now(); !got.Equal(t0.Add(-time.Hour)) {
		t.Fatalf("after Set Now = %v", got)
	}
	before := time.Now()
	if got := (memory.SystemClock{}).Now(); got.Before(before) || got.After(time.Now()) {
		t.Fatalf("SystemClock.Now = %v, not the current time", got)
	}
}

func TestIDs(t *testing.T) {
	uuidV4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	for _, tc := range []struct {
		name  string
		gen   ports.IDGenerator
		check func(i int, id string) bool
	}{
		{"random UUIDv4", memory.NewRandomIDs(), func(_ int, id string) bool { return uuidV4.MatchString(id) }},
		{"sequence", memory.NewSequenceIDs("case"), func(i int, id string) bool { return id == fmt.Sprintf("case-%d", i+1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[string]bool{}
			for i := range 1000 {
				id := tc.gen.NewID()
				if !tc.check(i, id) || seen[id] {
					t.Fatalf("id %d = %q: wrong form or repeated", i, id)
				}
				seen[id] = true
			}
		})
	}
	t.Run("sequence is unique under concurrency", func(t *testing.T) {
		gen := memory.NewSequenceIDs("p")
		ids := make([]string, 100)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Go(func() { ids[i] = gen.NewID() })
		}
		wg.Wait()
		seen := map[string]bool{}
		for _, id := range ids {
			seen[id] = true
		}
		if len(seen) != len(ids) || !seen["p-1"] || !seen["p-100"] {
			t.Fatalf("ids = %v, want p-1 … p-100 once each", ids)
		}
	})
}

func ident(kv ...string) domain.Identification {
	id := domain.Identification{Values: map[domain.IdentificationKey]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		id.Scheme = append(id.Scheme, domain.IdentificationKey(kv[i]))
		id.Values[domain.IdentificationKey(kv[i])] = kv[i+1]
	}
	return id
}

func TestClientRegistryMemory(t *testing.T) {
	ctx := context.Background()
	a := domain.Client{UserID: "u-a", ClientNumber: "1", BirthDate: domain.MustDate("1980-01-01"), Phone: "+420700000001", Status: domain.StatusActive}
	b := domain.Client{UserID: "u-b", ClientNumber: "2", BirthDate: domain.MustDate("1980-01-01"), Phone: "+420700000002", Status: domain.StatusActive}
	c := domain.Client{UserID: "u-c", ClientNumber: "3", BirthDate: domain.MustDate("1981-01-01"), Phone: "+420700000002", Status: domain.StatusActive}
	reg := memory.NewClientRegistry(memory.NewSequenceIDs("gen"), a, b, c)

	for _, tc := range []struct {
		name string
		id   domain.Identification
		want string // user id, "" for not found
	}{
		{"a shared phone identifies no one", ident("phoneNumber", "+420700000002"), ""},
		{"a shared phone with a client number does", ident("phoneNumber", "+420700000002", "clientNumber", "3"), "u-c"},
		{"a birth date alone shared by two", ident("birthDate", "1980-01-01"), ""},
		{"a birth date alone of one client", ident("birthDate", "1981-01-01"), "u-c"},
		{"a key the registry cannot search", ident("email", "a@example.com"), ""},
		{"no keys", ident(), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := reg.FindClient(ctx, tc.id)
			if tc.want == "" {
				if !domain.IsNotFound(err) {
					t.Fatalf("FindClient = %+v, %v; want not found", got, err)
				}
				return
			}
			if err != nil || got.UserID != tc.want {
				t.Fatalf("FindClient = %+v, %v; want %s", got, err, tc.want)
			}
		})
	}

	t.Run("Add replaces and re-indexes", func(t *testing.T) {
		moved := a
		moved.Phone = "+420700000009"
		reg.Add(moved)
		if _, err := reg.FindClient(ctx, ident("phoneNumber", "+420700000001")); !domain.IsNotFound(err) {
			t.Fatalf("the old phone still finds the client: %v", err)
		}
		got, err := reg.FindClient(ctx, ident("phoneNumber", "+420700000009"))
		if err != nil || got != moved {
			t.Fatalf("FindClient by the new phone = %+v, %v; want %+v", got, err, moved)
		}
	})

	t.Run("Add without a user id generates one", func(t *testing.T) {
		reg.Add(domain.Client{ClientNumber: "4", BirthDate: domain.MustDate("1990-01-01"), Status: domain.StatusActive})
		got, err := reg.FindClient(ctx, ident("clientNumber", "4", "birthDate", "1990-01-01"))
		if err != nil || got.UserID != "gen-1" {
			t.Fatalf("FindClient = %+v, %v; want user gen-1", got, err)
		}
	})

	t.Run("prospects are not registry clients", func(t *testing.T) {
		id := ident("personalNumber", "9001011234")
		p, err := reg.RegisterProspect(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := reg.FindClient(ctx, id); !domain.IsNotFound(err) {
			t.Fatalf("FindClient found the prospect %s: %v", p.UserID, err)
		}
		if got, err := reg.ClientByUserID(ctx, p.UserID); err != nil || got != p {
			t.Fatalf("ClientByUserID = %+v, %v; want %+v", got, err, p)
		}
	})

	t.Run("an empty identification registers no prospect", func(t *testing.T) {
		_, err := reg.RegisterProspect(ctx, ident())
		if domain.CodeOf(err) != domain.CodeInvalid {
			t.Fatalf("RegisterProspect = %v, want invalid", err)
		}
	})
}

// countingReader is a store behind the cache that counts reads and can
// block them, to race an invalidation against a read in flight.
type countingReader struct {
	mu      sync.Mutex
	version int
	reads   int
	gate    chan struct{} // when not nil, reads wait for it
	started chan struct{}
}

func (r *countingReader) LatestConsentText(_ context.Context, typ, lang string) (domain.ConsentText, error) {
	r.mu.Lock()
	r.reads++
	v, gate, started := r.version, r.gate, r.started
	r.mu.Unlock()
	if gate != nil {
		started <- struct{}{}
		<-gate
	}
	if typ == "MISSING" {
		return domain.ConsentText{}, domain.NotFound("consentType", "none")
	}
	return domain.ConsentText{Type: typ, Language: lang, Version: v}, nil
}

func (r *countingReader) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reads
}

func TestConsentTextCacheMemory(t *testing.T) {
	ctx := context.Background()
	read := func(t *testing.T, c *memory.ConsentTextCache, typ, lang string) int {
		t.Helper()
		got, err := c.LatestConsentText(ctx, typ, lang)
		if err != nil {
			t.Fatal(err)
		}
		return got.Version
	}

	t.Run("TTL", func(t *testing.T) {
		clock := memory.NewFakeClock(t0)
		next := &countingReader{version: 1}
		c := memory.NewConsentTextCache(next, 30*time.Second, 10, clock)
		read(t, c, "GDPR", "en")
		clock.Advance(29 * time.Second)
		next.version = 2
		if v := read(t, c, "GDPR", "en"); v != 1 || next.count() != 1 {
			t.Fatalf("within the TTL: version %d after %d reads, want the cached 1 after 1", v, next.count())
		}
		clock.Advance(time.Second)
		if v := read(t, c, "GDPR", "en"); v != 2 || next.count() != 2 {
			t.Fatalf("at the TTL: version %d after %d reads, want 2 after 2", v, next.count())
		}
		if hits, misses := c.Stats(); hits != 1 || misses != 2 {
			t.Fatalf("Stats = %d hits %d misses, want 1 and 2", hits, misses)
		}
	})

	t.Run("evicts the oldest when full", func(t *testing.T) {
		clock := memory.NewFakeClock(t0)
		next := &countingReader{version: 1}
		c := memory.NewConsentTextCache(next, time.Hour, 2, clock)
		// The second en is a hit: it does not make en young again.
		for _, lang := range []string{"en", "cs", "en", "de"} {
			read(t, c, "GDPR", lang)
		}
		if c.Len() != 2 {
			t.Fatalf("Len = %d, want 2", c.Len())
		}
		reads := next.count()
		read(t, c, "GDPR", "cs")
		read(t, c, "GDPR", "de")
		if next.count() != reads {
			t.Fatal("a recent entry was evicted")
		}
		read(t, c, "GDPR", "en")
		if next.count() != reads+1 {
			t.Fatal("the oldest entry (en) was not evicted")
		}
	})

	t.Run("not found is cached for NotFoundTTL", func(t *testing.T) {
		clock := memory.NewFakeClock(t0)
		next := &countingReader{}
		c := memory.NewConsentTextCache(next, time.Hour, 10, clock)
		missing := func() {
			t.Helper()
			if _, err := c.LatestConsentText(ctx, "MISSING", "en"); !domain.IsNotFound(err) {
				t.Fatalf("err = %v, want not found", err)
			}
		}
		missing()
		clock.Advance(memory.NotFoundTTL - time.Millisecond)
		missing()
		if next.count() != 1 {
			t.Fatalf("%d reads within NotFoundTTL, want 1: the NotFound was not cached", next.count())
		}
		clock.Advance(time.Millisecond)
		missing()
		if next.count() != 2 {
			t.Fatalf("%d reads after NotFoundTTL, want 2: the NotFound was kept for the full TTL", next.count())
		}
		// An invalidation (a publish) drops the cached NotFound at once.
		if err := c.InvalidateConsentText(ctx, "MISSING", "en"); err != nil {
			t.Fatal(err)
		}
		missing()
		if next.count() != 3 {
			t.Fatalf("%d reads after an invalidation, want 3", next.count())
		}
	})

	t.Run("not found with a TTL shorter than NotFoundTTL", func(t *testing.T) {
		clock := memory.NewFakeClock(t0)
		next := &countingReader{}
		c := memory.NewConsentTextCache(next, time.Second, 10, clock)
		for range 2 {
			if _, err := c.LatestConsentText(ctx, "MISSING", "en"); !domain.IsNotFound(err) {
				t.Fatalf("err = %v, want not found", err)
			}
			clock.Advance(time.Second)
		}
		if next.count() != 2 {
			t.Fatalf("%d reads, want 2: a NotFound outlived the cache's own TTL", next.count())
		}
	})

	t.Run("a zero TTL passes every read through", func(t *testing.T) {
		next := &countingReader{version: 1}
		c := memory.NewConsentTextCache(next, 0, 10, memory.NewFakeClock(t0))
		read(t, c, "GDPR", "en")
		read(t, c, "GDPR", "en")
		if next.count() != 2 || c.Len() != 0 {
			t.Fatalf("%d reads and %d entries, want 2 reads and nothing cached", next.count(), c.Len())
		}
	})

	t.Run("a read in flight during an invalidation does not store its answer", func(t *testing.T) {
		next := &countingReader{version: 1, gate: make(chan struct{}), started: make(chan struct{})}
		c := memory.NewConsentTextCache(next, time.Hour, 10, memory.NewFakeClock(t0))
		done := make(chan int)
		go func() {
			v, _ := c.LatestConsentText(ctx, "GDPR", "en")
			done <- v.Version
		}()
		<-next.started
		if err := c.InvalidateConsentText(ctx, "GDPR", "en"); err != nil {
			t.Fatal(err)
		}
		close(next.gate)
		if v := <-done; v != 1 {
			t.Fatalf("the read in flight answered version %d, want 1", v)
		}
		if c.Len() != 0 {
			t.Fatal("the superseded answer of the read in flight was cached")
		}
	})
}

func TestProcessEventsBounded(t *testing.T) {
	ctx := context.Background()
	ev := memory.NewProcessEventsLimit(3)
	for i := range 5 {
		err := ev.RecordProcessEvent(ctx, domain.ProcessEvent{Type: fmt.Sprintf("E%d", i), ProcessID: "p",
			Data: map[string]any{"n": float64(i)}})
		if err != nil {
			t.Fatal(err)
		}
	}
	got := ev.Events()
	if len(got) != 3 || got[0].Type != "E2" || got[1].Type != "E3" || got[2].Type != "E4" || ev.Dropped() != 2 {
		t.Fatalf("kept %v with %d dropped, want E2 E3 E4 and 2 dropped", got, ev.Dropped())
	}
	got[0].Data["n"] = "changed"
	if again := ev.Events(); again[0].Data["n"] != float64(2) {
		t.Fatalf("changing a returned event changed the stored one: %v", again[0].Data)
	}
	if n := len(memory.NewProcessEvents().Events()); n != 0 {
		t.Fatalf("a new recorder holds %d events", n)
	}
}

// TestDemoEventsFollowMaxRecords: ONBOARDING_MEMORY_MAX_RECORDS bounds the
// process events as it bounds the other stores; without a bound (0) the
// ring keeps DefaultProcessEvents.
func TestDemoEventsFollowMaxRecords(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ maxRecords, sent, kept int }{
		{3, 5, 3},
		{0, memory.DefaultProcessEvents + 2, memory.DefaultProcessEvents},
	} {
		demo, err := memory.NewDemo(memory.NewFakeClock(time.Unix(1_700_000_000, 0)), memory.NewSequenceIDs("prospect"), tc.maxRecords)
		if err != nil {
			t.Fatal(err)
		}
		for i := range tc.sent {
			if err := demo.Events.RecordProcessEvent(ctx, domain.ProcessEvent{Type: "E", ProcessID: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
		}
		if got := len(demo.Events.Events()); got != tc.kept {
			t.Errorf("max records %d: %d events kept after %d, want %d", tc.maxRecords, got, tc.sent, tc.kept)
		}
	}
}

func TestOTPGuardSweepsExpiredEntries(t *testing.T) {
	ctx := context.Background()
	clock := memory.NewFakeClock(t0)
	g := memory.NewOTPGuard(clock)
	for i := range 100 {
		if _, _, err := g.BeginOTP(ctx, fmt.Sprintf("k%d", i), time.Minute); err != nil {
			t.Fatal(err)
		}
		if _, err := g.AllowOTP(ctx, fmt.Sprintf("p%d", i), rand.Text(), 5, 15*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if keys, procs := g.Len(); keys != 100 || procs != 100 {
		t.Fatalf("Len = %d, %d; want 100, 100", keys, procs)
	}
	clock.Advance(16 * time.Minute)
	if _, _, err := g.BeginOTP(ctx, "fresh", time.Minute); err != nil {
		t.Fatal(err)
	}
	if keys, procs := g.Len(); keys != 1 || procs != 0 {
		t.Fatalf("after expiry Len = %d, %d; want only the fresh key", keys, procs)
	}
}

func TestOTPGuardSlidingWindow(t *testing.T) {
	ctx := context.Background()
	clock := memory.NewFakeClock(t0)
	g := memory.NewOTPGuard(clock)
	allow := func() bool {
		ok, err := g.AllowOTP(ctx, "p", rand.Text(), 2, 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	for _, step := range []struct {
		advance time.Duration
		want    bool
	}{
		{0, true},               // t+0
		{6 * time.Minute, true}, // t+6
		{time.Minute, false},    // t+7: two in the last 10 min
		{3 * time.Minute, true}, // t+10: the t+0 send left the window
		{time.Minute, false},    // t+11: t+6 and t+10 are in it; refusals are not logged
		{5 * time.Minute, true}, // t+16: t+6 left
	} {
		clock.Advance(step.advance)
		if got := allow(); got != step.want {
			t.Fatalf("at %v allowed = %v, want %v", clock.Now().Sub(t0), got, step.want)
		}
	}
	for _, tc := range []struct {
		name   string
		limit  int
		window time.Duration
	}{{"zero limit", 0, time.Minute}, {"zero window", 5, 0}} {
		if _, err := g.AllowOTP(ctx, "p", rand.Text(), tc.limit, tc.window); domain.CodeOf(err) != domain.CodeInvalid {
			t.Fatalf("%s: err = %v, want invalid", tc.name, err)
		}
	}
}

func TestConsentLedgerRecords(t *testing.T) {
	ctx := context.Background()
	clock := memory.NewFakeClock(t0)
	l := memory.NewConsentLedger(clock)
	for _, approved := range []bool{true, true, false} {
		if _, _, err := l.AppendConsent(ctx, domain.ConsentRecord{ProcessID: "p", UserID: "u", ConsentType: "GDPR", Approved: approved}); err != nil {
			t.Fatal(err)
		}
	}
	recs := l.Records()
	if len(recs) != 2 || recs[0].ID != 1 || recs[1].ID != 2 || recs[1].Seq != 2 || !recs[0].RecordedAt.Equal(t0) {
		t.Fatalf("records = %+v, want ids 1 and 2 stamped by the clock", recs)
	}
	recs[0].Approved = false
	if l.Records()[0].Approved != true {
		t.Fatal("changing the returned records changed the ledger")
	}
}

func TestDecisionStoreMemory(t *testing.T) {
	ctx := context.Background()
	wait := func(pid, caseID string, at time.Time) (domain.Decision, *domain.ReviewCase) {
		return domain.Decision{Kind: domain.KindEvaluation, ProcessID: pid, IdentityVerificationID: "iv", Result: domain.ResultWAIT, DecidedAt: at},
			&domain.ReviewCase{ID: caseID}
	}

	t.Run("invalid saves", func(t *testing.T) {
		s := memory.NewDecisionStore()
		d, rc := wait("p1", "c1", t0)
		for _, tc := range []struct {
			name string
			d    domain.Decision
			rc   *domain.ReviewCase
			code domain.ErrorCode
		}{
			{"unknown kind", domain.Decision{Kind: "other", ProcessID: "p"}, nil, domain.CodeInvalid},
			{"case without id", d, &domain.ReviewCase{}, domain.CodeInvalid},
			{"decision naming another case", domain.Decision{Kind: d.Kind, ProcessID: "p", ReviewCaseID: "x"}, rc, domain.CodeInvalid},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if _, _, err := s.SaveDecision(ctx, tc.d, tc.rc); domain.CodeOf(err) != tc.code {
					t.Fatalf("err = %v, want %s", err, tc.code)
				}
			})
		}
		if _, _, err := s.SaveDecision(ctx, d, rc); err != nil {
			t.Fatal(err)
		}
		d2, _ := wait("p2", "c1", t0)
		if _, _, err := s.SaveDecision(ctx, d2, rc); domain.CodeOf(err) != domain.CodeConflict {
			t.Fatalf("a reused case id: err = %v, want conflict", err)
		}
		if _, err := s.Decision(ctx, d2.Kind, d2.ProcessID, d2.IdentityVerificationID); !domain.IsNotFound(err) {
			t.Fatalf("the refused decision was stored: %v", err)
		}
	})

	t.Run("a case is completed from its decision", func(t *testing.T) {
		s := memory.NewDecisionStore()
		d, rc := wait("p1", "c1", t0)
		d.UserID = "u1"
		if _, _, err := s.SaveDecision(ctx, d, rc); err != nil {
			t.Fatal(err)
		}
		c, err := s.ReviewCase(ctx, "c1")
		if err != nil {
			t.Fatal(err)
		}
		if c.Status != domain.ReviewOpen || c.Kind != d.Kind || c.ProcessID != "p1" || c.IdentityVerificationID != "iv" ||
			c.UserID != "u1" || !c.CreatedAt.Equal(t0) {
			t.Fatalf("case = %+v, want an OPEN case of the decision created at its time", c)
		}
	})

	t.Run("bad claims and resolutions", func(t *testing.T) {
		s := memory.NewDecisionStore()
		d, rc := wait("p1", "c1", t0)
		if _, _, err := s.SaveDecision(ctx, d, rc); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ClaimReviewCase(ctx, "c1", "", "", t0); domain.CodeOf(err) != domain.CodeInvalid {
			t.Fatalf("claim without a reviewer: %v", err)
		}
		for _, r := range []ports.ReviewResolution{
			{CaseID: "c1", Result: domain.ResultWAIT, Reviewer: "a"},
			{CaseID: "c1", Result: domain.ResultOK},
		} {
			if _, err := s.ResolveReviewCase(ctx, r); domain.CodeOf(err) != domain.CodeInvalid {
				t.Fatalf("resolution %+v: err = %v, want invalid", r, err)
			}
		}
		c, err := s.ReviewCase(ctx, "c1")
		if err != nil || c.Status != domain.ReviewOpen {
			t.Fatalf("after refused calls the case is %+v, %v; want OPEN", c, err)
		}
	})

	t.Run("list defaults to a bounded page", func(t *testing.T) {
		s := memory.NewDecisionStore()
		for i := range memory.DefaultReviewListLimit + 5 {
			d, rc := wait(fmt.Sprintf("p%d", i), fmt.Sprintf("c%03d", i), t0.Add(time.Duration(i)*time.Second))
			if _, _, err := s.SaveDecision(ctx, d, rc); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.ListReviewCases(ctx, ports.ReviewFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != memory.DefaultReviewListLimit || got[0].ID != "c000" {
			t.Fatalf("listed %d cases starting at %s, want %d from c000", len(got), got[0].ID, memory.DefaultReviewListLimit)
		}
	})

	t.Run("purge counts each case once", func(t *testing.T) {
		s := memory.NewDecisionStore()
		for i := range 3 {
			d, rc := wait(fmt.Sprintf("p%d", i), fmt.Sprintf("c%d", i), t0)
			rc.Evidence.Frame = []byte{1}
			if _, _, err := s.SaveDecision(ctx, d, rc); err != nil {
				t.Fatal(err)
			}
		}
		for i, at := range []time.Time{t0, t0.Add(time.Hour)} {
			r := ports.ReviewResolution{CaseID: fmt.Sprintf("c%d", i), Result: domain.ResultOK, Reviewer: "a", At: at}
			if _, err := s.ResolveReviewCase(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		for _, step := range []struct {
			before time.Time
			want   int
		}{{t0, 0}, {t0.Add(time.Minute), 1}, {t0.Add(time.Minute), 0}, {t0.Add(2 * time.Hour), 1}} {
			if n, err := s.PurgeReviewEvidence(ctx, step.before, "retention test"); err != nil || n != step.want {
				t.Fatalf("purge before %v = %d, %v; want %d", step.before, n, err, step.want)
			}
		}
	})
}

func TestDemo(t *testing.T) {
	ctx := context.Background()
	clock := memory.NewFakeClock(t0)
	demo, err := memory.NewDemo(clock, memory.NewSequenceIDs("prospect"), memory.DefaultMaxRecords)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("clients", func(t *testing.T) {
		for _, tc := range []struct {
			name       string
			id         domain.Identification
			wantUser   string
			wantStatus domain.ClientStatus
		}{
			{"Jana by client number", ident("clientNumber", "1000001", "birthDate", "1985-04-12"), "u-1000001", domain.StatusActive},
			{"Jana by personal number", ident("personalNumber", domain.NormalizePersonalNumber("855412/1234")), "u-1000001", domain.StatusActive},
			{"John", ident("clientNumber", "1000002", "birthDate", "1978-11-03"), "u-1000002", domain.StatusActive},
			{"Petr is blocked", ident("clientNumber", "1000003", "birthDate", "1990-07-21"), "u-1000003", domain.StatusBlocked},
			{"Eva", ident("clientNumber", "1000004", "birthDate", "1982-02-14"), "u-1000004", domain.StatusActive},
			{"Tomáš", ident("clientNumber", "1000005", "birthDate", memory.DemoMinorBirthDate(domain.DateOf(t0)).String()), "u-1000005", domain.StatusActive},
			{"Marie is closed", ident("clientNumber", "1000006", "birthDate", "1969-09-30"), "u-1000006", domain.StatusClosed},
			{"Lukas by personal number", ident("personalNumber", "9501205678"), "u-1000007", domain.StatusActive},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c, err := demo.Registry.FindClient(ctx, tc.id)
				if err != nil || c.UserID != tc.wantUser || c.Status != tc.wantStatus {
					t.Fatalf("FindClient = %+v, %v; want %s %s", c, err, tc.wantUser, tc.wantStatus)
				}
			})
		}
		jana, _ := demo.Registry.ClientByUserID(ctx, "u-1000001")
		if jana.GivenNames != "Jana" || jana.Surname != "Nováková" || jana.Phone != "+420777123456" || jana.Nationality != "CZE" {
			t.Fatalf("Jana = %+v", jana)
		}
		for _, c := range memory.DemoClients(domain.DateOf(time.Now())) {
			if p, ok := domain.NormalizePhone(c.Phone); c.Phone != "" && (!ok || p != c.Phone) {
				t.Errorf("%s: phone %q is not E.164", c.UserID, c.Phone)
			}
			if c.PersonalNumber != domain.NormalizePersonalNumber(c.PersonalNumber) || !c.Status.Valid() || len(c.Nationality) != 3 {
				t.Errorf("%s: not normalised: %+v", c.UserID, c)
			}
		}
		if eva, _ := demo.Registry.ClientByUserID(ctx, "u-1000004"); eva.Phone != "" {
			t.Errorf("Eva has phone %q, want none", eva.Phone)
		}
		if tomas, _ := demo.Registry.ClientByUserID(ctx, "u-1000005"); tomas.BirthDate.AgeOn(domain.DateOf(t0)) != 16 {
			t.Errorf("Tomáš is %d on the day the demo was loaded, want 16", tomas.BirthDate.AgeOn(domain.DateOf(t0)))
		}
	})

	t.Run("consent texts", func(t *testing.T) {
		for _, typ := range []string{"GDPR", "MARKETING"} {
			for _, lang := range []string{"en", "cs"} {
				text, err := demo.ConsentTexts.LatestConsentText(ctx, typ, lang)
				if err != nil || text.Version != 1 || !regexp.MustCompile(`^<h1>[^<]+</h1><p>[^<]+</p>$`).MatchString(text.HTML) {
					t.Errorf("%s/%s = %+v, %v; want version 1 of <h1>…</h1><p>…</p>", typ, lang, text, err)
				}
			}
		}
	})

	t.Run("John has approved the current GDPR text", func(t *testing.T) {
		rec, err := demo.Ledger.LatestConsent(ctx, "u-1000002", "GDPR")
		if err != nil {
			t.Fatal(err)
		}
		text, err := demo.ConsentTexts.LatestConsentText(ctx, "GDPR", rec.Language)
		if err != nil {
			t.Fatal(err)
		}
		if !rec.Approved || rec.TextVersion != text.Version || rec.TextSHA256 != text.SHA256 {
			t.Fatalf("consent %+v does not approve text %d %s", rec, text.Version, text.SHA256)
		}
		if _, err := demo.Ledger.LatestConsent(ctx, "u-1000001", "GDPR"); !domain.IsNotFound(err) {
			t.Fatalf("Jana has a consent: %v", err)
		}
	})

	t.Run("prospects use the generator", func(t *testing.T) {
		p, err := demo.Registry.RegisterProspect(ctx, ident("personalNumber", "1111111111"))
		if err != nil || p.UserID != "prospect-1" {
			t.Fatalf("prospect = %+v, %v; want prospect-1", p, err)
		}
	})
}
