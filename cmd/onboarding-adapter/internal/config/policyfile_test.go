package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/policy"
)

func TestParsePolicyOverridesOnlyWhatIsGiven(t *testing.T) {
	p, err := ParsePolicy([]byte(`
decision:
  approveFrom: 8.5
  waitSupported: false
otp:
  throttleWindow: 10m
  senderId: Banka
  templates:
    ACTIVATION:
      de: "Ihr Code ist {code}."
review:
  retention: 240h
evaluation:
  timeZone: Europe/Prague
`))
	if err != nil {
		t.Fatalf("ParsePolicy: %v", err)
	}
	def := policy.Default()
	if p.Decision.ApproveFrom != 8.5 || p.Decision.WaitSupported || p.Decision.RejectBelow != def.Decision.RejectBelow {
		t.Fatalf("decision = %+v", p.Decision)
	}
	if p.OTP.ThrottleWindow != 10*time.Minute || p.OTP.DedupeWindow != def.OTP.DedupeWindow {
		t.Fatalf("otp windows = %s %s", p.OTP.ThrottleWindow, p.OTP.DedupeWindow)
	}
	if p.OTP.Templates[domain.OTPActivation]["de"] == "" || p.OTP.Templates[domain.OTPActivation]["en"] == "" {
		t.Fatalf("templates not merged with defaults: %v", p.OTP.Templates)
	}
	if p.OTP.SenderID("de") != "Banka" {
		t.Fatalf("sender id = %q", p.OTP.SenderID("de"))
	}
	if p.Review.Retention != 240*time.Hour {
		t.Fatalf("retention = %s", p.Review.Retention)
	}
	if p.Evaluation.TimeZone != "Europe/Prague" || p.Evaluation.MinimumAge != def.Evaluation.MinimumAge {
		t.Fatalf("evaluation = %+v", p.Evaluation)
	}
}

func TestParsePolicyRejectsNamingTheKey(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown key", "decision:\n  approveFom: 7\n", "approveFom"},
		{"unknown section", "decisions: {}\n", "decisions"},
		{"threshold out of range", "decision:\n  rejectBelow: 11\n", "decision.rejectBelow"},
		{"thresholds crossed", "decision:\n  rejectBelow: 6\n  approveFrom: 5\n", "decision.approveFrom"},
		{"fallback", "decision:\n  reviewFallback: WAIT\n", "decision.reviewFallback"},
		{"scheme key", "lookup:\n  schemes: [[clientNumber, email]]\n", "lookup.schemes[0]"},
		{"not found action", "lookup:\n  notFound: ignore\n", "lookup.notFound"},
		{"nationality", "evaluation:\n  nationalityDeny: [cz]\n", "evaluation.nationalityDeny"},
		{"without data", "evaluation:\n  withoutDocumentData: MAYBE\n", "evaluation.withoutDocumentData"},
		{"template without code", "otp:\n  templates:\n    ACTIVATION:\n      en: no code here\n", "otp.templates.ACTIVATION.en"},
		{"template too long", "otp:\n  maxSegments: 1\n  templates:\n    ACTIVATION:\n      en: \"" + strings.Repeat("x", 150) + " {code}\"\n", "otp.templates.ACTIVATION.en"},
		{"unknown otp type", "otp:\n  templates:\n    LOGIN:\n      en: \"{code}\"\n", "LOGIN"},
		{"duration", "otp:\n  dedupeWindow: a minute\n", "dedupeWindow"},
		{"negative window", "otp:\n  throttleWindow: -1m\n", "otp.throttleWindow"},
		{"retention", "review:\n  retention: 1m\n", "review.retention"},
		{"wrong type", "evaluation:\n  minimumAge: eighteen\n", "eighteen"},
		{"time zone", "evaluation:\n  timeZone: Prague\n", "evaluation.timeZone"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePolicy([]byte(tc.yaml))
			if err == nil {
				t.Fatal("ParsePolicy accepted a bad policy")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name %q", err, tc.want)
			}
		})
	}
}

func TestDefaultPolicyYAMLRoundTrips(t *testing.T) {
	b, err := DefaultPolicyYAML()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPolicy(path)
	if err != nil {
		t.Fatalf("LoadPolicy(default yaml): %v\n%s", err, b)
	}
	def := policy.Default()
	if p.Decision != def.Decision || p.OTP.ThrottleWindow != def.OTP.ThrottleWindow || len(p.Lookup.Schemes) != 2 ||
		p.OTP.SenderID("") != def.OTP.SenderID("") {
		t.Fatalf("round trip changed the policy: %+v", p)
	}
	if _, err := LoadPolicy(filepath.Join(t.TempDir(), "missing.yaml")); err == nil ||
		!strings.Contains(err.Error(), "ONBOARDING_POLICY_FILE") {
		t.Fatalf("missing file: %v", err)
	}
}
