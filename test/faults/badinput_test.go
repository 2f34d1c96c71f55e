package faults

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/test/testkit"
)

// leakMarkers would betray internals in an answer: a stack trace, a source
// path, the Go runtime, a version.
var leakMarkers = []string{"goroutine ", ".go:", "runtime.", "panic", "pgx", "postgres", "onboarding-adapter/", "go1."}

// checkNoLeak fails t when an answer's headers or body show the server
// software, its version or a stack trace.
func checkNoLeak(t *testing.T, what string, h http.Header, body string) {
	t.Helper()
	for _, name := range []string{"Server", "X-Powered-By", "X-AspNet-Version", "X-Version"} {
		if v := h.Get(name); v != "" {
			t.Errorf("%s: header %s: %q", what, name, v)
		}
	}
	for _, m := range leakMarkers {
		if strings.Contains(body, m) {
			t.Errorf("%s: the answer contains %q: %s", what, m, body)
		}
	}
}

func nested(levels int) string {
	return `{"processId":"p","type":"FINISHED","data":` + strings.Repeat(`{"a":`, levels-2) + `{}` + strings.Repeat(`}`, levels-2) + `}`
}

func evaluateWith(doc string) string {
	return `{"processId":"bi","userId":"u-1000001","identityVerificationId":"iv-bi","status":"SUCCESS","score":9,` +
		`"documentCheckResult":{"documents":[` + doc + `]}}`
}

func manyKeys(n int) string {
	var b strings.Builder
	b.WriteString(`{"processId":"bi","identification":{`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d":%d`, i, i)
	}
	b.WriteString(`}}`)
	return b.String()
}

