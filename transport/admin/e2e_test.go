package admin_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/adapters/sms"
	"github.com/bankkit/onboarding-adapter/domain/approval"
	"github.com/bankkit/onboarding-adapter/domain/consent"
	"github.com/bankkit/onboarding-adapter/domain/evaluation"
	"github.com/bankkit/onboarding-adapter/domain/events"
	"github.com/bankkit/onboarding-adapter/domain/lookup"
	"github.com/bankkit/onboarding-adapter/domain/otp"
	"github.com/bankkit/onboarding-adapter/domain/policy"
	"github.com/bankkit/onboarding-adapter/domain/review"
	httptransport "github.com/bankkit/onboarding-adapter/transport/http"
)

// service is the whole service in process, wired as cmd wires the
// embedded default: the real domain services on the memory adapters with
// the demo data, the real API handler and the admin listener with the
// review handler mounted.
type service struct {
	api, admin *httptest.Server
}

func startService(t *testing.T, pol policy.Policy) *service {
	t.Helper()
	clock, ids := memory.SystemClock{}, memory.NewRandomIDs()
	d, err := memory.NewDemo(clock, ids, memory.DefaultMaxRecords)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	api, err := httptransport.NewHandler(httptransport.Services{
		Lookup:     lookup.New(d.Registry, d.Ledger, d.ConsentTexts, pol.Lookup, pol.Consent),
		Approval:   approval.New(d.Decisions, d.Registry, clock, ids, pol.Decision),
		Evaluation: evaluation.New(d.Decisions, d.Registry, clock, ids, pol.Decision, pol.Evaluation),
		OTP:        otp.New(d.Registry, d.OTPGuard, d.OTPGuard, sms.NewLogSender(logger), []byte("0123456789abcdef0123456789abcdef"), pol.OTP),
		Consent:    consent.New(d.ConsentTexts, d.Servings, d.Ledger, clock, pol.Consent),
		Events:     events.New(d.Events, clock),
	}, httptransport.Config{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	s := &service{api: httptest.NewServer(api)}
	t.Cleanup(s.api.Close)
	s.admin = mount(t, review.New(d.Decisions, d.Decisions, clock, pol.Review), pol.Review, time.Now)
	return s
}

// post sends a JSON body to the API and decodes the JSON answer.
func post(t *testing.T, url string, body any) (int, map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("POST %s: %d %q", url, resp.StatusCode, raw)
	}
	return resp.StatusCode, m
}

// frameBase64 is a small real JPEG, as the presence check sends it.
func frameBase64(t *testing.T) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 24, 24))
	for x := range 24 {
		for y := range 24 {
			img.Set(x, y, color.RGBA{uint8(x * 10), uint8(y * 10), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// TestEndToEnd: a borderline presence-check score gets WAIT and opens a
// case; a reviewer finds it in the queue, sees the frame, claims and
// resolves it OK through the API; the next /client/approve of that process
// answers OK. The same for an evaluation resolved NOK through the page.
func TestEndToEnd(t *testing.T) {
	pol := policy.Default()
	pol.Review.RequireClaim = true
	svc := startService(t, pol)
	f := &fixture{srv: svc.admin}
	frame := frameBase64(t)
	approve := map[string]any{
		"processId": "p-e2e", "processType": "DEFAULT", "userId": "u-1000001", "identityVerificationId": "iv-e2e",
		"provider": "iProov", "status": "SUCCESS", "score": 5.0, "presenceCheckResult": map[string]any{"frame": frame},
	}
	for range 2 { // a re-sent request gets the same WAIT, and opens no second case
		if st, m := post(t, svc.api.URL+"/client/approve", approve); st != http.StatusOK || m["result"] != "WAIT" {
			t.Fatalf("borderline approve: %d %v", st, m)
		}
	}
	list := f.apiGet(t, &alice, "/cases?status=OPEN&kind=approval").JSON(t)["cases"].([]any)
	if len(list) != 1 {
		t.Fatalf("open approval cases: %v", list)
	}
	c := list[0].(map[string]any)
	id := c["id"].(string)
	if c["processId"] != "p-e2e" || c["reasonCodes"].([]any)[0] != "SCORE_BORDERLINE" || c["hasFrame"] != true {
		t.Fatalf("case %v", c)
	}
	if a := f.apiGet(t, &alice, "/cases/"+id+"/frame"); a.Status != http.StatusOK || base64.StdEncoding.EncodeToString([]byte(a.Body)) != frame {
		t.Fatalf("frame: %d, %d bytes", a.Status, len(a.Body))
	}
	if a := f.apiPost(t, &alice, "/cases/"+id+"/resolve", map[string]string{"result": "OK", "reason": "same person as the registry photo"}); a.Status != http.StatusConflict {
		t.Fatalf("resolve before the claim: %d %s", a.Status, a.Body)
	}
	if st, m := post(t, svc.api.URL+"/client/approve", approve); st != http.StatusOK || m["result"] != "WAIT" {
		t.Fatalf("approve while the case is open: %d %v", st, m)
	}
	if a := f.apiPost(t, &alice, "/cases/"+id+"/claim", nil); a.Status != http.StatusOK {
		t.Fatalf("claim: %d %s", a.Status, a.Body)
	}
	if a := f.apiPost(t, &alice, "/cases/"+id+"/resolve", map[string]string{"result": "OK", "reason": "same person as the registry photo"}); a.Status != http.StatusOK {
		t.Fatalf("resolve: %d %s", a.Status, a.Body)
	}
	if st, m := post(t, svc.api.URL+"/client/approve", approve); st != http.StatusOK || m["result"] != "OK" || m["resultReason"] != nil {
		t.Fatalf("approve after the resolution: %d %v, want OK without a reason", st, m)
	}

	// An evaluation whose surname differs by a typo waits; a reviewer
	// rejects it on the page; the next evaluate answers NOK.
	evaluate := map[string]any{
		"processId": "p-e2e", "processType": "DEFAULT", "userId": "u-1000001", "identityVerificationId": "iv-e2e-doc",
		"provider": "ZenID", "status": "SUCCESS", "score": 9.0,
		"documentCheckResult": map[string]any{"documents": []any{map[string]any{
			"type": "ID_CARD", "status": "SUCCESS",
			"data": map[string]any{"givenNames": "JANA", "surname": "NOVAKOVAA", "dateOfBirth": "1985-04-12", "nationality": "CZE",
				"personalNumber": "855412/1234", "documentNumber": "123456789", "dateOfExpiry": "2099-01-15"},
		}}},
	}
	if st, m := post(t, svc.api.URL+"/client/evaluate", evaluate); st != http.StatusOK || m["result"] != "WAIT" {
		t.Fatalf("evaluate with a similar name: %d %v", st, m)
	}
	list = f.apiGet(t, &bob, "/cases?status=OPEN&kind=evaluation").JSON(t)["cases"].([]any)
	if len(list) != 1 {
		t.Fatalf("open evaluation cases: %v", list)
	}
	id = list[0].(map[string]any)["id"].(string)
	page := f.do(t, &bob, http.MethodGet, "/review/cases/"+id, "", nil)
	if !strings.Contains(page.Body, `class="match-differs">NOVAKOVAA`) {
		t.Fatalf("the case page does not mark the differing surname:\n%s", page.Body)
	}
	tok := f.csrf(t, &bob, id)
	if a := f.formPost(t, &bob, "/review/cases/"+id+"/claim", url.Values{"csrf": {tok}}); a.Status != http.StatusSeeOther {
		t.Fatalf("claim on the page: %d %s", a.Status, a.Body)
	}
	if a := f.formPost(t, &bob, "/review/cases/"+id+"/resolve", url.Values{"csrf": {tok}, "result": {"NOK"}, "reason": {"the surname on the card is not the client's"}}); a.Status != http.StatusSeeOther {
		t.Fatalf("resolve on the page: %d %s", a.Status, a.Body)
	}
	if st, m := post(t, svc.api.URL+"/client/evaluate", evaluate); st != http.StatusOK || m["result"] != "NOK" || m["resultReason"] != "REVIEW_REJECTED: rejected in manual review" {
		t.Fatalf("evaluate after the rejection: %d %v", st, m)
	}
}
