package httptransport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
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
// go-kit server sets it in a ServerBefore. Inside NewHandler it goes into
// the request state (no allocation); a decoder called on its own (tests)
// gets it as a context value.
func withBodyLimit(n int64) kithttp.RequestFunc {
	return func(ctx context.Context, _ *http.Request) context.Context {
		if st := stateFrom(ctx); st != nil {
			st.bodyLimit = n
			return ctx
		}
		return context.WithValue(ctx, bodyLimitKey{}, n)
	}
}

// bodyLimit is the route's limit, or the default for a decoder called
// outside a route.
func bodyLimit(ctx context.Context) int64 {
	if st := stateFrom(ctx); st != nil && st.bodyLimit > 0 {
		return st.bodyLimit
	}
	if n, ok := ctx.Value(bodyLimitKey{}).(int64); ok && n > 0 {
		return n
	}
	return DefaultMaxBodyBytes
}

// decodeJSON checks the Content-Type, reads the bounded body and decodes it
// into dst (a pointer to a request DTO), with the DTO's array limits. Every
// failure is a requestError.
func decodeJSON(ctx context.Context, r *http.Request, dst jsonReader, arrays ...pathRule) error {
	var ct string
	if v := r.Header["Content-Type"]; len(v) > 0 {
		ct = v[0]
	}
	if err := checkContentType(ct); err != nil {
		return err
	}
	body, pooled, err := readBody(ctx, r)
	if err != nil {
		return err
	}
	err = unmarshalBody(body, dst, arrays...)
	// Nothing decoded refers to the body (jsonDecoder copies what it
	// keeps), so its buffer can serve the next request.
	bodyBuffers.put(pooled)
	return err
}

// checkContentType accepts application/json with optional parameters; a
// charset, when given, must be UTF-8, the only encoding JSON allows.
func checkContentType(v string) error {
	switch v { // what callers send, without parsing
	case "application/json", "application/json; charset=utf-8", "application/json;charset=UTF-8", "application/json; charset=UTF-8":
		return nil
	}
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

// readBody reads the whole body within the route's limit; an announced
// length over the limit is refused before reading anything. An announced
// length is read into a recycled buffer (bodyBuffers) of at least that
// size, returned as pooled for the caller to put back once it is done with
// the body; without one (chunked) the body is read into a fresh buffer and
// pooled is nil.
func readBody(ctx context.Context, r *http.Request) (body []byte, pooled *[]byte, err error) {
	limit := bodyLimit(ctx)
	if r.ContentLength > limit {
		return nil, nil, tooLarge(limit)
	}
	if r.Body == nil {
		return nil, nil, nil
	}
	if r.ContentLength > 0 {
		if err := holdBody(ctx, r.ContentLength, limit); err != nil {
			return nil, nil, err
		}
		// Within the limit, and net/http never reads past an announced
		// length: no MaxBytesReader needed.
		pooled = bodyBuffers.get(int(r.ContentLength))
		body = (*pooled)[:r.ContentLength]
		var n int
		n, err = io.ReadFull(r.Body, body)
		body = body[:n]
	} else {
		body, err = readUnannounced(ctx, http.MaxBytesReader(nil, r.Body, limit), limit)
	}
	if err == nil {
		return body, pooled, nil
	}
	// Only a failed read reaches errors.As: its target escapes to the heap,
	// an allocation on every request if it were asked unconditionally.
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		bodyBuffers.put(pooled)
		return nil, nil, tooLarge(limit)
	case errors.Is(err, errBodiesBusy):
		return nil, nil, errBodiesBusy
	default:
		bodyBuffers.put(pooled)
		return nil, nil, badRequest("request body could not be read")
	}
}

// readUnannounced reads a body of unannounced length (chunked), holding
// its buffer's room in the body budget before the buffer grows to it, in
// steps of at least chunkedHold: the budget refuses it part-way, before
// it is read, rather than after. The buffer never grows past limit+1
// bytes, all r (a MaxBytesReader at limit) reads before it fails, so a
// body near the limit holds about the limit, not twice it.
func readUnannounced(ctx context.Context, r io.Reader, limit int64) ([]byte, error) {
	var buf []byte
	var held int64
	for {
		if len(buf) == cap(buf) {
			want := min(int64(max(2*cap(buf), 4096)), limit+1)
			if want > held {
				step := min(max(want-held, chunkedHold), limit+1-held)
				if err := holdBody(ctx, step, limit); err != nil {
					return nil, err
				}
				held += step
			}
			buf = slices.Grow(buf, int(want)-len(buf))
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case errors.Is(err, io.EOF):
			return buf, nil
		case err != nil:
			return nil, err
		}
	}
}

