package httptransport

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// The JSON types below never fail UnmarshalJSON: they record what was wrong
// in problem, and the converter, which knows the value's full JSON path
// (array indices included), reports it. An error returned from UnmarshalJSON
// would lose that path.

var jsonNull = []byte("null")

// base64Image is an image sent as a base64 JSON string. It is decoded
// straight from the request bytes that encoding/json hands to UnmarshalJSON
// (a sub-slice of the body, not a copy) into a buffer of the decoded size,
// so a request costs its body plus its decoded images, never a string copy
// of each image on top.
type base64Image struct {
	data    []byte // nil when absent, null or ""
	problem string
}

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
	data, ok := decodeBase64(s)
	if !ok {
		im.problem = "not valid base64"
		return nil
	}
	im.data = data
	return nil
}

// decodeBase64 picks the alphabet (URL-safe when '-' or '_' occur) and the
// padding (when the text ends in '=') from the text itself.
func decodeBase64(s []byte) ([]byte, bool) {
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

// unescapeASCII resolves JSON string escapes whose result is ASCII.
func unescapeASCII(s []byte) ([]byte, bool) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(s) {
			return nil, false
		}
		switch s[i] {
		case '"', '\\', '/':
			out = append(out, s[i])
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 'u':
			if i+4 >= len(s) {
				return nil, false
			}
			v, err := strconv.ParseUint(string(s[i+1:i+5]), 16, 16)
			if err != nil || v >= utf8.RuneSelf {
				return nil, false
			}
			out = append(out, byte(v))
			i += 4
		default:
			return nil, false
		}
	}
	return out, true
}

// maxIdentificationKeys bounds the free-form identification map.
const maxIdentificationKeys = 256

// identification is the free-form map of /user/lookup. Scalars become
// strings: strings as sent, numbers in their literal text (so 0042 or
// 8554121234 survive unchanged), booleans as "true"/"false". Null, objects
// and arrays are skipped: no identification scheme can use them.
type identification struct {
	values  map[string]string
	problem string
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

// jsonObject is a free-form JSON object (process event data). Numbers stay
// json.Number, so large ids from fraud-detection vendors keep every digit.
type jsonObject struct {
	values  map[string]any // nil when absent or null
	problem string
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
