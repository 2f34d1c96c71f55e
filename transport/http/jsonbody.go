package httptransport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	kithttp "github.com/go-kit/kit/transport/http"
)

// maxJSONDepth bounds nesting: no request of the contract needs more than a
// handful of levels, and deep nesting is a cheap way to burn a decoder's
// stack and CPU.
const maxJSONDepth = 32

type bodyLimitKey struct{}

// withBodyLimit records the route's body limit for readBody; each route's
// go-kit server sets it in a ServerBefore.
func withBodyLimit(n int64) kithttp.RequestFunc {
	return func(ctx context.Context, _ *http.Request) context.Context {
		return context.WithValue(ctx, bodyLimitKey{}, n)
	}
}

// bodyLimit is the route's limit, or the default for a decoder called
// outside a route.
func bodyLimit(ctx context.Context) int64 {
	if n, ok := ctx.Value(bodyLimitKey{}).(int64); ok && n > 0 {
		return n
	}
	return DefaultMaxBodyBytes
}

// decodeJSON checks the Content-Type, reads the bounded body and decodes it
// into dst (a pointer to a request DTO), with the DTO's array limits. Every
// failure is a requestError.
func decodeJSON(ctx context.Context, r *http.Request, dst any, arrays ...arrayLimit) error {
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	body, err := readBody(ctx, r)
	if err != nil {
		return err
	}
	return unmarshalBody(body, dst, arrays...)
}

// checkContentType accepts application/json with optional parameters; a
// charset, when given, must be UTF-8, the only encoding JSON allows.
func checkContentType(v string) error {
	unsupported := &requestError{status: http.StatusUnsupportedMediaType, msg: "Content-Type must be application/json"}
	if v == "" {
		return unsupported
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil || mt != "application/json" {
		return unsupported
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return &requestError{status: http.StatusUnsupportedMediaType, msg: "Content-Type charset must be utf-8"}
	}
	return nil
}

func tooLarge(limit int64) *requestError {
	return &requestError{status: http.StatusRequestEntityTooLarge, msg: "request body exceeds " + strconv.FormatInt(limit, 10) + " bytes"}
}

// readBody reads the whole body within the route's limit. When the length
// is announced it reads into a buffer of exactly that size (an image body
// then costs its size once, not the doubling of io.ReadAll); an announced
// length over the limit is refused before reading anything.
func readBody(ctx context.Context, r *http.Request) ([]byte, error) {
	limit := bodyLimit(ctx)
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	if r.Body == nil {
		return nil, nil
	}
	body := http.MaxBytesReader(nil, r.Body, limit)
	var (
		buf []byte
		err error
	)
	if r.ContentLength > 0 {
		buf = make([]byte, r.ContentLength)
		var n int
		n, err = io.ReadFull(body, buf)
		buf = buf[:n]
	} else {
		buf, err = io.ReadAll(body)
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, tooLarge(limit)
	case err != nil:
		return nil, badRequest("request body could not be read")
	}
	return buf, nil
}

// unmarshalBody applies the contract's rules to a JSON body: not empty,
// UTF-8, an object, nested at most maxJSONDepth levels, without NUL
// characters (which no text column can store), without duplicate keys,
// arrays within their limits, one value without trailing data. Unknown fields are ignored. A value of the wrong type is reported
// with its JSON path, array indices included.
func unmarshalBody(body []byte, dst any, arrays ...arrayLimit) error {
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

// scanJSON makes one pass over the body, outside a full parse, to refuse
// what encoding/json would accept silently or expensively:
//
//   - nesting deeper than maxJSONDepth;
//   - \u0000 in a string;
//   - a key twice in one object, also in another letter case: json keeps
//     the last value (and matches struct fields case-insensitively), so a
//     proxy or log that reads the first one would see another request than
//     the service decides on;
//   - more elements than arrays allow (the limits, by path with indices
//     dropped): every element of a declared array becomes a Go value, and
//     a 10 MiB body of "{}," would otherwise become millions of structs.
//
// It does not check syntax (json.Unmarshal does); on malformed input it may
// miss a problem or report one in the wrong place, but it never reads out
// of bounds and stays linear.
func scanJSON(b []byte, limits []arrayLimit) error {
	var (
		stack     = make([]scanFrame, 0, 8)
		keys      = make([][]byte, 0, 32) // the keys of every open object, innermost last
		expectKey bool
	)
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			end, nul := skipString(b, i+1)
			if nul {
				return badRequest("request body must not contain NUL characters")
			}
			if n := len(stack); n > 0 && stack[n-1].object && expectKey {
				top := &stack[n-1]
				top.key = objectKey(b[i+1 : min(end, len(b))])
				var fresh bool
				if keys, fresh = top.addKey(keys, top.key); !fresh {
					return fieldError(scanPath(stack), "duplicate key")
				}
				expectKey = false
			}
			i = end
		case '{', '[':
			if len(stack) >= maxJSONDepth {
				return badRequest("request body is nested more than %d levels deep", maxJSONDepth)
			}
			f := scanFrame{object: b[i] == '{', firstKey: len(keys)}
			if !f.object {
				for n := range limits {
					if limits[n].at(stack) {
						f.limit = &limits[n]
					}
				}
			}
			stack = append(stack, f)
			expectKey = f.object
		case '}', ']':
			if n := len(stack); n > 0 {
				keys = keys[:stack[n-1].firstKey]
				stack = stack[:n-1]
			}
			expectKey = false
		case ',':
			if n := len(stack); n > 0 {
				top := &stack[n-1]
				if top.object {
					expectKey = true
				} else {
					top.index++
					if top.limit != nil && top.index >= top.limit.max {
						return fieldError(top.limit.path, "must have at most "+strconv.Itoa(top.limit.max)+" elements")
					}
				}
			}
		}
	}
	return nil
}

