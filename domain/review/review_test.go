package review_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/policy"
	"github.com/bankkit/onboarding-adapter/domain/review"
	"github.com/bankkit/onboarding-adapter/ports"
)

var now = time.Date(2025, 6, 15, 10, 0, 0, 0, time.UTC)

// seed stores a decision with an open review case answered as answered.
func seed(t testing.TB, s *memory.DecisionStore, id string, kind domain.DecisionKind, answered domain.Result) {
	t.Helper()
	d := domain.Decision{Kind: kind, ProcessID: "p-" + id, IdentityVerificationID: "iv-1", UserID: "u-jana",
		Result: answered, ReasonCode: domain.ReasonNameSimilar, ReviewCaseID: id, DecidedAt: now}
	rc := &domain.ReviewCase{ID: id, Kind: kind, ProcessID: d.ProcessID, IdentityVerificationID: "iv-1", UserID: "u-jana",
		Status: domain.ReviewOpen, ReasonCodes: []string{domain.ReasonNameSimilar}, Answered: answered, CreatedAt: now}
	if _, _, err := s.SaveDecision(context.Background(), d, rc); err != nil {
		t.Fatal(err)
	}
}

func newStore(t testing.TB) *memory.DecisionStore {
	s := memory.NewDecisionStore()
	seed(t, s, "case-wait", domain.KindEvaluation, domain.ResultWAIT)
	seed(t, s, "case-nok", domain.KindApproval, domain.ResultNOK)
	return s
}

