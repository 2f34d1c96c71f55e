package httptransport

// The decoder this package used before jsonDecoder, kept as the reference
// the fuzz targets compare jsonDecoder with (fuzzDecoder): scanJSON, then
// json.Unmarshal into the same DTOs through the UnmarshalJSON methods
// below, which exist only in tests. Whatever the new decoder accepts or
// refuses, and with which message, the reference must agree.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// legacyDecodeJSON is the old decodeJSON.
func legacyDecodeJSON(ctx context.Context, r *http.Request, dst any, arrays ...pathRule) error {
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	body, _, err := readBody(ctx, r)
	if err != nil {
		return err
	}
	return legacyUnmarshalBody(body, dst, arrays...)
}

// legacyUnmarshalBody applies the contract's rules to a JSON body: not empty,
// UTF-8, an object, nested at most maxJSONDepth levels, without NUL
// characters (which no text column can store), without duplicate keys,
// arrays within their limits, one value without trailing data. Unknown fields are ignored. A value of the wrong type is reported
// with its JSON path, array indices included.
func legacyUnmarshalBody(body []byte, dst any, arrays ...pathRule) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	switch {
	case len(trimmed) == 0:
		return badRequest("request body is empty")
	case !utf8.Valid(body):
		return badRequest("request body is not valid UTF-8")
	case trimmed[0] != '{':
		return badRequest("request body must be a JSON object")
	}
	if err := scanJSON(body, arrays); err != nil {
		return err
	}
	err := json.Unmarshal(body, dst)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		p, ok := pathAt(body, int(te.Offset)-1)
		if !ok || p == "" {
			p = te.Field
		}
		return fieldError(p, typeMessage(te))
	}
	return badRequest("request body is not valid JSON")
}

// typeMessage says what the field should have been, without echoing what it
// was.
func typeMessage(te *json.UnmarshalTypeError) string {
	t := te.Type
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "has the wrong type"
	}
	switch t.Kind() {
	case reflect.String:
		return "must be a string"
	case reflect.Bool:
		return "must be true or false"
	case reflect.Float32, reflect.Float64, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if strings.HasPrefix(te.Value, "number ") { // the literal did not fit
			return "number out of range"
		}
		return "must be a number"
	case reflect.Struct, reflect.Map:
		return "must be an object"
	case reflect.Slice, reflect.Array:
		return "must be an array"
	}
	return "has the wrong type"
}

// pathAt returns the JSON path (a.b[1].c) of the innermost value of the
// valid JSON document b that contains byte offset target. json's
// UnmarshalTypeError gives the offset of the offending value but names its
// field without array indices; this restores them.
func pathAt(b []byte, target int) (string, bool) {
	if target < 0 || target >= len(b) {
		return "", false
	}
	s := pathScanner{b: b, target: target}
	_, p, ok := s.value(0, "")
	return p, ok
}

type pathScanner struct {
	b      []byte
	target int
}

func (s *pathScanner) space(i int) int {
	for i < len(s.b) && (s.b[i] == ' ' || s.b[i] == '\t' || s.b[i] == '\r' || s.b[i] == '\n') {
		i++
	}
	return i
}

// value scans the value starting at or after i and returns its end, and the
// path of the innermost value containing the target when it is inside.
func (s *pathScanner) value(i int, path string) (int, string, bool) {
	i = s.space(i)
	if i >= len(s.b) {
		return i, "", false
	}
	start := i
	var end int
	switch s.b[i] {
	case '{':
		i = s.space(i + 1)
		for i < len(s.b) && s.b[i] == '"' {
			keyEnd, _ := skipString(s.b, i+1)
			if keyEnd >= len(s.b) {
				return len(s.b), "", false
			}
			key := s.key(s.b[i : keyEnd+1])
			i = s.space(keyEnd+1) + 1 // past ':'
			vEnd, p, ok := s.value(i, joinPath(path, key))
			if ok {
				return vEnd, p, true
			}
			i = s.space(vEnd)
			if i < len(s.b) && s.b[i] == ',' {
				i = s.space(i + 1)
			}
		}
		end = i + 1 // past '}'
	case '[':
		i = s.space(i + 1)
		for n := 0; i < len(s.b) && s.b[i] != ']'; n++ {
			vEnd, p, ok := s.value(i, path+"["+strconv.Itoa(n)+"]")
			if ok {
				return vEnd, p, true
			}
			if vEnd <= i { // malformed: no progress
				return len(s.b), "", false
			}
			i = s.space(vEnd)
			if i < len(s.b) && s.b[i] == ',' {
				i++
			}
		}
		end = i + 1 // past ']'
	case '"':
		e, _ := skipString(s.b, i+1)
		end = e + 1
	default:
		for i < len(s.b) && !strings.ContainsRune(",]} \t\r\n", rune(s.b[i])) {
			i++
		}
		end = i
	}
	if start <= s.target && s.target < end {
		return end, path, true
	}
	return end, "", false
}

