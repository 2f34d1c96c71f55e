package httptransport

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
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
