package sms_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/sms"
	"github.com/bankkit/onboarding-adapter/domain"
)

func TestTwilioForm(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    func(c *sms.TwilioConfig)
		sender string // SMS.SenderID
		want   url.Values
	}{
		{
			name: "from number; the policy's sender id is not used unless asked",
			cfg:  func(*sms.TwilioConfig) {}, sender: "MyBank",
			want: url.Values{"To": {testPhone}, "Body": {testText}, "From": {twilioFrom}},
		},
		{
			name: "messaging service only",
			cfg:  func(c *sms.TwilioConfig) { c.From, c.MessagingServiceSID = "", "MG0123456789abcdef0123456789abcdef" },
			want: url.Values{"To": {testPhone}, "Body": {testText}, "MessagingServiceSid": {"MG0123456789abcdef0123456789abcdef"}},
		},
		{
			name: "per-language sender id with a messaging service and a validity period",
			cfg: func(c *sms.TwilioConfig) {
				c.UseSenderID, c.MessagingServiceSID, c.ValidityPeriod = true, "MG0123456789abcdef0123456789abcdef", 5*time.Minute
			},
			sender: "MaBanque",
			want: url.Values{"To": {testPhone}, "Body": {testText}, "From": {"MaBanque"},
				"MessagingServiceSid": {"MG0123456789abcdef0123456789abcdef"}, "ValidityPeriod": {"300"}},
		},
		{
			name: "sender id asked for but absent falls back to From",
			cfg:  func(c *sms.TwilioConfig) { c.UseSenderID = true },
			want: url.Values{"To": {testPhone}, "Body": {testText}, "From": {twilioFrom}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := twilioDialect()
			gw := newFakeGateway(t, d.ok)
			cfg := validTwilio()
			cfg.BaseURL = gw.srv.URL
			tc.cfg(&cfg)
			sender, err := sms.NewTwilioSender(cfg, sms.Options{Resilience: fastResilience(), Logger: (&logCapture{}).logger()})
			if err != nil {
				t.Fatal(err)
			}
			msg := testSMS()
			msg.SenderID = tc.sender
			if res, err := sender.SendSMS(context.Background(), msg); err != nil || res.Outcome != domain.OTPSent {
				t.Fatalf("%+v, %v", res, err)
			}
			form, err := url.ParseQuery(string(gw.request(0).body))
			if err != nil {
				t.Fatal(err)
			}
			if form.Encode() != tc.want.Encode() {
				t.Errorf("form %v, want %v", form, tc.want)
			}
		})
	}
}

func TestTwilioAnswers(t *testing.T) {
	for _, tc := range []struct {
		name       string
		reply      reply
		want       domain.OTPOutcome
		wantReason sms.Reason
		wantDetail string
	}{
		{"accepted", reply{status: 201, body: `{"sid":"SMaa","status":"accepted"}`}, domain.OTPSent, sms.ReasonAccepted, "accepted"},
		{"200 sent", reply{status: 200, body: `{"sid":"SMaa","status":"sent"}`}, domain.OTPSent, sms.ReasonAccepted, "sent"},
		{"created failed", reply{status: 201, body: `{"sid":"SMaa","status":"failed","error_code":30007}`},
			domain.OTPFailedPermanent, sms.ReasonRejected, "error 30007"},
		{"unknown status", reply{status: 201, body: `{"sid":"SMaa","status":"teleported"}`},
			domain.OTPFailedTransient, sms.ReasonBadResponse, "unknown message status"},
		{"no sid", reply{status: 201, body: `{"status":"queued"}`}, domain.OTPFailedTransient, sms.ReasonBadResponse, "sid"},
		{"sid echoing the number", reply{status: 201, body: `{"sid":"` + testPhone + `","status":"queued"}`},
			domain.OTPFailedTransient, sms.ReasonBadResponse, "sid"},
		{"huge body", reply{status: 201, body: `{"sid":"SMaa","status":"queued","pad":"` + strings.Repeat("x", 70<<10) + `"}`},
			domain.OTPFailedTransient, sms.ReasonBadResponse, "not a message resource"},
		{"unsubscribed", reply{status: 400, body: `{"code":21610,"message":"Attempt to send to unsubscribed recipient ` + testPhone + `","status":400}`},
			domain.OTPFailedPermanent, sms.ReasonRejected, "unsubscribed"},
		{"unknown 400 code keeps a scrubbed message", reply{status: 400, body: `{"code":21999,"message":"Number ` + testPhone + ` said ` + testCode + `","status":400}`},
			domain.OTPFailedPermanent, sms.ReasonRejected, "twilio error 21999: Number *** said ***"},
		{"from not owned is configuration", reply{status: 400, body: `{"code":21606,"message":"The From phone number ` + twilioFrom + ` is not valid","status":400}`},
			domain.OTPFailedTransient, sms.ReasonConfig, "21606"},
		{"a full sender queue fails everyone, not the number", reply{status: 400, body: `{"code":21611,"message":"This 'From' number has exceeded the maximum number of queued messages","status":400}`},
			domain.OTPFailedTransient, sms.ReasonConfig, "21611"},
		{"throttled code on a 400", reply{status: 400, body: `{"code":20429,"message":"Too Many Requests","status":400}`},
			domain.OTPFailedTransient, sms.ReasonThrottled, "throttled by gateway"},
		{"404 account", reply{status: 404, body: `{"code":20404,"message":"The requested resource was not found","status":404}`},
			domain.OTPFailedTransient, sms.ReasonConfig, "20404"},
		{"400 without a json body", reply{status: 400, body: `Bad Request`}, domain.OTPFailedPermanent, sms.ReasonRejected, "refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fastResilience()
			cfg.MaxAttempts = 1 // the throttled case would otherwise be retried into a success
			gw := newFakeGateway(t, twilioDialect().ok, tc.reply)
			var logs logCapture
			sender := twilioDialect().newSender(t, gw.srv.URL, sms.Options{Resilience: cfg, Logger: logs.logger()})
			res, err := sender.SendSMS(context.Background(), testSMS())
			if res.Outcome != tc.want || !strings.Contains(res.Detail, tc.wantDetail) {
				t.Fatalf("%+v, %v; want %s with %q", res, err, tc.want, tc.wantDetail)
			}
			var se *sms.SendError
			if tc.want != domain.OTPSent && (!errors.As(err, &se) || se.Reason != tc.wantReason) {
				t.Fatalf("error %v, want reason %s", err, tc.wantReason)
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