func TestResolve(t *testing.T) {
	open := policy.Review{Retention: time.Hour}
	strict := policy.Review{Retention: time.Hour, RequireClaim: true, FourEyes: true}
	res := func(id string, result domain.Result, reviewer, second string) ports.ReviewResolution {
		return ports.ReviewResolution{CaseID: id, Result: result, Reason: "documents checked by hand", Reviewer: reviewer, SecondReviewer: second}
	}
	tests := []struct {
		name      string
		policy    policy.Review
		claimBy   string // claim the case first as this reviewer ("" for no claim)
		req       ports.ReviewResolution
		wantCode  domain.ErrorCode // "" for success
		wantField string
	}{
		{"OK without a claim", open, "", res("case-wait", domain.ResultOK, "alice", ""), "", ""},
		{"NOK without a claim", open, "", res("case-wait", domain.ResultNOK, "alice", ""), "", ""},
		{"override NOK without four eyes", open, "", res("case-nok", domain.ResultOK, "alice", ""), "", ""},
		{"WAIT is no resolution", open, "", res("case-wait", domain.ResultWAIT, "alice", ""), domain.CodeInvalid, "result"},
		{"empty result", open, "", res("case-wait", "", "alice", ""), domain.CodeInvalid, "result"},
		{"no reason", open, "", ports.ReviewResolution{CaseID: "case-wait", Result: domain.ResultOK, Reason: "  ", Reviewer: "alice"}, domain.CodeInvalid, "reason"},
		{"reason too long", open, "", ports.ReviewResolution{CaseID: "case-wait", Result: domain.ResultOK, Reason: strings.Repeat("x", review.MaxReasonLen+1), Reviewer: "alice"}, domain.CodeInvalid, "reason"},
		{"a reason at the limit in characters, twice that in bytes", open, "", ports.ReviewResolution{CaseID: "case-wait", Result: domain.ResultOK, Reason: strings.Repeat("ř", review.MaxReasonLen), Reviewer: "alice"}, "", ""},
		{"a reason at the limit with CRLF line breaks counted as one", open, "", ports.ReviewResolution{CaseID: "case-wait", Result: domain.ResultOK, Reason: strings.Repeat("ab\r\n", review.MaxReasonLen/3) + "ab", Reviewer: "alice"}, "", ""},
		{"no reviewer", open, "", res("case-wait", domain.ResultOK, " ", ""), domain.CodeInvalid, "reviewer"},
		{"no case id", open, "", res("", domain.ResultOK, "alice", ""), domain.CodeInvalid, "id"},
		{"unknown case", open, "", res("case-x", domain.ResultOK, "alice", ""), domain.CodeNotFound, "id"},
		{"claim required, not claimed", strict, "", res("case-wait", domain.ResultOK, "alice", ""), domain.CodeConflict, ""},
		{"claim required, claimed by another", strict, "bob", res("case-wait", domain.ResultOK, "alice", ""), domain.CodeConflict, ""},
		{"claim required, claimed by the reviewer", strict, "alice", res("case-wait", domain.ResultOK, "alice", ""), "", ""},
		{"a request naming its own second reviewer", strict, "alice", res("case-nok", domain.ResultOK, "alice", "bob"), domain.CodeInvalid, "secondReviewer"},
		{"a request naming itself as second reviewer", open, "", res("case-wait", domain.ResultOK, "alice", "Alice"), domain.CodeInvalid, "secondReviewer"},
		{"four eyes, NOK stays NOK alone", strict, "alice", res("case-nok", domain.ResultNOK, "alice", ""), "", ""},
		{"four eyes, WAIT to OK alone", strict, "alice", res("case-wait", domain.ResultOK, "alice", ""), "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := newStore(t)
			svc := review.New(store, store, memory.NewFakeClock(now), tc.policy)
			ctx := context.Background()
			if tc.claimBy != "" {
				if _, err := svc.Claim(ctx, tc.req.CaseID, tc.claimBy, ""); err != nil {
					t.Fatal(err)
				}
			}
			c, err := svc.Resolve(ctx, tc.req)
			if tc.wantCode != "" {
				de, ok := domain.AsError(err)
				if !ok || de.Code != tc.wantCode || (tc.wantField != "" && de.Field != tc.wantField) {
					t.Fatalf("err = %v, want %s %s", err, tc.wantCode, tc.wantField)
				}
				if tc.req.CaseID != "" && tc.req.CaseID != "case-x" {
					if got, _ := store.ReviewCase(ctx, tc.req.CaseID); got.Status == domain.ReviewResolved {
						t.Error("a refused resolution resolved the case")
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Status != domain.ReviewResolved || c.Resolution != tc.req.Result || c.ResolvedBy != tc.req.Reviewer ||
				c.ResolutionReason != strings.ReplaceAll(tc.req.Reason, "\r\n", "\n") || !c.ResolvedAt.Equal(now) || c.SecondReviewer != tc.req.SecondReviewer {
				t.Errorf("case = %+v", c)
			}
			kind := domain.KindEvaluation
			if tc.req.CaseID == "case-nok" {
				kind = domain.KindApproval
			}
			d, err := store.Decision(ctx, kind, "p-"+tc.req.CaseID, "iv-1")
			if err != nil || d.Result != tc.req.Result {
				t.Errorf("decision after resolution = %+v, %v; want %s", d, err, tc.req.Result)
			}
		})
	}
}

func TestResolveTwiceConflicts(t *testing.T) {
	store := newStore(t)
	svc := review.New(store, store, memory.NewFakeClock(now), policy.Default().Review)
	ctx := context.Background()
	r := ports.ReviewResolution{CaseID: "case-wait", Result: domain.ResultOK, Reason: "fine", Reviewer: "alice"}
	if _, err := svc.Resolve(ctx, r); err != nil {
		t.Fatal(err)
	}
	r.Result = domain.ResultNOK
	if _, err := svc.Resolve(ctx, r); domain.CodeOf(err) != domain.CodeConflict {
		t.Errorf("second resolution = %v, want conflict", err)
	}
}

func TestClaim(t *testing.T) {
	store := newStore(t)
	clock := memory.NewFakeClock(now)
	svc := review.New(store, store, clock, policy.Default().Review)
	ctx := context.Background()
	tests := []struct {
		name, id, reviewer string
		wantCode           domain.ErrorCode
		wantField          string
	}{
		{"no id", "", "alice", domain.CodeInvalid, "id"},
		{"no reviewer", "case-wait", "  ", domain.CodeInvalid, "reviewer"},
		{"unknown case", "case-x", "alice", domain.CodeNotFound, ""},
		{"claim", "case-wait", "alice", "", ""},
		{"claim again by the same reviewer", "case-wait", " alice ", "", ""},
		{"claimed by another", "case-wait", "bob", domain.CodeConflict, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := svc.Claim(ctx, tc.id, tc.reviewer, "")
			if tc.wantCode != "" {
				de, ok := domain.AsError(err)
				if !ok || de.Code != tc.wantCode || (tc.wantField != "" && de.Field != tc.wantField) {
					t.Fatalf("err = %v, want %s %s", err, tc.wantCode, tc.wantField)
				}
				return
			}
			if err != nil || c.Status != domain.ReviewClaimed || c.ClaimedBy != "alice" || !c.ClaimedAt.Equal(now) {
				t.Errorf("Claim = %+v, %v", c, err)
			}
		})
	}
}

func TestListAndGet(t *testing.T) {
	store := newStore(t)
	for i := range 60 {
		seed(t, store, "bulk-"+strconv.Itoa(100+i), domain.KindEvaluation, domain.ResultWAIT)
	}
	svc := review.New(store, store, memory.NewFakeClock(now), policy.Default().Review)
	ctx := context.Background()
	tests := []struct {
		name      string
		filter    ports.ReviewFilter
		wantN     int
		wantField string
	}{
		{"default page size", ports.ReviewFilter{}, review.DefaultLimit, ""},
		{"explicit limit", ports.ReviewFilter{Limit: 5}, 5, ""},
		{"by kind", ports.ReviewFilter{Kind: domain.KindApproval}, 1, ""},
		{"by status", ports.ReviewFilter{Status: domain.ReviewResolved}, 0, ""},
		{"bad status", ports.ReviewFilter{Status: "DONE"}, 0, "status"},
		{"bad kind", ports.ReviewFilter{Kind: "lookup"}, 0, "kind"},
		{"negative limit", ports.ReviewFilter{Limit: -1}, 0, "limit"},
		{"limit too large", ports.ReviewFilter{Limit: review.MaxLimit + 1}, 0, "limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := svc.List(ctx, tc.filter)
			if tc.wantField != "" {
				if de, ok := domain.AsError(err); !ok || de.Code != domain.CodeInvalid || de.Field != tc.wantField {
					t.Fatalf("err = %v, want invalid %s", err, tc.wantField)
				}
				return
			}
			if err != nil || len(cs) != tc.wantN {
				t.Fatalf("List = %d cases, %v; want %d", len(cs), err, tc.wantN)
			}
		})
	}
	t.Run("get", func(t *testing.T) {
		c, err := svc.Get(ctx, "case-nok")
		if err != nil || c.ID != "case-nok" || c.Answered != domain.ResultNOK {
			t.Errorf("Get = %+v, %v", c, err)
		}
		if _, err := svc.Get(ctx, ""); domain.CodeOf(err) != domain.CodeInvalid {
			t.Errorf("Get(\"\") = %v, want invalid", err)
		}
		if _, err := svc.Get(ctx, "case-x"); !domain.IsNotFound(err) {
			t.Errorf("Get(unknown) = %v, want not found", err)
		}
	})
}

