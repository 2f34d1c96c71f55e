package domain_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bankkit/onboarding-adapter/domain"
)

func TestCombine(t *testing.T) {
	ok := func(rule string) domain.RuleResult { return domain.RuleResult{Rule: rule, Outcome: domain.ResultOK} }
	nok := func(rule, code string) domain.RuleResult {
		return domain.RuleResult{Rule: rule, Outcome: domain.ResultNOK, Code: code, Detail: rule + " failed"}
	}
	wait := func(rule, code string) domain.RuleResult {
		return domain.RuleResult{Rule: rule, Outcome: domain.ResultWAIT, Code: code}
	}
	tests := []struct {
		name     string
		rules    []domain.RuleResult
		want     domain.Result
		wantRule string // "" when no rule is the reason
		wantCode string
	}{
		{"no rules", nil, domain.ResultOK, "", ""},
		{"all OK", []domain.RuleResult{ok("a"), ok("b")}, domain.ResultOK, "", ""},
		{"one WAIT", []domain.RuleResult{ok("a"), wait("name", domain.ReasonNameSimilar)}, domain.ResultWAIT, "name", domain.ReasonNameSimilar},
		{"NOK beats earlier WAIT", []domain.RuleResult{wait("score", domain.ReasonScoreBorderline), nok("expiry", domain.ReasonDocumentExpired)},
			domain.ResultNOK, "expiry", domain.ReasonDocumentExpired},
		{"NOK beats later WAIT", []domain.RuleResult{nok("age", domain.ReasonUnderage), wait("name", domain.ReasonNameSimilar)},
			domain.ResultNOK, "age", domain.ReasonUnderage},
		{"first NOK wins among NOKs", []domain.RuleResult{ok("a"), nok("expiry", domain.ReasonDocumentExpired), nok("age", domain.ReasonUnderage)},
			domain.ResultNOK, "expiry", domain.ReasonDocumentExpired},
		{"first WAIT wins among WAITs", []domain.RuleResult{wait("name", domain.ReasonNameSimilar), wait("score", domain.ReasonScoreBorderline)},
			domain.ResultWAIT, "name", domain.ReasonNameSimilar},
		{"OK after NOK does not reset", []domain.RuleResult{nok("age", domain.ReasonUnderage), ok("score")}, domain.ResultNOK, "age", domain.ReasonUnderage},
		{"an unknown outcome fails closed", []domain.RuleResult{ok("a"), {Rule: "buggy", Outcome: "MAYBE", Code: "BUGGY"}}, domain.ResultNOK, "buggy", "BUGGY"},
		{"an empty outcome fails closed", []domain.RuleResult{{Rule: "empty"}, wait("name", domain.ReasonNameSimilar)}, domain.ResultNOK, "empty", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, why := domain.Combine(tc.rules)
			if got != tc.want {
				t.Errorf("Combine result = %s, want %s", got, tc.want)
			}
			if why.Rule != tc.wantRule || why.Code != tc.wantCode {
				t.Errorf("Combine reason = %q/%q, want %q/%q", why.Rule, why.Code, tc.wantRule, tc.wantCode)
			}
			if tc.wantRule != "" && why.Outcome != tc.want {
				t.Errorf("reason outcome %s differs from result %s", why.Outcome, tc.want)
			}
		})
	}
}

func TestSeverity(t *testing.T) {
	if !(domain.ResultNOK.Severity() > domain.ResultWAIT.Severity() && domain.ResultWAIT.Severity() > domain.ResultOK.Severity()) {
		t.Errorf("severities NOK=%d WAIT=%d OK=%d are not ordered NOK > WAIT > OK",
			domain.ResultNOK.Severity(), domain.ResultWAIT.Severity(), domain.ResultOK.Severity())
	}
}

