package test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/postgres/pgtest"
)

// The reviewer credentials of the black-box review tests, never the API's.
const (
	reviewerName     = "reviewer-alice"
	reviewerPassword = "rev1ewer-passw0rd-for-tests"
)

// adminCall sends a request to the admin listener as user:password (""
// for none) and returns the answer.
func adminCall(t *testing.T, method, url, user, password, body string) reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			t.Fatalf("%s %s: not a JSON object: %q", method, url, raw)
		}
	}
	return r
}

// approveBorderline sends /client/approve with a borderline score.
func approveBorderline(t *testing.T, svc *service, processID string, headers map[string]string) reply {
	t.Helper()
	return call(t, svc.API+"/client/approve", map[string]any{
		"processId": processID, "processType": "DEFAULT", "userId": "u-1000001", "identityVerificationId": "iv-" + processID,
		"provider": "iProov", "status": "SUCCESS", "score": 5.0, "presenceCheckResult": map[string]any{"frame": jpegBase64(t, 32)},
	}, headers)
}

// openCase finds the one open case of processID through the admin API.
func openCase(t *testing.T, svc *service, processID string) string {
	t.Helper()
	r := adminCall(t, http.MethodGet, svc.Admin+"/admin/api/review/cases?status=OPEN&kind=approval&limit=500", reviewerName, reviewerPassword, "")
	if r.Status != http.StatusOK {
		t.Fatalf("list cases: %d %s", r.Status, r.Raw)
	}
	for _, c := range r.Body["cases"].([]any) {
		if m := c.(map[string]any); m["processId"] == processID {
			return m["id"].(string)
		}
	}
	t.Fatalf("no open case of %s in %s", processID, r.Raw)
	return ""
}

// TestBlackBoxReview: a borderline score gets WAIT, a reviewer resolves the
// case OK through the admin API of the running binary, and the next
// /client/approve of that process answers OK. The admin API takes only
// the reviewer credentials, never the API's.
func TestBlackBoxReview(t *testing.T) {
	t.Parallel()
	apiUser, apiPass := "onboarding-server", "s3cret-passw0rd-for-tests"
	svc := startService(t, map[string]string{
		"ONBOARDING_BASIC_AUTH_USERNAME": apiUser,
		"ONBOARDING_BASIC_AUTH_PASSWORD": apiPass,
		"ONBOARDING_ADMIN_USERNAME":      reviewerName,
		"ONBOARDING_ADMIN_PASSWORD":      reviewerPassword,
	})
	auth := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(apiUser+":"+apiPass))}
	if r := approveBorderline(t, svc, "p-review-bb", auth); r.Status != http.StatusOK || r.Body["result"] != "WAIT" {
		t.Fatalf("borderline approve: %d %s", r.Status, r.Raw)
	}
	list := svc.Admin + "/admin/api/review/cases"
	for name, creds := range map[string][2]string{
		"no credentials":        {"", ""},
		"the API's credentials": {apiUser, apiPass},
		"a wrong password":      {reviewerName, apiPass},
	} {
		r := adminCall(t, http.MethodGet, list, creds[0], creds[1], "")
		if r.Status != http.StatusUnauthorized || r.Body["errorCode"] != "ERROR_UNAUTHORIZED" || r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: %d %s", name, r.Status, r.Raw)
		}
	}
	id := openCase(t, svc, "p-review-bb")
	caseURL := svc.Admin + "/admin/api/review/cases/" + id
	if r := adminCall(t, http.MethodGet, caseURL+"/frame", reviewerName, reviewerPassword, ""); r.Status != http.StatusOK ||
		r.Header.Get("Content-Type") != "image/jpeg" || r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("frame: %d %s %s", r.Status, r.Header.Get("Content-Type"), r.Header.Get("Cache-Control"))
	}
	if r := adminCall(t, http.MethodPost, caseURL+"/resolve", reviewerName, reviewerPassword, `{"result":"OK"}`); r.Status != http.StatusBadRequest ||
		!strings.Contains(r.Body["message"].(string), "reason") {
		t.Errorf("resolve without a reason: %d %s", r.Status, r.Raw)
	}
	if r := adminCall(t, http.MethodPost, caseURL+"/resolve", reviewerName, reviewerPassword, `{"result":"OK","reason":"face matches the registry photo"}`); r.Status != http.StatusOK ||
		r.Body["status"] != "RESOLVED" || r.Body["resolvedBy"] != reviewerName {
		t.Fatalf("resolve: %d %s", r.Status, r.Raw)
	}
	if r := adminCall(t, http.MethodPost, caseURL+"/resolve", reviewerName, reviewerPassword, `{"result":"NOK","reason":"again"}`); r.Status != http.StatusConflict {
		t.Errorf("resolving twice: %d %s", r.Status, r.Raw)
	}
	if r := approveBorderline(t, svc, "p-review-bb", auth); r.Status != http.StatusOK || r.Body["result"] != "OK" || r.Body["resultReason"] != nil {
		t.Fatalf("approve after the resolution: %d %s", r.Status, r.Raw)
	}
	page := adminCall(t, http.MethodGet, svc.Admin+"/review/", reviewerName, reviewerPassword, "")
	if page.Status != http.StatusOK || !strings.HasPrefix(page.Header.Get("Content-Security-Policy"), "default-src 'none'") ||
		!strings.Contains(page.Raw, "Review queue") {
		t.Errorf("queue page: %d %q", page.Status, page.Header.Get("Content-Security-Policy"))
	}
	for _, secret := range []string{reviewerPassword, apiPass} {
		if strings.Contains(svc.Logs.String(), secret) {
			t.Errorf("the logs contain a password")
		}
	}
}