// key decodes an object key, escapes included.
func (s *pathScanner) key(quoted []byte) string {
	if bytes.IndexByte(quoted, '\\') < 0 {
		return string(quoted[1 : len(quoted)-1])
	}
	var k string
	if json.Unmarshal(quoted, &k) != nil {
		return string(quoted[1 : len(quoted)-1])
	}
	return k
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var jsonNull = []byte("null")

// UnmarshalJSON decodes standard or URL-safe base64, padded or not, with
// line breaks (MIME style) and an optional data: URI prefix.
func (im *base64Image) UnmarshalJSON(raw []byte) error {
	*im = base64Image{}
	if bytes.Equal(raw, jsonNull) {
		return nil
	}
	if len(raw) < 2 || raw[0] != '"' {
		im.problem = "must be a string"
		return nil
	}
	s := raw[1 : len(raw)-1]
	if bytes.IndexByte(s, '\\') >= 0 {
		// Some encoders escape '/' as \/ or '=' as \u003d; only then is a copy
		// made. Anything unescaping to non-ASCII is no base64 anyway.
		var ok bool
		if s, ok = unescapeASCII(s); !ok {
			im.problem = "not valid base64"
			return nil
		}
	}
	if bytes.HasPrefix(s, []byte("data:")) {
		if _, after, found := bytes.Cut(s, []byte(";base64,")); found {
			s = after
		}
	}
	if len(s) == 0 {
		return nil
	}
	data, ok := legacyDecodeBase64(s)
	if !ok {
		im.problem = "not valid base64"
		return nil
	}
	im.data = data
	return nil
}

// legacyDecodeBase64 picks the alphabet (URL-safe when '-' or '_' occur) and the
// padding (when the text ends in '=') from the text itself.
func legacyDecodeBase64(s []byte) ([]byte, bool) {
	end := len(s)
	for end > 0 && (s[end-1] == '\n' || s[end-1] == '\r') {
		end--
	}
	padded := end > 0 && s[end-1] == '='
	enc := base64.StdEncoding
	if bytes.ContainsAny(s, "-_") {
		enc = base64.URLEncoding
	}
	if !padded {
		enc = enc.WithPadding(base64.NoPadding)
	}
	dst := make([]byte, enc.DecodedLen(len(s)))
	n, err := enc.Decode(dst, s)
	if err != nil || n == 0 {
		return nil, false
	}
	return dst[:n], true
}

// UnmarshalJSON records the scalar values of a JSON object.
func (id *identification) UnmarshalJSON(raw []byte) error {
	*id = identification{}
	if bytes.Equal(raw, jsonNull) {
		return nil
	}
	var m map[string]json.RawMessage
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &m) != nil {
		id.problem = "must be an object"
		return nil
	}
	if len(m) > maxIdentificationKeys {
		id.problem = "must have at most " + strconv.Itoa(maxIdentificationKeys) + " keys"
		return nil
	}
	id.values = make(map[string]string, len(m))
	for k, v := range m {
		if utf8.RuneCountInString(k) > maxIdentificationKeyChars {
			*id = identification{problem: "keys must be at most " + strconv.Itoa(maxIdentificationKeyChars) + " characters"}
			return nil
		}
		var value string
		switch v[0] {
		case '"':
			if json.Unmarshal(v, &value) != nil {
				continue
			}
		case 't', 'f':
			value = string(v)
		case 'n', '{', '[':
			continue // not a credential
		default:
			value = json.Number(v).String()
		}
		if len(value) > maxIdentificationValueChars && utf8.RuneCountInString(value) > maxIdentificationValueChars {
			*id = identification{problem: "values must be at most " + strconv.Itoa(maxIdentificationValueChars) + " characters"}
			return nil
		}
		id.values[k] = value
	}
	return nil
}