// TestFourEyes walks the maker-checker flow of overriding a NOK to OK:
// each row is one reviewer action on the same case, in order.
func TestFourEyes(t *testing.T) {
	type step struct {
		claim    string // claim the case as this reviewer first ("" none)
		typed    bool   // the reviewer's name is typed (the CLI), not signed in
		reviewer string
		result   domain.Result
		reason   string
		wantCode domain.ErrorCode
		// after the step
		wantStatus  domain.ReviewStatus
		wantPending bool
	}
	tests := []struct {
		name     string
		policy   policy.Review
		steps    []step
		want     domain.Result // the decision's answer at the end
		wantBy   string
		second   string
		trail    []string
		lastNote string
	}{
		{
			name:   "proposed by alice, confirmed by bob",
			policy: policy.Review{Retention: time.Hour, RequireClaim: true, FourEyes: true},
			steps: []step{
				{claim: "alice", reviewer: "alice", result: domain.ResultOK, reason: "photo matches", wantStatus: domain.ReviewClaimed, wantPending: true},
				{reviewer: "alice", result: domain.ResultOK, reason: "still fine", wantCode: domain.CodeConflict, wantStatus: domain.ReviewClaimed, wantPending: true},
				{reviewer: "ALICE", result: domain.ResultOK, reason: "case-folded", wantCode: domain.CodeConflict, wantStatus: domain.ReviewClaimed, wantPending: true},
				{reviewer: "bob", result: domain.ResultOK, reason: "agree", wantStatus: domain.ReviewResolved, wantPending: false},
				{reviewer: "carol", result: domain.ResultNOK, reason: "late", wantCode: domain.CodeConflict, wantStatus: domain.ReviewResolved},
			},
			want: domain.ResultOK, wantBy: "alice", second: "bob",
			trail:    []string{domain.ReviewActionClaim, domain.ReviewActionPropose, domain.ReviewActionResolve},
			lastNote: "agree",
		},
		{
			name:   "proposed by alice, rejected by bob without a claim",
			policy: policy.Review{Retention: time.Hour, RequireClaim: true, FourEyes: true},
			steps: []step{
				{claim: "alice", reviewer: "alice", result: domain.ResultOK, reason: "photo matches", wantStatus: domain.ReviewClaimed, wantPending: true},
				{reviewer: "bob", result: domain.ResultNOK, reason: "different person", wantStatus: domain.ReviewResolved},
			},
			want: domain.ResultNOK, wantBy: "bob",
			trail: []string{domain.ReviewActionClaim, domain.ReviewActionPropose, domain.ReviewActionResolve},
		},
		{
			name:   "proposed by alice, withdrawn to NOK by alice",
			policy: policy.Review{Retention: time.Hour, FourEyes: true},
			steps: []step{
				{reviewer: "alice", result: domain.ResultOK, reason: "photo matches", wantStatus: domain.ReviewOpen, wantPending: true},
				{reviewer: "alice", result: domain.ResultNOK, reason: "on second look, no", wantStatus: domain.ReviewResolved},
			},
			want: domain.ResultNOK, wantBy: "alice",
			trail: []string{domain.ReviewActionPropose, domain.ReviewActionResolve},
		},
		{
			name:   "a typed name neither proposes nor confirms an override, and may resolve NOK",
			policy: policy.Review{Retention: time.Hour, FourEyes: true},
			steps: []step{
				{typed: true, reviewer: "alice", result: domain.ResultOK, reason: "photo matches", wantCode: domain.CodeConflict, wantStatus: domain.ReviewOpen},
				{reviewer: "alice", result: domain.ResultOK, reason: "photo matches", wantStatus: domain.ReviewOpen, wantPending: true},
				{typed: true, reviewer: "bob", result: domain.ResultOK, reason: "agree", wantCode: domain.CodeConflict, wantStatus: domain.ReviewOpen, wantPending: true},
				{typed: true, reviewer: "bob", result: domain.ResultNOK, reason: "different person", wantStatus: domain.ReviewResolved},
			},
			want: domain.ResultNOK, wantBy: "bob",
			trail: []string{domain.ReviewActionPropose, domain.ReviewActionResolve},
		},
		{
			name:   "without four eyes a typed name overrides",
			policy: policy.Review{Retention: time.Hour},
			steps: []step{
				{typed: true, reviewer: "alice", result: domain.ResultOK, reason: "photo matches", wantStatus: domain.ReviewResolved},
			},
			want: domain.ResultOK, wantBy: "alice",
			trail: []string{domain.ReviewActionResolve},
		},
		{
			name:   "a NOK needs one reviewer",
			policy: policy.Review{Retention: time.Hour, FourEyes: true},
			steps: []step{
				{reviewer: "alice", result: domain.ResultNOK, reason: "confirmed NOK", wantStatus: domain.ReviewResolved},
			},
			want: domain.ResultNOK, wantBy: "alice",
			trail: []string{domain.ReviewActionResolve},
		},
		{
			name:   "without four eyes one reviewer overrides",
			policy: policy.Review{Retention: time.Hour},
			steps: []step{
				{reviewer: "alice", result: domain.ResultOK, reason: "photo matches", wantStatus: domain.ReviewResolved},
			},
			want: domain.ResultOK, wantBy: "alice",
			trail: []string{domain.ReviewActionResolve},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := newStore(t)
			svc := review.New(store, store, memory.NewFakeClock(now), tc.policy)
			ctx := context.Background()
			for i, st := range tc.steps {
				if st.claim != "" {
					if _, err := svc.Claim(ctx, "case-nok", st.claim, ""); err != nil {
						t.Fatalf("step %d: claim: %v", i, err)
					}
				}
				c, err := svc.Resolve(ctx, ports.ReviewResolution{CaseID: "case-nok", Result: st.result, Reason: st.reason, Reviewer: st.reviewer,
					SignedIn: !st.typed})
				if got := domain.CodeOf(err); got != st.wantCode {
					t.Fatalf("step %d: err = %v, want code %q", i, err, st.wantCode)
				}
				if err == nil && c.AwaitsSecondReviewer() != st.wantPending {
					t.Fatalf("step %d: AwaitsSecondReviewer = %v, want %v (%+v)", i, !st.wantPending, st.wantPending, c)
				}
				read, _ := store.ReviewCase(ctx, "case-nok")
				if read.Status != st.wantStatus || read.AwaitsSecondReviewer() != st.wantPending {
					t.Fatalf("step %d: stored case = %+v, want status %s pending %v", i, read, st.wantStatus, st.wantPending)
				}
			}
			d, err := store.Decision(ctx, domain.KindApproval, "p-case-nok", "iv-1")
			if err != nil || d.Result != tc.want {
				t.Fatalf("decision = %+v, %v; want %s", d, err, tc.want)
			}
			c, _ := store.ReviewCase(ctx, "case-nok")
			if c.ResolvedBy != tc.wantBy || c.SecondReviewer != tc.second {
				t.Errorf("resolved by %q second %q, want %q %q", c.ResolvedBy, c.SecondReviewer, tc.wantBy, tc.second)
			}
			trail, err := svc.Audit(ctx, "case-nok")
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, e := range trail {
				actions = append(actions, e.Action)
			}
			if strings.Join(actions, ",") != strings.Join(tc.trail, ",") {
				t.Fatalf("audit = %v, want %v", actions, tc.trail)
			}
			if last := trail[len(trail)-1]; last.SecondReason != tc.lastNote || last.SecondActor != tc.second {
				t.Errorf("last audit entry = %+v, want second %q note %q", last, tc.second, tc.lastNote)
			}
		})
	}
}

