package decision_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/decision"
	"github.com/bankkit/onboarding-adapter/domain/policy"
	"github.com/bankkit/onboarding-adapter/ports"
)

var now = time.Date(2025, 6, 15, 10, 0, 0, 0, time.UTC)

func score(f float64) *float64 { return &f }

func validRequest() decision.Request {
	return decision.Request{
		Kind: domain.KindEvaluation, ProcessID: "p-1", IdentityVerificationID: "iv-1", UserID: "u-1",
		Status: decision.StatusSuccess, Score: score(8),
		Meta: domain.RequestMeta{CorrelationID: "corr-1", RequestID: "req-1"},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(*decision.Request)
		wantField string // "" for valid
		wantMsg   string
	}{
		{"valid", func(*decision.Request) {}, "", ""},
		{"valid failure without score", func(r *decision.Request) { r.Status, r.Score = decision.StatusFailure, nil }, "", ""},
		{"score 0", func(r *decision.Request) { r.Score = score(0) }, "", ""},
		{"score 10", func(r *decision.Request) { r.Score = score(10) }, "", ""},
		{"no processId", func(r *decision.Request) { r.ProcessID = " " }, "processId", "is required"},
		{"no identityVerificationId", func(r *decision.Request) { r.IdentityVerificationID = "" }, "identityVerificationId", "is required"},
		{"no userId", func(r *decision.Request) { r.UserID = "" }, "userId", "is required"},
		{"empty status", func(r *decision.Request) { r.Status = "" }, "status", "must be SUCCESS or FAILURE"},
		{"unknown status", func(r *decision.Request) { r.Status = "PENDING" }, "status", "must be SUCCESS or FAILURE"},
		{"score below 0", func(r *decision.Request) { r.Score = score(-0.01) }, "score", ""},
		{"score above 10", func(r *decision.Request) { r.Score = score(10.01) }, "score", ""},
		{"score NaN", func(r *decision.Request) { r.Score = score(math.NaN()) }, "score", ""},
		{"score +Inf", func(r *decision.Request) { r.Score = score(math.Inf(1)) }, "score", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := validRequest()
			tc.mutate(&r)
			err := decision.Validate(r)
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			de, ok := domain.AsError(err)
			if !ok || de.Code != domain.CodeInvalid || de.Field != tc.wantField {
				t.Fatalf("Validate() = %v, want invalid %s", err, tc.wantField)
			}
			if tc.wantMsg != "" && de.Message != tc.wantMsg {
				t.Errorf("message = %q, want %q", de.Message, tc.wantMsg)
			}
		})
	}
}

func TestScoreRule(t *testing.T) {
	p := policy.Default().Decision
	tests := []struct {
		score      float64
		want       domain.Result
		wantCode   string
		wantDetail string
	}{
		{0, domain.ResultNOK, domain.ReasonScoreTooLow, "score 0.00 is below 4.00"},
		{3.99, domain.ResultNOK, domain.ReasonScoreTooLow, "score 3.99 is below 4.00"},
		{3.999, domain.ResultNOK, domain.ReasonScoreTooLow, "score 3.999 is below 4.00"}, // not "4.00 is below 4.00"
		{4.0, domain.ResultWAIT, domain.ReasonScoreBorderline, "score 4.00 is below 7.00"},
		{6.99, domain.ResultWAIT, domain.ReasonScoreBorderline, "score 6.99 is below 7.00"},
		{6.9999, domain.ResultWAIT, domain.ReasonScoreBorderline, "score 6.9999 is below 7.00"},
		{7.0, domain.ResultOK, "", ""},
		{10, domain.ResultOK, "", ""},
	}
	for _, tc := range tests {
		got := decision.ScoreRule(tc.score, p)
		if got.Outcome != tc.want || got.Code != tc.wantCode || got.Rule != decision.RuleScore || got.Detail != tc.wantDetail {
			t.Errorf("ScoreRule(%v) = %+v, want %s %s %q", tc.score, got, tc.want, tc.wantCode, tc.wantDetail)
		}
	}
}

