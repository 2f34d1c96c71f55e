package approval_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/approval"
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
)

// jpeg is the smallest byte string the image sniffer takes for a JPEG.
var jpeg = []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10}

type fixture struct {
	svc   ports.ApprovalService
	store *memory.DecisionStore
}

func newFixture(t testing.TB, p policy.Decision) fixture {
	t.Helper()
	store := memory.NewDecisionStore()
	reg := memory.NewClientRegistry(memory.NewSequenceIDs("u"), jana, blocked)
	return fixture{svc: approval.New(store, reg, memory.NewFakeClock(now), memory.NewSequenceIDs("case"), p), store: store}
}

func score(f float64) *float64 { return &f }

func request() ports.ApprovalRequest {
	frame, err := domain.NewImage("FRAME", jpeg)
	if err != nil {
		panic(err)
	}
	return ports.ApprovalRequest{
		ProcessID: "p-1", ProcessType: "ONBOARDING", UserID: "u-jana", IdentityVerificationID: "iv-1",
		Provider: "iProov", Status: "SUCCESS", Score: score(8.5), Frame: &frame,
		Meta: domain.RequestMeta{CorrelationID: "corr-1", RequestID: "req-1"},
	}
}

// storeEvaluation records an evaluation decision as the evaluation service
// would have.
func storeEvaluation(t *testing.T, s *memory.DecisionStore, iv string, res domain.Result, code string) {
	t.Helper()
	d := domain.Decision{Kind: domain.KindEvaluation, ProcessID: "p-1", IdentityVerificationID: iv, UserID: "u-jana",
		Result: res, ReasonCode: code, DecidedAt: now}
	var rc *domain.ReviewCase
	if res == domain.ResultWAIT {
		rc = &domain.ReviewCase{ID: "eval-case-" + iv, Status: domain.ReviewOpen, Answered: res}
	}
	if _, _, err := s.SaveDecision(context.Background(), d, rc); err != nil {
		t.Fatal(err)
	}
}

func TestApprove(t *testing.T) {
	tests := []struct {
		name       string
		mutate     func(*ports.ApprovalRequest)
		evaluation domain.Result // evaluation decision stored for iv-1 first ("" for none)
		wantResult domain.Result
		wantCode   string
	}{
		{"all good", func(*ports.ApprovalRequest) {}, "", domain.ResultOK, ""},
		{"verification failed", func(r *ports.ApprovalRequest) { r.Status, r.Score = "FAILURE", nil }, "", domain.ResultNOK, domain.ReasonVerificationFailed},
		{"failure beats unknown user", func(r *ports.ApprovalRequest) { r.Status, r.UserID = "FAILURE", "u-nobody" }, "", domain.ResultNOK, domain.ReasonVerificationFailed},
		{"unknown user", func(r *ports.ApprovalRequest) { r.UserID = "u-nobody" }, "", domain.ResultNOK, domain.ReasonUserUnknown},
		{"blocked user", func(r *ports.ApprovalRequest) { r.UserID = "u-blocked" }, "", domain.ResultNOK, domain.ReasonUserNotEligible},
		{"score 3.99", func(r *ports.ApprovalRequest) { r.Score = score(3.99) }, "", domain.ResultNOK, domain.ReasonScoreTooLow},
		{"score 4.0", func(r *ports.ApprovalRequest) { r.Score = score(4.0) }, "", domain.ResultWAIT, domain.ReasonScoreBorderline},
		{"score 6.99", func(r *ports.ApprovalRequest) { r.Score = score(6.99) }, "", domain.ResultWAIT, domain.ReasonScoreBorderline},
		{"score 7.0", func(r *ports.ApprovalRequest) { r.Score = score(7.0) }, "", domain.ResultOK, ""},
		{"evaluation NOK", func(*ports.ApprovalRequest) {}, domain.ResultNOK, domain.ResultNOK, domain.ReasonEvaluationRejected},
		{"evaluation WAIT", func(*ports.ApprovalRequest) {}, domain.ResultWAIT, domain.ResultWAIT, domain.ReasonEvaluationPending},
		{"evaluation OK", func(*ports.ApprovalRequest) {}, domain.ResultOK, domain.ResultOK, ""},
		{"evaluation NOK beats borderline score", func(r *ports.ApprovalRequest) { r.Score = score(5) }, domain.ResultNOK, domain.ResultNOK, domain.ReasonEvaluationRejected},
		{"evaluation of another verification does not bind", func(r *ports.ApprovalRequest) { r.IdentityVerificationID = "iv-2" }, domain.ResultNOK, domain.ResultOK, ""},
		{"no frame", func(r *ports.ApprovalRequest) { r.Frame = nil }, "", domain.ResultOK, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, policy.Default().Decision)
			if tc.evaluation != "" {
				storeEvaluation(t, f.store, "iv-1", tc.evaluation, "DOCUMENT_EXPIRED")
			}
			r := request()
			tc.mutate(&r)
			d, err := f.svc.Approve(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			if d.Result != tc.wantResult || d.ReasonCode != tc.wantCode {
				t.Errorf("Approve = %s %q (%s), want %s %q", d.Result, d.ReasonCode, d.ReasonText, tc.wantResult, tc.wantCode)
			}
			if d.Kind != domain.KindApproval || len(d.Rules) == 0 {
				t.Errorf("kind %s, rules %v", d.Kind, d.Rules)
			}
			if (d.ReviewCaseID != "") != (tc.wantResult == domain.ResultWAIT) {
				t.Errorf("review case %q for result %s", d.ReviewCaseID, d.Result)
			}
			stored, err := f.store.Decision(context.Background(), domain.KindApproval, r.ProcessID, r.IdentityVerificationID)
			if err != nil || stored.Result != d.Result {
				t.Errorf("stored = %+v, %v", stored, err)
			}
		})
	}
}