// TestBlackBoxReviewCLI: on PostgreSQL, an operator without a browser
// lists and resolves the case with `review`, the running service answers
// the resolution, and `purge` keeps the evidence of the just-resolved case.
func TestBlackBoxReviewCLI(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewEmptyDatabase(t)
	env := map[string]string{"ONBOARDING_DATABASE_URL": dsn}
	runCommand(t, env, "migrate")
	runCommand(t, env, "seed")
	svc := startService(t, env)
	if r := approveBorderline(t, svc, "p-review-cli", nil); r.Status != http.StatusOK || r.Body["result"] != "WAIT" {
		t.Fatalf("borderline approve: %d %s", r.Status, r.Raw)
	}
	out := runCommand(t, env, "review", "list", "--status", "OPEN", "--json")
	var list struct{ Cases []map[string]any }
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Cases) != 1 || list.Cases[0]["processId"] != "p-review-cli" {
		t.Fatalf("review list: %v\n%s", err, out)
	}
	id := list.Cases[0]["id"].(string)
	if out := runCommand(t, env, "review", "show", id); !strings.Contains(out, "SCORE_BORDERLINE") || !strings.Contains(out, "frame: kept (jpeg") {
		t.Errorf("review show:\n%s", out)
	}
	if out := runCommand(t, env, "review", "resolve", id, "--result", "OK", "--reason", "checked by video call", "--reviewer", "ops-bob"); !strings.Contains(out, "resolved OK by ops-bob") {
		t.Fatalf("review resolve:\n%s", out)
	}
	if r := approveBorderline(t, svc, "p-review-cli", nil); r.Status != http.StatusOK || r.Body["result"] != "OK" {
		t.Fatalf("approve after the CLI resolution: %d %s", r.Status, r.Raw)
	}
	if out := runCommand(t, map[string]string{"ONBOARDING_DATABASE_URL": dsn, "ONBOARDING_REVIEW_RETENTION": "1h"}, "purge"); !strings.Contains(out, "evidence of 0 review case(s) resolved more than 1h0m0s ago") {
		t.Errorf("purge:\n%s", out)
	}
	if out := runCommand(t, env, "review", "show", id); !strings.Contains(out, "RESOLVE by ops-bob (cli) -> OK: checked by video call") || !strings.Contains(out, "frame: kept") {
		t.Errorf("after the purge:\n%s", out)
	}
}