func TestStatusRule(t *testing.T) {
	if got := decision.StatusRule(decision.StatusFailure); got.Outcome != domain.ResultNOK || got.Code != domain.ReasonVerificationFailed {
		t.Errorf("StatusRule(FAILURE) = %+v", got)
	}
	if got := decision.StatusRule(decision.StatusSuccess); got.Outcome != domain.ResultOK || got.Code != "" {
		t.Errorf("StatusRule(SUCCESS) = %+v", got)
	}
}

// failingFinder is a registry that cannot answer.
type failingFinder struct{ ports.ClientFinder }

func (failingFinder) ClientByUserID(context.Context, string) (domain.Client, error) {
	return domain.Client{}, domain.Unavailable(errors.New("connection refused"), "registry unavailable")
}

func TestUserRules(t *testing.T) {
	reg := memory.NewClientRegistry(memory.NewSequenceIDs("u"),
		domain.Client{UserID: "u-active", Status: domain.StatusActive},
		domain.Client{UserID: "u-prospect", Status: domain.StatusProspect},
		domain.Client{UserID: "u-blocked", Status: domain.StatusBlocked},
		domain.Client{UserID: "u-closed", Status: domain.StatusClosed},
	)
	tests := []struct {
		user       string
		wantResult domain.Result
		wantCode   string
		wantClient bool
	}{
		{"u-active", domain.ResultOK, "", true},
		{"u-prospect", domain.ResultOK, "", true},
		{"u-blocked", domain.ResultNOK, domain.ReasonUserNotEligible, true},
		{"u-closed", domain.ResultNOK, domain.ReasonUserNotEligible, true},
		{"u-nobody", domain.ResultNOK, domain.ReasonUserUnknown, false},
	}
	for _, tc := range tests {
		t.Run(tc.user, func(t *testing.T) {
			rules, c, err := decision.UserRules(context.Background(), reg, tc.user)
			if err != nil {
				t.Fatal(err)
			}
			got, why := domain.Combine(rules)
			if got != tc.wantResult || why.Code != tc.wantCode {
				t.Errorf("combined = %s %q, want %s %q", got, why.Code, tc.wantResult, tc.wantCode)
			}
			if (c != nil) != tc.wantClient || (c != nil && c.UserID != tc.user) {
				t.Errorf("client = %+v, want found=%v", c, tc.wantClient)
			}
		})
	}
	t.Run("registry down", func(t *testing.T) {
		_, _, err := decision.UserRules(context.Background(), failingFinder{}, "u-active")
		if domain.CodeOf(err) != domain.CodeUnavailable {
			t.Fatalf("err = %v, want unavailable", err)
		}
	})
}

func newEngine(p policy.Decision) (*decision.Engine, *memory.DecisionStore) {
	store := memory.NewDecisionStore()
	return decision.NewEngine(store, noClients(), memory.NewFakeClock(now), memory.NewSequenceIDs("case"), p), store
}

// noClients is an empty registry, for engines whose rules read none.
func noClients() *memory.ClientRegistry { return memory.NewClientRegistry(memory.NewSequenceIDs("u")) }

func outcome(rules ...domain.RuleResult) decision.Evaluator {
	return func(context.Context, ports.VerificationDecisions, ports.ClientFinder) (decision.Outcome, error) {
		return decision.Outcome{
			Rules:    rules,
			Images:   []domain.ImageDigest{{Kind: "FACE", SHA256: "abc", Size: 3}},
			Evidence: domain.ReviewEvidence{Frame: []byte{0xFF, 0xD8, 0xFF}, Registry: &domain.Client{UserID: "u-1"}},
		}, nil
	}
}

var (
	ok      = domain.RuleResult{Rule: "a", Outcome: domain.ResultOK}
	nok     = domain.RuleResult{Rule: "b", Outcome: domain.ResultNOK, Code: "DOCUMENT_EXPIRED", Detail: "document expired on 2024-01-31"}
	wait    = domain.RuleResult{Rule: "c", Outcome: domain.ResultWAIT, Code: "NAME_SIMILAR", Detail: "names differ slightly"}
	nokToo  = domain.RuleResult{Rule: "d", Outcome: domain.ResultNOK, Code: "UNDERAGE", Detail: "applicant is under 18"}
	noRules = []domain.RuleResult{}
)