// bodyClassSizes are the sizes of recycled body buffers: eight steps per
// power of two from 1 KiB to 1 MiB, so a buffer is at most an eighth
// larger than the body it holds (which keeps what a request holds within
// twice its body, decoded images included). A larger body gets a buffer of
// its own, which is not kept.
var bodyClassSizes = func() []int {
	var sizes []int
	for shift := 10; shift < 20; shift++ {
		for eighths := 8; eighths < 16; eighths++ {
			sizes = append(sizes, eighths<<(shift-3))
		}
	}
	return append(sizes, 1<<20)
}()

// bodyPool recycles request body buffers. An image body of a few hundred
// kilobytes would otherwise be allocated and zeroed for every request and
// become garbage right after decoding, which made the garbage collector run
// about twice as often (docs/performance.md). Buffers live in sync.Pools,
// one per size, so idle ones are released by the garbage collector.
type bodyPool struct {
	classes [81]sync.Pool // one per bodyClassSizes entry
}

// bodyBuffers are the body buffers of every handler of the process, and
// the buffers images are decoded into (base64Image).
var bodyBuffers bodyPool

// get returns a buffer of at least n bytes (n > 0).
func (p *bodyPool) get(n int) *[]byte {
	c := sort.SearchInts(bodyClassSizes, n)
	if c == len(bodyClassSizes) {
		b := make([]byte, n)
		return &b
	}
	if b, ok := p.classes[c].Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, bodyClassSizes[c])
	return &b
}

// put recycles a buffer get returned; nil and unpooled sizes are ignored.
func (p *bodyPool) put(b *[]byte) {
	if b == nil {
		return
	}
	if c := sort.SearchInts(bodyClassSizes, cap(*b)); c < len(bodyClassSizes) && bodyClassSizes[c] == cap(*b) {
		p.classes[c].Put(b)
	}
}

// unmarshalBody applies the contract's rules to a JSON body: not empty,
// UTF-8, an object, nested at most maxJSONDepth levels, without NUL
// characters (which no text column can store), without duplicate keys,
// arrays within their limits, one value without trailing data. Unknown
// fields are ignored. A value of the wrong type is reported with its JSON
// path, array indices included.
//
// The body is read once (jsonDecoder). When it is refused, the message is
// the one the earlier two-pass decoder gave: invalid UTF-8 first, then
// scanJSON's structural checks (in body order), then a syntax error, then a
// type error, so a body with several defects is refused as it always was.
func unmarshalBody(body []byte, dst jsonReader, arrays ...pathRule) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	switch {
	case len(trimmed) == 0:
		return badRequest("request body is empty")
	case trimmed[0] != '{':
		if !utf8.Valid(body) {
			return errNotUTF8()
		}
		return badRequest("request body must be a JSON object")
	}
	// jsonDecoder checks UTF-8 inside strings (the only place JSON allows
	// other than ASCII) as it goes, and skips that check where the base64
	// decoder has already proved an image to be ASCII.
	err := decodeObject(body, dst)
	if err == nil {
		return nil
	}
	// Refused: name the defect in the two-pass decoder's order (a rare
	// path, so it may read the body again).
	if !utf8.Valid(body) {
		return errNotUTF8()
	}
	if serr := scanJSON(body, arrays); serr != nil {
		return serr
	}
	if !json.Valid(body) {
		return badRequest("request body is not valid JSON")
	}
	return err
}

func errNotUTF8() error { return badRequest("request body is not valid UTF-8") }

