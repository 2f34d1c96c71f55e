package faults

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/test/testkit"
)

// apiRoutes are the seven routes with a body each accepts.
var apiRoutes = []struct{ path, body string }{
	{"/user/lookup", `{"processId":"sec","identification":{"clientNumber":"1000001","birthDate":"1985-04-12"}}`},
	{"/client/approve", `{"processId":"sec","userId":"u-1000001","identityVerificationId":"iv-sec","status":"SUCCESS","score":8.5}`},
	{"/client/evaluate", `{"processId":"sec","userId":"u-1000001","identityVerificationId":"iv-sec","verificationId":"v-sec"}`},
	{"/otp/send", `{"processId":"sec","userId":"u-1000001","language":"en","otpCode":"24681357","otpType":"ACTIVATION"}`},
	{"/consent/storage", `{"processId":"sec","userId":"u-1000001","consentType":"GDPR","approved":true}`},
	{"/consent/text", `{"processId":"sec","consentType":"GDPR","language":"en"}`},
	{"/process/event", `{"processId":"sec","type":"FINISHED"}`},
}

// TestBasicAuthEveryRoute configures two credential pairs (a rotation) on
// the binary: on every route, a missing, malformed, wrong-user,
// wrong-password, crossed-pair or other-scheme Authorization gets the very
// same 401 (status, body, WWW-Authenticate), so nothing tells which part
// was wrong; either right pair gets 200. The admin listener serves none of
// the routes, with or without the credentials, and the API listener serves
// none of the admin paths.
func TestBasicAuthEveryRoute(t *testing.T) {
	t.Parallel()
	const (
		user1, pass1 = "onboarding-server", "current-passw0rd-1234"
		user2, pass2 = "onboarding-server-next", "next-passw0rd-5678"
	)
	svc := startService(t, map[string]string{
		"ONBOARDING_BASIC_AUTH_USERNAME":      user1,
		"ONBOARDING_BASIC_AUTH_PASSWORD":      pass1,
		"ONBOARDING_BASIC_AUTH_NEXT_USERNAME": user2,
		"ONBOARDING_BASIC_AUTH_NEXT_PASSWORD": pass2,
	})
	wrong := map[string]string{
		"missing":        "",
		"not base64":     "Basic !!!",
		"no colon":       "Basic b25ib2FyZGluZy1zZXJ2ZXI=",
		"empty":          "Basic ",
		"wrong user":     testkit.Basic("someone", pass1),
		"wrong password": testkit.Basic(user1, "wrong-passw0rd-1234"),
		"crossed pairs":  testkit.Basic(user2, pass1),
		"case of user":   testkit.Basic(strings.ToUpper(user1), pass1),
		"bearer":         "Bearer " + pass1,
	}
	var first *testkit.Reply
	for _, rt := range apiRoutes {
		for name, auth := range wrong {
			r := testkit.Call(t, svc.API+rt.path, rt.body, map[string]string{"Authorization": auth})
			if r.Status != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") != `Basic realm="onboarding-adapter", charset="UTF-8"` {
				t.Errorf("%s %s: %d %q %s", rt.path, name, r.Status, r.Header.Get("WWW-Authenticate"), r.Raw)
			}
			if first == nil {
				first = &r
			} else if r.Raw != first.Raw {
				t.Errorf("%s %s: 401 body %q differs from %q", rt.path, name, r.Raw, first.Raw)
			}
			checkNoLeak(t, rt.path+" "+name, r.Header, r.Raw)
		}
		for i, auth := range []string{testkit.Basic(user1, pass1), testkit.Basic(user2, pass2)} {
			if r := testkit.Call(t, svc.API+rt.path, rt.body, map[string]string{"Authorization": auth}); r.Status != http.StatusOK {
				t.Errorf("%s with pair %d: %d %s", rt.path, i+1, r.Status, r.Raw)
			}
		}
		// The admin listener never serves the API.
		r := testkit.Call(t, svc.Admin+rt.path, rt.body, map[string]string{"Authorization": testkit.Basic(user1, pass1)})
		if r.Status != http.StatusNotFound {
			t.Errorf("admin listener, POST %s: %d %s, want 404", rt.path, r.Status, r.Raw)
		}
	}
	// The API listener never serves the admin paths.
	for _, p := range []string{"/metrics", "/readyz", "/livez", "/openapi.yaml", "/review/", "/admin/api/review/cases", "/debug/pprof/"} {
		for _, auth := range []string{"", testkit.Basic(user1, pass1)} {
			req, _ := http.NewRequest(http.MethodGet, svc.API+p, nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusNotFound {
				t.Errorf("API listener GET %s (auth %v): %d %s", p, auth != "", resp.StatusCode, body)
			}
			checkNoLeak(t, "GET "+p, resp.Header, string(body))
		}
	}
	// The passwords never reach the log.
	for _, secret := range []string{pass1, pass2} {
		if strings.Contains(svc.Logs.String(), secret) {
			t.Errorf("the logs contain a password")
		}
	}
}

// TestSlowHeadersCutOff is a slowloris client: it opens a connection to
// the API and sends its request headers one byte every 100 ms. The server
// closes the connection once its 2 s ReadHeaderTimeout passes, long before
// the headers are complete, and the admin listener does the same.
func TestSlowHeadersCutOff(t *testing.T) {
	t.Parallel()
	svc := startService(t, nil)
	for _, target := range []string{svc.APIAddr, strings.TrimPrefix(svc.Admin, "http://")} {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", target)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			closed := make(chan time.Duration, 1)
			start := time.Now()
			go func() {
				// The server's close ends this read (EOF or reset); it may
				// first send a 408, which is read and ignored.
				_, _ = io.Copy(io.Discard, bufio.NewReader(conn))
				closed <- time.Since(start)
			}()
			request := "POST /user/lookup HTTP/1.1\r\nHost: onboarding\r\nContent-Type: application/json\r\nX-Slow: " + strings.Repeat("a", 200)
			sent := 0
			for sent < len(request) {
				select {
				case took := <-closed:
					t.Logf("cut off after %v and %d header bytes", took, sent)
					// Upper bound 3x the time-out: a loaded CI machine can be
					// late to close and to report it; a server without the
					// time-out would take the whole ~30 s of headers.
					if took < 1500*time.Millisecond || took > 6*time.Second {
						t.Errorf("cut off after %v, want about the 2s ReadHeaderTimeout", took)
					}
					return
				case <-time.After(100 * time.Millisecond):
				}
				if _, err := conn.Write([]byte{request[sent]}); err != nil {
					if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
						break
					}
				}
				sent++
			}
			t.Fatalf("the server kept the connection open for %v of slow headers", time.Since(start))
		})
	}
}