func TestDecide(t *testing.T) {
	keep := policy.Default().Decision
	noEvidence := keep
	noEvidence.KeepEvidence = false
	fallbackNOK := keep
	fallbackNOK.WaitSupported = false
	fallbackOK := fallbackNOK
	fallbackOK.ReviewFallback = domain.ResultOK

	tests := []struct {
		name         string
		policy       policy.Decision
		rules        []domain.RuleResult
		wantResult   domain.Result
		wantReason   string // wire resultReason
		wantCase     bool
		wantAnswered domain.Result
		wantEvidence bool
	}{
		{"no rules is OK", keep, noRules, domain.ResultOK, "", false, "", false},
		{"all pass", keep, []domain.RuleResult{ok, ok}, domain.ResultOK, "", false, "", false},
		{"NOK wins over WAIT", keep, []domain.RuleResult{ok, wait, nok}, domain.ResultNOK, "DOCUMENT_EXPIRED: document expired on 2024-01-31", false, "", false},
		{"first NOK wins", keep, []domain.RuleResult{nokToo, nok}, domain.ResultNOK, "UNDERAGE: applicant is under 18", false, "", false},
		{"WAIT opens a case with evidence", keep, []domain.RuleResult{ok, wait}, domain.ResultWAIT, "NAME_SIMILAR: names differ slightly", true, domain.ResultWAIT, true},
		{"WAIT without kept evidence", noEvidence, []domain.RuleResult{wait}, domain.ResultWAIT, "NAME_SIMILAR: names differ slightly", true, domain.ResultWAIT, false},
		{"fallback NOK still opens a case", fallbackNOK, []domain.RuleResult{wait}, domain.ResultNOK,
			"REVIEW_FALLBACK: needs manual review (NAME_SIMILAR: names differ slightly)", true, domain.ResultNOK, true},
		{"fallback OK still opens a case", fallbackOK, []domain.RuleResult{wait}, domain.ResultOK,
			"REVIEW_FALLBACK: needs manual review (NAME_SIMILAR: names differ slightly)", true, domain.ResultOK, true},
		{"fallback leaves NOK alone", fallbackNOK, []domain.RuleResult{nok}, domain.ResultNOK, "DOCUMENT_EXPIRED: document expired on 2024-01-31", false, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, store := newEngine(tc.policy)
			ctx := context.Background()
			d, err := e.Decide(ctx, validRequest(), outcome(tc.rules...))
			if err != nil {
				t.Fatal(err)
			}
			if d.Result != tc.wantResult || d.ResultReason() != tc.wantReason {
				t.Errorf("decision = %s %q, want %s %q", d.Result, d.ResultReason(), tc.wantResult, tc.wantReason)
			}
			if d.Kind != domain.KindEvaluation || d.ProcessID != "p-1" || d.IdentityVerificationID != "iv-1" || d.UserID != "u-1" {
				t.Errorf("key fields = %+v", d)
			}
			if !d.DecidedAt.Equal(now) || d.CorrelationID != "corr-1" || d.RequestID != "req-1" {
				t.Errorf("time/meta = %v %q %q", d.DecidedAt, d.CorrelationID, d.RequestID)
			}
			if d.Score == nil || *d.Score != 8 || len(d.Images) != 1 || len(d.Rules) != len(tc.rules) {
				t.Errorf("score/images/rules not stored: %+v", d)
			}
			stored, err := store.Decision(ctx, domain.KindEvaluation, "p-1", "iv-1")
			if err != nil || stored.Result != d.Result || stored.ReviewCaseID != d.ReviewCaseID {
				t.Fatalf("stored = %+v, %v; want the answered decision", stored, err)
			}
			cases, err := store.ListReviewCases(ctx, ports.ReviewFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if !tc.wantCase {
				if len(cases) != 0 || d.ReviewCaseID != "" {
					t.Fatalf("cases = %+v, case id %q; want none", cases, d.ReviewCaseID)
				}
				return
			}
			if len(cases) != 1 {
				t.Fatalf("cases = %d, want 1", len(cases))
			}
			c := cases[0]
			if c.ID != "case-1" || d.ReviewCaseID != c.ID || c.Status != domain.ReviewOpen || c.Answered != tc.wantAnswered {
				t.Errorf("case = %+v (decision case %q)", c, d.ReviewCaseID)
			}
			if len(c.ReasonCodes) != 1 || c.ReasonCodes[0] != "NAME_SIMILAR" || !c.CreatedAt.Equal(now) {
				t.Errorf("case reasons/time = %v %v", c.ReasonCodes, c.CreatedAt)
			}
			if got := len(c.Evidence.Frame) > 0 && c.Evidence.Registry != nil; got != tc.wantEvidence {
				t.Errorf("evidence kept = %v, want %v", got, tc.wantEvidence)
			}
		})
	}
}