func TestAuditAndPurge(t *testing.T) {
	store := newStore(t)
	clock := memory.NewFakeClock(now)
	svc := review.New(store, store, clock, policy.Review{Retention: 24 * time.Hour})
	ctx := context.Background()
	if _, err := svc.Audit(ctx, " "); domain.CodeOf(err) != domain.CodeInvalid {
		t.Errorf("Audit(blank) = %v, want invalid", err)
	}
	if _, err := svc.Audit(ctx, "case-x"); !domain.IsNotFound(err) {
		t.Errorf("Audit(unknown) = %v, want not found", err)
	}
	if _, err := svc.Resolve(ctx, ports.ReviewResolution{CaseID: "case-wait", Result: domain.ResultOK, Reason: "ok", Reviewer: "alice"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		advance time.Duration
		want    int
	}{
		{"within the retention nothing goes", 23 * time.Hour, 0},
		{"past the retention the resolved case's evidence goes", 2 * time.Hour, 1},
		{"once only", time.Hour, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock.Advance(tc.advance)
			n, err := svc.Purge(ctx, " purge command on job-1 ")
			if err != nil || n != tc.want {
				t.Fatalf("Purge = %d, %v; want %d", n, err, tc.want)
			}
		})
	}
	if c, _ := store.ReviewCase(ctx, "case-nok"); c.EvidencePurged {
		t.Error("the open case was purged")
	}
	// The audit entry says under which retention, up to when, and who.
	trail, err := svc.Audit(ctx, "case-wait")
	if err != nil {
		t.Fatal(err)
	}
	cutoff := now.Add(25 * time.Hour).Add(-24 * time.Hour).UTC().Format(time.RFC3339)
	want := "retention 24h0m0s: cases resolved before " + cutoff + "; purge command on job-1"
	if last := trail[len(trail)-1]; last.Action != domain.ReviewActionPurge || last.Reason != want {
		t.Errorf("purge audit entry = %+v, want reason %q", last, want)
	}
	bad := review.New(store, store, clock, policy.Review{})
	if _, err := bad.Purge(ctx, ""); domain.CodeOf(err) != domain.CodeInvalid {
		t.Errorf("Purge without a retention = %v, want invalid", err)
	}
}