func TestReasonCodes(t *testing.T) {
	tests := []struct {
		name  string
		rules []domain.RuleResult
		want  []string
	}{
		{"none", nil, nil},
		{"all OK", []domain.RuleResult{{Rule: "a", Outcome: domain.ResultOK}}, nil},
		{"OK with a code is not a reason", []domain.RuleResult{{Rule: "a", Outcome: domain.ResultOK, Code: "IGNORED"}}, nil},
		{"failing rule without code skipped", []domain.RuleResult{{Rule: "a", Outcome: domain.ResultNOK}}, nil},
		{"in rule order", []domain.RuleResult{
			{Rule: "name", Outcome: domain.ResultWAIT, Code: domain.ReasonNameSimilar},
			{Rule: "score", Outcome: domain.ResultOK},
			{Rule: "expiry", Outcome: domain.ResultNOK, Code: domain.ReasonDocumentExpired},
			{Rule: "age", Outcome: domain.ResultNOK, Code: domain.ReasonUnderage},
		}, []string{domain.ReasonNameSimilar, domain.ReasonDocumentExpired, domain.ReasonUnderage}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := domain.ReasonCodes(tc.rules); !slices.Equal(got, tc.want) {
				t.Errorf("ReasonCodes = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDecisionResultReason(t *testing.T) {
	tests := []struct {
		name       string
		code, text string
		want       string
	}{
		{"plain OK", "", "", ""},
		{"text without code is dropped", "", "stray text", ""},
		{"code only", domain.ReasonUnderage, "", "UNDERAGE"},
		{"code and text", domain.ReasonDocumentExpired, "document expired on 2024-01-31", "DOCUMENT_EXPIRED: document expired on 2024-01-31"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := domain.Decision{Result: domain.ResultNOK, ReasonCode: tc.code, ReasonText: tc.text}
			if got := d.ResultReason(); got != tc.want {
				t.Errorf("ResultReason() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestValidReasonCode(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"UNDERAGE", true},
		{"DOCUMENT_EXPIRED", true},
		{"ERR_42", true},
		{"_", true},
		{"", false},
		{"underage", false},
		{"Document_Expired", false},
		{"DOCUMENT EXPIRED", false},
		{"DOCUMENT-EXPIRED", false},
		{"UNDERAGE: text", false},
		{"ÚŘAD", false},
	}
	for _, tc := range tests {
		if got := domain.ValidReasonCode(tc.in); got != tc.want {
			t.Errorf("ValidReasonCode(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	// Every code the package defines must pass its own check: read from
	// the source, so a code added later is checked without a list to keep.
	codes := reasonCodes(t)
	if len(codes) < 26 {
		t.Fatalf("found %d Reason constants in decision.go, want at least 26: %v", len(codes), codes)
	}
	for name, c := range codes {
		if !domain.ValidReasonCode(c) {
			t.Errorf("defined reason code %s = %q fails ValidReasonCode", name, c)
		}
	}
}

// reasonCodes is every string constant named Reason* in decision.go.
func reasonCodes(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "decision.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if !strings.HasPrefix(name.Name, "Reason") || i >= len(vs.Values) {
				continue
			}
			if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				codes[name.Name] = v
			}
		}
		return true
	})
	return codes
}

func TestEnumsValid(t *testing.T) {
	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"result OK", domain.ResultOK.Valid(), true},
		{"result NOK", domain.ResultNOK.Valid(), true},
		{"result WAIT", domain.ResultWAIT.Valid(), true},
		{"result empty", domain.Result("").Valid(), false},
		{"result lower case", domain.Result("ok").Valid(), false},
		{"result PENDING", domain.Result("PENDING").Valid(), false},
		{"kind approval", domain.KindApproval.Valid(), true},
		{"kind evaluation", domain.KindEvaluation.Valid(), true},
		{"kind empty", domain.DecisionKind("").Valid(), false},
		{"kind Approval", domain.DecisionKind("Approval").Valid(), false},
		{"review OPEN", domain.ReviewOpen.Valid(), true},
		{"review CLAIMED", domain.ReviewClaimed.Valid(), true},
		{"review RESOLVED", domain.ReviewResolved.Valid(), true},
		{"review empty", domain.ReviewStatus("").Valid(), false},
		{"review open", domain.ReviewStatus("open").Valid(), false},
		{"client ACTIVE", domain.StatusActive.Valid(), true},
		{"client BLOCKED", domain.StatusBlocked.Valid(), true},
		{"client CLOSED", domain.StatusClosed.Valid(), true},
		{"client PROSPECT", domain.StatusProspect.Valid(), true},
		{"client empty", domain.ClientStatus("").Valid(), false},
		{"client DELETED", domain.ClientStatus("DELETED").Valid(), false},
		{"eligible ACTIVE", domain.StatusActive.Eligible(), true},
		{"eligible PROSPECT", domain.StatusProspect.Eligible(), true},
		{"eligible BLOCKED", domain.StatusBlocked.Eligible(), false},
		{"eligible CLOSED", domain.StatusClosed.Eligible(), false},
		{"eligible unknown", domain.ClientStatus("").Eligible(), false},
		{"otp ACTIVATION", domain.OTPActivation.Valid(), true},
		{"otp USER_VERIFICATION", domain.OTPUserVerification.Valid(), true},
		{"otp empty", domain.OTPType("").Valid(), false},
		{"otp activation", domain.OTPType("activation").Valid(), false},
		{"outcome sent delivered", domain.OTPSent.Delivered(), true},
		{"outcome permanent", domain.OTPFailedPermanent.Delivered(), false},
		{"outcome transient", domain.OTPFailedTransient.Delivered(), false},
		{"outcome throttled", domain.OTPThrottled.Delivered(), false},
		{"outcome pending", domain.OTPPending.Delivered(), false},
		{"outcome empty", domain.OTPOutcome("").Delivered(), false},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}
