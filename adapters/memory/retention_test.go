package memory

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

func TestFIFO(t *testing.T) {
	tests := []struct {
		name    string
		limit   int
		pushes  int
		evicted []int // the key displaced by each push, -1 for none
	}{
		{"unbounded", 0, 4, []int{-1, -1, -1, -1}},
		{"negative is unbounded", -1, 3, []int{-1, -1, -1}},
		{"one", 1, 3, []int{-1, 0, 1}},
		{"three, wraps twice", 3, 8, []int{-1, -1, -1, 0, 1, 2, 3, 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := fifo[int]{limit: tc.limit}
			for i := range tc.pushes {
				old, ok := f.push(i)
				want := tc.evicted[i]
				if ok != (want >= 0) || (ok && old != want) {
					t.Fatalf("push %d: evicted (%d, %v), want %d", i, old, ok, want)
				}
			}
			if tc.limit > 0 && len(f.ring) > tc.limit {
				t.Errorf("ring holds %d keys, limit %d", len(f.ring), tc.limit)
			}
			if tc.limit < 1 && len(f.ring) != 0 {
				t.Errorf("an unbounded fifo keeps keys: %d", len(f.ring))
			}
		})
	}
}

func TestServingsForgetTheOldest(t *testing.T) {
	ctx := context.Background()
	s := NewConsentServingsLimit(2)
	serve := func(p string, v int) {
		if err := s.RecordServing(ctx, domain.ConsentServing{ProcessID: p, ConsentType: "GDPR", Language: "en", Version: v}); err != nil {
			t.Fatal(err)
		}
	}
	serve("p1", 1)
	serve("p2", 1)
	serve("p2", 2) // a replacement is not a new entry
	serve("p3", 1)
	if _, err := s.LastServing(ctx, "p1", "GDPR"); !domain.IsNotFound(err) {
		t.Errorf("p1 kept past the limit: %v", err)
	}
	if got, err := s.LastServing(ctx, "p2", "GDPR"); err != nil || got.Version != 2 {
		t.Errorf("p2: %+v %v, want version 2", got, err)
	}
	if _, err := s.LastServing(ctx, "p3", "GDPR"); err != nil {
		t.Errorf("p3: %v", err)
	}
}

// The store forgets its oldest decision, with its review case when it has
// one; the audit trail stays whole.
func TestDecisionsForgetTheOldestWithTheirCases(t *testing.T) {
	ctx := context.Background()
	s := NewDecisionStoreLimit(3)
	at := time.Unix(1_700_000_000, 0)
	save := func(p string, withCase bool) bool {
		t.Helper()
		at = at.Add(time.Second)
		d := domain.Decision{Kind: domain.KindApproval, ProcessID: p, IdentityVerificationID: "iv", Result: domain.ResultOK, DecidedAt: at}
		var rc *domain.ReviewCase
		if withCase {
			d.Result = domain.ResultWAIT
			rc = &domain.ReviewCase{ID: "case-" + p}
		}
		_, created, err := s.SaveDecision(ctx, d, rc)
		if err != nil {
			t.Fatal(err)
		}
		return created
	}
	save("p-case1", true)
	save("p-case2", true)
	if _, err := s.ClaimReviewCase(ctx, "case-p-case1", "alice", "", at); err != nil {
		t.Fatal(err)
	}
	save("p1", false)
	if save("p-case1", true) {
		t.Error("a kept decision was decided again")
	}
	save("p2", false) // the fourth decision: p-case1 and its case go

	if _, err := s.Decision(ctx, domain.KindApproval, "p-case1", "iv"); !domain.IsNotFound(err) {
		t.Errorf("the oldest decision: %v, want it forgotten", err)
	}
	if _, err := s.ReviewCase(ctx, "case-p-case1"); !domain.IsNotFound(err) {
		t.Errorf("the oldest decision's case: %v, want it forgotten with it", err)
	}
	cases, err := s.ListReviewCases(ctx, ports.ReviewFilter{})
	if err != nil || len(cases) != 1 || cases[0].ID != "case-p-case2" {
		t.Errorf("listed cases %+v (%v), want case-p-case2 alone", cases, err)
	}
	if audit, err := s.ReviewAudit(ctx, "case-p-case1"); err != nil || len(audit) != 1 || audit[0].Actor != "alice" {
		t.Errorf("audit of the forgotten case: %+v %v, want alice's claim kept", audit, err)
	}
	if n := len(s.decisions); n != 3 || len(s.cases) != 1 || len(s.caseOf) != 1 || len(s.queue) != 1 {
		t.Errorf("%d decisions, %d cases, %d case keys, %d queued: want 3, 1, 1, 1", n, len(s.cases), len(s.caseOf), len(s.queue))
	}
	if !save("p-case1", true) {
		t.Error("a forgotten decision must be decided again")
	}
}