// UnmarshalJSON decodes a JSON object with numbers kept exact.
func (o *jsonObject) UnmarshalJSON(raw []byte) error {
	*o = jsonObject{}
	if bytes.Equal(raw, jsonNull) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if len(raw) == 0 || raw[0] != '{' || dec.Decode(&o.values) != nil {
		o.values, o.problem = nil, "must be an object"
	}
	return nil
}

// The old decoders, route by route.

func legacyLookup(ctx context.Context, r *http.Request) (any, error) {
	var d lookupRequest
	if err := legacyDecodeJSON(ctx, r, &d, lookupPaths...); err != nil {
		return nil, err
	}
	return d.toPorts(metaFrom(ctx))
}

func legacyApprove(ctx context.Context, r *http.Request) (any, error) {
	var d approveRequest
	if err := legacyDecodeJSON(ctx, r, &d); err != nil {
		return nil, err
	}
	return d.toPorts(metaFrom(ctx))
}

func legacyEvaluate(ctx context.Context, r *http.Request) (any, error) {
	var d evaluateRequest
	if err := legacyDecodeJSON(ctx, r, &d, evaluateArrays...); err != nil {
		return nil, err
	}
	req, err := d.toPorts(metaFrom(ctx))
	// By design the new decoder keeps only a document image's digest, not
	// its bytes (base64Image.digestOnly).
	for i := range req.Documents {
		for j := range req.Documents[i].Images {
			req.Documents[i].Images[j].Data = nil
		}
	}
	return req, err
}

func legacyOTPSend(ctx context.Context, r *http.Request) (any, error) {
	var d otpSendRequest
	if err := legacyDecodeJSON(ctx, r, &d); err != nil {
		return nil, err
	}
	return d.toPorts(metaFrom(ctx))
}

func legacyConsentStorage(ctx context.Context, r *http.Request) (any, error) {
	var d consentStorageRequest
	if err := legacyDecodeJSON(ctx, r, &d); err != nil {
		return nil, err
	}
	return d.toPorts(metaFrom(ctx))
}

func legacyConsentText(ctx context.Context, r *http.Request) (any, error) {
	var d consentTextRequest
	if err := legacyDecodeJSON(ctx, r, &d); err != nil {
		return nil, err
	}
	return d.toPorts(metaFrom(ctx))
}

func legacyProcessEvent(ctx context.Context, r *http.Request) (any, error) {
	var d processEventRequest
	if err := legacyDecodeJSON(ctx, r, &d, eventPaths...); err != nil {
		return nil, err
	}
	return d.toPorts(metaFrom(ctx))
}

