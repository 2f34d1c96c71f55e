package sms_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/bankkit/onboarding-adapter/adapters/sms"
	"github.com/bankkit/onboarding-adapter/domain"
)

func TestLogSender(t *testing.T) {
	const phone, code = "+420777123456", "83920174"
	for _, tc := range []struct {
		name         string
		msg          domain.SMS
		wantEncoding string
		wantSegments float64
		wantLength   float64
	}{
		{
			name: "GSM-7, measured by the sender",
			msg: domain.SMS{To: phone, Text: "Your activation code is " + code + ". Never share it with anyone.",
				SenderID: "MyBank", Reference: "ref-1"},
			wantEncoding: "GSM-7", wantSegments: 1, wantLength: 61,
		},
		{
			name: "UCS-2, as measured by the service",
			msg: domain.SMS{To: phone, Text: "Váš aktivační kód je " + code + ". Nikomu jej nesdělujte.",
				SenderID: "MyBank", Reference: "ref-2", Encoding: domain.EncodingUCS2, Segments: 1},
			wantEncoding: "UCS-2", wantSegments: 1, wantLength: 53,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			sender := sms.NewLogSender(slog.New(slog.NewJSONHandler(&buf, nil)))
			res, err := sender.SendSMS(context.Background(), tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != domain.OTPSent || !strings.HasPrefix(res.MessageID, "log-") {
				t.Fatalf("result = %+v, want sent with a message id", res)
			}
			out := buf.String()
			for _, secret := range []string{code, phone, phone[1:], "777123456", tc.msg.Text} {
				if strings.Contains(out, secret) {
					t.Fatalf("log contains %q: %s", secret, out)
				}
			}
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatalf("log is not one JSON line: %v: %s", err, out)
			}
			want := map[string]any{
				"level": "INFO", "to": domain.MaskPhone(phone), "sender_id": "MyBank", "encoding": tc.wantEncoding,
				"segments": tc.wantSegments, "length": tc.wantLength, "reference": tc.msg.Reference, "message_id": res.MessageID,
			}
			for k, v := range want {
				if line[k] != v {
					t.Errorf("log %s = %v, want %v", k, line[k], v)
				}
			}
		})
	}
}

func TestLogSenderMessageIDsDiffer(t *testing.T) {
	sender := sms.NewLogSender(slog.New(slog.DiscardHandler))
	seen := map[string]bool{}
	for range 100 {
		res, err := sender.SendSMS(context.Background(), domain.SMS{To: "+447700900123", Text: "x"})
		if err != nil || seen[res.MessageID] {
			t.Fatalf("result %+v, %v: repeated id or error", res, err)
		}
		seen[res.MessageID] = true
	}
}

func TestLogSenderFailures(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		msg  domain.SMS
		want domain.OTPOutcome
	}{
		{"no recipient", context.Background(), domain.SMS{Text: "code 1234"}, domain.OTPFailedPermanent},
		{"cancelled", cancelled, domain.SMS{To: "+420777123456", Text: "code 1234"}, domain.OTPFailedTransient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			sender := sms.NewLogSender(slog.New(slog.NewJSONHandler(&buf, nil)))
			res, err := sender.SendSMS(tc.ctx, tc.msg)
			if err == nil || res.Outcome != tc.want {
				t.Fatalf("result = %+v, %v; want %s with an error", res, err, tc.want)
			}
			if strings.Contains(err.Error(), "1234") || buf.Len() != 0 {
				t.Fatalf("failure leaked the text or logged a send: err %v, log %q", err, buf.String())
			}
		})
	}
}
