package sms_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/sms"
	"github.com/bankkit/onboarding-adapter/domain"
)

// The message every gateway test sends, and the secrets that must never
// show up in a log line, a returned error or a result detail.
const (
	testPhone     = "+420777123456"
	testCode      = "83920174"
	testText      = "Your activation code is " + testCode + ". Never share it."
	twilioSID     = "AC0123456789abcdef0123456789abcdef"
	twilioToken   = "tw-auth-token-5ecr3t"
	twilioFrom    = "+15005550006"
	webhookToken  = "bearer-t0ken-5ecr3t"
	webhookAPIKey = "api-key-5ecr3t"
)

// secrets are the strings checked by assertNoSecrets.
var secrets = []string{testCode, testPhone, testPhone[1:], "777123456", "777 123 456", testText,
	twilioToken, webhookToken, webhookAPIKey}

// testSMS is the message the domain would hand over.
func testSMS() domain.SMS {
	enc, seg := domain.MeasureSMS(testText)
	return domain.SMS{To: testPhone, Text: testText, SenderID: "MyBank", Reference: "ref-0123456789ab",
		Encoding: enc, Segments: seg}
}

// reply is one scripted answer of the fake gateway.
type reply struct {
	status     int
	body       string
	retryAfter string
	hang       bool          // never answer; return when the client gives up
	reset      bool          // read the request, then drop the connection
	block      chan struct{} // answer ok only once closed
}

// recorded is one request the fake gateway received.
type recorded struct {
	method string
	path   string
	header http.Header
	body   []byte
}

// fakeGateway is an httptest gateway answering from a script and then
// with the fallback, counting every request that reaches it.
type fakeGateway struct {
	srv      *httptest.Server
	mu       sync.Mutex
	script   []reply
	fallback reply
	reqs     []recorded
	inFlight chan struct{} // receives one value per request received
}