// The SIMD decoder works on blocks of 32 characters of texts of 45 and more
// (amd64 with AVX2; 32 and more on arm64; on other CPUs every text goes to
// encoding/base64), which short fuzz inputs rarely reach: long texts (padded and not) with
// one character replaced, at every position of the first blocks and of the
// end, decode or fail as encoding/base64 decides.
func TestDecodeBase64LongTexts(t *testing.T) {
	raw := make([]byte, 700)
	for i := range raw {
		raw[i] = byte(i*7 + i/3)
	}
	texts := []string{
		base64.StdEncoding.EncodeToString(raw),       // padded ('=' at the end)
		base64.StdEncoding.EncodeToString(raw[:699]), // padded ('==')
		base64.RawStdEncoding.EncodeToString(raw[:698]),
		base64.URLEncoding.EncodeToString(raw),
	}
	// MIME style: a line break every 76 characters (the whole text then
	// proves nothing), and every length of a short text cut by one break.
	mime := func(text string, sep string) string {
		var b strings.Builder
		for len(text) > 76 {
			b.WriteString(text[:76] + sep)
			text = text[76:]
		}
		return b.String() + text
	}
	for _, text := range texts {
		for _, sep := range []string{"\n", "\r\n", "\n\n\n\n"} {
			s := []byte(mime(text, sep))
			want, _ := legacyDecodeBase64(s)
			got, proven, ok := decodeBase64(make([]byte, base64.RawStdEncoding.DecodedLen(len(s))), s)
			if !ok || !bytes.Equal(got, want) || proven > 76 {
				t.Fatalf("MIME text with %q breaks: ok %v, %d bytes (want %d), proved %d", sep, ok, len(got), len(want), proven)
			}
		}
	}
	for l := 1; l < 40; l++ {
		for cut := 0; cut <= l; cut++ {
			text := texts[0][:l]
			s := []byte(text[:cut] + "\n" + text[cut:])
			want, wantOK := legacyDecodeBase64(s)
			got, proven, ok := decodeBase64(make([]byte, base64.RawStdEncoding.DecodedLen(len(s))), s)
			if ok != wantOK || !bytes.Equal(got, want) || proven > cut {
				t.Fatalf("%q: got %v (%d bytes), proved %d; want %v (%d bytes), at most %d proved", s, ok, len(got), proven, wantOK, len(want), cut)
			}
		}
	}
	replacements := []byte{'!', '-', '_', '=', '\n', '\r', '/', '+', 'A', 0x80, ' ', '\\', '"'}
	checked := 0
	for _, text := range texts {
		positions := make([]int, 0, 140)
		for i := 0; i < 100; i++ {
			positions = append(positions, i)
		}
		for i := len(text) - 40; i < len(text); i++ {
			positions = append(positions, i)
		}
		for _, pos := range positions {
			for _, c := range replacements {
				s := []byte(text)
				s[pos] = c
				want, wantOK := legacyDecodeBase64(s)
				got, proven, ok := decodeBase64(make([]byte, base64.RawStdEncoding.DecodedLen(len(s))), s)
				if ok != wantOK || !bytes.Equal(got, want) {
					t.Fatalf("%q at %d of a %d-character text: got %v (%d bytes), want %v (%d bytes)", c, pos, len(s), ok, len(got), wantOK, len(want))
				}
				for _, b := range s[:proven] {
					if !strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", rune(b)) {
						t.Fatalf("%q at %d: proved %d bytes, including %q", c, pos, proven, b)
					}
				}
				checked++
			}
		}
		if got, _, ok := decodeBase64(make([]byte, base64.RawStdEncoding.DecodedLen(len(text))), []byte(text)); !ok || len(got) == 0 {
			t.Fatalf("a valid %d-character text was refused", len(text))
		}
	}
	t.Logf("%d texts checked", checked)
}

// FuzzDecodeBase64 holds the SIMD decoder to encoding/base64: the same
// bytes or the same refusal as the legacy decoding, on any text.
func FuzzDecodeBase64(f *testing.F) {
	for _, s := range []string{"", "=", "====", "\r\n", "QUJD", "QUJDRA==", "QUJDRA", "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=",
		"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo\r\n", "-_-_-_-_-_-_", "+/+/+/+/+/+/+/+/-", "QUJD\nREVGR0hJSktMTU5PUFFSU1RVVldYWVo=",
		"QUJDREVGR0hJSktM=U5PUFFSU1RVVldYWVo=", "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo==", "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVpa"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		if len(s) == 0 {
			return
		}
		want, wantOK := legacyDecodeBase64(s)
		got, proven, ok := decodeBase64(make([]byte, base64.RawStdEncoding.DecodedLen(len(s))), s)
		if ok != wantOK || !bytes.Equal(got, want) {
			t.Fatalf("decodeBase64(%q) = %x %v, want %x %v", s, got, ok, want, wantOK)
		}
		for _, c := range s[:proven] {
			if !strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", rune(c)) {
				t.Fatalf("decodeBase64(%q) proved %d bytes, including %q", s, proven, c)
			}
		}
	})
}