// claimedCases is a case store that always holds one NOK case claimed by
// alice, so the benchmark measures the service, not the store's growth.
type claimedCases struct{ ports.ReviewCases }

func (claimedCases) ReviewCase(_ context.Context, id string) (domain.ReviewCase, error) {
	return domain.ReviewCase{ID: id, Status: domain.ReviewClaimed, ClaimedBy: "alice", Answered: domain.ResultWAIT}, nil
}

func (claimedCases) ResolveReviewCase(_ context.Context, r ports.ReviewResolution) (domain.ReviewCase, error) {
	return domain.ReviewCase{ID: r.CaseID, Status: domain.ReviewResolved, Resolution: r.Result, ResolvedBy: r.Reviewer, ResolvedAt: r.At}, nil
}

func BenchmarkResolve(b *testing.B) {
	svc := review.New(claimedCases{}, memory.NewDecisionStore(), memory.NewFakeClock(now), policy.Review{Retention: time.Hour, RequireClaim: true, FourEyes: true})
	ctx := context.Background()
	r := ports.ReviewResolution{CaseID: "c-1", Result: domain.ResultOK, Reason: "documents checked by hand", Reviewer: "alice"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Resolve(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkList(b *testing.B) {
	store := memory.NewDecisionStore()
	for i := range 200 {
		seed(b, store, "c-"+strconv.Itoa(1000+i), domain.KindEvaluation, domain.ResultWAIT)
	}
	svc := review.New(store, store, memory.NewFakeClock(now), policy.Default().Review)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if cs, err := svc.List(ctx, ports.ReviewFilter{Status: domain.ReviewOpen}); err != nil || len(cs) != review.DefaultLimit {
			b.Fatal(len(cs), err)
		}
	}
}

// A proposal left from a time when four eyes was on waives no claim once it
// is off: acting on it is then an ordinary resolution.
func TestStaleProposalWaivesNoClaim(t *testing.T) {
	store := newStore(t)
	ctx := context.Background()
	fourEyes := review.New(store, store, memory.NewFakeClock(now), policy.Review{Retention: time.Hour, FourEyes: true})
	c, err := fourEyes.Resolve(ctx, ports.ReviewResolution{CaseID: "case-nok", Result: domain.ResultOK, Reason: "photo matches",
		Reviewer: "alice", SignedIn: true})
	if err != nil || !c.AwaitsSecondReviewer() {
		t.Fatalf("proposal: %+v %v", c, err)
	}
	claims := review.New(store, store, memory.NewFakeClock(now), policy.Review{Retention: time.Hour, RequireClaim: true})
	_, err = claims.Resolve(ctx, ports.ReviewResolution{CaseID: "case-nok", Result: domain.ResultOK, Reason: "fine",
		Reviewer: "bob", SignedIn: true})
	if domain.CodeOf(err) != domain.CodeConflict || !strings.Contains(err.Error(), "claimed") {
		t.Fatalf("bob without a claim: %v, want the claim required", err)
	}
	if _, err := claims.Claim(ctx, "case-nok", "bob", ""); err != nil {
		t.Fatal(err)
	}
	c, err = claims.Resolve(ctx, ports.ReviewResolution{CaseID: "case-nok", Result: domain.ResultOK, Reason: "fine",
		Reviewer: "bob", SignedIn: true})
	if err != nil || c.ResolvedBy != "bob" || c.SecondReviewer != "" {
		t.Fatalf("bob after his claim: %+v %v, want resolved by bob alone", c, err)
	}
}

// Under four eyes and claims, a typed name acting on a proposal needs the
// claim like anyone: only a signed-in second reviewer is spared it.
func TestTypedNameOnAProposalNeedsTheClaim(t *testing.T) {
	store := newStore(t)
	ctx := context.Background()
	svc := review.New(store, store, memory.NewFakeClock(now), policy.Review{Retention: time.Hour, RequireClaim: true, FourEyes: true})
	if _, err := svc.Claim(ctx, "case-nok", "alice", ""); err != nil {
		t.Fatal(err)
	}
	if c, err := svc.Resolve(ctx, ports.ReviewResolution{CaseID: "case-nok", Result: domain.ResultOK, Reason: "photo matches",
		Reviewer: "alice", SignedIn: true}); err != nil || !c.AwaitsSecondReviewer() {
		t.Fatalf("proposal: %+v %v", c, err)
	}
	_, err := svc.Resolve(ctx, ports.ReviewResolution{CaseID: "case-nok", Result: domain.ResultNOK, Reason: "no", Reviewer: "bob"})
	if domain.CodeOf(err) != domain.CodeConflict || !strings.Contains(err.Error(), "claimed") {
		t.Fatalf("typed bob without a claim: %v, want the claim required", err)
	}
	c, err := svc.Resolve(ctx, ports.ReviewResolution{CaseID: "case-nok", Result: domain.ResultNOK, Reason: "different person",
		Reviewer: "bob", SignedIn: true})
	if err != nil || c.ResolvedBy != "bob" {
		t.Fatalf("signed-in bob: %+v %v, want him to close it NOK without a claim", c, err)
	}
}

// saveDecision stores a decision of kind for (p-bound, iv-1), with an open
// case when caseID is not empty.
func saveDecision(t *testing.T, s *memory.DecisionStore, kind domain.DecisionKind, result domain.Result, code, caseID string) {
	t.Helper()
	d := domain.Decision{Kind: kind, ProcessID: "p-bound", IdentityVerificationID: "iv-1", UserID: "u-jana",
		Result: result, ReasonCode: code, ReviewCaseID: caseID, DecidedAt: now}
	var rc *domain.ReviewCase
	if caseID != "" {
		answered := result
		rc = &domain.ReviewCase{ID: caseID, Kind: kind, ProcessID: "p-bound", IdentityVerificationID: "iv-1", UserID: "u-jana",
			Status: domain.ReviewOpen, ReasonCodes: []string{code}, Answered: answered, CreatedAt: now}
	}
	if _, _, err := s.SaveDecision(context.Background(), d, rc); err != nil {
		t.Fatal(err)
	}
}

// TestApprovalOKWaitsForTheDocumentEvaluation: a reviewer answers an
// approval case OK only while the document evaluation of the same identity
// verification is neither rejected nor waiting for review, as deciding
// required; NOK is always open to them.
func TestApprovalOKWaitsForTheDocumentEvaluation(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// evaluation stores the evaluation of the approval's verification
		// (nil: none) and may resolve its case with the reviewer "erin".
		evaluation func(t *testing.T, s *memory.DecisionStore, svc ports.ReviewService)
		result     domain.Result
		wantCode   domain.ErrorCode
		wantMsg    string
	}{
		{"no evaluation recorded", nil, domain.ResultOK, "", ""},
		{"evaluation OK", func(t *testing.T, s *memory.DecisionStore, _ ports.ReviewService) {
			saveDecision(t, s, domain.KindEvaluation, domain.ResultOK, "", "")
		}, domain.ResultOK, "", ""},
		{"evaluation rejected", func(t *testing.T, s *memory.DecisionStore, _ ports.ReviewService) {
			saveDecision(t, s, domain.KindEvaluation, domain.ResultNOK, domain.ReasonDocumentExpired, "")
		}, domain.ResultOK, domain.CodeConflict, "was rejected (" + domain.ReasonDocumentExpired + ")"},
		{"evaluation rejected, approval NOK", func(t *testing.T, s *memory.DecisionStore, _ ports.ReviewService) {
			saveDecision(t, s, domain.KindEvaluation, domain.ResultNOK, domain.ReasonDocumentExpired, "")
		}, domain.ResultNOK, "", ""},
		{"evaluation waits for review", func(t *testing.T, s *memory.DecisionStore, _ ports.ReviewService) {
			saveDecision(t, s, domain.KindEvaluation, domain.ResultWAIT, domain.ReasonNameSimilar, "case-eval")
		}, domain.ResultOK, domain.CodeConflict, "awaits review (case case-eval)"},
		{"evaluation answered by the review fallback, its case open", func(t *testing.T, s *memory.DecisionStore, _ ports.ReviewService) {
			saveDecision(t, s, domain.KindEvaluation, domain.ResultNOK, domain.ReasonReviewFallback, "case-eval")
		}, domain.ResultOK, domain.CodeConflict, "awaits review (case case-eval)"},
		{"evaluation answered OK by a review fallback of OK, its case open", func(t *testing.T, s *memory.DecisionStore, _ ports.ReviewService) {
			saveDecision(t, s, domain.KindEvaluation, domain.ResultOK, domain.ReasonReviewFallback, "case-eval")
		}, domain.ResultOK, domain.CodeConflict, "awaits review (case case-eval)"},
		{"evaluation resolved OK by a reviewer", func(t *testing.T, s *memory.DecisionStore, svc ports.ReviewService) {
			saveDecision(t, s, domain.KindEvaluation, domain.ResultWAIT, domain.ReasonNameSimilar, "case-eval")
			resolve(t, svc, "case-eval", domain.ResultOK)
		}, domain.ResultOK, "", ""},
		{"evaluation resolved NOK by a reviewer", func(t *testing.T, s *memory.DecisionStore, svc ports.ReviewService) {
			saveDecision(t, s, domain.KindEvaluation, domain.ResultWAIT, domain.ReasonNameSimilar, "case-eval")
			resolve(t, svc, "case-eval", domain.ResultNOK)
		}, domain.ResultOK, domain.CodeConflict, "was rejected (" + domain.ReasonReviewRejected + ")"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := memory.NewDecisionStore()
			svc := review.New(store, store, memory.NewFakeClock(now), policy.Review{Retention: time.Hour})
			saveDecision(t, store, domain.KindApproval, domain.ResultWAIT, domain.ReasonEvaluationPending, "case-appr")
			if tc.evaluation != nil {
				tc.evaluation(t, store, svc)
			}
			_, err := svc.Resolve(ctx, ports.ReviewResolution{CaseID: "case-appr", Result: tc.result, Reason: "presence check fine", Reviewer: "alice"})
			if domain.CodeOf(err) != tc.wantCode || (err != nil && !strings.Contains(err.Error(), tc.wantMsg)) {
				t.Fatalf("err = %v, want code %q with %q", err, tc.wantCode, tc.wantMsg)
			}
			d, err2 := store.Decision(ctx, domain.KindApproval, "p-bound", "iv-1")
			if err2 != nil {
				t.Fatal(err2)
			}
			want := tc.result
			if err != nil {
				want = domain.ResultWAIT
			}
			if d.Result != want {
				t.Errorf("/client/approve would answer %s, want %s", d.Result, want)
			}
		})
	}
}