func newFakeGateway(t *testing.T, fallback reply, script ...reply) *fakeGateway {
	t.Helper()
	f := &fakeGateway{script: script, fallback: fallback, inFlight: make(chan struct{}, 100)}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGateway) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	n := len(f.reqs)
	f.reqs = append(f.reqs, recorded{method: r.Method, path: r.URL.Path, header: r.Header.Clone(), body: body})
	rep := f.fallback
	if n < len(f.script) {
		rep = f.script[n]
	}
	f.mu.Unlock()
	f.inFlight <- struct{}{}
	switch {
	case rep.hang:
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return
	case rep.reset:
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = conn.Close()
		}
		return
	case rep.block != nil:
		<-rep.block
	}
	if rep.retryAfter != "" {
		w.Header().Set("Retry-After", rep.retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

// count returns how many requests reached the gateway.
func (f *fakeGateway) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

// setFallback changes the answer after the script.
func (f *fakeGateway) setFallback(r reply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fallback = r
}

// request returns the i-th request received.
func (f *fakeGateway) request(i int) recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reqs[i]
}

// dialect is what differs between the Twilio and the webhook tests: how
// to build the sender, and the gateway's answers in its own language.
type dialect struct {
	name          string
	newSender     func(t testing.TB, url string, opts sms.Options) *sms.Resilient
	ok            reply
	throttled     reply
	serverError   reply
	unavailable   reply
	invalidNumber reply
	failureField  *reply // a 200 that means failure; nil when the dialect has none
	checkRequest  func(t *testing.T, r recorded)
}

func dialects() []dialect {
	return []dialect{twilioDialect(), webhookDialect()}
}

func twilioDialect() dialect {
	return dialect{
		name: "twilio",
		newSender: func(t testing.TB, url string, opts sms.Options) *sms.Resilient {
			t.Helper()
			s, err := sms.NewTwilioSender(sms.TwilioConfig{BaseURL: url + "/", AccountSID: twilioSID,
				AuthToken: twilioToken, From: twilioFrom}, opts)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		// Twilio echoes the recipient and the body on success.
		ok: reply{status: 201, body: `{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued","to":"` + testPhone +
			`","body":"` + testText + `","error_code":null}`},
		throttled:   reply{status: 429, body: `{"code":20429,"message":"Too Many Requests","status":429}`},
		serverError: reply{status: 500, body: `{"code":20500,"message":"Internal Server Error","status":500}`},
		unavailable: reply{status: 503, body: `{"code":20503,"message":"Service Unavailable","status":503}`},
		invalidNumber: reply{status: 400, body: `{"code":21211,"message":"The 'To' number ` + testPhone +
			` is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}`},
		checkRequest: func(t *testing.T, r recorded) {
			t.Helper()
			if r.method != http.MethodPost || r.path != "/2010-04-01/Accounts/"+twilioSID+"/Messages.json" {
				t.Errorf("request %s %s", r.method, r.path)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
				t.Errorf("content type %q", ct)
			}
			req := &http.Request{Header: r.header}
			if u, p, ok := req.BasicAuth(); !ok || u != twilioSID || p != twilioToken {
				t.Errorf("basic auth %q %q %v", u, p, ok)
			}
			form, err := url.ParseQuery(string(r.body))
			if err != nil {
				t.Fatal(err)
			}
			want := url.Values{"To": {testPhone}, "Body": {testText}, "From": {twilioFrom}}
			if len(form) != len(want) {
				t.Errorf("form %v, want %v", form, want)
			}
			for k, v := range want {
				if form.Get(k) != v[0] {
					t.Errorf("form %s = %q, want %q", k, form.Get(k), v[0])
				}
			}
		},
	}
}

func webhookDialect() dialect {
	failure := reply{status: 200, body: `{"message-count":"1","messages":[{"to":"` + testPhone[1:] +
		`","status":"3","error-text":"Invalid to ` + testPhone[1:] + ` for text ` + testText + `"}]}`}
	return dialect{
		name: "http",
		newSender: func(t testing.TB, url string, opts sms.Options) *sms.Resilient {
			t.Helper()
			s, err := sms.NewHTTPSender(sms.HTTPConfig{
				URL:      url + "/sms",
				Headers:  map[string]string{"X-Api-Key": webhookAPIKey, "X-Tenant": "bank"},
				AuthMode: sms.AuthBearer, BearerToken: webhookToken,
				BodyTemplate: `{"from":{{json .SenderID}},"to":{{json (trimPrefix .To "+")}},"text":{{json .Text}},` +
					`"type":{{if eq .Encoding "UCS-2"}}"unicode"{{else}}"text"{{end}},"client-ref":{{json .Reference}}}`,
				SuccessField: "messages.0.status", SuccessValue: "0", MessageIDField: "messages.0.message-id",
			}, opts)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		// Like Vonage: 200 on success and failure, the status inside.
		ok: reply{status: 200, body: `{"message-count":"1","messages":[{"to":"` + testPhone[1:] +
			`","message-id":"0A0000000123ABCD1","status":"0"}]}`},
		throttled:     reply{status: 429, body: `{"error":"slow down"}`},
		serverError:   reply{status: 500, body: `{"error":"boom for ` + testPhone + `"}`},
		unavailable:   reply{status: 503, body: `{"error":"maintenance"}`},
		invalidNumber: reply{status: 400, body: `{"error":"invalid number ` + testPhone + `"}`},
		failureField:  &failure,
		checkRequest: func(t *testing.T, r recorded) {
			t.Helper()
			if r.method != http.MethodPost || r.path != "/sms" {
				t.Errorf("request %s %s", r.method, r.path)
			}
			for k, v := range map[string]string{"Authorization": "Bearer " + webhookToken, "X-Api-Key": webhookAPIKey,
				"X-Tenant": "bank", "Content-Type": "application/json"} {
				if got := r.header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			var body map[string]string
			if err := json.Unmarshal(r.body, &body); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			want := map[string]string{"from": "MyBank", "to": testPhone[1:], "text": testText, "type": "text",
				"client-ref": "ref-0123456789ab"}
			for k, v := range want {
				if body[k] != v {
					t.Errorf("body %s = %q, want %q", k, body[k], v)
				}
			}
		},
	}
}

// logCapture is a JSON logger at debug level writing to a buffer.
type logCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *logCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

func (c *logCapture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

func (c *logCapture) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(c, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// assertNoSecrets fails if any secret appears in the logs or the texts.
func assertNoSecrets(t *testing.T, logs string, texts ...string) {
	t.Helper()
	all := append([]string{logs}, texts...)
	for _, s := range all {
		for _, secret := range secrets {
			if strings.Contains(s, secret) {
				t.Errorf("%q leaked into %q", secret, s)
			}
		}
	}
}

// scenarioAttemptTimeout is fastResilience's attempt time-out: long
// enough that an attempt the fake gateway answers is never cut off, even
// with the scenarios running in parallel under -race on a loaded 2-core
// machine (at 300 ms one could be: a spurious timeout, not resent, fails the
// scenario).
const scenarioAttemptTimeout = 2 * time.Second

// fastResilience keeps the scenario tests quick: short backoff, a breaker
// that does not trip unless a test wants it to.
func fastResilience() sms.ResilienceConfig {
	return sms.ResilienceConfig{AttemptTimeout: scenarioAttemptTimeout, MaxAttempts: 3, MaxConcurrency: 8,
		BreakerFailures: 100, BreakerOpen: time.Minute, BackoffBase: 5 * time.Millisecond,
		BackoffMax: 20 * time.Millisecond, MaxRetryAfter: 2 * time.Second, MinAttemptTime: 50 * time.Millisecond}
}

// closedAddr returns an address nothing listens on, so dialing it is
// refused by the kernel.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// refusingFirstDial returns a client whose first connection attempt goes
// to a closed port (connection refused) and later ones to the gateway,
// and a counter of dials.
func refusingFirstDial(t *testing.T) (*http.Client, func() int) {
	t.Helper()
	closed := closedAddr(t)
	var mu sync.Mutex
	dials := 0
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dials++
		first := dials == 1
		mu.Unlock()
		if first {
			addr = closed
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}, func() int { mu.Lock(); defer mu.Unlock(); return dials }
}
