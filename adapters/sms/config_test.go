package sms_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/sms"
)

func validTwilio() sms.TwilioConfig {
	return sms.TwilioConfig{AccountSID: twilioSID, AuthToken: twilioToken, From: twilioFrom}
}

func validHTTP() sms.HTTPConfig {
	return sms.HTTPConfig{URL: "https://sms.bank.internal/send"}
}

func TestTwilioConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(c *sms.TwilioConfig)
		want   []string // variables the error must name; none means valid
	}{
		{"minimal", func(*sms.TwilioConfig) {}, nil},
		{"messaging service instead of from", func(c *sms.TwilioConfig) {
			c.From, c.MessagingServiceSID = "", "MG0123456789abcdef0123456789abcdef"
		}, nil},
		{"compatible gateway over http in the cluster", func(c *sms.TwilioConfig) { c.BaseURL = "http://sms-gw.bank:8080/" }, nil},
		{"validity period", func(c *sms.TwilioConfig) { c.ValidityPeriod = 5 * time.Minute }, nil},
		{"nothing", func(c *sms.TwilioConfig) { *c = sms.TwilioConfig{} },
			[]string{sms.EnvTwilioAccountSID, sms.EnvTwilioAuthToken, sms.EnvTwilioFrom}},
		{"account sid with a slash", func(c *sms.TwilioConfig) { c.AccountSID = "AC../x" }, []string{sms.EnvTwilioAccountSID}},
		{"token with a new line", func(c *sms.TwilioConfig) { c.AuthToken = "abc\n" }, []string{sms.EnvTwilioAuthToken}},
		{"no sender", func(c *sms.TwilioConfig) { c.From = "" }, []string{sms.EnvTwilioFrom, sms.EnvTwilioMessagingServiceSID}},
		{"bad service sid", func(c *sms.TwilioConfig) { c.MessagingServiceSID = "MG 1" }, []string{sms.EnvTwilioMessagingServiceSID}},
		{"ftp base url", func(c *sms.TwilioConfig) { c.BaseURL = "ftp://api.twilio.com" }, []string{sms.EnvTwilioBaseURL}},
		{"credentials in base url", func(c *sms.TwilioConfig) { c.BaseURL = "https://u:p@api.twilio.com" }, []string{sms.EnvTwilioBaseURL}},
		{"query in base url", func(c *sms.TwilioConfig) { c.BaseURL = "https://api.twilio.com?x=1" }, []string{sms.EnvTwilioBaseURL}},
		{"validity too long", func(c *sms.TwilioConfig) { c.ValidityPeriod = 11 * time.Hour }, []string{sms.EnvTwilioValidityPeriod}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validTwilio()
			tc.change(&c)
			assertConfigError(t, c.Validate(), tc.want)
			if err := c.Validate(); err != nil && strings.Contains(err.Error(), twilioToken) {
				t.Errorf("the error shows the token: %v", err)
			}
		})
	}
}

func TestHTTPConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(c *sms.HTTPConfig)
		want   []string
	}{
		{"minimal, default template", func(*sms.HTTPConfig) {}, nil},
		{"put, basic auth, statuses, fields", func(c *sms.HTTPConfig) {
			c.Method, c.AuthMode, c.Username, c.Password = "put", "BASIC", "svc", "pw"
			c.SuccessStatuses, c.SuccessField, c.SuccessValue, c.MessageIDField = "200,202-204", "result.ok", "true", "result.id"
		}, nil},
		{"query in the url is allowed", func(c *sms.HTTPConfig) { c.URL += "?tenant=bank" }, nil},
		{"nested template with helpers", func(c *sms.HTTPConfig) {
			c.BodyTemplate = `{"messages":[{"destinations":[{"to":{{json (trimPrefix .To "+")}}}],"text":{{json .Text}},"parts":{{.Segments}}}]}`
		}, nil},
		{"no url", func(c *sms.HTTPConfig) { c.URL = "" }, []string{sms.EnvHTTPURL}},
		{"relative url", func(c *sms.HTTPConfig) { c.URL = "/send" }, []string{sms.EnvHTTPURL}},
		{"credentials in url", func(c *sms.HTTPConfig) { c.URL = "https://u:p@gw/send" }, []string{sms.EnvHTTPURL}},
		{"get", func(c *sms.HTTPConfig) { c.Method = "GET" }, []string{sms.EnvHTTPMethod}},
		{"basic without password", func(c *sms.HTTPConfig) { c.AuthMode, c.Username = "basic", "svc" }, []string{sms.EnvHTTPPassword}},
		{"basic without user", func(c *sms.HTTPConfig) { c.AuthMode, c.Password = "basic", "pw" }, []string{sms.EnvHTTPUsername}},
		{"bearer without token", func(c *sms.HTTPConfig) { c.AuthMode = "bearer" }, []string{sms.EnvHTTPToken}},
		{"bearer token with a space", func(c *sms.HTTPConfig) { c.AuthMode, c.BearerToken = "bearer", "a b" }, []string{sms.EnvHTTPToken}},
		{"unknown auth", func(c *sms.HTTPConfig) { c.AuthMode = "digest" }, []string{sms.EnvHTTPAuth}},
		{"header with a new line", func(c *sms.HTTPConfig) { c.Headers = map[string]string{"X-Key": "a\r\nX-Evil: 1"} }, []string{sms.EnvHTTPHeaders}},
		{"bad header name", func(c *sms.HTTPConfig) { c.Headers = map[string]string{"X Key": "a"} }, []string{sms.EnvHTTPHeaders}},
		{"content-length header", func(c *sms.HTTPConfig) { c.Headers = map[string]string{"content-length": "1"} }, []string{sms.EnvHTTPHeaders}},
		{"authorization header and auth mode", func(c *sms.HTTPConfig) {
			c.AuthMode, c.BearerToken, c.Headers = "bearer", "t", map[string]string{"Authorization": "x"}
		}, []string{sms.EnvHTTPHeaders}},
		{"text not json-escaped", func(c *sms.HTTPConfig) { c.BodyTemplate = `{"to":{{json .To}},"text":"{{.Text}}"}` },
			[]string{sms.EnvHTTPBodyTemplate}},
		{"text missing", func(c *sms.HTTPConfig) { c.BodyTemplate = `{"to":{{json .To}}}` }, []string{sms.EnvHTTPBodyTemplate}},
		{"recipient missing", func(c *sms.HTTPConfig) { c.BodyTemplate = `{"text":{{json .Text}}}` }, []string{sms.EnvHTTPBodyTemplate}},
		{"unknown field", func(c *sms.HTTPConfig) { c.BodyTemplate = `{"to":{{json .Phone}},"text":{{json .Text}}}` },
			[]string{sms.EnvHTTPBodyTemplate}},
		{"template syntax", func(c *sms.HTTPConfig) { c.BodyTemplate = `{"to":{{json .To}` }, []string{sms.EnvHTTPBodyTemplate}},
		{"not json", func(c *sms.HTTPConfig) { c.BodyTemplate = `to={{.To}}&text={{.Text}}` }, []string{sms.EnvHTTPBodyTemplate}},
		{"statuses", func(c *sms.HTTPConfig) { c.SuccessStatuses = "2xx" }, []string{sms.EnvHTTPSuccessStatus}},
		{"inverted range", func(c *sms.HTTPConfig) { c.SuccessStatuses = "299-200" }, []string{sms.EnvHTTPSuccessStatus}},
		{"field without value", func(c *sms.HTTPConfig) { c.SuccessField = "status" }, []string{sms.EnvHTTPSuccessValue}},
		{"value without field", func(c *sms.HTTPConfig) { c.SuccessValue = "0" }, []string{sms.EnvHTTPSuccessValue}},
		{"bad field path", func(c *sms.HTTPConfig) { c.SuccessField, c.SuccessValue = "a..b", "0" }, []string{sms.EnvHTTPSuccessField}},
		{"bad id path", func(c *sms.HTTPConfig) { c.MessageIDField = ".id" }, []string{sms.EnvHTTPMessageIDField}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validHTTP()
			tc.change(&c)
			assertConfigError(t, c.Validate(), tc.want)
		})
	}
}

func TestResilienceAndProviderValidate(t *testing.T) {
	assertConfigError(t, sms.Config{Provider: "smpp"}.Validate(), []string{sms.EnvProvider})
	assertConfigError(t, sms.Config{}.Validate(), nil)
	assertConfigError(t, sms.Config{Provider: "LOG"}.Validate(), nil)
	// Only the chosen provider's section is checked, together with the
	// shared settings.
	assertConfigError(t, sms.Config{Provider: "http", HTTP: validHTTP()}.Validate(), nil)
	assertConfigError(t, sms.Config{Provider: "twilio", HTTP: validHTTP()}.Validate(), []string{sms.EnvTwilioAccountSID})
	assertConfigError(t, sms.Config{Provider: "twilio", Twilio: validTwilio(),
		Resilience: sms.ResilienceConfig{MaxAttempts: -1, BreakerOpen: -time.Second}}.Validate(),
		[]string{sms.EnvMaxAttempts, sms.EnvBreakerOpen})
}

// assertConfigError checks that err names every variable in want, or is
// nil when want is empty.
func assertConfigError(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want one naming %v", want)
	}
	for _, v := range want {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("error %q does not name %s", err, v)
		}
	}
}