// TestBadInput sends the hostile and broken requests of the issue to the
// binary: each is refused with its status, ERROR_GENERIC and a message
// naming the field (as a JSON path) or the body, never echoing the value,
// never showing internals; after each the service still serves.
func TestBadInput(t *testing.T) {
	t.Parallel()
	svc := startService(t, nil)
	gif := base64.StdEncoding.EncodeToString([]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"))
	const (
		approve  = `{"processId":"bi","userId":"u-1000001","identityVerificationId":"iv-bi","status":"SUCCESS","score":`
		lookupOK = `{"processId":"bi","identification":{"clientNumber":"1000001","birthDate":"1985-04-12"}}`
	)
	tests := []struct {
		name, path, body string
		contentType      string // default application/json
		status           int
		message          string // the whole message, or its start when it ends in "…"
	}{
		{"malformed JSON", "/user/lookup", `{"processId":"p",}`, "", 400, "request body is not valid JSON"},
		{"truncated JSON", "/user/lookup", `{"processId":"p","identification":{"clientNumber":"100`, "", 400, "request body is not valid JSON"},
		{"trailing data", "/user/lookup", lookupOK + ` {}`, "", 400, "request body is not valid JSON"},
		{"not an object", "/user/lookup", `["processId"]`, "", 400, "request body must be a JSON object"},
		{"empty body", "/consent/storage", ``, "", 400, "request body is empty"},
		{"whitespace body", "/consent/storage", " \n ", "", 400, "request body is empty"},
		{"invalid UTF-8", "/user/lookup", "{\"processId\":\"\xff\xfe\"}", "", 400, "request body is not valid UTF-8"},
		{"NUL in a string", "/user/lookup", `{"processId":"a\u0000b"}`, "", 400, "request body must not contain NUL characters"},
		{"wrong type: score string", "/client/approve", approve + `"high"}`, "", 400, "score: must be a number"},
		{"wrong type: approved string", "/consent/storage", `{"processId":"bi","userId":"u-1000001","consentType":"GDPR","approved":"yes"}`, "", 400, "approved: must be true or false"},
		{"wrong type: identification", "/user/lookup", `{"processId":"bi","identification":"1000001"}`, "", 400, "identification: must be an object"},
		{"wrong type: documents", "/client/evaluate", `{"processId":"bi","documentCheckResult":{"documents":{}}}`, "", 400, "documentCheckResult.documents: must be an array"},
		{"wrong type, nested path", "/client/evaluate", evaluateWith(`{"type":"ID_CARD","data":{"dateOfExpiry":20300101}}`), "", 400,
			"documentCheckResult.documents[0].data.dateOfExpiry: must be a string"},
		{"missing approved", "/consent/storage", `{"processId":"bi","userId":"u-1000001","consentType":"GDPR"}`, "", 400, "approved: is required (true or false)"},
		{"score -1", "/client/approve", approve + `-1}`, "", 400, "score: must be a number between 0 and 10"},
		{"score 10.5", "/client/approve", approve + `10.5}`, "", 400, "score: must be a number between 0 and 10"},
		{"score 1e400", "/client/approve", approve + `1e400}`, "", 400, "score: number out of range"},
		{"nested 33 levels", "/process/event", nested(33), "", 400, "request body is nested more than 32 levels deep"},
		{"nested 100000 levels", "/process/event", nested(100000), "", 413, "request body exceeds 65536 bytes"},
		{"duplicate key", "/consent/storage", `{"processId":"bi","userId":"u-1000001","consentType":"GDPR","approved":false,"approved":true}`, "", 400, "approved: duplicate key"},
		{"duplicate key, other case", "/consent/storage", `{"processId":"bi","userId":"u-1000001","consentType":"GDPR","approved":true,"Approved":false}`, "", 400, "Approved: duplicate key"},
		{"duplicate key, nested", "/client/evaluate", evaluateWith(`{"type":"ID_CARD","data":{"surname":"NOVAKOVA","surname":"X"}}`), "", 400,
			"documentCheckResult.documents[0].data.surname: duplicate key"},
		{"invalid base64", "/client/approve", approve + `9,"presenceCheckResult":{"frame":"not*base64"}}`, "", 400, "presenceCheckResult.frame: not valid base64"},
		{"base64 of a GIF", "/client/approve", approve + `9,"presenceCheckResult":{"frame":"` + gif + `"}}`, "", 400, "presenceCheckResult.frame: not a JPEG or PNG image"},
		{"document image not an image", "/client/evaluate", evaluateWith(`{"type":"ID_CARD","images":[{"type":"FACE","data":"` + base64.StdEncoding.EncodeToString([]byte("plain text")) + `"}]}`), "", 400,
			"documentCheckResult.documents[0].images[0].data: not a JPEG or PNG image"},
		{"impossible date in a document", "/client/evaluate", evaluateWith(`{"type":"ID_CARD","status":"SUCCESS","data":{"givenNames":"JANA","surname":"NOVAKOVA","dateOfBirth":"1985-04-12","dateOfExpiry":"2023-02-30"}}`), "", 400,
			"documentCheckResult.documents[0].data.dateOfExpiry: must be a date in the format YYYY-MM-DD"},
		{"impossible birth date", "/user/lookup", `{"processId":"bi","identification":{"clientNumber":"1000001","birthDate":"2023-02-30"}}`, "", 400,
			"identification.birthDate: must be a date in the format YYYY-MM-DD"},
		{"unknown status", "/client/approve", `{"processId":"bi","userId":"u-1000001","identityVerificationId":"iv-bi","status":"MAYBE","score":9}`, "", 400, "status: must be SUCCESS or FAILURE"},
		{"unknown otpType", "/otp/send", `{"processId":"bi","userId":"u-1000001","language":"en","otpCode":"12345678","otpType":"PASSWORD"}`, "", 400,
			"otpType: must be ACTIVATION or USER_VERIFICATION"},
		{"unknown consentType", "/consent/text", `{"processId":"bi","consentType":"EVERYTHING","language":"en"}`, "", 400, "consentType: unknown consent type"},
		{"1 MB processId", "/client/approve", `{"processId":"` + strings.Repeat("p", 1<<20) + `","userId":"u-1000001","identityVerificationId":"iv-bi","status":"SUCCESS","score":9}`, "", 400,
			"processId: must be at most 128 characters"},
		{"oversized surname", "/client/evaluate", evaluateWith(`{"type":"ID_CARD","data":{"surname":"` + strings.Repeat("Ž", 257) + `"}}`), "", 400,
			"documentCheckResult.documents[0].data.surname: must be at most 256 characters"},
		{"oversized otpCode", "/otp/send", `{"processId":"bi","userId":"u-1000001","language":"en","otpType":"ACTIVATION","otpCode":"` + strings.Repeat("1", 100) + `"}`, "", 400,
			"otpCode: must be at most 64 characters"},
		{"33 documents", "/client/evaluate", evaluateWith(strings.TrimSuffix(strings.Repeat(`{},`, 33), ",")), "", 400,
			"documentCheckResult.documents: must have at most 32 elements"},
		{"identification with 300 keys", "/user/lookup", manyKeys(300), "", 400, "identification: must have at most 256 keys"},
		{"identification with 10000 keys", "/user/lookup", manyKeys(10000), "", 413, "request body exceeds 65536 bytes"},
		{"body over the limit", "/consent/storage", `{"processId":"` + strings.Repeat("p", 70000) + `"}`, "", 413, "request body exceeds 65536 bytes"},
		{"image body over its limit", "/client/approve", approve + `9,"presenceCheckResult":{"frame":"` + strings.Repeat("A", 11<<20) + `"}}`, "", 413,
			"request body exceeds 10485760 bytes"},
		{"text/plain", "/user/lookup", lookupOK, "text/plain", 415, "Content-Type must be application/json"},
		{"latin1 charset", "/user/lookup", lookupOK, "application/json; charset=iso-8859-1", 415, "Content-Type charset must be utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{}
			if tt.contentType != "" {
				h["Content-Type"] = tt.contentType
			}
			r := testkit.Call(t, svc.API+tt.path, tt.body, h)
			if r.Status != tt.status || r.Body["errorCode"] != "ERROR_GENERIC" || r.Body["message"] != tt.message {
				t.Errorf("%d %s, want %d ERROR_GENERIC %q", r.Status, r.Raw, tt.status, tt.message)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			checkNoLeak(t, tt.name, r.Header, r.Raw)
			// Still healthy: the process lives and answers a good request.
			if st := testkit.Get(svc.Admin + "/livez"); st != http.StatusOK {
				t.Fatalf("/livez after %s: %d", tt.name, st)
			}
			if ok := testkit.Call(t, svc.API+"/user/lookup", lookupOK, nil); ok.Status != http.StatusOK {
				t.Fatalf("a good request after %s: %d %s", tt.name, ok.Status, ok.Raw)
			}
		})
	}
	// No refused value reaches the log: the 1 MB id, the 300-key names.
	logs := svc.Logs.String()
	for _, v := range []string{strings.Repeat("p", 200), "not*base64", `"k299"`, "EVERYTHING", strings.Repeat("Ž", 20)} {
		if strings.Contains(logs, v) {
			t.Errorf("the logs contain the refused value %.40q", v)
		}
	}
}

// countingReader is an endless JSON-ish body that counts what was taken.
type countingReader struct {
	n      atomic.Int64
	prefix []byte
}

func (c *countingReader) Read(p []byte) (int, error) {
	off := c.n.Load()
	k := 0
	for k < len(p) {
		if off+int64(k) < int64(len(c.prefix)) {
			p[k] = c.prefix[off+int64(k)]
		} else {
			p[k] = 'a'
		}
		k++
	}
	c.n.Add(int64(k))
	return k, nil
}

// TestHugeBodyReadStopsAtLimit sends /consent/storage (64 KiB limit) an
// endless chunked body: the service answers 413 within a second and stops
// reading, so the client gets to send only the limit plus what the sockets
// buffer, never the gigabyte it tries. A request announcing 1 GiB in
// Content-Length is answered 413 before a byte of its body is sent. The
// service still serves afterwards.
func TestHugeBodyReadStopsAtLimit(t *testing.T) {
	t.Parallel()
	svc := startService(t, nil)
	t.Run("chunked, endless", func(t *testing.T) {
		body := &countingReader{prefix: []byte(`{"processId":"`)}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, svc.API+"/consent/storage", io.NopCloser(body))
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = -1
		req.Header.Set("Content-Type", "application/json")
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("no answer: %v (sent %d bytes)", err, body.n.Load())
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		time.Sleep(200 * time.Millisecond) // let the writer notice the closed connection
		sent := body.n.Load()
		t.Logf("413 after %v; the client managed to send %d bytes", took, sent)
		var e map[string]any
		_ = json.Unmarshal(raw, &e)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || e["message"] != "request body exceeds 65536 bytes" {
			t.Errorf("%d %s, want 413", resp.StatusCode, raw)
		}
		if took > time.Second {
			t.Errorf("the 413 took %v", took)
		}
		if sent > 16<<20 {
			t.Errorf("the client sent %d bytes: the service kept reading past the limit", sent)
		}
	})
	t.Run("announced 1 GiB", func(t *testing.T) {
		conn, err := net.Dial("tcp", svc.APIAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(conn, "POST /consent/storage HTTP/1.1\r\nHost: onboarding\r\nContent-Type: application/json\r\n"+
			"Content-Length: 1073741824\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		// Not one body byte sent: the answer comes from the header alone.
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(raw), "request body exceeds 65536 bytes") {
			t.Errorf("%d %s, want 413 before the body", resp.StatusCode, raw)
		}
	})
	if r := testkit.Call(t, svc.API+"/consent/text", map[string]any{"processId": "huge", "consentType": "GDPR", "language": "en"}, nil); r.Status != http.StatusOK {
		t.Errorf("after the huge bodies: %d %s", r.Status, r.Raw)
	}
}
