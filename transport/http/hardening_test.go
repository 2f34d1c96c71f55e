package httptransport

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

func TestDuplicateKeysRefused(t *testing.T) {
	tests := []struct {
		name string
		dec  func(context.Context, *http.Request) (any, error)
		body string
		want string // "" for accepted
	}{
		{"top level", decodeConsentStorageRequest, `{"processId":"p","approved":true,"approved":false}`, "approved: duplicate key"},
		{"other letter case", decodeConsentStorageRequest, `{"processId":"p","PROCESSID":"q","approved":true}`, "PROCESSID: duplicate key"},
		{"escaped spelling", decodeConsentStorageRequest, `{"processId":"p","process\u0049d":"q","approved":true}`, "processId: duplicate key"},
		{"Kelvin sign folds to k in a DTO object", decodeApproveRequest, `{"processId":"p","` + "\u212a" + `nown":1,"known":2}`, "known: duplicate key"},
		// Free-form values (identification, event data, a document's
		// rawData): keys are read as written, so only the same key twice is
		// refused (a provider's rawData or an anti-fraud vendor's fields may
		// hold "id" and "ID"). An unknown field's object keeps the DTO rule.
		{"Kelvin sign in identification", decodeLookupRequest, `{"identification":{"k":"1","` + "\u212a" + `":"2"}}`, ""},
		{"letter case in identification", decodeLookupRequest, `{"identification":{"clientNumber":"1","ClientNumber":"2","birthDate":"1985-04-12"}}`, ""},
		{"letter case in rawData", decodeEvaluateRequest,
			`{"documentCheckResult":{"documents":[{"type":"ID_CARD","rawData":{"id":1,"ID":2,"nested":{"Ab":1,"aB":2}}}]}}`, ""},
		{"same key in rawData", decodeEvaluateRequest,
			`{"documentCheckResult":{"documents":[{"type":"ID_CARD","rawData":{"id":1,"id":2}}]}}`, "documentCheckResult.documents[0].rawData.id: duplicate key"},
		{"letter case in event data", decodeProcessEventRequest, `{"type":"FINISHED","data":{"requestId":"a","RequestId":"b"}}`, ""},
		{"letter case in an unknown field", decodeConsentStorageRequest, `{"processId":"p","approved":true,"extra":{"x":1,"X":2}}`, "extra.X: duplicate key"},
		{"caller data as a key is not echoed", decodeLookupRequest, `{"identification":{"855412/1234":"1","855412/1234":"2"}}`, "identification.*: duplicate key"},
		{"caller digits as a key are not echoed", decodeLookupRequest, `{"identification":{"8554121234":"1","8554121234":"2"}}`, "identification.*: duplicate key"},
		{"caller phone as a key is not echoed", decodeProcessEventRequest, `{"type":"FINISHED","data":{"420777123456":1,"420777123456":2}}`, "data.*: duplicate key"},
		{"nested with index", decodeEvaluateRequest,
			`{"documentCheckResult":{"documents":[{"type":"ID_CARD"},{"data":{"surname":"A","surname":"B"}}]}}`,
			"documentCheckResult.documents[1].data.surname: duplicate key"},
		{"in identification", decodeLookupRequest, `{"identification":{"clientNumber":"1","clientNumber":"2"}}`, "identification.clientNumber: duplicate key"},
		{"in event data", decodeProcessEventRequest, `{"type":"FINISHED","data":{"a":1,"b":{"a":2},"a":3}}`, "data.a: duplicate key"},
		{"many keys, duplicate late", decodeLookupRequest, `{"identification":{` + manyKeys(40) + `,"k7":"x"}}`, "identification.k7: duplicate key"},
		{"same key in sibling objects", decodeEvaluateRequest,
			`{"documentCheckResult":{"documents":[{"type":"A","data":{"surname":"A"}},{"type":"B","data":{"surname":"B"}}]}}`, ""},
		{"key text inside a value", decodeConsentStorageRequest, `{"processId":"approved","approved":true}`, ""},
		{"many distinct keys", decodeLookupRequest, `{"identification":{` + manyKeys(200) + `}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeBody(tt.dec, tt.body, DefaultMaxBodyBytes)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantRequestError(t, err, 400, tt.want)
		})
	}
}

func TestFieldLengthLimits(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	doc := func(field, value string) string {
		return `{"documentCheckResult":{"documents":[{"type":"ID_CARD"},{"type":"PASSPORT","data":{"` + field + `":"` + value + `"}}]}}`
	}
	tests := []struct {
		name string
		dec  func(context.Context, *http.Request) (any, error)
		body string
		want string // "" for accepted
	}{
		{"processId at the limit", decodeApproveRequest, `{"processId":"` + long(128) + `"}`, ""},
		{"processId over", decodeApproveRequest, `{"processId":"` + long(129) + `"}`, "processId: must be at most 128 characters"},
		{"1 MB processId", decodeApproveRequest, `{"processId":"` + long(1<<20) + `"}`, "processId: must be at most 128 characters"},
		{"userId", decodeConsentStorageRequest, `{"userId":"` + long(129) + `","approved":true}`, "userId: must be at most 128 characters"},
		{"identityVerificationId", decodeEvaluateRequest, `{"identityVerificationId":"` + long(129) + `"}`, "identityVerificationId: must be at most 128 characters"},
		{"verificationId", decodeEvaluateRequest, `{"verificationId":"` + long(129) + `"}`, "verificationId: must be at most 128 characters"},
		{"lookup processType", decodeLookupRequest, `{"processType":"` + long(129) + `"}`, "processType: must be at most 128 characters"},
		{"provider", decodeApproveRequest, `{"provider":"` + long(257) + `"}`, "provider: must be at most 256 characters"},
		{"status", decodeApproveRequest, `{"status":"` + long(65) + `"}`, "status: must be at most 64 characters"},
		{"otpCode", decodeOTPSendRequest, `{"otpCode":"` + long(65) + `"}`, "otpCode: must be at most 64 characters"},
		{"otpType", decodeOTPSendRequest, `{"otpType":"` + long(65) + `"}`, "otpType: must be at most 64 characters"},
		{"consent language", decodeConsentTextRequest, `{"language":"` + long(65) + `"}`, "language: must be at most 64 characters"},
		{"consentType", decodeConsentTextRequest, `{"consentType":"` + long(65) + `"}`, "consentType: must be at most 64 characters"},
		{"event type", decodeProcessEventRequest, `{"type":"` + long(65) + `"}`, "type: must be at most 64 characters"},
		{"event locale", decodeProcessEventRequest, `{"locale":"` + long(65) + `"}`, "locale: must be at most 64 characters"},
		{"surname over", decodeEvaluateRequest, doc("surname", long(257)), "documentCheckResult.documents[1].data.surname: must be at most 256 characters"},
		{"surname in characters, not bytes", decodeEvaluateRequest, doc("surname", strings.Repeat("Ž", 256)), ""},
		{"personalNumber", decodeEvaluateRequest, doc("personalNumber", long(65)), "documentCheckResult.documents[1].data.personalNumber: must be at most 64 characters"},
		{"dateOfExpiry", decodeEvaluateRequest, doc("dateOfExpiry", long(65)), "documentCheckResult.documents[1].data.dateOfExpiry: must be at most 64 characters"},
		{"image type", decodeEvaluateRequest, `{"documentCheckResult":{"documents":[{"images":[{"type":"` + long(65) + `"}]}]}}`,
			"documentCheckResult.documents[0].images[0].type: must be at most 64 characters"},
		{"identification key", decodeLookupRequest, `{"identification":{"` + long(65) + `":"1"}}`, "identification: keys must be at most 64 characters"},
		{"identification value", decodeLookupRequest, `{"identification":{"personalNumber":"` + long(257) + `"}}`, "identification: values must be at most 256 characters"},
		{"identification number value", decodeLookupRequest, `{"identification":{"n":` + strings.Repeat("9", 257) + `}}`, "identification: values must be at most 256 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeBody(tt.dec, tt.body, DefaultMaxImageBodyBytes)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantRequestError(t, err, 400, tt.want)
		})
	}
}

func TestArrayLimits(t *testing.T) {
	docs := func(n int) string {
		return `{"documentCheckResult":{"documents":[` + strings.TrimSuffix(strings.Repeat(`{},`, n), ",") + `]}}`
	}
	images := func(n int) string {
		return `{"documentCheckResult":{"documents":[{},{"images":[` + strings.TrimSuffix(strings.Repeat(`{"type":"FACE"},`, n), ",") + `]}]}}`
	}
	if _, err := decodeBody(decodeEvaluateRequest, docs(32), DefaultMaxImageBodyBytes); err != nil {
		t.Errorf("32 documents: %v", err)
	}
	_, err := decodeBody(decodeEvaluateRequest, docs(33), DefaultMaxImageBodyBytes)
	wantRequestError(t, err, 400, "documentCheckResult.documents: must have at most 32 elements")
	// A 10 MiB body of empty objects is refused after the 33rd, not turned
	// into three million structs.
	_, err = decodeBody(decodeEvaluateRequest, docs(3_000_000), 10<<20)
	wantRequestError(t, err, 400, "documentCheckResult.documents: must have at most 32 elements")
	if _, err := decodeBody(decodeEvaluateRequest, images(32), DefaultMaxImageBodyBytes); err != nil {
		t.Errorf("32 images: %v", err)
	}
	_, err = decodeBody(decodeEvaluateRequest, images(33), DefaultMaxImageBodyBytes)
	wantRequestError(t, err, 400, "documentCheckResult.documents.images: must have at most 32 elements")
	// Arrays the DTO does not declare (rawData, extractedData) are skipped by
	// the decoder and not limited.
	raw := `{"documentCheckResult":{"documents":[{"rawData":{"checks":[` + strings.TrimSuffix(strings.Repeat(`1,`, 5000), ",") + `]}}]},"extractedData":[` +
		strings.TrimSuffix(strings.Repeat(`"{}",`, 100), ",") + `]}`
	if _, err := decodeBody(decodeEvaluateRequest, raw, DefaultMaxImageBodyBytes); err != nil {
		t.Errorf("large undeclared arrays: %v", err)
	}
}

// TestInFlightLimit holds MaxInFlight requests inside a slow service and
// checks that one more is answered 503 at once, with Retry-After, without
// reaching the service, and that the slots come back.
func TestInFlightLimit(t *testing.T) {
	const limit = 3
	release := make(chan struct{})
	var entered sync.WaitGroup
	entered.Add(limit)
	f := &fakes{text: func(ctx context.Context, _ ports.ConsentTextRequest) (domain.ConsentText, error) {
		entered.Done()
		select {
		case <-release:
		case <-ctx.Done():
		}
		return domain.ConsentText{HTML: "<p>x</p>"}, nil
	}}
	h := newHarness(t, f, func(c *Config) { c.MaxInFlight = limit })
	var wg sync.WaitGroup
	statuses := make([]int, limit)
	for i := range limit {
		wg.Go(func() { statuses[i] = h.post("/consent/text", `{"processId":"held"}`).status })
	}
	entered.Wait()
	f.mu.Lock()
	calls := f.calls
	f.mu.Unlock()
	start := time.Now()
	for range 5 {
		res := h.post("/consent/text", `{"processId":"shed"}`)
		if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") != "1" {
			t.Fatalf("over the limit: %d %q %s, want 503 with Retry-After: 1", res.status, res.header.Get("Retry-After"), res.body)
		}
		if e := res.errorBody(t); e != (errorBody{ErrorCode: errorGeneric, Message: "server busy, retry later"}) {
			t.Errorf("body %+v", e)
		}
		if res.header.Get(DefaultCorrelationHeader) == "" {
			t.Errorf("a shed answer without the correlation id")
		}
	}
	// Milliseconds in practice; 3 s leaves room for a loaded machine under
	// -race (each answer is validated against the contract) and stays below
	// the 4 s request deadline one queued request would wait.
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("shedding 5 requests took %v", took)
	}
	f.mu.Lock()
	if f.calls != calls {
		t.Errorf("a shed request reached the service")
	}
	f.mu.Unlock()
	close(release)
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusOK {
			t.Errorf("held request %d: %d", i, s)
		}
	}
	// Every slot is free again: limit requests at once pass.
	f.text = nil
	for range limit + 2 {
		if res := h.post("/consent/text", `{"processId":"after"}`); res.status != http.StatusOK {
			t.Fatalf("after the burst: %d %s", res.status, res.body)
		}
	}
	shed := 0
	for _, l := range h.accessLines() {
		if l["status"] == float64(http.StatusServiceUnavailable) {
			shed++
		}
	}
	if shed != 5 {
		t.Errorf("%d access lines with 503, want 5", shed)
	}
}

// TestInFlightBodyBudget: the image bodies of the requests in flight hold
// at most MaxInFlightBodyBytes, each counted twice; one that does not fit
// is answered 503 with Retry-After before it reaches the service, a
// smaller one still fits, small routes' bodies are not counted, the budget
// comes back when a request is answered (or aborted), and a body alone
// always fits.
func TestInFlightBodyBudget(t *testing.T) {
	pad := func(process string, n int) string {
		return `{"processId":"` + process + `","userId":"u","identityVerificationId":"iv","status":"SUCCESS","score":8.5,"pad":"` +
			strings.Repeat("x", n) + `"}`
	}
	release, entered := make(chan struct{}), make(chan struct{}, 1)
	f := &fakes{approve: holdApproval(release, entered)}
	h := newHarness(t, f, func(c *Config) { c.MaxInFlightBodyBytes = 1_000_000 })
	held := make(chan int, 1)
	go func() { held <- h.post("/client/approve", pad("held", 100_000)).status }() // holds about 200,000
	<-entered

	res := h.post("/client/approve", pad("over", 450_000)) // 200,000 + 900,000 > 1,000,000
	if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") != "1" {
		t.Fatalf("a body over the budget: %d %q %s, want 503 with Retry-After: 1", res.status, res.header.Get("Retry-After"), res.body)
	}
	if e := res.errorBody(t); e != (errorBody{ErrorCode: errorGeneric, Message: "server busy, retry later"}) {
		t.Errorf("body %+v", e)
	}
	if res := h.post("/client/approve", pad("smaller", 20_000)); res.status != http.StatusOK {
		t.Errorf("a smaller body beside the held one: %d %s", res.status, res.body)
	}
	if res := h.post("/consent/text", `{"processId":"small","pad":"`+strings.Repeat("x", 60_000)+`"}`); res.status != http.StatusOK {
		t.Errorf("a small route's body, not counted: %d %s", res.status, res.body)
	}
	// A chunked body holds its buffer's room as it grows, from 256 KiB,
	// not its route's 10 MiB limit: a small one fits beside the held
	// body, a large one is refused part-way, before it is all read.
	if code, body := postChunked(h, pad("chunked", 1000)); code != http.StatusOK {
		t.Errorf("a small chunked body beside the held one: %d %s", code, body)
	}
	if code, body := postChunked(h, pad("chunked-large", 600_000)); code != http.StatusServiceUnavailable {
		t.Errorf("a large chunked body beside the held one: %d %s, want 503", code, body)
	}
	close(release)
	if st := <-held; st != http.StatusOK {
		t.Errorf("the held request: %d", st)
	}
	if res := h.post("/client/approve", pad("after", 450_000)); res.status != http.StatusOK {
		t.Errorf("the same body once the budget came back: %d %s", res.status, res.body)
	}
	// An aborted request (http.ErrAbortHandler, re-panicked by the
	// recover rings) gives its body's share back too: with 200,000 leaked,
	// the next 900,000 would be refused.
	f.approve = func(context.Context, ports.ApprovalRequest) (domain.Decision, error) { panic(http.ErrAbortHandler) }
	func() {
		defer func() { _ = recover() }()
		req := httptest.NewRequest(http.MethodPost, "/client/approve", strings.NewReader(pad("aborted", 100_000)))
		req.Header.Set("Content-Type", "application/json")
		h.h.ServeHTTP(httptest.NewRecorder(), req)
	}()
	f.approve = nil
	for _, p := range []string{"after-abort-1", "after-abort-2"} { // 900,000 each, one after the other
		if res := h.post("/client/approve", pad(p, 450_000)); res.status != http.StatusOK {
			t.Errorf("a body after an aborted request: %d %s (its share leaked)", res.status, res.body)
		}
	}

	alone := newHarness(t, &fakes{}, func(c *Config) { c.MaxInFlightBodyBytes = 10_000 })
	if res := alone.post("/client/approve", pad("alone", 30_000)); res.status != http.StatusOK {
		t.Errorf("a body larger than the whole budget, alone: %d %s, want 200", res.status, res.body)
	}
	if code, body := postChunked(alone, pad("alone-chunked", 600_000)); code != http.StatusOK {
		t.Errorf("a chunked body larger than the whole budget, alone: %d %s, want 200 (its own hold is no other's)", code, body)
	}

	// A chunked body near its route's limit holds about the limit, not the
	// next doubling of its buffer: 2 × 300,001 beside 200,000 fits in
	// 1,000,000, where 2 × 512 KiB would not.
	release, entered = make(chan struct{}), make(chan struct{}, 1)
	near := newHarness(t, &fakes{approve: holdApproval(release, entered)}, func(c *Config) { c.MaxInFlightBodyBytes, c.MaxImageBodyBytes = 1_000_000, 300_000 })
	go func() { held <- near.post("/client/approve", pad("held", 100_000)).status }()
	<-entered
	if code, body := postChunked(near, pad("near-limit", 290_000)); code != http.StatusOK {
		t.Errorf("a chunked body near its limit beside a held one: %d %s, want 200", code, body)
	}
	close(release)
	if st := <-held; st != http.StatusOK {
		t.Errorf("the held request: %d", st)
	}
}

// holdApproval is an approval service that holds the request of process
// "held" (and its body's share of the budget) until release is closed or
// the request ends, after telling entered; others are answered OK at once.
func holdApproval(release <-chan struct{}, entered chan<- struct{}) func(context.Context, ports.ApprovalRequest) (domain.Decision, error) {
	return func(ctx context.Context, r ports.ApprovalRequest) (domain.Decision, error) {
		if r.ProcessID == "held" {
			entered <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return domain.Decision{Result: domain.ResultOK}, nil
	}
}

// TestInFlightBodyBudgetSkipsSmallRoutes: a small route's body is not
// counted against the image budget. The budget is set so that the same
// body, counted twice beside the held one, would not fit: an image route
// with it is refused, the small route with it is answered.
func TestInFlightBodyBudgetSkipsSmallRoutes(t *testing.T) {
	release, entered := make(chan struct{}), make(chan struct{}, 1)
	f := &fakes{approve: holdApproval(release, entered)}
	h := newHarness(t, f, func(c *Config) { c.MaxInFlightBodyBytes = 300_000 })
	pad := strings.Repeat("x", 60_000)
	held := make(chan int, 1)
	go func() {
		held <- h.post("/client/approve", `{"processId":"held","userId":"u","identityVerificationId":"iv","status":"SUCCESS","score":8.5,"pad":"`+
			strings.Repeat("x", 100_000)+`"}`).status
	}()
	<-entered // holds about 200,000 of 300,000

	// Counted, 60,000 more would hold about 320,000.
	if res := h.post("/client/approve", `{"processId":"image-route","pad":"`+pad+`"}`); res.status != http.StatusServiceUnavailable {
		t.Errorf("the body on an image route beside the held one: %d %s, want 503", res.status, res.body)
	}
	if res := h.post("/consent/text", `{"processId":"small","pad":"`+pad+`"}`); res.status != http.StatusOK {
		t.Errorf("the same body on a small route, not counted: %d %s, want 200", res.status, res.body)
	}
	close(release)
	if st := <-held; st != http.StatusOK {
		t.Errorf("the held request: %d", st)
	}
}

// postChunked posts body to /client/approve without a Content-Length.
func postChunked(h *harness, body string) (int, string) {
	req := httptest.NewRequest(http.MethodPost, "/client/approve", strings.NewReader(body))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func TestMaxInFlightConfig(t *testing.T) {
	if c := (Config{}).withDefaults(); c.MaxInFlight != DefaultMaxInFlight {
		t.Errorf("default MaxInFlight %d", c.MaxInFlight)
	}
	_, err := NewHandler((&fakes{}).services(), Config{MaxInFlight: -1})
	if err == nil || !strings.Contains(err.Error(), "MaxInFlight") {
		t.Errorf("negative MaxInFlight: %v", err)
	}
}

// TestDuplicateKeyReference proves the fuzzers' reference check finds what
// it must, so a scanner that let a duplicate through would be caught.
func TestDuplicateKeyReference(t *testing.T) {
	for body, want := range map[string]bool{
		`{"a":1,"a":2}`:                 true,
		`{"a":1,"A":2}`:                 true,
		`{"a":{"b":[1,{"c":1,"c":2}]}}`: true,
		`{"a":{"x":1},"b":{"x":1}}`:     false,
		`{"a":"a","b":["a","a"]}`:       false,
		`{"a":[{"k":1},{"k":2}],"k":3}`: false,
	} {
		if _, got := duplicateKey([]byte(body), nil); got != want {
			t.Errorf("duplicateKey(%s) = %v, want %v", body, got, want)
		}
	}
	// Under a free-form path, only the same key twice; a value reached in
	// another shape (an array where the path has an object, or none where
	// it has one) is not under it.
	free := []pathRule{newFreeForm("x.raw"), newFreeForm("l[].raw")}
	for body, want := range map[string]bool{
		`{"x":{"raw":{"a":1,"A":2}}}`:              false,
		`{"X":{"RAW":{"a":{"b":1,"B":2}}}}`:        false,
		`{"x":{"raw":[{"a":1,"A":2}]}}`:            false,
		`{"l":[{"raw":{"a":1,"A":2}}]}`:            false,
		`{"X":[{"RAW":{"a":{"b":1,"B":2}}}]}`:      true,
		`{"l":{"raw":{"a":1,"A":2}}}`:              true,
		`{"l":[[{"raw":{"a":1,"A":2}}]]}`:          true,
		`{"x":{"raw":{"a":1,"a":2}}}`:              true,
		`{"x":{"raw":[{"a":{"b":1,"b":2}}]}}`:      true,
		`{"x":{"raw":{},"RAW":{}}}`:                true,
		`{"x":{"other":{"a":1,"A":2}}}`:            true,
		`{"y":{"raw":{"a":1,"A":2}}}`:              true,
		`{"x":{"raw":{"a":1}},"x2":{"a":1,"A":2}}`: true,
	} {
		if _, got := duplicateKey([]byte(body), free); got != want {
			t.Errorf("duplicateKey(%s) under x.raw and l[].raw = %v, want %v", body, got, want)
		}
	}
}