func TestApproveValidation(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(*ports.ApprovalRequest)
		wantField string
		wantMsg   string
	}{
		{"no processId", func(r *ports.ApprovalRequest) { r.ProcessID = "" }, "processId", "is required"},
		{"no identityVerificationId", func(r *ports.ApprovalRequest) { r.IdentityVerificationID = "" }, "identityVerificationId", "is required"},
		{"no userId", func(r *ports.ApprovalRequest) { r.UserID = "" }, "userId", "is required"},
		{"bad status", func(r *ports.ApprovalRequest) { r.Status = "OK" }, "status", "must be SUCCESS or FAILURE"},
		{"score missing on success", func(r *ports.ApprovalRequest) { r.Score = nil }, "score", "is required"},
		{"score out of range", func(r *ports.ApprovalRequest) { r.Score = score(11) }, "score", "must be a number between 0 and 10"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, policy.Default().Decision)
			r := request()
			tc.mutate(&r)
			_, err := f.svc.Approve(context.Background(), r)
			de, ok := domain.AsError(err)
			if !ok || de.Code != domain.CodeInvalid || de.Field != tc.wantField || de.Message != tc.wantMsg {
				t.Fatalf("err = %v, want invalid %s %q", err, tc.wantField, tc.wantMsg)
			}
			cases, _ := f.store.ListReviewCases(context.Background(), ports.ReviewFilter{})
			if _, err := f.store.Decision(context.Background(), domain.KindApproval, r.ProcessID, r.IdentityVerificationID); !domain.IsNotFound(err) || len(cases) != 0 {
				t.Error("an invalid request was stored")
			}
		})
	}
}

func TestApproveFrameAndEvidence(t *testing.T) {
	for _, keep := range []bool{true, false} {
		t.Run("keep="+strconv.FormatBool(keep), func(t *testing.T) {
			p := policy.Default().Decision
			p.KeepEvidence = keep
			f := newFixture(t, p)
			r := request()
			r.Score = score(5) // WAIT: opens a case
			d, err := f.svc.Approve(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Images) != 1 || d.Images[0] != r.Frame.Digest() {
				t.Errorf("images = %+v, want the frame digest", d.Images)
			}
			c, err := f.store.ReviewCase(context.Background(), d.ReviewCaseID)
			if err != nil {
				t.Fatal(err)
			}
			if gotFrame := string(c.Evidence.Frame) == string(jpeg); gotFrame != keep {
				t.Errorf("frame kept = %v, want %v", gotFrame, keep)
			}
			if gotReg := c.Evidence.Registry != nil && c.Evidence.Registry.UserID == "u-jana"; gotReg != keep {
				t.Errorf("registry record kept = %v, want %v", gotReg, keep)
			}
		})
	}
}