// resolve resolves caseID as the reviewer erin.
func resolve(t *testing.T, svc ports.ReviewService, caseID string, result domain.Result) {
	t.Helper()
	if _, err := svc.Resolve(context.Background(), ports.ReviewResolution{CaseID: caseID, Result: result, Reason: "documents checked", Reviewer: "erin"}); err != nil {
		t.Fatal(err)
	}
}

// TestFourEyesOverrideWaitsForTheDocumentEvaluation: under four eyes the
// check applies to the proposal and again to its confirmation, since the
// evaluation may have been decided in between.
func TestFourEyesOverrideWaitsForTheDocumentEvaluation(t *testing.T) {
	ctx := context.Background()
	store := memory.NewDecisionStore()
	svc := review.New(store, store, memory.NewFakeClock(now), policy.Review{Retention: time.Hour, FourEyes: true})
	// The review fallback answered the approval NOK before any evaluation.
	saveDecision(t, store, domain.KindApproval, domain.ResultNOK, domain.ReasonReviewFallback, "case-appr")
	c, err := svc.Resolve(ctx, ports.ReviewResolution{CaseID: "case-appr", Result: domain.ResultOK, Reason: "photo matches", Reviewer: "alice", SignedIn: true})
	if err != nil || !c.AwaitsSecondReviewer() {
		t.Fatalf("proposal = %+v, %v", c, err)
	}
	saveDecision(t, store, domain.KindEvaluation, domain.ResultWAIT, domain.ReasonNameSimilar, "case-eval")
	_, err = svc.Resolve(ctx, ports.ReviewResolution{CaseID: "case-appr", Result: domain.ResultOK, Reason: "agreed", Reviewer: "bob", SignedIn: true})
	if domain.CodeOf(err) != domain.CodeConflict || !strings.Contains(err.Error(), "awaits review") {
		t.Fatalf("confirmation while the evaluation waits = %v, want conflict", err)
	}
	if got, _ := store.ReviewCase(ctx, "case-appr"); got.Status == domain.ReviewResolved {
		t.Fatal("the refused confirmation resolved the case")
	}
	// A new proposal is refused outright once the documents are rejected.
	other := memory.NewDecisionStore()
	svc = review.New(other, other, memory.NewFakeClock(now), policy.Review{Retention: time.Hour, FourEyes: true})
	saveDecision(t, other, domain.KindApproval, domain.ResultNOK, domain.ReasonReviewFallback, "case-appr")
	saveDecision(t, other, domain.KindEvaluation, domain.ResultNOK, domain.ReasonNameMismatch, "")
	_, err = svc.Resolve(ctx, ports.ReviewResolution{CaseID: "case-appr", Result: domain.ResultOK, Reason: "photo matches", Reviewer: "alice", SignedIn: true})
	if domain.CodeOf(err) != domain.CodeConflict {
		t.Fatalf("proposal against rejected documents = %v, want conflict", err)
	}
	if got, _ := other.ReviewCase(ctx, "case-appr"); got.AwaitsSecondReviewer() {
		t.Fatal("the refused proposal was recorded")
	}
}

