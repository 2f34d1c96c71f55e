package test

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// jpegBase64 makes a small real JPEG, as a presence-check frame or a
// document face image.
func jpegBase64(t *testing.T, size int) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	for x := 0; x < size; x++ {
		for y := 0; y < size; y++ {
			img.Set(x, y, color.RGBA{uint8(x * 7), uint8(y * 3), uint8(x ^ y), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

func janaDocument(face string) map[string]any {
	return map[string]any{
		"type":   "ID_CARD",
		"status": "SUCCESS",
		"data": map[string]any{
			"givenNames": "JANA", "surname": "NOVÁKOVÁ", "dateOfBirth": "1985-04-12",
			"placeOfBirth": "PRAHA", "sex": "F", "nationality": "CZE", "personalNumber": "855412/1234",
			"documentNumber": "123456789", "dateOfIssue": "2020-01-15", "dateOfExpiry": "2099-01-15",
			"authority": "MěÚ Praha 1",
		},
		"images":  []any{map[string]any{"type": "FACE", "data": face}},
		"rawData": map[string]any{"provider": "ZenID", "checks": []any{"MRZ", "HOLOGRAM"}},
	}
}

func TestBlackBoxMemory(t *testing.T) {
	t.Parallel()
	svc := startService(t, nil)
	runOnboardingServerFlow(t, svc, nil)
}

func TestBlackBoxBasicAuthAndBasePath(t *testing.T) {
	t.Parallel()
	svc := startService(t, map[string]string{
		"ONBOARDING_BASE_PATH":                "/api/v1",
		"ONBOARDING_BASIC_AUTH_USERNAME":      "onboarding-server",
		"ONBOARDING_BASIC_AUTH_PASSWORD":      "s3cret-passw0rd-for-tests",
		"ONBOARDING_BASIC_AUTH_NEXT_USERNAME": "onboarding-server-2",
		"ONBOARDING_BASIC_AUTH_NEXT_PASSWORD": "n3xt-passw0rd-for-tests",
	})
	lookup := map[string]any{"processId": "p-auth", "identification": map[string]any{"clientNumber": "1000001", "birthDate": "1985-04-12"}}

	for name, h := range map[string]map[string]string{
		"no credentials":  nil,
		"wrong password":  {"Authorization": basic("onboarding-server", "wrong")},
		"wrong user":      {"Authorization": basic("someone", "s3cret-passw0rd-for-tests")},
		"malformed":       {"Authorization": "Basic !!!"},
		"bearer instead":  {"Authorization": "Bearer abc"},
		"previous pair 2": {"Authorization": basic("onboarding-server-2", "s3cret-passw0rd-for-tests")},
	} {
		r := call(t, svc.API+"/user/lookup", lookup, h)
		if r.Status != http.StatusUnauthorized || r.Body["errorCode"] != "ERROR_UNAUTHORIZED" ||
			!strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("%s: got %d %v %q", name, r.Status, r.Body, r.Header.Get("WWW-Authenticate"))
		}
	}
	auth := map[string]string{"Authorization": basic("onboarding-server", "s3cret-passw0rd-for-tests")}
	if r := call(t, svc.API+"/user/lookup", lookup, auth); r.Status != http.StatusOK {
		t.Fatalf("right credentials: %d %s", r.Status, r.Raw)
	}
	next := map[string]string{"Authorization": basic("onboarding-server-2", "n3xt-passw0rd-for-tests")}
	if r := call(t, svc.API+"/user/lookup", lookup, next); r.Status != http.StatusOK {
		t.Fatalf("rotation pair: %d %s", r.Status, r.Raw)
	}
	// Without the base path the route does not exist.
	root := strings.TrimSuffix(svc.API, "/api/v1")
	if r := call(t, root+"/user/lookup", lookup, auth); r.Status != http.StatusNotFound || r.Body["errorCode"] != "ERROR_GENERIC" {
		t.Fatalf("route outside the base path: %d %s", r.Status, r.Raw)
	}
	runOnboardingServerFlow(t, svc, auth)

	// The admin listener needs no API credentials and never serves the API.
	resp, err := http.Get(svc.Admin + "/livez")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/livez: %v %v", err, resp)
	}
	resp.Body.Close()
	if r := call(t, svc.Admin+"/api/v1/user/lookup", lookup, auth); r.Status == http.StatusOK {
		t.Fatalf("admin listener served the API")
	}
}

// runOnboardingServerFlow calls every endpoint as the Onboarding Server
// does, with the demo data, and checks the answers and the logs.
func runOnboardingServerFlow(t *testing.T, svc *service, auth map[string]string) {
	t.Helper()
	headers := func(extra map[string]string) map[string]string {
		h := map[string]string{}
		for k, v := range auth {
			h[k] = v
		}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	post := func(path string, body any) reply { return call(t, svc.API+path, body, headers(nil)) }
	// Process ids are unique per run: the OTP throttle and dedupe may live
	// in a Redis shared with earlier runs.
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	p := func(s string) string { return "proc-bb-" + s + "-" + run }
	const otpCode = "73915284"
	frame := jpegBase64(t, 64)
	face := jpegBase64(t, 48)

	// Lookup, with and without processType, with ids echoed and generated.
	r := call(t, svc.API+"/user/lookup", map[string]any{
		"processId": p("1"), "processType": "DEFAULT",
		"identification": map[string]any{"clientNumber": "1000001", "birthDate": "1985-04-12"},
	}, headers(map[string]string{"X-Correlation-Id": "corr-bb-1", "X-Request-Id": "req-bb-1"}))
	if r.Status != 200 || r.Body["userId"] != "u-1000001" || r.Body["consent"] == nil || r.Body["consentRequired"] == nil {
		t.Fatalf("lookup: %d %s", r.Status, r.Raw)
	}
	if r.Header.Get("X-Correlation-Id") != "corr-bb-1" || r.Header.Get("X-Request-Id") != "req-bb-1" {
		t.Fatalf("ids not echoed: %v", r.Header)
	}
	userID := r.Body["userId"].(string)
	r = post("/user/lookup", map[string]any{"processId": p("1"), "identification": map[string]any{"personalNumber": "855412/1234"}})
	if r.Status != 200 || r.Body["userId"] != userID {
		t.Fatalf("lookup by personal number without processType: %d %s", r.Status, r.Raw)
	}
	if r.Header.Get("X-Correlation-Id") == "" || r.Header.Get("X-Request-Id") == "" {
		t.Fatalf("ids not generated: %v", r.Header)
	}
	if r = post("/user/lookup", map[string]any{"processId": p("x"), "identification": map[string]any{"clientNumber": "9999999", "birthDate": "1985-04-12"}}); r.Status != 404 || r.Body["errorCode"] != "ERROR_GENERIC" {
		t.Fatalf("unknown client: %d %s", r.Status, r.Raw)
	}
	if r = post("/user/lookup", map[string]any{"processId": p("x"), "identification": map[string]any{"clientNumber": "1000003", "birthDate": "1990-07-21"}}); r.Status != 400 || r.Body["errorCode"] != "ERROR_GENERIC" {
		t.Fatalf("blocked client: %d %s", r.Status, r.Raw)
	}

	// Consent text (with language fallback) and storage.
	r = post("/consent/text", map[string]any{"processId": p("1"), "userId": userID, "consentType": "GDPR", "language": "cs"})
	if r.Status != 200 || !strings.Contains(r.Body["consentText"].(string), "<") {
		t.Fatalf("consent text cs: %d %s", r.Status, r.Raw)
	}
	csText := r.Body["consentText"]
	r = post("/consent/text", map[string]any{"processId": p("1"), "userId": userID, "consentType": "GDPR", "language": "de"})
	if r.Status != 200 || r.Body["consentText"] == csText {
		t.Fatalf("consent text fallback to en: %d %s", r.Status, r.Raw)
	}
	if r = post("/consent/text", map[string]any{"processId": p("1"), "userId": userID, "consentType": "NOPE", "language": "en"}); r.Status != 400 {
		t.Fatalf("unknown consent type: %d %s", r.Status, r.Raw)
	}
	for i := 0; i < 2; i++ { // the caller re-sends; both answer 200
		if r = post("/consent/storage", map[string]any{"processId": p("1"), "userId": userID, "consentType": "GDPR", "approved": true}); r.Status != 200 || strings.TrimSpace(r.Raw) != "{}" {
			t.Fatalf("consent storage: %d %q", r.Status, r.Raw)
		}
	}

	// OTP: ACTIVATION, a re-sent identical request (deduplicated), USER_VERIFICATION.
	otp := map[string]any{"processId": p("1"), "userId": userID, "language": "cs", "otpCode": otpCode, "otpType": "ACTIVATION", "resend": false}
	for i := 0; i < 2; i++ {
		if r = post("/otp/send", otp); r.Status != 200 || r.Body["otpSent"] != true {
			t.Fatalf("otp send %d: %d %s", i, r.Status, r.Raw)
		}
	}
	if r = post("/otp/send", map[string]any{"processId": p("1"), "userId": userID, "language": "en", "otpCode": "55512345", "otpType": "USER_VERIFICATION", "resend": false}); r.Status != 200 || r.Body["otpSent"] != true {
		t.Fatalf("otp USER_VERIFICATION: %d %s", r.Status, r.Raw)
	}
	if r = post("/otp/send", map[string]any{"processId": p("1"), "userId": "u-unknown", "language": "en", "otpCode": "12345678", "otpType": "ACTIVATION"}); r.Status != 404 {
		t.Fatalf("otp unknown user: %d %s", r.Status, r.Raw)
	}

	// Evaluation: the current shape, then the older shape without documents.
	r = post("/client/evaluate", map[string]any{
		"processId": p("1"), "processType": "DEFAULT", "userId": userID, "identityVerificationId": "iv-bb-1",
		"provider": "ZenID", "status": "SUCCESS", "score": 9.1,
		"documentCheckResult": map[string]any{"documents": []any{janaDocument(face)}},
	})
	if r.Status != 200 || r.Body["result"] != "OK" {
		t.Fatalf("evaluate: %d %s", r.Status, r.Raw)
	}
	if _, ok := r.Body["resultReason"]; !ok {
		t.Fatalf("evaluate answer lacks resultReason: %s", r.Raw)
	}
	r = post("/client/evaluate", map[string]any{
		"processId": p("2"), "userId": userID, "identityVerificationId": "iv-bb-2", "verificationId": "ver-2",
		"provider": "ZenID", "extractedData": []any{`{"name":"x"}`},
	})
	if r.Status != 200 || r.Body["result"] != "OK" {
		t.Fatalf("evaluate, older shape: %d %s", r.Status, r.Raw)
	}
	r = post("/client/evaluate", map[string]any{
		"processId": p("3"), "userId": userID, "verificationId": "ver-3", "provider": "ZenID",
	})
	if r.Status != 200 || r.Body["result"] != "OK" {
		t.Fatalf("evaluate, verificationId only: %d %s", r.Status, r.Raw)
	}

	// Approval: OK, WAIT for a borderline score, NOK for a failed check.
	approve := func(iv string, status string, score float64) reply {
		return post("/client/approve", map[string]any{
			"processId": p("1"), "processType": "DEFAULT", "userId": userID, "identityVerificationId": iv,
			"provider": "iProov", "status": status, "score": score, "presenceCheckResult": map[string]any{"frame": frame},
		})
	}
	if r = approve("iv-bb-1", "SUCCESS", 8.5); r.Status != 200 || r.Body["result"] != "OK" || r.Body["resultReason"] != nil {
		t.Fatalf("approve OK: %d %s", r.Status, r.Raw)
	}
	if r = approve("iv-bb-4", "SUCCESS", 5.0); r.Status != 200 || r.Body["result"] != "WAIT" {
		t.Fatalf("approve WAIT: %d %s", r.Status, r.Raw)
	}
	if r = approve("iv-bb-5", "FAILURE", 1.0); r.Status != 200 || r.Body["result"] != "NOK" ||
		!strings.HasPrefix(r.Body["resultReason"].(string), "VERIFICATION_FAILED") {
		t.Fatalf("approve NOK: %d %s", r.Status, r.Raw)
	}
	if r = approve("iv-bb-5", "SUCCESS", 9.9); r.Body["result"] != "NOK" {
		t.Fatalf("a re-sent approval must get the stored decision: %d %s", r.Status, r.Raw)
	}

	// Process event as older Onboarding Servers send it.
	if r = post("/process/event", map[string]any{"processId": p("1"), "userId": userID, "identityVerificationId": "iv-bb-1", "type": "FINISHED", "locale": "cs"}); r.Status != 200 || strings.TrimSpace(r.Raw) != "{}" {
		t.Fatalf("process event: %d %q", r.Status, r.Raw)
	}

	// Bad input names the field.
	if r = post("/client/approve", map[string]any{"processId": "p", "userId": userID, "identityVerificationId": "iv", "status": "SUCCESS", "score": "high"}); r.Status != 400 ||
		!strings.Contains(r.Body["message"].(string), "score") {
		t.Fatalf("wrong type: %d %s", r.Status, r.Raw)
	}

	// The logs carry one access line per request and no secrets.
	logs := svc.Logs.String()
	for _, secret := range []string{otpCode, "55512345", frame[:40], face[:40], "855412", "8554121234", "777123456", "s3cret-passw0rd", "n3xt-passw0rd"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs contain %q", secret)
		}
	}
	access := 0
	for _, l := range svc.Logs.Lines(t) {
		if l["msg"] == "request" {
			access++
		}
	}
	if access < 20 {
		t.Errorf("expected an access line per request, found %d", access)
	}
}