// TestBlackBoxProfiling: the runtime profiles are off by default and, with
// ONBOARDING_PPROF_ENABLED, served on the admin listener to the admin
// credentials only, never on the API listener.
func TestBlackBoxProfiling(t *testing.T) {
	t.Parallel()
	admin := map[string]string{"ONBOARDING_ADMIN_USERNAME": reviewerName, "ONBOARDING_ADMIN_PASSWORD": reviewerPassword}
	off := startService(t, admin)
	if r := adminCall(t, http.MethodGet, off.Admin+"/debug/pprof/heap", reviewerName, reviewerPassword, ""); r.Status != http.StatusNotFound {
		t.Errorf("profiling off: heap answered %d", r.Status)
	}
	admin["ONBOARDING_PPROF_ENABLED"] = "true"
	on := startService(t, admin)
	if r := adminCall(t, http.MethodGet, on.Admin+"/debug/pprof/heap", "", "", ""); r.Status != http.StatusUnauthorized {
		t.Errorf("heap without credentials: %d", r.Status)
	}
	if r := adminCall(t, http.MethodGet, on.Admin+"/debug/pprof/heap", reviewerName, reviewerPassword, ""); r.Status != http.StatusOK ||
		r.Header.Get("Content-Type") != "application/octet-stream" || len(r.Raw) < 100 {
		t.Errorf("heap: %d %s, %d bytes", r.Status, r.Header.Get("Content-Type"), len(r.Raw))
	}
	if r := adminCall(t, http.MethodGet, on.API+"/debug/pprof/heap", reviewerName, reviewerPassword, ""); r.Status != http.StatusNotFound && r.Status != http.StatusUnauthorized {
		t.Errorf("the API listener answered a profile request with %d", r.Status)
	}
	// A 30 s CPU profile in progress does not hold the shutdown: the stop
	// ends the request, which answers with the profile taken so far.
	type profileAnswer struct {
		status      int
		contentType string
		body        []byte
		err         error
	}
	answered := make(chan profileAnswer, 1)
	go func() {
		req, err := http.NewRequest(http.MethodGet, on.Admin+"/debug/pprof/profile?seconds=30", nil)
		if err != nil {
			answered <- profileAnswer{err: err}
			return
		}
		req.SetBasicAuth(reviewerName, reviewerPassword)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- profileAnswer{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		answered <- profileAnswer{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: body, err: err}
	}()
	// The profile has begun once the goroutine dump shows the handler
	// (net/http/pprof.Profile) and the runtime's CPU profile writer, which
	// runs only while a CPU profile is on.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := adminCall(t, http.MethodGet, on.Admin+"/debug/pprof/goroutine?debug=1", reviewerName, reviewerPassword, "")
		if r.Status != http.StatusOK {
			t.Fatalf("goroutine dump: %d %s", r.Status, r.Raw)
		}
		if strings.Contains(r.Raw, "net/http/pprof.Profile+") && strings.Contains(r.Raw, "runtime/pprof.profileWriter+") {
			break
		}
		select {
		case a := <-answered:
			t.Fatalf("the profile request ended before the profile began: %d %s, %v", a.status, a.body, a.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no CPU profile in progress within 10s:\n%s", r.Raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
	begin := time.Now()
	on.Terminate(t)
	if err := on.Wait(10 * time.Second); err != nil {
		t.Fatalf("with a profile in progress: %v", err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("shutdown took %s with a profile in progress", d)
	}
	select {
	case a := <-answered:
		// A gzip-compressed profile (pprof's format) begins 1f 8b.
		switch {
		case a.err != nil:
			t.Errorf("the profile request failed: %v (status %d)", a.err, a.status)
		case a.status != http.StatusOK || a.contentType != "application/octet-stream" || len(a.body) < 2 || a.body[0] != 0x1f || a.body[1] != 0x8b:
			t.Errorf("the profile cut short by the stop: %d %s, %d bytes %q, want 200 and the profile taken so far",
				a.status, a.contentType, len(a.body), a.body[:min(len(a.body), 200)])
		}
	case <-time.After(10 * time.Second):
		t.Errorf("the profile request did not end with the service")
	}
}

// TestBlackBoxReviewSignInThrottled: the binary throttles failed reviewer
// sign-ins by default: after ten wrong passwords of one name from one
// address even the right one is refused (429 with Retry-After), and the
// log names neither the address nor the password tried.
func TestBlackBoxReviewSignInThrottled(t *testing.T) {
	t.Parallel()
	svc := startService(t, map[string]string{
		"ONBOARDING_ADMIN_USERNAME": reviewerName,
		"ONBOARDING_ADMIN_PASSWORD": reviewerPassword,
		// No failure is forgiven during the test, however slow the machine.
		"ONBOARDING_ADMIN_LOGIN_REFILL": "1h",
	})
	list := svc.Admin + "/admin/api/review/cases"
	const guess = "guess-passw0rd-1234"
	for i := range 10 {
		if r := adminCall(t, http.MethodGet, list, reviewerName, guess, ""); r.Status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d %s", i+1, r.Status, r.Raw)
		}
	}
	r := adminCall(t, http.MethodGet, list, reviewerName, reviewerPassword, "")
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("the right password after ten wrong ones: %d, Retry-After %q, %s", r.Status, r.Header.Get("Retry-After"), r.Raw)
	}
	// The log is copied from the service's stderr by a goroutine: stopped,
	// the service has written it all, and it has all been copied.
	svc.Stop(t)
	if strings.Contains(svc.Logs.String(), guess) {
		t.Errorf("the log holds the password tried")
	}
	throttled := 0
	for _, l := range strings.Split(svc.Logs.String(), "\n") {
		if strings.Contains(l, "review sign-ins throttled") {
			throttled++
			if strings.Contains(l, "127.0.0.1") || strings.Contains(l, reviewerName) {
				t.Errorf("the throttle's log line names the address or the reviewer: %s", l)
			}
		}
	}
	if throttled != 1 {
		t.Errorf("%d log lines say sign-ins were throttled, want 1", throttled)
	}
}