func TestLedgerForgetsTheOldestRecords(t *testing.T) {
	ctx := context.Background()
	l := NewConsentLedgerLimit(NewFakeClock(time.Unix(1_700_000_000, 0)), 3)
	appendFor := func(p, u string, approved bool) domain.ConsentRecord {
		r, _, err := l.AppendConsent(ctx, domain.ConsentRecord{ProcessID: p, UserID: u, ConsentType: "GDPR", Approved: approved})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for i := 1; i <= 5; i++ {
		if r := appendFor(fmt.Sprintf("p%d", i), fmt.Sprintf("u%d", i), true); r.ID != int64(i) {
			t.Fatalf("record %d got ID %d", i, r.ID)
		}
	}
	recs := l.Records()
	if len(recs) != 3 || recs[0].ID != 3 || recs[2].ID != 5 {
		t.Fatalf("kept %+v, want records 3..5", recs)
	}
	if _, err := l.LatestConsent(ctx, "u1", "GDPR"); !domain.IsNotFound(err) {
		t.Errorf("u1's forgotten record still answers: %v", err)
	}
	if r, err := l.LatestConsent(ctx, "u4", "GDPR"); err != nil || r.ID != 4 {
		t.Errorf("u4: %+v %v", r, err)
	}
	// A repeat of a kept record adds nothing; a change continues its history.
	if r, created, _ := l.AppendConsent(ctx, domain.ConsentRecord{ProcessID: "p5", UserID: "u5", ConsentType: "GDPR", Approved: true}); created || r.ID != 5 {
		t.Errorf("repeat: %+v created %v", r, created)
	}
	if r := appendFor("p5", "u5", false); r.ID != 6 || r.Seq != 2 {
		t.Errorf("revocation: %+v, want ID 6, Seq 2", r)
	}
	got, err := l.LatestConsents(ctx, "u5", []string{"GDPR"})
	if err != nil || got["GDPR"].Approved || got["GDPR"].ID != 6 {
		t.Errorf("latest of u5: %+v %v", got, err)
	}
	if n := len(l.Records()); n != 3 {
		t.Errorf("%d records kept, limit 3", n)
	}
}

// TestBoundedStoresStayBounded: a long run keeps the configured number of
// entries and no more.
func TestBoundedStoresStayBounded(t *testing.T) {
	ctx := context.Background()
	const limit, n = 100, 10_000
	l := NewConsentLedgerLimit(SystemClock{}, limit)
	s := NewConsentServingsLimit(limit)
	d := NewDecisionStoreLimit(limit)
	for i := range n {
		p := fmt.Sprintf("p%d", i)
		if _, _, err := l.AppendConsent(ctx, domain.ConsentRecord{ProcessID: p, UserID: "u", ConsentType: "GDPR", Approved: i%2 == 0}); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordServing(ctx, domain.ConsentServing{ProcessID: p, ConsentType: "GDPR"}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := d.SaveDecision(ctx, domain.Decision{Kind: domain.KindEvaluation, ProcessID: p, IdentityVerificationID: "iv", Result: domain.ResultOK}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if len(l.records) != limit || len(l.latest) != limit || len(s.servings) != limit || len(d.decisions) != limit {
		t.Errorf("kept %d records (%d histories), %d servings, %d decisions; limit %d",
			len(l.records), len(l.latest), len(s.servings), len(d.decisions), limit)
	}
	if r, err := l.LatestConsent(ctx, "u", "GDPR"); err != nil || r.ID != n {
		t.Errorf("latest of u: %+v %v, want record %d", r, err, n)
	}
}

// TestOTPGuardBounded: past its limit the guard forgets the oldest keys and
// processes, and still dedupes and throttles the recent ones.
func TestOTPGuardBounded(t *testing.T) {
	ctx := context.Background()
	g := NewOTPGuardLimit(NewFakeClock(time.Unix(1_700_000_000, 0)), 3)
	for i := range 10 {
		p := fmt.Sprintf("p%d", i)
		if claimed, _, err := g.BeginOTP(ctx, "k-"+p, time.Minute); err != nil || !claimed {
			t.Fatalf("claim %s: %v %v", p, claimed, err)
		}
		if err := g.FinishOTP(ctx, "k-"+p, domain.OTPSent, time.Minute); err != nil {
			t.Fatal(err)
		}
		if ok, err := g.AllowOTP(ctx, p, rand.Text(), 1, 15*time.Minute); err != nil || !ok {
			t.Fatalf("first send of %s refused: %v", p, err)
		}
	}
	if keys, procs := g.Len(); keys != 3 || procs != 3 {
		t.Errorf("tracks %d keys and %d processes, limit 3", keys, procs)
	}
	if claimed, outcome, _ := g.BeginOTP(ctx, "k-p9", time.Minute); claimed || outcome != domain.OTPSent {
		t.Errorf("a recent key is no longer deduplicated: %v %q", claimed, outcome)
	}
	if ok, _ := g.AllowOTP(ctx, "p9", rand.Text(), 1, 15*time.Minute); ok {
		t.Error("a recent process is no longer throttled")
	}
	if ok, _ := g.AllowOTP(ctx, "p0", rand.Text(), 1, 15*time.Minute); !ok {
		t.Error("the oldest process should have been forgotten")
	}
	if unbounded := NewOTPGuardLimit(SystemClock{}, 0); unbounded.dedupeOrder.limit != 0 {
		t.Error("limit 0 must be unbounded")
	}
}

// TestOTPGuardLimitsSeparate: the dedupe keys and the processes have caps
// of their own (a key matters for the dedupe window, a process for the
// longer throttle window), each forgetting its own oldest.
func TestOTPGuardLimitsSeparate(t *testing.T) {
	ctx := context.Background()
	g := NewOTPGuardLimits(NewFakeClock(time.Unix(1_700_000_000, 0)), 2, 4)
	for i := range 6 {
		p := fmt.Sprintf("p%d", i)
		if claimed, _, err := g.BeginOTP(ctx, "k-"+p, time.Minute); err != nil || !claimed {
			t.Fatalf("claim %s: %v %v", p, claimed, err)
		}
		if ok, err := g.AllowOTP(ctx, p, rand.Text(), 1, 15*time.Minute); err != nil || !ok {
			t.Fatalf("first send of %s refused: %v", p, err)
		}
	}
	if keys, procs := g.Len(); keys != 2 || procs != 4 {
		t.Fatalf("tracks %d keys and %d processes, want 2 and 4", keys, procs)
	}
	if claimed, _, _ := g.BeginOTP(ctx, "k-p3", time.Minute); !claimed {
		t.Error("key k-p3 is past the key cap of 2 and should have been forgotten")
	}
	if ok, _ := g.AllowOTP(ctx, "p3", rand.Text(), 1, 15*time.Minute); ok {
		t.Error("process p3 is within the process cap of 4 and must still be throttled")
	}
	if d := NewOTPGuard(SystemClock{}); d.dedupeOrder.limit != DefaultOTPDedupeKeys || d.sendsOrder.limit != DefaultOTPProcesses {
		t.Errorf("NewOTPGuard caps %d keys and %d processes, want %d and %d",
			d.dedupeOrder.limit, d.sendsOrder.limit, DefaultOTPDedupeKeys, DefaultOTPProcesses)
	}
}

// TestOTPGuardSweptKeyAddedAgain: a process whose log was swept and that
// sends again is a new entry; the old entry's turn to be forgotten must
// not take the new one with it.
func TestOTPGuardSweptKeyAddedAgain(t *testing.T) {
	ctx := context.Background()
	clock := NewFakeClock(time.Unix(1_700_000_000, 0))
	g := NewOTPGuardLimit(clock, 3)
	allow := func(p string) bool {
		ok, err := g.AllowOTP(ctx, p, rand.Text(), 1, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	claim := func(key string) bool {
		claimed, _, err := g.BeginOTP(ctx, key, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return claimed
	}
	if !allow("victim") || !allow("p1") || !claim("k-victim") {
		t.Fatal("first sends refused")
	}
	clock.Advance(2 * time.Minute) // past the window, the TTL and the sweep interval
	if !allow("victim") || !claim("k-victim") {
		t.Fatal("sends after the window refused")
	}
	// One more process and key: the ring's oldest slots are the victim's
	// first entries, which the sweep already removed.
	if !allow("p2") || !claim("k-p2") || !claim("k-p3") {
		t.Fatal("p2 refused")
	}
	if allow("victim") {
		t.Error("the victim's current throttle log was forgotten in place of its swept one")
	}
	if claim("k-victim") {
		t.Error("the victim's current dedupe key was forgotten in place of its swept one")
	}
}

// TestLedgerForgetsTheNewestByTime: when the record forgotten was the
// user's newest by time (the clock stepped back for a later append), the
// newest of the records kept answers.
func TestLedgerForgetsTheNewestByTime(t *testing.T) {
	ctx := context.Background()
	l := NewConsentLedgerLimit(SystemClock{}, 2)
	t0 := time.Unix(1_700_000_000, 0)
	for _, r := range []domain.ConsentRecord{
		{ProcessID: "p1", UserID: "u", ConsentType: "GDPR", Approved: true, RecordedAt: t0.Add(10 * time.Second)},
		{ProcessID: "p2", UserID: "u", ConsentType: "GDPR", Approved: false, RecordedAt: t0.Add(5 * time.Second)},
		{ProcessID: "p3", UserID: "other", ConsentType: "GDPR", Approved: true, RecordedAt: t0},
	} {
		if _, _, err := l.AppendConsent(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := l.LatestConsent(ctx, "u", "GDPR")
	if err != nil || got.ProcessID != "p2" || got.Approved {
		t.Fatalf("latest of u after its newest was forgotten: %+v %v, want p2's refusal", got, err)
	}
	l2 := NewConsentLedgerLimit(SystemClock{}, 1)
	for _, u := range []string{"a", "b"} {
		if _, _, err := l2.AppendConsent(ctx, domain.ConsentRecord{ProcessID: "p", UserID: u, ConsentType: "GDPR", Approved: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l2.LatestConsent(ctx, "a", "GDPR"); !domain.IsNotFound(err) {
		t.Errorf("a's only record was forgotten, yet: %v", err)
	}
	if len(l2.kept) != 1 || len(l2.newest) != 1 {
		t.Errorf("indexes of forgotten users remain: kept %v newest %v", l2.kept, l2.newest)
	}
}