func TestDecideIsIdempotent(t *testing.T) {
	e, _ := newEngine(policy.Default().Decision)
	ctx := context.Background()
	first, err := e.Decide(ctx, validRequest(), outcome(nok))
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	r := validRequest()
	r.Score, r.UserID, r.Meta.RequestID = score(9.5), "u-other", "req-2"
	second, err := e.Decide(ctx, r, func(context.Context, ports.VerificationDecisions, ports.ClientFinder) (decision.Outcome, error) {
		calls.Add(1)
		return decision.Outcome{Rules: []domain.RuleResult{ok}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 0 {
		t.Error("rules ran again for a stored decision")
	}
	if second.Result != domain.ResultNOK || second.ResultReason() != first.ResultReason() || second.RequestID != "req-1" || *second.Score != 8 {
		t.Errorf("second = %+v, want the stored first decision", second)
	}
	// Another identity verification of the same process is a new decision.
	r.IdentityVerificationID = "iv-2"
	third, err := e.Decide(ctx, r, outcome(ok))
	if err != nil || third.Result != domain.ResultOK {
		t.Errorf("iv-2 = %+v, %v; want a fresh OK", third, err)
	}
}

func TestDecideScoreIsCopied(t *testing.T) {
	e, _ := newEngine(policy.Default().Decision)
	r := validRequest()
	d, err := e.Decide(context.Background(), r, outcome(ok))
	if err != nil {
		t.Fatal(err)
	}
	*r.Score = 1
	if *d.Score != 8 {
		t.Errorf("decision score follows the caller's variable: %v", *d.Score)
	}
}

// capturingStore keeps the review case SaveDecision was given, as a store
// whose batch outlives the request would.
type capturingStore struct {
	ports.DecisionStore
	saved *domain.ReviewCase
}

func (s *capturingStore) SaveDecision(ctx context.Context, d domain.Decision, rc *domain.ReviewCase) (domain.Decision, bool, error) {
	s.saved = rc
	return s.DecisionStore.SaveDecision(ctx, d, rc)
}

// TestDecideKeepsACopyOfTheFrame: the frame is the request's only while it
// lives (the transport reuses its buffer after the answer), so the review
// case the store gets must hold a copy, not the request's bytes.
func TestDecideKeepsACopyOfTheFrame(t *testing.T) {
	store := &capturingStore{DecisionStore: memory.NewDecisionStore()}
	e := decision.NewEngine(store, noClients(), memory.NewFakeClock(now), memory.NewSequenceIDs("case"), policy.Default().Decision)
	frame := []byte{0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3}
	eval := func(context.Context, ports.VerificationDecisions, ports.ClientFinder) (decision.Outcome, error) {
		return decision.Outcome{Rules: []domain.RuleResult{wait}, Evidence: domain.ReviewEvidence{Frame: frame}}, nil
	}
	if _, err := e.Decide(context.Background(), validRequest(), eval); err != nil {
		t.Fatal(err)
	}
	if store.saved == nil || !bytes.Equal(store.saved.Evidence.Frame, []byte{0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3}) {
		t.Fatalf("saved case %+v, want the frame as evidence", store.saved)
	}
	for i := range frame {
		frame[i] = 0 // the transport reuses the buffer
	}
	if store.saved.Evidence.Frame[0] != 0xFF {
		t.Error("the saved review case shares the request's frame buffer")
	}
}

// racingStore loses every save to a decision another replica stored.
type racingStore struct {
	ports.DecisionStore
	winner domain.Decision
}

func (s racingStore) SaveDecision(context.Context, domain.Decision, *domain.ReviewCase) (domain.Decision, bool, error) {
	return s.winner, false, nil
}

// scriptedIDs hands out ids in order and then repeats the last one.
type scriptedIDs struct {
	ids   []string
	calls int
}

func (s *scriptedIDs) NewID() string {
	s.calls++
	return s.ids[min(s.calls, len(s.ids))-1]
}

// conflictStore refuses every save as a conflict.
type conflictStore struct {
	ports.DecisionStore
	saves *atomic.Int32
}

func (s conflictStore) SaveDecision(context.Context, domain.Decision, *domain.ReviewCase) (domain.Decision, bool, error) {
	s.saves.Add(1)
	return domain.Decision{}, false, domain.Conflict("refused")
}

// countingStore counts the reads the engine makes.
type countingStore struct {
	ports.DecisionStore
	reads, single atomic.Int32
}

func (s *countingStore) VerificationDecisions(ctx context.Context, processID, ivID string) (ports.VerificationDecisions, error) {
	s.reads.Add(1)
	return s.DecisionStore.VerificationDecisions(ctx, processID, ivID)
}

func (s *countingStore) Decision(ctx context.Context, kind domain.DecisionKind, processID, ivID string) (domain.Decision, error) {
	s.single.Add(1)
	return s.DecisionStore.Decision(ctx, kind, processID, ivID)
}

// brokenStore cannot answer at all.
type brokenStore struct{ saves *atomic.Int32 }

func (brokenStore) Decision(context.Context, domain.DecisionKind, string, string) (domain.Decision, error) {
	return domain.Decision{}, domain.Unavailable(errors.New("timeout"), "decision store unavailable")
}

func (brokenStore) VerificationDecisions(context.Context, string, string) (ports.VerificationDecisions, error) {
	return ports.VerificationDecisions{}, domain.Unavailable(errors.New("timeout"), "decision store unavailable")
}

func (s brokenStore) SaveDecision(context.Context, domain.Decision, *domain.ReviewCase) (domain.Decision, bool, error) {
	s.saves.Add(1)
	return domain.Decision{}, false, domain.Unavailable(errors.New("timeout"), "decision store unavailable")
}

func TestDecideStoreOutcomes(t *testing.T) {
	ctx := context.Background()
	clock, ids, p := memory.NewFakeClock(now), memory.NewSequenceIDs("case"), policy.Default().Decision

	t.Run("race winner is returned", func(t *testing.T) {
		winner := domain.Decision{Kind: domain.KindEvaluation, ProcessID: "p-1", IdentityVerificationID: "iv-1", Result: domain.ResultOK, RequestID: "req-winner"}
		e := decision.NewEngine(racingStore{DecisionStore: memory.NewDecisionStore(), winner: winner}, noClients(), clock, ids, p)
		d, err := e.Decide(ctx, validRequest(), outcome(nok))
		if err != nil || d.RequestID != "req-winner" || d.Result != domain.ResultOK {
			t.Errorf("Decide = %+v, %v; want the winner", d, err)
		}
	})
	t.Run("store down", func(t *testing.T) {
		var saves atomic.Int32
		e := decision.NewEngine(brokenStore{&saves}, noClients(), clock, ids, p)
		ran := false
		_, err := e.Decide(ctx, validRequest(), func(context.Context, ports.VerificationDecisions, ports.ClientFinder) (decision.Outcome, error) {
			ran = true
			return decision.Outcome{}, nil
		})
		if domain.CodeOf(err) != domain.CodeUnavailable || ran || saves.Load() != 0 {
			t.Errorf("err = %v, rules ran %v, saves %d; want unavailable before any rule", err, ran, saves.Load())
		}
	})
	t.Run("rule error is not stored", func(t *testing.T) {
		e, store := newEngine(p)
		boom := domain.Unavailable(errors.New("x"), "registry unavailable")
		_, err := e.Decide(ctx, validRequest(), func(context.Context, ports.VerificationDecisions, ports.ClientFinder) (decision.Outcome, error) {
			return decision.Outcome{}, boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want the rule error", err)
		}
		if _, err := store.Decision(ctx, domain.KindEvaluation, "p-1", "iv-1"); !domain.IsNotFound(err) {
			t.Errorf("a decision was stored after a failed rule: %v", err)
		}
	})
	t.Run("the other kind's decision reaches the rules, read in the same call", func(t *testing.T) {
		store := &countingStore{DecisionStore: memory.NewDecisionStore()}
		e := decision.NewEngine(store, noClients(), clock, ids, p)
		other := domain.Decision{Kind: domain.KindApproval, ProcessID: "p-1", IdentityVerificationID: "iv-1", Result: domain.ResultNOK, ReasonCode: "SCORE_TOO_LOW"}
		if _, _, err := store.SaveDecision(ctx, other, nil); err != nil {
			t.Fatal(err)
		}
		var seen ports.VerificationDecisions
		d, err := e.Decide(ctx, validRequest(), func(_ context.Context, stored ports.VerificationDecisions, _ ports.ClientFinder) (decision.Outcome, error) {
			seen = stored
			return decision.Outcome{Rules: []domain.RuleResult{ok}}, nil
		})
		if err != nil || d.Kind != domain.KindEvaluation {
			t.Fatalf("Decide = %+v, %v", d, err)
		}
		if seen.Approval == nil || seen.Approval.Result != domain.ResultNOK || seen.Evaluation != nil {
			t.Errorf("rules saw %+v, want the stored approval and no evaluation", seen)
		}
		if store.reads.Load() != 1 || store.single.Load() != 0 {
			t.Errorf("decision reads: %d combined, %d single; want exactly one combined read", store.reads.Load(), store.single.Load())
		}
	})
	t.Run("a review case id already used is replaced by a fresh one", func(t *testing.T) {
		store := memory.NewDecisionStore()
		taken := domain.Decision{Kind: domain.KindApproval, ProcessID: "p-0", IdentityVerificationID: "iv-0", Result: domain.ResultWAIT}
		if _, _, err := store.SaveDecision(ctx, taken, &domain.ReviewCase{ID: "case-taken"}); err != nil {
			t.Fatal(err)
		}
		ids := &scriptedIDs{ids: []string{"case-taken", "case-taken", "case-fresh"}}
		e := decision.NewEngine(store, noClients(), clock, ids, p)
		d, err := e.Decide(ctx, validRequest(), outcome(wait))
		if err != nil || d.Result != domain.ResultWAIT || d.ReviewCaseID != "case-fresh" {
			t.Fatalf("Decide = %+v, %v; want WAIT with case-fresh", d, err)
		}
		c, err := store.ReviewCase(ctx, "case-fresh")
		if err != nil || c.ProcessID != "p-1" {
			t.Fatalf("fresh case = %+v, %v; want the decision's", c, err)
		}
		c, err = store.ReviewCase(ctx, "case-taken")
		if err != nil || c.ProcessID != "p-0" {
			t.Fatalf("taken case = %+v, %v; want still p-0's", c, err)
		}
	})
	t.Run("case ids that keep colliding are an internal error, nothing stored", func(t *testing.T) {
		store := memory.NewDecisionStore()
		taken := domain.Decision{Kind: domain.KindApproval, ProcessID: "p-0", IdentityVerificationID: "iv-0", Result: domain.ResultWAIT}
		if _, _, err := store.SaveDecision(ctx, taken, &domain.ReviewCase{ID: "case-taken"}); err != nil {
			t.Fatal(err)
		}
		ids := &scriptedIDs{ids: []string{"case-taken"}}
		e := decision.NewEngine(store, noClients(), clock, ids, p)
		_, err := e.Decide(ctx, validRequest(), outcome(wait))
		if domain.CodeOf(err) != domain.CodeInternal {
			t.Fatalf("err = %v (code %s), want CodeInternal", err, domain.CodeOf(err))
		}
		if ids.calls != 3 {
			t.Errorf("%d case ids asked for, want 3 attempts", ids.calls)
		}
		if _, err := store.Decision(ctx, domain.KindEvaluation, "p-1", "iv-1"); !domain.IsNotFound(err) {
			t.Errorf("a decision was stored: %v", err)
		}
	})
	t.Run("a conflict without a review case is not retried", func(t *testing.T) {
		var saves atomic.Int32
		e := decision.NewEngine(conflictStore{DecisionStore: memory.NewDecisionStore(), saves: &saves}, noClients(), clock, ids, p)
		_, err := e.Decide(ctx, validRequest(), outcome(ok))
		if domain.CodeOf(err) != domain.CodeConflict || saves.Load() != 1 {
			t.Errorf("err = %v after %d saves; want the store's conflict after one", err, saves.Load())
		}
	})
	t.Run("stored reads a missing decision as absent", func(t *testing.T) {
		e, _ := newEngine(p)
		_, found, err := e.Stored(ctx, domain.KindApproval, "p-x", "iv-x")
		if err != nil || found {
			t.Errorf("Stored = %v, %v; want absent", found, err)
		}
	})
}

// withClientStore reads the user's registry record with the decisions, as
// the PostgreSQL store does, and counts its reads.
type withClientStore struct {
	*countingStore
	registry *countingRegistry
	combined atomic.Int32
	fail     error
}

func (s *withClientStore) VerificationDecisionsWithClient(ctx context.Context, processID, ivID, userID string) (ports.VerificationDecisions, *domain.Client, error) {
	s.combined.Add(1)
	if s.fail != nil {
		return ports.VerificationDecisions{}, nil, s.fail
	}
	stored, err := s.countingStore.DecisionStore.VerificationDecisions(ctx, processID, ivID)
	if err != nil {
		return ports.VerificationDecisions{}, nil, err
	}
	c, err := s.registry.ClientFinder.ClientByUserID(ctx, userID)
	if domain.IsNotFound(err) {
		return stored, nil, nil
	}
	return stored, &c, err
}

// countingRegistry counts the users the rules read from the registry.
type countingRegistry struct {
	ports.ClientFinder
	byUserID atomic.Int32
}

func (r *countingRegistry) ClientByUserID(ctx context.Context, userID string) (domain.Client, error) {
	r.byUserID.Add(1)
	return r.ClientFinder.ClientByUserID(ctx, userID)
}

func TestDecideReadsTheUserWithTheDecisions(t *testing.T) {
	ctx := context.Background()
	clock, ids, p := memory.NewFakeClock(now), memory.NewSequenceIDs("case"), policy.Default().Decision
	known := domain.Client{UserID: "u-1", GivenNames: "JANA", Surname: "NOVAKOVA", Status: domain.StatusActive}
	other := domain.Client{UserID: "u-2", Status: domain.StatusActive}
	setup := func() (*withClientStore, *decision.Engine) {
		reg := &countingRegistry{ClientFinder: memory.NewClientRegistry(memory.NewSequenceIDs("u"), known, other)}
		store := &withClientStore{countingStore: &countingStore{DecisionStore: memory.NewDecisionStore()}, registry: reg}
		return store, decision.NewEngine(store, reg, clock, ids, p)
	}
	// userRules runs the common rules and also reads another user, which
	// the engine did not read and must ask the registry for.
	userRules := func(seen *decision.Outcome, otherErr *error) decision.Evaluator {
		return func(ctx context.Context, _ ports.VerificationDecisions, clients ports.ClientFinder) (decision.Outcome, error) {
			if _, err := seen.AddCommonRules(ctx, clients, decision.StatusSuccess, "u-1"); err != nil {
				return decision.Outcome{}, err
			}
			_, *otherErr = clients.ClientByUserID(ctx, "u-2")
			return *seen, nil
		}
	}

	t.Run("known user: one read, the registry asked only for another user", func(t *testing.T) {
		store, e := setup()
		var (
			o        decision.Outcome
			otherErr error
		)
		if _, err := e.Decide(ctx, validRequest(), userRules(&o, &otherErr)); err != nil {
			t.Fatal(err)
		}
		if o.Evidence.Registry == nil || o.Evidence.Registry.Surname != "NOVAKOVA" {
			t.Errorf("rules saw registry record %+v, want the stored client", o.Evidence.Registry)
		}
		if len(o.Rules) != 3 || o.Rules[1].Rule != decision.RuleUserKnown || o.Rules[1].Outcome != domain.ResultOK {
			t.Errorf("rules = %+v, want the user known", o.Rules)
		}
		if otherErr != nil {
			t.Errorf("another user through the engine's finder: %v", otherErr)
		}
		if store.combined.Load() != 1 || store.reads.Load() != 0 || store.registry.byUserID.Load() != 1 {
			t.Errorf("reads: %d combined, %d decisions only, %d registry; want 1, 0, 1 (the other user)",
				store.combined.Load(), store.reads.Load(), store.registry.byUserID.Load())
		}
	})
	t.Run("unknown user: NOK without a registry read", func(t *testing.T) {
		store, e := setup()
		r := validRequest()
		r.UserID = "u-unknown"
		var rules []domain.RuleResult
		d, err := e.Decide(ctx, r, func(ctx context.Context, _ ports.VerificationDecisions, clients ports.ClientFinder) (decision.Outcome, error) {
			var o decision.Outcome
			_, err := o.AddCommonRules(ctx, clients, decision.StatusSuccess, r.UserID)
			rules = o.Rules
			return o, err
		})
		if err != nil || d.Result != domain.ResultNOK || d.ReasonCode != domain.ReasonUserUnknown {
			t.Errorf("Decide = %+v, %v; want NOK %s", d, err, domain.ReasonUserUnknown)
		}
		if len(rules) != 2 || rules[1].Code != domain.ReasonUserUnknown || store.registry.byUserID.Load() != 0 {
			t.Errorf("rules %+v after %d registry reads; want user unknown, no read", rules, store.registry.byUserID.Load())
		}
	})
	t.Run("a stored decision is answered from the same read", func(t *testing.T) {
		store, e := setup()
		first, err := e.Decide(ctx, validRequest(), outcome(ok))
		if err != nil {
			t.Fatal(err)
		}
		again, err := e.Decide(ctx, validRequest(), outcome(nok))
		if err != nil || again.Result != first.Result || again.RequestID != first.RequestID {
			t.Errorf("repeat = %+v, %v; want the stored %+v", again, err, first)
		}
		if store.combined.Load() != 2 || store.reads.Load() != 0 {
			t.Errorf("reads: %d combined, %d decisions only; want 2, 0", store.combined.Load(), store.reads.Load())
		}
	})
	t.Run("store down: no rule runs", func(t *testing.T) {
		store, e := setup()
		store.fail = domain.Unavailable(errors.New("timeout"), "decision store unavailable")
		ran := false
		_, err := e.Decide(ctx, validRequest(), func(context.Context, ports.VerificationDecisions, ports.ClientFinder) (decision.Outcome, error) {
			ran = true
			return decision.Outcome{}, nil
		})
		if domain.CodeOf(err) != domain.CodeUnavailable || ran {
			t.Errorf("err = %v, rules ran %v; want unavailable before any rule", err, ran)
		}
	})
}

func BenchmarkDecide(b *testing.B) {
	e, _ := newEngine(policy.Default().Decision)
	ctx := context.Background()
	eval := outcome(ok, wait)
	r := validRequest()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.IdentityVerificationID = "iv-" + strconv.Itoa(i)
		if _, err := e.Decide(ctx, r, eval); err != nil {
			b.Fatal(err)
		}
	}
}