func TestApproveIsIdempotent(t *testing.T) {
	f := newFixture(t, policy.Default().Decision)
	ctx := context.Background()
	r := request()
	r.Score = score(2)
	first, err := f.svc.Approve(ctx, r)
	if err != nil || first.Result != domain.ResultNOK {
		t.Fatalf("first = %+v, %v", first, err)
	}
	r.Score, r.Meta.RequestID = score(9.9), "req-2"
	second, err := f.svc.Approve(ctx, r)
	if err != nil || second.Result != domain.ResultNOK || second.ReasonCode != domain.ReasonScoreTooLow || second.RequestID != "req-1" {
		t.Errorf("second = %+v, %v; want the stored NOK", second, err)
	}
}

func TestApproveReviewFallbackAndResolution(t *testing.T) {
	ctx := context.Background()
	t.Run("WAIT off answers NOK and still opens a case", func(t *testing.T) {
		p := policy.Default().Decision
		p.WaitSupported = false
		f := newFixture(t, p)
		r := request()
		r.Score = score(5)
		d, err := f.svc.Approve(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if d.Result != domain.ResultNOK || d.ReasonCode != domain.ReasonReviewFallback || d.ReviewCaseID == "" {
			t.Fatalf("decision = %+v, want NOK REVIEW_FALLBACK with a case", d)
		}
		c, err := f.store.ReviewCase(ctx, d.ReviewCaseID)
		if err != nil || c.Status != domain.ReviewOpen || c.Answered != domain.ResultNOK {
			t.Errorf("case = %+v, %v", c, err)
		}
	})
	t.Run("WAIT stays until resolved, then the resolution is answered", func(t *testing.T) {
		f := newFixture(t, policy.Default().Decision)
		r := request()
		r.Score = score(5)
		d, err := f.svc.Approve(ctx, r)
		if err != nil || d.Result != domain.ResultWAIT {
			t.Fatalf("first = %+v, %v", d, err)
		}
		if again, _ := f.svc.Approve(ctx, r); again.Result != domain.ResultWAIT {
			t.Fatalf("re-sent = %s, want WAIT until resolved", again.Result)
		}
		if _, err := f.store.ResolveReviewCase(ctx, ports.ReviewResolution{CaseID: d.ReviewCaseID, Result: domain.ResultOK, Reason: "face matches", Reviewer: "alice", At: now}); err != nil {
			t.Fatal(err)
		}
		if after, _ := f.svc.Approve(ctx, r); after.Result != domain.ResultOK {
			t.Errorf("after resolution = %s, want OK", after.Result)
		}
	})
}

// downRegistry answers nothing.
type downRegistry struct{ ports.ClientFinder }

func (downRegistry) ClientByUserID(context.Context, string) (domain.Client, error) {
	return domain.Client{}, domain.Unavailable(errors.New("dial tcp: refused"), "registry unavailable")
}

func TestApproveRegistryDown(t *testing.T) {
	store := memory.NewDecisionStore()
	svc := approval.New(store, downRegistry{}, memory.NewFakeClock(now), memory.NewSequenceIDs("case"), policy.Default().Decision)
	_, err := svc.Approve(context.Background(), request())
	if domain.CodeOf(err) != domain.CodeUnavailable {
		t.Fatalf("err = %v, want unavailable", err)
	}
	if _, err := store.Decision(context.Background(), domain.KindApproval, "p-1", "iv-1"); !domain.IsNotFound(err) {
		t.Error("a decision was stored without the registry's answer")
	}
	// A FAILURE needs no registry and is still decided.
	r := request()
	r.Status = "FAILURE"
	if d, err := svc.Approve(context.Background(), r); err != nil || d.Result != domain.ResultNOK {
		t.Errorf("FAILURE with registry down = %+v, %v", d, err)
	}
}

func BenchmarkApprove(b *testing.B) {
	f := newFixture(b, policy.Default().Decision)
	ctx := context.Background()
	r := request()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.IdentityVerificationID = "iv-" + strconv.Itoa(i)
		if _, err := f.svc.Approve(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}