// unavailableDecisions fails every read, as a store whose database is down.
type unavailableDecisions struct{}

func (unavailableDecisions) Decision(context.Context, domain.DecisionKind, string, string) (domain.Decision, error) {
	return domain.Decision{}, domain.Unavailable(errors.New("connection refused"), "database down")
}

// TestApprovalOKNeedsTheEvaluationRead: a store that cannot say whether
// the documents were rejected makes the resolution fail as unavailable,
// never pass by default.
func TestApprovalOKNeedsTheEvaluationRead(t *testing.T) {
	store := memory.NewDecisionStore()
	saveDecision(t, store, domain.KindApproval, domain.ResultWAIT, domain.ReasonEvaluationPending, "case-appr")
	svc := review.New(store, unavailableDecisions{}, memory.NewFakeClock(now), policy.Review{Retention: time.Hour})
	_, err := svc.Resolve(context.Background(), ports.ReviewResolution{CaseID: "case-appr", Result: domain.ResultOK, Reason: "fine", Reviewer: "alice"})
	if domain.CodeOf(err) != domain.CodeUnavailable {
		t.Fatalf("err = %v, want unavailable", err)
	}
	// NOK needs no read.
	if _, err := svc.Resolve(context.Background(), ports.ReviewResolution{CaseID: "case-appr", Result: domain.ResultNOK, Reason: "fine", Reviewer: "alice"}); err != nil {
		t.Fatal(err)
	}
}