func TestParseHeaders(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    map[string]string
		wantErr bool
	}{
		{"", map[string]string{}, false},
		{"X-Api-Key=abc,X-Tenant=bank", map[string]string{"X-Api-Key": "abc", "X-Tenant": "bank"}, false},
		{" X-Sig = a=b= ", map[string]string{"X-Sig": "a=b="}, false},
		{"X-Api-Key", nil, true},
		{"=abc", nil, true},
		{"X Key=abc", nil, true},
	} {
		got, err := sms.ParseHeaders(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("%q: error %v", tc.in, err)
			continue
		}
		if err != nil {
			if !strings.Contains(err.Error(), sms.EnvHTTPHeaders) || strings.Contains(err.Error(), "abc") {
				t.Errorf("%q: error %q must name the variable and no value", tc.in, err)
			}
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%q: %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestConfigsNeverShowSecrets(t *testing.T) {
	tw := validTwilio()
	hc := sms.HTTPConfig{URL: "https://gw.bank/send?api_key=" + webhookAPIKey, AuthMode: "basic", Username: "svc",
		Password: webhookToken, BearerToken: webhookToken, Headers: map[string]string{"X-Api-Key": webhookAPIKey}}
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	logger.Info("config", "twilio", tw, "http", hc)
	out := buf.String() + fmt.Sprintf("%v %+v %s", tw, hc, hc)
	for _, secret := range []string{twilioToken, webhookToken, webhookAPIKey} {
		if strings.Contains(out, secret) {
			t.Errorf("%q shown in %s", secret, out)
		}
	}
	for _, want := range []string{twilioSID, "[redacted]", "X-Api-Key", "https://gw.bank/send", "svc"} {
		if !strings.Contains(out, want) {
			t.Errorf("%q missing from %s", want, out)
		}
	}
}

func TestEnvVars(t *testing.T) {
	vars := sms.EnvVars()
	seen := map[string]bool{}
	secret := map[string]bool{}
	for _, v := range vars {
		if !strings.HasPrefix(v.Name, "ONBOARDING_") || seen[v.Name] || v.Description == "" {
			t.Errorf("bad or repeated entry %+v", v)
		}
		seen[v.Name] = true
		secret[v.Name] = v.Secret
	}
	for _, name := range []string{sms.EnvProvider, sms.EnvTwilioBaseURL, sms.EnvTwilioAccountSID, sms.EnvTwilioAuthToken,
		sms.EnvTwilioFrom, sms.EnvTwilioMessagingServiceSID, sms.EnvHTTPURL, sms.EnvHTTPMethod, sms.EnvHTTPHeaders,
		sms.EnvHTTPAuth, sms.EnvHTTPUsername, sms.EnvHTTPPassword, sms.EnvHTTPToken, sms.EnvHTTPBodyTemplate,
		sms.EnvHTTPSuccessStatus, sms.EnvHTTPSuccessField, sms.EnvHTTPSuccessValue, sms.EnvHTTPMessageIDField,
		sms.EnvAttemptTimeout, sms.EnvMaxAttempts, sms.EnvMaxConcurrency, sms.EnvBreakerFailures, sms.EnvBreakerOpen} {
		if !seen[name] {
			t.Errorf("%s is not listed", name)
		}
	}
	for name, want := range map[string]bool{sms.EnvTwilioAuthToken: true, sms.EnvHTTPPassword: true, sms.EnvHTTPToken: true,
		sms.EnvTwilioAccountSID: false} {
		if secret[name] != want {
			t.Errorf("%s secret = %v, want %v", name, secret[name], want)
		}
	}
	vars[0].Name = "changed"
	if sms.EnvVars()[0].Name == "changed" {
		t.Error("EnvVars returns shared state")
	}
}

func TestNewSenderChoosesProvider(t *testing.T) {
	for _, tc := range []struct {
		cfg      sms.Config
		wantType string
		wantErr  string
	}{
		{sms.Config{}, "*sms.LogSender", ""},
		{sms.Config{Provider: "log"}, "*sms.LogSender", ""},
		{sms.Config{Provider: "twilio", Twilio: validTwilio()}, "*sms.Resilient", ""},
		{sms.Config{Provider: " HTTP ", HTTP: validHTTP()}, "*sms.Resilient", ""},
		{sms.Config{Provider: "twilio"}, "", sms.EnvTwilioAccountSID},
		{sms.Config{Provider: "carrier-pigeon"}, "", sms.EnvProvider},
	} {
		s, err := sms.NewSender(tc.cfg, sms.Options{Logger: slog.New(slog.DiscardHandler)})
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%+v: error %v, want one naming %s", tc.cfg.Provider, err, tc.wantErr)
			}
			continue
		}
		if err != nil || fmt.Sprintf("%T", s) != tc.wantType {
			t.Errorf("%q: %T, %v; want %s", tc.cfg.Provider, s, err, tc.wantType)
		}
		if r, ok := s.(*sms.Resilient); ok && r.Name() != strings.ToLower(strings.TrimSpace(tc.cfg.Provider)) {
			t.Errorf("%q: gateway name %s", tc.cfg.Provider, r.Name())
		}
	}
}
