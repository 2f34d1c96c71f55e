package admin

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// FuzzJSONBody feeds jsonBody what a signed-in reviewer's client may send
// to the claim (no body wanted) and resolve endpoints. Whatever it gets it
// must not panic, and:
//
//   - a refusal is the API's error body with 400, 413 (only for a body over
//     maxBody) or 415 (exactly when the media type is not
//     application/json), and its message is one of jsonProblem's fixed
//     texts or names an unknown field that is a key of the body: a reason
//     may carry personal data, so no value of the body is ever repeated;
//   - an acceptance writes nothing, and what was decoded is the first JSON
//     value of the body: null, or an object with only result and reason
//     (as encoding/json matches names, ignoring case) holding strings or
//     null; and the accepted value, encoded again, decodes to itself;
//   - with no body wanted, only an empty body, null or {} is accepted.
func FuzzJSONBody(f *testing.F) {
	for _, s := range []string{
		``, ` `, "\n", `null`, `{}`, ` {} `, `[]`, `"OK"`, `1`, `true`, `{`, `}`, `{"result":`, `{"result":"OK"`,
		`{"result":"OK","reason":"documents checked by hand"}`, `{"result":"NOK","reason":"Jana Nováková, 1985-04-12"}`,
		`{"result":1,"reason":"x"}`, `{"result":{"a":1}}`, `{"reason":["x"]}`, `{"result":null,"reason":null}`,
		`{"RESULT":"OK","Reason":"x"}`, `{"reaſon":"x"}`, `{"secondReviewer":"bob","result":"OK","reason":"x"}`,
		`{"Jana Nováková":"x"}`, `{"result":"OK","result":2}`, `{"result":"a","RESULT":"b"}`,
		`{"result":"OK","reason":"x"} {"secondReviewer":"bob"}`, `{}{}`, `{} x`, "{\"reason\":\"\xff\"}",
		"{\"\xff\":1}", `{"reason":"\ud800"}`, `{"reason":"\u0000"}`, `{"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`,
		`{"reason":"` + strings.Repeat("x", maxBody) + `"}`, `{"result":1e400}`,
	} {
		f.Add("application/json", []byte(s))
	}
	f.Add("application/json; charset=utf-8", []byte(`{"result":"OK","reason":"x"}`))
	f.Add("APPLICATION/JSON", []byte(`{}`))
	f.Add("text/plain", []byte(`{"result":"OK","reason":"x"}`))
	f.Add("application/x-www-form-urlencoded", []byte("result=OK&reason=x"))
	f.Add("", []byte(`{}`))
	f.Add("application/json;", []byte(`{}`))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		var got resolveJSON
		if ok, rec := decodeJSONBody(contentType, body, &got); !ok {
			checkJSONRefusal(t, contentType, body, rec)
		} else {
			checkAccepted(t, contentType, body, rec)
			checkResolveBody(t, body, got)
		}

		ok, rec := decodeJSONBody(contentType, body, nil)
		if !ok {
			checkJSONRefusal(t, contentType, body, rec)
			return
		}
		checkAccepted(t, contentType, body, rec)
		first, ok := firstJSONValue(body)
		if !ok {
			if len(bytes.TrimSpace(body)) != 0 {
				t.Fatalf("no body wanted, yet %q, which holds no JSON value, was accepted", body)
			}
			return
		}
		var m map[string]json.RawMessage
		if string(first) != "null" && (json.Unmarshal(first, &m) != nil || len(m) != 0) {
			t.Fatalf("no body wanted, yet %q was accepted", body)
		}
	})
}