// arrayLimit bounds the number of elements of the arrays at one path, with
// array indices dropped ("documentCheckResult.documents.images").
type arrayLimit struct {
	path string
	keys []string // path split at dots
	max  int
}

func newArrayLimit(path string, max int) arrayLimit {
	return arrayLimit{path: path, keys: strings.Split(path, "."), max: max}
}

// at reports whether an array opened at the current position of stack is
// at l's path: the keys of the enclosing objects, outermost first, are
// l.keys (arrays in between do not count).
func (l *arrayLimit) at(stack []scanFrame) bool {
	n := 0
	for _, f := range stack {
		if !f.object {
			continue
		}
		if n >= len(l.keys) || string(f.key) != l.keys[n] {
			return false
		}
		n++
	}
	return n == len(l.keys)
}

// smallObjectKeys is how many keys an object keeps in a slice (compared
// with bytes.EqualFold) before they move to a map of folded keys.
const smallObjectKeys = 16

// scanFrame is one open object or array of scanJSON.
type scanFrame struct {
	object   bool
	index    int    // array: index of the current element
	key      []byte // object: the current key, decoded, for paths
	firstKey int    // object: where its keys start in scanJSON's key list
	folded   map[string]struct{}
	limit    *arrayLimit // array: its limit, nil for none
}

// addKey records k, the object's next key, in keys (shared by every open
// object; this one's start at f.firstKey) and reports whether it is new in
// the object, comparing keys case-insensitively (Unicode simple folding,
// as encoding/json matches field names). Past smallObjectKeys keys the
// object moves its keys into a map, so a large object stays linear.
func (f *scanFrame) addKey(keys [][]byte, k []byte) ([][]byte, bool) {
	if f.folded == nil {
		own := keys[f.firstKey:]
		for _, prev := range own {
			if bytes.EqualFold(prev, k) {
				return keys, false
			}
		}
		if len(own) < smallObjectKeys {
			return append(keys, k), true
		}
		f.folded = make(map[string]struct{}, 4*smallObjectKeys)
		for _, prev := range own {
			f.folded[foldKey(prev)] = struct{}{}
		}
		keys = keys[:f.firstKey]
	}
	fk := foldKey(k)
	if _, dup := f.folded[fk]; dup {
		return keys, false
	}
	f.folded[fk] = struct{}{}
	return keys, true
}

// foldKey maps every rune of k to the smallest rune of its case-folding
// orbit, so two keys fold to the same string exactly when bytes.EqualFold
// says they are equal.
func foldKey(k []byte) string {
	var sb strings.Builder
	sb.Grow(len(k))
	for _, r := range string(k) {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		sb.WriteRune(m)
	}
	return sb.String()
}

// plainKey reports whether k may appear in a message: a field-like name.
func plainKey(k []byte) bool {
	if len(k) == 0 || len(k) > 64 {
		return false
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// objectKey decodes a key's content (escapes resolved); a key that does
// not decode is taken as written.
func objectKey(raw []byte) []byte {
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw
	}
	var k string
	q := make([]byte, 0, len(raw)+2)
	q = append(append(append(q, '"'), raw...), '"')
	if json.Unmarshal(q, &k) != nil {
		return raw
	}
	return []byte(k)
}

// scanPath is the JSON path (a.b[1].c) of the current position of the
// stack: the key of each object, the index in each array. A key that is not
// a plain name (letters, digits, _ and -, at most 64) is shown as "*": keys
// of the free-form objects come from the caller and could hold anything,
// a personal number included, and messages never echo caller data.
func scanPath(stack []scanFrame) string {
	var sb strings.Builder
	for _, f := range stack {
		if f.object {
			if sb.Len() > 0 {
				sb.WriteByte('.')
			}
			if plainKey(f.key) {
				sb.Write(f.key)
			} else {
				sb.WriteByte('*')
			}
		} else {
			sb.WriteByte('[')
			sb.WriteString(strconv.Itoa(f.index))
			sb.WriteByte(']')
		}
	}
	return sb.String()
}

// skipString returns the index of the quote closing the string whose
// content starts at i (len(b) when it is unterminated) and whether the string
// holds an escaped NUL. It finds quotes and backslashes with bytes.IndexByte,
// so a megabyte of base64 is skipped at memory speed, and each byte is looked
// at a bounded number of times, so escape-heavy input stays linear.
func skipString(b []byte, i int) (int, bool) {
	for {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return len(b), false
		}
		q += i
		for {
			k := bytes.IndexByte(b[i:q], '\\')
			if k < 0 {
				return q, false
			}
			e := i + k + 1 // the escaped character
			if b[e] == 'u' && bytes.HasPrefix(b[e+1:], []byte("0000")) {
				return e, true
			}
			i = e + 1
			if e == q { // the quote was escaped: look for the next one
				break
			}
		}
	}
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
