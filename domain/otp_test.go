package domain_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/bankkit/onboarding-adapter/domain"
)

func TestSMSLogValue(t *testing.T) {
	tests := []struct {
		name     string
		sms      domain.SMS
		wantTo   string
		mustHide []string
	}{
		{"czech number", domain.SMS{
			To: "+420777123456", Text: "Your activation code is 482915.", SenderID: "MyBank",
			Reference: "ref-1", Encoding: domain.EncodingGSM7, Segments: 1,
		}, "+420****56", []string{"482915", "activation code", "+420777123456", "777123"}},
		{"short number", domain.SMS{
			To: "+12345678", Text: "Váš kód je 1234", Reference: "ref-2", Encoding: domain.EncodingUCS2, Segments: 1,
		}, "+****78", []string{"kód je 1234", "+12345678", "3456"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("sms", "sms", tc.sms)
			out := buf.String()
			for _, want := range []string{
				`"to":"` + tc.wantTo + `"`, `"ref":"` + tc.sms.Reference + `"`,
				`"encoding":"` + string(tc.sms.Encoding) + `"`, `"segments":1`,
			} {
				if !strings.Contains(out, want) {
					t.Errorf("log %s lacks %s", out, want)
				}
			}
			for _, secret := range tc.mustHide {
				if strings.Contains(out, secret) {
					t.Errorf("log %s reveals %q", out, secret)
				}
			}
		})
	}
}