// decodeJSONBody runs jsonBody on a POST of body with contentType into v.
func decodeJSONBody(contentType string, body []byte, v any) (bool, *httptest.ResponseRecorder) {
	req := httptest.NewRequest(http.MethodPost, APIPrefix+"/cases/c/resolve", bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	return (&Handler{}).jsonBody(rec, req, v), rec
}

// checkJSONRefusal checks the answer jsonBody gave when it refused body.
func checkJSONRefusal(t *testing.T, contentType string, body []byte, rec *httptest.ResponseRecorder) {
	t.Helper()
	var eb errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.ErrorCode != errorGeneric {
		t.Fatalf("refused %q with %d %q, not the API's error body", body, rec.Code, rec.Body)
	}
	mt, _, err := mime.ParseMediaType(contentType)
	notJSON := err != nil || mt != "application/json"
	if notJSON != (rec.Code == http.StatusUnsupportedMediaType) {
		t.Fatalf("Content-Type %q answered %d %q", contentType, rec.Code, eb.Message)
	}
	switch rec.Code {
	case http.StatusUnsupportedMediaType:
		if eb.Message != "Content-Type must be application/json" {
			t.Fatalf("415 with %q", eb.Message)
		}
	case http.StatusRequestEntityTooLarge:
		if len(body) <= maxBody || eb.Message != "body too large" {
			t.Fatalf("413 %q for a body of %d bytes", eb.Message, len(body))
		}
	case http.StatusBadRequest:
		switch eb.Message {
		case "body: is required", "body: not valid JSON", "body: must be a JSON object", "body: must be a single JSON object",
			"body: result: must be a string", "body: reason: must be a string":
			return
		}
		name, ok := strings.CutPrefix(eb.Message, "body: unknown field ")
		if ok {
			name, ok = strings.CutSuffix(name, " (the reviewer is the authenticated user)")
		}
		if ok {
			key, err := strconv.Unquote(name)
			if err == nil && hasTopLevelKey(body, key) {
				return
			}
		}
		t.Fatalf("refused %q with %q: neither a fixed text nor a key of the body", body, eb.Message)
	default:
		t.Fatalf("refused %q with status %d", body, rec.Code)
	}
}

// checkAccepted checks that an acceptance wrote nothing and needed
// application/json.
func checkAccepted(t *testing.T, contentType string, body []byte, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 || len(rec.Header()) != 0 {
		t.Fatalf("accepted %q but answered %d %q", body, rec.Code, rec.Body)
	}
	if mt, _, err := mime.ParseMediaType(contentType); err != nil || mt != "application/json" {
		t.Fatalf("accepted Content-Type %q", contentType)
	}
}

// checkResolveBody checks an accepted resolution body against the first
// JSON value of body, as encoding/json reads it untyped.
func checkResolveBody(t *testing.T, body []byte, got resolveJSON) {
	t.Helper()
	first, ok := firstJSONValue(body)
	if !ok {
		t.Fatalf("accepted %q as %+v, which holds no JSON value", body, got)
	}
	if string(first) == "null" {
		if got != (resolveJSON{}) {
			t.Fatalf("accepted null as %+v", got)
		}
	} else {
		var m map[string]any
		if err := json.Unmarshal(first, &m); err != nil {
			t.Fatalf("accepted %q, whose first value is not an object: %v", body, err)
		}
		fields := map[string][]string{}
		for k, v := range m {
			var name string
			switch {
			case strings.EqualFold(k, "result"):
				name = "result"
			case strings.EqualFold(k, "reason"):
				name = "reason"
			default:
				t.Fatalf("accepted %q with the field %q", body, k)
			}
			s, isString := v.(string)
			if v != nil && !isString {
				t.Fatalf("accepted %q with %s a %T", body, k, v)
			}
			fields[name] = append(fields[name], s)
		}
		// With one spelling of a name the field holds its value; with
		// several ("result", "RESULT") the last in the body wins, and a
		// map forgets the order.
		for name, value := range map[string]string{"result": got.Result, "reason": got.Reason} {
			if vs := fields[name]; len(vs) <= 1 && value != strings.Join(vs, "") {
				t.Fatalf("accepted %q with %s %q, want %q", body, name, value, vs)
			}
		}
	}
	again, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var back resolveJSON
	if ok, rec := decodeJSONBody("application/json", again, &back); !ok || back != got {
		t.Fatalf("%+v encoded as %s decodes as %+v (%d %q)", got, again, back, rec.Code, rec.Body)
	}
}

// firstJSONValue returns the first JSON value of body, which is all a
// json.Decoder reads; false when there is none or it is not valid.
func firstJSONValue(body []byte) (json.RawMessage, bool) {
	var raw json.RawMessage
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&raw); err != nil {
		return nil, false
	}
	return raw, true
}

// hasTopLevelKey reports whether the first JSON value of body is an object
// with key (as encoding/json unquotes keys).
func hasTopLevelKey(body []byte, key string) bool {
	first, ok := firstJSONValue(body)
	if !ok {
		return false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(first, &m); err != nil {
		return false
	}
	_, ok = m[key]
	return ok
}

// A body holds one JSON value: a second one (a client merging two objects)
// is refused, not silently dropped.
func TestJSONBodyRefusesTrailingData(t *testing.T) {
	for _, body := range []string{`{"result":"OK","reason":"x"} {"secondReviewer":"bob"}`, `{}{}`, `{} x`} {
		var got resolveJSON
		ok, rec := decodeJSONBody("application/json", []byte(body), &got)
		if ok || rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "must be a single JSON object") {
			t.Errorf("%q: accepted %v, %d %s; want 400 naming a single JSON object", body, ok, rec.Code, rec.Body)
		}
	}
	if ok, rec := decodeJSONBody("application/json", []byte("{\"result\":\"OK\",\"reason\":\"x\"}\n  "), &resolveJSON{}); !ok {
		t.Errorf("trailing white space refused: %d %s", rec.Code, rec.Body)
	}
}
