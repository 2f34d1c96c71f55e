package sms_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/bankkit/onboarding-adapter/adapters/sms"
	"github.com/bankkit/onboarding-adapter/domain"
)

func TestWebhookRequest(t *testing.T) {
	gw := newFakeGateway(t, reply{status: 202, body: ""})
	sender, err := sms.NewHTTPSender(sms.HTTPConfig{URL: gw.srv.URL + "/v1/sms?tenant=bank", Method: "put",
		AuthMode: "basic", Username: "svc", Password: "pw-5ecr3t", SuccessStatuses: "202"},
		sms.Options{Resilience: fastResilience(), Logger: (&logCapture{}).logger()})
	if err != nil {
		t.Fatal(err)
	}
	msg := testSMS()
	msg.Text = "Váš kód je " + testCode + ". \"Nikomu\" jej nesdělujte\\\n<&>"
	msg.Encoding, msg.Segments = domain.MeasureSMS(msg.Text)
	res, err := sender.SendSMS(context.Background(), msg)
	if err != nil || res.Outcome != domain.OTPSent || res.MessageID != "" {
		t.Fatalf("%+v, %v", res, err)
	}
	r := gw.request(0)
	if r.method != http.MethodPut || r.path != "/v1/sms" {
		t.Errorf("request %s %s", r.method, r.path)
	}
	if u, p, ok := (&http.Request{Header: r.header}).BasicAuth(); !ok || u != "svc" || p != "pw-5ecr3t" {
		t.Errorf("basic auth %q %q %v", u, p, ok)
	}
	var body map[string]string
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("default template body is not JSON: %v: %s", err, r.body)
	}
	want := map[string]string{"to": testPhone, "text": msg.Text, "senderId": "MyBank", "reference": msg.Reference}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("body %s = %q, want %q", k, body[k], v)
		}
	}
	if len(body) != len(want) {
		t.Errorf("body %v has extra fields", body)
	}
}

func TestWebhookAnswers(t *testing.T) {
	base := sms.HTTPConfig{SuccessField: "result.status", SuccessValue: "OK", MessageIDField: "result.id"}
	for _, tc := range []struct {
		name       string
		change     func(c *sms.HTTPConfig)
		reply      reply
		want       domain.OTPOutcome
		wantReason sms.Reason
		wantID     string
	}{
		{"ok with id", nil, reply{status: 200, body: `{"result":{"status":"OK","id":"m-1"}}`}, domain.OTPSent, sms.ReasonAccepted, "m-1"},
		{"numeric id", nil, reply{status: 200, body: `{"result":{"status":"OK","id":123456789012}}`}, domain.OTPSent, sms.ReasonAccepted, "123456789012"},
		{"boolean success", func(c *sms.HTTPConfig) { c.SuccessField, c.SuccessValue = "ok", "true" },
			reply{status: 200, body: `{"ok":true}`}, domain.OTPSent, sms.ReasonAccepted, ""},
		{"id pointing at the echoed number is dropped", func(c *sms.HTTPConfig) { c.MessageIDField = "result.to" },
			reply{status: 200, body: `{"result":{"status":"OK","to":"` + testPhone + `"}}`}, domain.OTPSent, sms.ReasonAccepted, ""},
		{"id pointing at the echoed code is dropped", func(c *sms.HTTPConfig) { c.MessageIDField = "result.code" },
			reply{status: 200, body: `{"result":{"status":"OK","code":"` + testCode + `"}}`}, domain.OTPSent, sms.ReasonAccepted, ""},
		{"failure value", nil, reply{status: 200, body: `{"result":{"status":"REJECTED","id":"m-2"}}`},
			domain.OTPFailedPermanent, sms.ReasonRejected, ""},
		{"failure value echoing the code", nil, reply{status: 200, body: `{"result":{"status":"` + testCode + `"}}`},
			domain.OTPFailedPermanent, sms.ReasonRejected, ""},
		{"success field missing", nil, reply{status: 200, body: `{"result":{}}`}, domain.OTPFailedTransient, sms.ReasonBadResponse, ""},
		{"success field is an object", nil, reply{status: 200, body: `{"result":{"status":{"x":1}}}`},
			domain.OTPFailedTransient, sms.ReasonBadResponse, ""},
		{"not json", nil, reply{status: 200, body: `OK`}, domain.OTPFailedTransient, sms.ReasonBadResponse, ""},
		{"huge answer", nil, reply{status: 200, body: `{"result":{"status":"OK"},"pad":"` + strings.Repeat("x", 70<<10) + `"}`},
			domain.OTPFailedTransient, sms.ReasonBadResponse, ""},
		{"2xx outside the success set", func(c *sms.HTTPConfig) { c.SuccessStatuses = "200" },
			reply{status: 202, body: `{"result":{"status":"OK"}}`}, domain.OTPFailedTransient, sms.ReasonBadResponse, ""},
		{"422", nil, reply{status: 422, body: `{"error":"bad number"}`}, domain.OTPFailedPermanent, sms.ReasonRejected, ""},
		{"403", nil, reply{status: 403, body: ``}, domain.OTPFailedTransient, sms.ReasonConfig, ""},
		{"without a success field any success status is sent", func(c *sms.HTTPConfig) { c.SuccessField, c.SuccessValue = "", "" },
			reply{status: 204}, domain.OTPSent, sms.ReasonAccepted, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := newFakeGateway(t, reply{status: 200, body: `{"result":{"status":"OK"}}`}, tc.reply)
			cfg := base
			cfg.URL = gw.srv.URL
			if tc.change != nil {
				tc.change(&cfg)
			}
			var logs logCapture
			sender, err := sms.NewHTTPSender(cfg, sms.Options{Resilience: fastResilience(), Logger: logs.logger()})
			if err != nil {
				t.Fatal(err)
			}
			res, err := sender.SendSMS(context.Background(), testSMS())
			if res.Outcome != tc.want || res.MessageID != tc.wantID {
				t.Fatalf("%+v, %v; want %s with id %q", res, err, tc.want, tc.wantID)
			}
			if sr := reasonOf(err); tc.want != domain.OTPSent && sr != tc.wantReason {
				t.Fatalf("reason %s, want %s", sr, tc.wantReason)
			}
			if gw.count() != 1 {
				t.Fatalf("%d requests, want 1", gw.count())
			}
			errText := ""
			if err != nil {
				errText = err.Error()
			}
			assertNoSecrets(t, logs.String(), errText, res.Detail, res.MessageID)
		})
	}
}

// reasonOf returns the reason of a *SendError, "" otherwise.
func reasonOf(err error) sms.Reason {
	var se *sms.SendError
	if errors.As(err, &se) {
		return se.Reason
	}
	return ""
}
