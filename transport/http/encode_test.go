package httptransport

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

// encodeWithJSON is the reference: what writeJSON wrote before the bodies
// appended themselves.
func encodeWithJSON(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var encodeSamples = []string{
	"", "OK", "user-1", `quote " and \ backslash`, "<p>I agree &amp; consent</p>", "tab\tnew\nline\rcr\bbs\fff",
	"\x00\x01\x1f\x7f", "Nováková Žluťoučký", "\u2028 and \u2029", "invalid \xff\xfe utf-8 \xc3", "emoji 😀", strings.Repeat("é", 300),
}

func TestAppendJSONMatchesEncoder(t *testing.T) {
	for _, s := range encodeSamples {
		str := s
		for _, v := range []jsonAppender{
			lookupResponse{UserID: s, Consent: &str, ConsentRequired: true},
			lookupResponse{UserID: s},
			decisionResponse{Result: s, ResultReason: &str},
			decisionResponse{Result: s},
			otpSendResponse{OTPSent: true},
			otpSendResponse{},
			emptyResponse{},
			consentTextResponse{ConsentText: s},
			errorBody{ErrorCode: errorGeneric, Message: s},
		} {
			if got, want := v.appendJSON(nil), encodeWithJSON(t, v); !bytes.Equal(got, want) {
				t.Errorf("%T(%q): got %s, want %s", v, s, got, want)
			}
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range encodeSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v := consentTextResponse{ConsentText: s}
		if got, want := v.appendJSON(nil), encodeWithJSON(t, v); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}

// TestContentLengthOnTheWire holds writeJSON to what it leaves to net/http:
// every answer, small or past net/http's buffer, success or error, reaches
// a real client with a Content-Length equal to its body and is never sent
// chunked. Around the edge of netHTTPBuffered in particular: if net/http's
// buffer shrank, the answers just under the old size would go out chunked.
func TestContentLengthOnTheWire(t *testing.T) {
	f := &fakes{}
	var html string
	f.text = func(_ context.Context, r ports.ConsentTextRequest) (domain.ConsentText, error) {
		return domain.ConsentText{Type: r.ConsentType, Language: r.Language, Version: 1, HTML: html}, nil
	}
	h, err := NewHandler(f.services(), Config{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	post := func(path, body string) (*http.Response, []byte) {
		t.Helper()
		res, err := srv.Client().Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = res.Body.Close() }()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res, b
	}
	check := func(name string, res *http.Response, body []byte, wantStatus int) {
		t.Helper()
		if res.StatusCode != wantStatus {
			t.Errorf("%s: status %d, want %d", name, res.StatusCode, wantStatus)
		}
		if len(res.TransferEncoding) != 0 {
			t.Errorf("%s (%d bytes): sent %v, want a Content-Length", name, len(body), res.TransferEncoding)
		}
		if got := res.Header.Get("Content-Length"); got != strconv.Itoa(len(body)) {
			t.Errorf("%s: Content-Length %q, body %d bytes", name, got, len(body))
		}
		if got := res.Header.Get("Content-Type"); got != "application/json" {
			t.Errorf("%s: Content-Type %q", name, got)
		}
	}
	textReq := `{"processId":"p-1","userId":"user-1","consentType":"GDPR","language":"en"}`
	html = ""
	_, empty := post("/consent/text", textReq)
	overhead := len(empty) // the body around an empty text
	sizes := []int{0, netHTTPBuffered - 1, netHTTPBuffered, netHTTPBuffered + 1, 4 * netHTTPBuffered, 100_000}
	for _, size := range sizes {
		html = strings.Repeat("a", max(size-overhead, 0))
		res, body := post("/consent/text", textReq)
		check("consent text of "+strconv.Itoa(size)+" bytes", res, body, http.StatusOK)
		if size >= overhead && len(body) != size {
			t.Errorf("body of %d bytes, want %d", len(body), size)
		}
	}
	res, body := post("/user/lookup", `{"processId":"p-1","identification":{"clientNumber":"123"}}`)
	check("lookup", res, body, http.StatusOK)
	res, body = post("/user/lookup", `{"processId":`)
	check("a refused body", res, body, http.StatusBadRequest)
}