// TestChannel: a channel outside ui, api and cli is refused, and a
// resolution's channel decides whether its reviewer was signed in: the
// CLI's typed name cannot pass for one, whatever the flag says.
func TestChannel(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	svc := review.New(store, store, memory.NewFakeClock(now), policy.Review{Retention: time.Hour, FourEyes: true})
	if _, err := svc.Claim(ctx, "case-wait", "alice", "web"); domain.CodeOf(err) != domain.CodeInvalid {
		t.Errorf("claim through channel web = %v, want invalid", err)
	}
	if _, err := svc.Resolve(ctx, ports.ReviewResolution{CaseID: "case-wait", Result: domain.ResultNOK, Reason: "x", Reviewer: "alice",
		Channel: "web"}); domain.CodeOf(err) != domain.CodeInvalid {
		t.Errorf("resolve through channel web = %v, want invalid", err)
	}
	// An override to OK under four eyes needs a signed-in reviewer.
	_, err := svc.Resolve(ctx, ports.ReviewResolution{CaseID: "case-nok", Result: domain.ResultOK, Reason: "photo matches",
		Reviewer: "alice", SignedIn: true, Channel: domain.ReviewChannelCLI})
	if domain.CodeOf(err) != domain.CodeConflict || !strings.Contains(err.Error(), "signed-in reviewers") {
		t.Fatalf("override from the CLI flagged signed in = %v, want refused", err)
	}
	c, err := svc.Resolve(ctx, ports.ReviewResolution{CaseID: "case-nok", Result: domain.ResultOK, Reason: "photo matches",
		Reviewer: "alice", Channel: domain.ReviewChannelUI})
	if err != nil || !c.AwaitsSecondReviewer() {
		t.Fatalf("override proposed from the pages = %+v, %v; want a proposal", c, err)
	}
	// bob confirms through the API: the resolution row is his request's.
	if _, err := svc.Resolve(ctx, ports.ReviewResolution{CaseID: "case-nok", Result: domain.ResultOK, Reason: "agreed",
		Reviewer: "bob", Channel: domain.ReviewChannelAPI}); err != nil {
		t.Fatal(err)
	}
	trail, _ := store.ReviewAudit(ctx, "case-nok")
	if len(trail) != 2 || trail[0].Channel != domain.ReviewChannelUI || trail[1].SecondActor != "bob" || trail[1].Channel != domain.ReviewChannelAPI {
		t.Fatalf("audit %+v, want the proposal from the ui, bob's confirmation from the api", trail)
	}
}
