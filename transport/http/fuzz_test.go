package httptransport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// fuzzDecoder checks a decoder's promise on arbitrary input: no panic, and
// either a request of the ports type or a 400/413/415 transport error; and
// that it decodes exactly as legacy, the two-pass decoder it replaced
// (legacy_test.go): the same request, or the same error.
//
// free are the endpoint's free-form paths, where only the same key twice is
// a duplicate (see beginObject).
func fuzzDecoder(f *testing.F, dec, legacy func(context.Context, *http.Request) (any, error), check func(any) bool, free []pathRule, seeds ...string) {
	f.Helper()
	common := []string{
		``, ` `, `null`, `[]`, `"x"`, `{}`, `{`, `}`, `{"processId":}`, `{"processId":"p"} x`, `{"processId":"p"}{}`,
		"{\"processId\":\"\xff\"}", `{"processId":"\u0000"}`, `{"processId":"\ud800"}`, `{"a":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`,
		`{"processId":1e400}`, `{"score":1e400}`, `{"score":-0}`, `{"PROCESSID":"p"}`, `{"processId":"p","processId":"q"}`,
		`{"data":{"a":1e999}}`, `{"identification":{"k":1e999}}`,
		`{"processId":"\ud83d\ude00\ud800x\udc00\ud800\u0041"}`, `{"pROCESSiD":"a","\u017ftatus":"s"}`, `{"processId":"a\/b\"\\\b\f\n\r\t"}`,
		`{"processId":"` + strings.Repeat("ab", 20) + `\u00e9` + strings.Repeat("cd", 20) + `"}`, `{"x":[1,-0.5e+3,0,-0,2E-2,true,false,null,{},[]]}`,
		`{"processId":01}`, `{"processId":-}`, `{"processId":1.}`, `{"processId":1e}`, `{"processId":tru}`, `{"processId":"\x"}`, "{\"processId\":\"\t\"}",
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
		compareLegacy(t, legacy, body, contentType, got, err)
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
		if k, dup := duplicateKey([]byte(body), free); dup {
			t.Fatalf("accepted a duplicate key %q in %q", k, body)
		}
	})
}

// compareLegacy decodes body with the legacy decoder and fails unless it
// agrees with what the new one gave. Two differences are by design: the
// new decoder bounds the documents and images arrays whatever the letter
// case of the keys leading to them (the old scanner matched the paths
// exactly, so "DocumentCheckResult" slipped past the limit), and it
// reports identification's length problems in body order (the old one
// iterated a map, so with two problems either could be named).
func compareLegacy(t *testing.T, legacy func(context.Context, *http.Request) (any, error), body, contentType string, got any, err error) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	want, wantErr := legacy(withBodyLimit(4096)(context.Background(), req), req)
	switch {
	case err == nil && wantErr == nil:
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decoded %#v, the legacy decoder %#v", got, want)
		}
	case err != nil && wantErr != nil:
		if err.Error() == wantErr.Error() {
			return
		}
		lengthProblem := func(e error) bool {
			return strings.HasPrefix(e.Error(), "identification: ") && strings.HasSuffix(e.Error(), " characters")
		}
		if lengthProblem(err) && lengthProblem(wantErr) {
			return // a key and a value too long: the legacy order was random
		}
		if isLimit(err) && !isLimit(wantErr) {
			return
		}
		t.Fatalf("error %q, the legacy decoder %q", err, wantErr)
	case isLimit(err):
	default:
		t.Fatalf("decoded %#v (error %v), the legacy decoder %#v (error %v)", got, err, want, wantErr)
	}
}

func isLimit(err error) bool { return strings.HasSuffix(err.Error(), "must have at most 32 elements") }

// duplicateKey is the reference the scanner is fuzzed against: it walks the
// tokens of a valid document and reports the first key an object holds
// twice, compared case-insensitively, or exactly at or under one of the
// free-form paths (an object at each key, matched in any letter case, and
// an array where the path marks one with []).
func duplicateKey(b []byte, free []pathRule) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		object    bool
		keys      []string
		key       string // object: the key whose value is being read
		expectKey bool
		exact     bool
	}
	var stack []frame
	freeAt := func() bool {
		for _, r := range free {
			var shape []string // "k:" + key for an object, "[]" for an array
			for _, k := range strings.Split(r.path, ".") {
				key, array := strings.CutSuffix(k, "[]")
				shape = append(shape, "k:"+key)
				if array {
					shape = append(shape, "[]")
				}
			}
			if len(shape) != len(stack) {
				continue
			}
			match := true
			for i, f := range stack {
				switch {
				case shape[i] == "[]":
					match = match && !f.object
				default:
					match = match && f.object && strings.EqualFold("k:"+f.key, shape[i])
				}
			}
			if match {
				return true
			}
		}
		return false
	}
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
				exact := top != nil && top.exact || freeAt()
				if top != nil && top.object {
					top.expectKey = true
				}
				stack = append(stack, frame{object: v == '{', expectKey: v == '{', exact: exact})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		case string:
			if top != nil && top.object && top.expectKey {
				for _, k := range top.keys {
					if k == v || !top.exact && strings.EqualFold(k, v) {
						return v, true
					}
				}
				top.keys = append(top.keys, v)
				top.key = v
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
	fuzzDecoder(f, decodeLookupRequest, legacyLookup, is[portsLookup], lookupPaths,
		`{"processId":"p","processType":"t","identification":{"clientNumber":"1","birthDate":"1985-04-12"}}`,
		`{"identification":{"a":1,"b":true,"c":null,"d":{},"e":[],"f":"\u00e9"}}`,
		`{"identification":"x"}`, `{"identification":{"`+strings.Repeat("a", 10)+`":1}}`,
		`{"identification":{"a":1,"A":{"b":[{"c":1,"C":2}]}}}`, `{"IDENTIFICATION":{"k":1,"`+"\u212a"+`":2}}`, `{"x":{"a":1,"A":2}}`)
}

