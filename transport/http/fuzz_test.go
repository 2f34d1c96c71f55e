package httptransport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzDecoder checks a decoder's promise on arbitrary input: no panic, and
// either a request of the ports type or a 400/413/415 transport error.
func fuzzDecoder(f *testing.F, dec func(context.Context, *http.Request) (any, error), check func(any) bool, seeds ...string) {
	f.Helper()
	common := []string{
		``, ` `, `null`, `[]`, `"x"`, `{}`, `{`, `}`, `{"processId":}`, `{"processId":"p"} x`, `{"processId":"p"}{}`,
		"{\"processId\":\"\xff\"}", `{"processId":"\u0000"}`, `{"processId":"\ud800"}`, `{"a":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`,
		`{"processId":1e400}`, `{"score":1e400}`, `{"score":-0}`, `{"PROCESSID":"p"}`, `{"processId":"p","processId":"q"}`,
		`{"data":{"a":1e999}}`, `{"identification":{"k":1e999}}`,
	}
	for _, s := range append(common, seeds...) {
		f.Add(s, "application/json")
	}
	f.Add(`{}`, "text/plain")
	f.Add(`{}`, "application/json; charset=latin1")
	f.Fuzz(func(t *testing.T, body, contentType string) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		ctx := withBodyLimit(4096)(context.Background(), req)
		got, err := dec(ctx, req)
		if err != nil {
			var re *requestError
			if !errors.As(err, &re) {
				t.Fatalf("error %v (%T) is not a transport error", err, err)
			}
			switch re.status {
			case 400, 413, 415:
			default:
				t.Fatalf("status %d", re.status)
			}
			if re.msg == "" {
				t.Fatalf("empty message")
			}
			return
		}
		if !check(got) {
			t.Fatalf("decoder returned %T", got)
		}
		// What is accepted is one valid JSON object without a key twice in
		// any object, as an independent token-based check sees it.
		if !json.Valid([]byte(body)) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		if k, dup := duplicateKey([]byte(body)); dup {
			t.Fatalf("accepted a duplicate key %q in %q", k, body)
		}
	})
}

// duplicateKey is the reference the scanner is fuzzed against: it walks the
// tokens of a valid document and reports the first key an object holds
// twice, compared case-insensitively.
func duplicateKey(b []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		object    bool
		keys      []string
		expectKey bool
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if top != nil && top.object {
					top.expectKey = true
				}
				stack = append(stack, frame{object: v == '{', expectKey: v == '{'})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		case string:
			if top != nil && top.object && top.expectKey {
				for _, k := range top.keys {
					if strings.EqualFold(k, v) {
						return v, true
					}
				}
				top.keys = append(top.keys, v)
				top.expectKey = false
				continue
			}
		}
		if top != nil && top.object {
			top.expectKey = true
		}
	}
}

func is[T any](v any) bool { _, ok := v.(T); return ok }

func FuzzDecodeLookup(f *testing.F) {
	fuzzDecoder(f, decodeLookupRequest, is[portsLookup],
		`{"processId":"p","processType":"t","identification":{"clientNumber":"1","birthDate":"1985-04-12"}}`,
		`{"identification":{"a":1,"b":true,"c":null,"d":{},"e":[],"f":"\u00e9"}}`,
		`{"identification":"x"}`, `{"identification":{"`+strings.Repeat("a", 10)+`":1}}`)
}

func FuzzDecodeApprove(f *testing.F) {
	fuzzDecoder(f, decodeApproveRequest, is[portsApproval],
		`{"processId":"p","score":8,"presenceCheckResult":{"frame":"`+jpegB64+`"}}`,
		`{"presenceCheckResult":{"frame":"/9j/"}}`, `{"presenceCheckResult":{"frame":"data:image/png;base64,`+pngB64+`"}}`,
		`{"presenceCheckResult":{"frame":"\/9j\/4A=="}}`, `{"presenceCheckResult":{"frame":"\u"}}`, `{"presenceCheckResult":{"frame":"\"}}`,
		`{"presenceCheckResult":{"frame":"-_-_"}}`, `{"presenceCheckResult":null}`, `{"presenceCheckResult":{"frame":"a\\"}}`)
}

func FuzzDecodeEvaluate(f *testing.F) {
	fuzzDecoder(f, decodeEvaluateRequest, is[portsEvaluation],
		allEndpoints()[2].body,
		`{"verificationId":"v","extractedData":["{}"]}`, `{"documentCheckResult":{"documents":[{"images":[{"type":"FACE","data":"`+pngB64+`"}]}]}}`,
		`{"documentCheckResult":{"documents":[{"data":{"surname":1}}]}}`, `{"documentCheckResult":{"documents":[null,{}]}}`,
		`{"documentCheckResult":{"documents":[{"images":[null,{"data":"%%"}]}]}}`)
}

func FuzzDecodeOTPSend(f *testing.F) {
	fuzzDecoder(f, decodeOTPSendRequest, is[portsOTP],
		allEndpoints()[3].body, `{"resend":null}`, `{"resend":"true"}`, `{"otpCode":123}`)
}

func FuzzDecodeConsentStorage(f *testing.F) {
	fuzzDecoder(f, decodeConsentStorageRequest, is[portsConsentStorage],
		allEndpoints()[4].body, `{"approved":null}`, `{"approved":0}`, `{"approved":false}`)
}

func FuzzDecodeConsentText(f *testing.F) {
	fuzzDecoder(f, decodeConsentTextRequest, is[portsConsentText],
		allEndpoints()[5].body, `{"language":["en"]}`)
}

func FuzzDecodeProcessEvent(f *testing.F) {
	fuzzDecoder(f, decodeProcessEventRequest, is[portsProcessEvent],
		allEndpoints()[6].body, `{"type":"FINISHED","eventData":{"a":[1,{"b":null}]},"locale":"en"}`, `{"data":[]}`, `{"data":{"locale":1},"locale":"x"}`)
}