// scanJSON makes one pass over the body, outside a full parse, to find
// what the contract refuses and encoding/json would accept silently or
// expensively. It runs only once a body has been refused, to pick the
// message (see unmarshalBody):
//
//   - nesting deeper than maxJSONDepth;
//   - \u0000 in a string;
//   - a key twice in one object, also in another letter case: json keeps
//     the last value (and matches struct fields case-insensitively), so a
//     proxy or log that reads the first one would see another request than
//     the service decides on; in the free-form values of limits (and
//     everything inside them) only the same key twice;
//   - more elements than arrays allow (the limits, by path with indices
//     dropped): every element of a declared array becomes a Go value, and
//     a 10 MiB body of "{}," would otherwise become millions of structs.
//
// It does not check syntax (jsonDecoder does); on malformed input it may
// miss a problem or report one in the wrong place, but it never reads out
// of bounds and stays linear.
func scanJSON(b []byte, limits []pathRule) error {
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
			f.exact = len(stack) > 0 && stack[len(stack)-1].exact
			for n := range limits {
				switch l := &limits[n]; {
				case l.freeForm:
					f.exact = f.exact || l.at(stack)
				case !f.object && l.at(stack):
					f.limit = l
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

// pathRule is a rule for the values at one path of a request body: a
// bound on the elements of the arrays there (newArrayLimit, array indices
// dropped: "documentCheckResult.documents.images"), or that the value
// there, and everything inside it, is free-form (newFreeForm, each array
// on the way marked: "documentCheckResult.documents[].rawData"): its keys
// are the caller's, compared exactly by the duplicate check (see
// beginObject).
type pathRule struct {
	path     string
	keys     []string // path split at dots, without the [] marks
	arrays   []bool   // free-form: whether an array follows keys[i]
	max      int
	freeForm bool
}

func newArrayLimit(path string, max int) pathRule {
	return pathRule{path: path, keys: strings.Split(path, "."), max: max}
}

func newFreeForm(path string) pathRule {
	l := pathRule{path: path, freeForm: true}
	for _, k := range strings.Split(path, ".") {
		key, array := strings.CutSuffix(k, "[]")
		l.keys = append(l.keys, key)
		l.arrays = append(l.arrays, array)
	}
	return l
}

// at reports whether a value opened at the current position of stack is
// at l's path. For an array limit, the keys of the enclosing objects,
// outermost first, are l.keys (arrays in between do not count). A
// free-form path is matched in the shape the decoder walks to it: an
// object at each key, compared in any letter case as the decoder matches
// field names, and an array exactly where the path has one; a value
// reached any other way (one the decoder skips as mistyped) is not at it.
func (l *pathRule) at(stack []scanFrame) bool {
	if l.freeForm {
		i := 0
		for n, k := range l.keys {
			if i >= len(stack) || !stack[i].object || !bytes.EqualFold(stack[i].key, []byte(k)) {
				return false
			}
			i++
			if l.arrays[n] {
				if i >= len(stack) || stack[i].object {
					return false
				}
				i++
			}
		}
		return i == len(stack)
	}
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
	exact    bool   // in a free-form value: only the same key twice is a duplicate (see beginObject)
	folded   map[string]struct{}
	limit    *pathRule // array: its limit, nil for none
}

// addKey records k, the object's next key, in keys (shared by every open
// object; this one's start at f.firstKey) and reports whether it is new in
// the object, comparing keys case-insensitively (Unicode simple folding,
// as encoding/json matches field names), or byte for byte when f.exact.
// Past smallObjectKeys keys the object moves its keys into a map, so a
// large object stays linear.
func (f *scanFrame) addKey(keys [][]byte, k []byte) ([][]byte, bool) {
	same, key := bytes.EqualFold, foldKey
	if f.exact {
		same, key = bytes.Equal, func(k []byte) string { return string(k) }
	}
	if f.folded == nil {
		own := keys[f.firstKey:]
		for _, prev := range own {
			if same(prev, k) {
				return keys, false
			}
		}
		if len(own) < smallObjectKeys {
			return append(keys, k), true
		}
		f.folded = make(map[string]struct{}, 4*smallObjectKeys)
		for _, prev := range own {
			f.folded[key(prev)] = struct{}{}
		}
		keys = keys[:f.firstKey]
	}
	fk := key(k)
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

// plainKey reports whether k may appear in a message: a field-like name,
// starting with a letter, so caller data used as a key (a personal number,
// a phone number) is never echoed.
func plainKey(k []byte) bool {
	if len(k) == 0 || len(k) > 64 || !(k[0] >= 'a' && k[0] <= 'z' || k[0] >= 'A' && k[0] <= 'Z') {
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
// a plain name (a letter, then letters, digits, _ and -, at most 64) is
// shown as "*": keys
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