func FuzzDecodeApprove(f *testing.F) {
	fuzzDecoder(f, decodeApproveRequest, legacyApprove, is[portsApproval], nil,
		`{"processId":"p","score":8,"presenceCheckResult":{"frame":"`+jpegB64+`"}}`,
		`{"presenceCheckResult":{"frame":"/9j/"}}`, `{"presenceCheckResult":{"frame":"data:image/png;base64,`+pngB64+`"}}`,
		`{"presenceCheckResult":{"frame":"\/9j\/4A=="}}`, `{"presenceCheckResult":{"frame":"\u"}}`, `{"presenceCheckResult":{"frame":"\"}}`,
		`{"presenceCheckResult":{"frame":"-_-_"}}`, `{"presenceCheckResult":null}`, `{"presenceCheckResult":{"frame":"a\\"}}`)
}

func FuzzDecodeEvaluate(f *testing.F) {
	fuzzDecoder(f, decodeEvaluateRequest, legacyEvaluate, is[portsEvaluation], evaluateArrays,
		allEndpoints()[2].body,
		`{"verificationId":"v","extractedData":["{}"]}`, `{"documentCheckResult":{"documents":[{"images":[{"type":"FACE","data":"`+pngB64+`"}]}]}}`,
		`{"documentCheckResult":{"documents":[{"data":{"surname":1}}]}}`, `{"documentCheckResult":{"documents":[null,{}]}}`,
		`{"documentCheckResult":{"documents":[{"images":[null,{"data":"%%"}]}]}}`,
		`{"documentCheckResult":{"documents":[{"rawData":{"id":1,"ID":[{"a":1,"A":2}]},"RawData":1}]}}`,
		`{"documentCheckResult":{"documents":[{"rawData":{"id":1,"id":2}}]}}`, `{"documentCheckResult":{"documents":[{"data":{"surname":"a","SURNAME":"b"}}]}}`,
		`{"documentCheckResult":{"documents":{"rawData":{"a":1,"A":2}}}}`, `{"documentCheckResult":[{"documents":[{"rawData":{"a":1,"A":2}}]}]}`,
		`{"documentCheckResult":{"documents":[[{"rawData":{"a":1,"A":2}}]]}}`, `{"documentCheckResult":{"documents":[{"rawData":[{"a":1,"A":2}]}]}}`)
}

func FuzzDecodeOTPSend(f *testing.F) {
	fuzzDecoder(f, decodeOTPSendRequest, legacyOTPSend, is[portsOTP], nil,
		allEndpoints()[3].body, `{"resend":null}`, `{"resend":"true"}`, `{"otpCode":123}`)
}

func FuzzDecodeConsentStorage(f *testing.F) {
	fuzzDecoder(f, decodeConsentStorageRequest, legacyConsentStorage, is[portsConsentStorage], nil,
		allEndpoints()[4].body, `{"approved":null}`, `{"approved":0}`, `{"approved":false}`)
}

func FuzzDecodeConsentText(f *testing.F) {
	fuzzDecoder(f, decodeConsentTextRequest, legacyConsentText, is[portsConsentText], nil,
		allEndpoints()[5].body, `{"language":["en"]}`)
}

func FuzzDecodeProcessEvent(f *testing.F) {
	fuzzDecoder(f, decodeProcessEventRequest, legacyProcessEvent, is[portsProcessEvent], eventPaths,
		allEndpoints()[6].body, `{"type":"FINISHED","eventData":{"a":[1,{"b":null}]},"locale":"en"}`, `{"data":[]}`, `{"data":{"locale":1},"locale":"x"}`,
		`{"data":{"requestId":"a","RequestId":"b"},"eventData":[{"x":1,"X":2}]}`, `{"Data":{"a":{"b":1,"B":2}},"type":"T","TYPE":"U"}`)
}
