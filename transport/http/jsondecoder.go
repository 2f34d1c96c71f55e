package httptransport

import (
	"encoding/binary"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonDecoder reads a request body in one pass: it checks the syntax (what
// json.Valid checks), applies the contract's rules as it meets them (depth,
// NUL characters, duplicate keys, array limits) and fills the request DTO,
// each DTO reading its own fields (the readJSON methods in jsonread.go).
//
// It replaces json.Valid plus json.Unmarshal, which between them walked a
// base64 image three times and cost half the CPU of an image request
// (docs/performance.md): here an image string is found with two
// bytes.IndexByte calls and decoded once, straight from the body.
//
// It checks UTF-8 only inside strings, where JSON allows it (elsewhere any
// byte above 0x7F is a syntax error); unmarshalBody then names the defect.
// It decodes as encoding/json would into the same DTOs: keys match field
// names exactly or else case-insensitively, unknown fields are skipped, null
// leaves a string as it is and sets a pointer, slice or map to nil, a value
// of the wrong type is a type error naming its path (array indices
// included) while decoding goes on, so a later syntax error still wins, as
// it did when json.Unmarshal validated the whole body first. Every string it
// returns is a copy: the body buffer can be reused once decoding is done.
type jsonDecoder struct {
	b     []byte
	i     int
	depth int
	// path is where the decoder is: one segment per open object (its
	// current key) or array (its current index), for messages.
	path []pathSeg
	// keys are the keys of every open object, innermost last, for the
	// duplicate check (scanFrame.addKey).
	keys [][]byte
	// typeErr is the first value of the wrong type; decoding goes on.
	typeErr *requestError
	// The first levels of path and keys: with decoders reused (decoders),
	// decoding allocates only what it returns.
	pathBuf [8]pathSeg
	keysBuf [24][]byte
}

// decoders recycles jsonDecoders, which hold nothing between requests
// (decodeObject clears them before putting them back).
var decoders = sync.Pool{New: func() any { return new(jsonDecoder) }}

// pathSeg is one step of a JSON path: an object's key, or an array's index
// when index >= 0.
type pathSeg struct {
	key   []byte
	index int
}

// jsonReader is a request DTO that reads itself from the object at the
// decoder's position.
type jsonReader interface {
	readJSON(d *jsonDecoder) error
}

// decodeObject reads body, which must hold one object (whitespace around
// it allowed), into dto. It returns the first syntax or contract error,
// else the first type error.
func decodeObject(body []byte, dto jsonReader) error {
	d := decoders.Get().(*jsonDecoder)
	d.b, d.path, d.keys = body, d.pathBuf[:0], d.keysBuf[:0]
	err := d.decode(dto)
	// Drop every reference into the body and the DTO before reuse.
	clear(d.pathBuf[:])
	clear(d.keysBuf[:])
	*d = jsonDecoder{}
	decoders.Put(d)
	return err
}

func (d *jsonDecoder) decode(dto jsonReader) error {
	d.ws()
	if d.peek() != '{' {
		return d.syntax()
	}
	if err := dto.readJSON(d); err != nil {
		return err
	}
	d.ws()
	if d.i != len(d.b) {
		return d.syntax()
	}
	if d.typeErr != nil {
		return d.typeErr
	}
	return nil
}

func (d *jsonDecoder) syntax() error { return badRequest("request body is not valid JSON") }

// ws skips whitespace.
func (d *jsonDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\r', '\n':
			d.i++
		default:
			return
		}
	}
}

// peek returns the byte at the position, 0 at the end.
func (d *jsonDecoder) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// typeError records a value of the wrong type at the current path (the
// first one wins, as in encoding/json).
func (d *jsonDecoder) typeError(msg string) {
	if d.typeErr == nil {
		d.typeErr = fieldError(d.pathString(false), msg)
	}
}

// pathString renders the current path, a.b[1].c. masked shows a key that
// is not a plain name as "*" (scanPath's rule for messages about keys the
// caller chose); unmasked keys are shown as decoded (type errors happen
// only at declared fields, whose keys fold to the field names).
func (d *jsonDecoder) pathString(masked bool) string {
	var sb strings.Builder
	for _, s := range d.path {
		if s.index >= 0 {
			sb.WriteByte('[')
			sb.WriteString(strconv.Itoa(s.index))
			sb.WriteByte(']')
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte('.')
		}
		if masked && !plainKey(s.key) {
			sb.WriteByte('*')
		} else {
			sb.Write(s.key)
		}
	}
	return sb.String()
}

// enter opens an object or array, bounding the depth.
func (d *jsonDecoder) enter() error {
	if d.depth >= maxJSONDepth {
		return badRequest("request body is nested more than %d levels deep", maxJSONDepth)
	}
	d.depth++
	d.i++
	return nil
}

// objectIter walks the members of one object.
type objectIter struct {
	frame scanFrame // its keys, for the duplicate check
	n     int       // members read so far
}

// Duplicate-key rules of beginObject: an object refuses a key twice also
// in another letter case, since a request DTO's fields match keys
// case-insensitively (as encoding/json's), except in the free-form values
// (the lookup's identification, the event's data and eventData, a
// document's rawData: the pathRules of newFreeForm) and everything inside
// them, which refuse only the same key twice: their keys are the caller's,
// read as written, and a provider's or an anti-fraud vendor's data may hold
// "id" and "ID" side by side.
const (
	foldedKeys = false
	exactKeys  = true
)

// beginObject opens the object at the position (which must be '{'); exact
// selects its duplicate-key rule (foldedKeys or exactKeys).
func (d *jsonDecoder) beginObject(exact bool) (objectIter, error) {
	it := objectIter{frame: scanFrame{object: true, firstKey: len(d.keys), exact: exact}}
	return it, d.enter()
}

// nextMember moves to the object's next member: it returns its decoded key
// with the position at its value, or more == false after the closing
// brace. The caller consumes the value before calling it again.
func (d *jsonDecoder) nextMember(it *objectIter) (key []byte, more bool, err error) {
	d.ws()
	if it.n > 0 {
		d.path = d.path[:len(d.path)-1]
		switch d.peek() {
		case ',':
			d.i++
			d.ws()
		case '}':
			return nil, false, d.endObject(it)
		default:
			return nil, false, d.syntax()
		}
	} else if d.peek() == '}' {
		return nil, false, d.endObject(it)
	}
	if d.peek() != '"' {
		return nil, false, d.syntax()
	}
	key, err = d.key()
	if err != nil {
		return nil, false, err
	}
	d.path = append(d.path, pathSeg{key: key, index: -1})
	var fresh bool
	if d.keys, fresh = it.frame.addKey(d.keys, key); !fresh {
		return nil, false, fieldError(d.pathString(true), "duplicate key")
	}
	d.ws()
	if d.peek() != ':' {
		return nil, false, d.syntax()
	}
	d.i++
	d.ws()
	it.n++
	return key, true, nil
}

func (d *jsonDecoder) endObject(it *objectIter) error {
	d.i++
	d.depth--
	d.keys = d.keys[:it.frame.firstKey]
	return nil
}

// arrayIter walks the elements of one array.
type arrayIter struct {
	n         int    // elements started so far
	max       int    // 0: no limit
	limitPath string // the limit's path, for its message
}

// beginArray opens the array at the position (which must be '['); max > 0
// bounds its elements, refused at the first one too many before it is read.
func (d *jsonDecoder) beginArray(max int, limitPath string) (arrayIter, error) {
	return arrayIter{max: max, limitPath: limitPath}, d.enter()
}

// nextElement moves to the array's next element (the position at it), or
// returns more == false after the closing bracket.
func (d *jsonDecoder) nextElement(it *arrayIter) (more bool, err error) {
	d.ws()
	if it.n > 0 {
		switch d.peek() {
		case ',':
			d.i++
			d.ws()
			if it.max > 0 && it.n >= it.max {
				return false, fieldError(it.limitPath, "must have at most "+strconv.Itoa(it.max)+" elements")
			}
		case ']':
			d.i++
			d.depth--
			d.path = d.path[:len(d.path)-1]
			return false, nil
		default:
			return false, d.syntax()
		}
		d.path[len(d.path)-1].index = it.n
	} else {
		if d.peek() == ']' {
			d.i++
			d.depth--
			return false, nil
		}
		d.path = append(d.path, pathSeg{index: 0})
	}
	it.n++
	return true, nil
}

// skip reads and checks one value of any kind without keeping it.
func (d *jsonDecoder) skip() error { return d.skipValue(foldedKeys) }

// skipFree is skip for a value at or in a free-form path (see beginObject).
func (d *jsonDecoder) skipFree() error { return d.skipValue(exactKeys) }

// skipValue is skip with the duplicate-key rule of its objects.
func (d *jsonDecoder) skipValue(exact bool) error {
	switch c := d.peek(); {
	case c == '{':
		it, err := d.beginObject(exact)
		if err != nil {
			return err
		}
		for {
			_, more, err := d.nextMember(&it)
			if err != nil || !more {
				return err
			}
			if err := d.skipValue(exact); err != nil {
				return err
			}
		}
	case c == '[':
		it, err := d.beginArray(0, "")
		if err != nil {
			return err
		}
		for {
			more, err := d.nextElement(&it)
			if err != nil || !more {
				return err
			}
			if err := d.skipValue(exact); err != nil {
				return err
			}
		}
	case c == '"':
		_, _, _, err := d.scanString()
		return err
	case c == '-' || c >= '0' && c <= '9':
		_, err := d.scanNumber()
		return err
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	}
	return d.syntax()
}

// literal reads the literal word at the position.
func (d *jsonDecoder) literal(word string) error {
	if len(d.b)-d.i < len(word) || string(d.b[d.i:d.i+len(word)]) != word {
		return d.syntax()
	}
	d.i += len(word)
	return nil
}

// scanNumber reads a number (RFC 8259 grammar) and returns its text.
func (d *jsonDecoder) scanNumber() ([]byte, error) {
	b, i := d.b, d.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return nil, d.syntax()
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return nil, d.syntax()
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return nil, d.syntax()
		}
		i = j
	}
	num := b[d.i:i]
	d.i = i
	return num, nil
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// SWAR constants: a byte broadcast to the eight bytes of a word.
const (
	swarOnes  = 0x0101010101010101
	swarHighs = 0x8080808080808080
)

// specialWord reports whether the eight bytes of x include a quote, a
// backslash, a control character or a byte of a multi-byte UTF-8 sequence,
// the bytes a string scan must stop at. Each test is exact about whether
// such a byte exists (not where).
func specialWord(x uint64) bool {
	quote := x ^ ('"' * swarOnes)
	backslash := x ^ ('\\' * swarOnes)
	return ((quote-swarOnes)&^quote|(backslash-swarOnes)&^backslash|(x-0x20*swarOnes)&^x|x)&swarHighs != 0
}

// scanString reads the string at the position (which must be '"'): it
// returns the bounds of its content and whether it holds escapes, having
// checked the escapes (a \u0000 is refused, no text column can store it),
// that no control character appears raw and that the text is UTF-8. Plain
// ASCII is skipped eight bytes at a time.
func (d *jsonDecoder) scanString() (start, end int, escaped bool, err error) {
	b := d.b
	i := d.i + 1
	start = i
	for {
		for i+8 <= len(b) && !specialWord(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		if i >= len(b) {
			return 0, 0, false, d.syntax()
		}
		switch c := b[i]; {
		case c == '"':
			d.i = i + 1
			return start, i, escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				return 0, 0, false, d.syntax()
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex4(b[i+2:i+6]) {
					return 0, 0, false, d.syntax()
				}
				if string(b[i+2:i+6]) == "0000" {
					return 0, 0, false, badRequest("request body must not contain NUL characters")
				}
				i += 6
			default:
				return 0, 0, false, d.syntax()
			}
		case c < 0x20:
			return 0, 0, false, d.syntax()
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return 0, 0, false, d.syntax() // unmarshalBody names it
			}
			i += size
		default:
			i++
		}
	}
}

func isHex4(h []byte) bool {
	for _, c := range h[:4] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// hex4 is the value of four hex digits isHex4 accepted.
func hex4(h []byte) rune {
	var r rune
	for _, c := range h[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c >= 'a':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// key reads an object key, escapes resolved. Without escapes it is a
// sub-slice of the body, valid while decoding lasts.
func (d *jsonDecoder) key() ([]byte, error) {
	start, end, escaped, err := d.scanString()
	if err != nil {
		return nil, err
	}
	if !escaped {
		return d.b[start:end], nil
	}
	return unquote(d.b[start:end]), nil
}

// stringValue reads a string (the position at its quote) as a new string.
func (d *jsonDecoder) stringValue() (string, error) {
	start, end, escaped, err := d.scanString()
	if err != nil {
		return "", err
	}
	if !escaped {
		return string(d.b[start:end]), nil
	}
	return string(unquote(d.b[start:end])), nil
}

// unquote resolves the escapes of string content scanString accepted, as
// encoding/json does: a lone or malformed surrogate becomes U+FFFD.
func unquote(s []byte) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch e := s[i+1]; e {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := hex4(s[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					r2 = hex4(s[i+2:])
				}
				if dec := utf16.DecodeRune(r, r2); dec != unicode.ReplacementChar {
					out = utf8.AppendRune(out, dec)
					i += 6
					continue
				}
				r = unicode.ReplacementChar
			}
			out = utf8.AppendRune(out, r)
			continue
		default: // '"', '\\', '/'
			out = append(out, e)
		}
		i += 2
	}
	return out
}

// readString reads a string field: null leaves it unchanged.
func (d *jsonDecoder) readString(dst *string) error {
	switch d.peek() {
	case '"':
		s, err := d.stringValue()
		*dst = s
		return err
	case 'n':
		return d.literal("null")
	}
	d.typeError("must be a string")
	return d.skip()
}

// readFloat reads a number field: null sets it to nil; a number float64
// cannot hold is a type error.
func (d *jsonDecoder) readFloat(dst **float64) error {
	switch c := d.peek(); {
	case c == '-' || c >= '0' && c <= '9':
		num, err := d.scanNumber()
		if err != nil {
			return err
		}
		f, perr := strconv.ParseFloat(string(num), 64)
		if perr != nil {
			d.typeError("number out of range")
			return nil
		}
		*dst = &f
		return nil
	case c == 'n':
		*dst = nil
		return d.literal("null")
	}
	d.typeError("must be a number")
	return d.skip()
}

// readBool reads a boolean field: null sets it to nil.
func (d *jsonDecoder) readBool(dst **bool) error {
	var v bool
	switch d.peek() {
	case 't':
		v = true
		if err := d.literal("true"); err != nil {
			return err
		}
	case 'f':
		if err := d.literal("false"); err != nil {
			return err
		}
	case 'n':
		*dst = nil
		return d.literal("null")
	default:
		d.typeError("must be true or false")
		return d.skip()
	}
	*dst = &v
	return nil
}

// readStruct reads an object into a struct field: null leaves it as it is.
func (d *jsonDecoder) readStruct(dst jsonReader) error {
	switch d.peek() {
	case '{':
		return dst.readJSON(d)
	case 'n':
		return d.literal("null")
	}
	d.typeError("must be an object")
	return d.skip()
}

// readStructPtr reads an object into a pointer-to-struct field: null sets
// it to nil.
func readStructPtr[T any, PT interface {
	*T
	jsonReader
}](d *jsonDecoder, dst **T) error {
	switch d.peek() {
	case '{':
		if *dst == nil {
			*dst = new(T)
		}
		return PT(*dst).readJSON(d)
	case 'n':
		*dst = nil
		return d.literal("null")
	}
	d.typeError("must be an object")
	return d.skip()
}

// readSlice reads an array of objects into a slice field, at most max
// elements (limitPath names the limit in its message): null sets it to
// nil, a null element stays the zero value.
func readSlice[T any, PT interface {
	*T
	jsonReader
}](d *jsonDecoder, dst *[]T, max int, limitPath string) error {
	switch d.peek() {
	case '[':
	case 'n':
		*dst = nil
		return d.literal("null")
	default:
		d.typeError("must be an array")
		return d.skip()
	}
	it, err := d.beginArray(max, limitPath)
	if err != nil {
		return err
	}
	out := make([]T, 0, 1)
	for {
		more, err := d.nextElement(&it)
		if err != nil {
			return err
		}
		if !more {
			*dst = out
			return nil
		}
		out = append(out, *new(T))
		if err := d.readStruct(PT(&out[len(out)-1])); err != nil {
			return err
		}
	}
}

// readAny reads any value as encoding/json decodes into an interface with
// UseNumber: objects as map[string]any, arrays as []any, numbers as
// json.Number (every digit kept).
func (d *jsonDecoder) readAny() (any, error) {
	switch c := d.peek(); {
	case c == '{':
		return d.readMap()
	case c == '[':
		it, err := d.beginArray(0, "")
		if err != nil {
			return nil, err
		}
		out := []any{}
		for {
			more, err := d.nextElement(&it)
			if err != nil || !more {
				return out, err
			}
			v, err := d.readAny()
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
	case c == '"':
		return d.stringValue()
	case c == '-' || c >= '0' && c <= '9':
		num, err := d.scanNumber()
		return json.Number(num), err
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	}
	return nil, d.syntax()
}

// readFields reads the object at the position: member reads the value of
// each key that selects one of fields (it gets the field's name, see
// fieldNames.match), the values of other keys are skipped. It is the loop
// every request DTO's readJSON shares.
func (d *jsonDecoder) readFields(fields fieldNames, member func(field string) error) error {
	it, err := d.beginObject(foldedKeys)
	if err != nil {
		return err
	}
	for {
		key, more, err := d.nextMember(&it)
		if err != nil || !more {
			return err
		}
		if f := fields.match(key); f != "" {
			err = member(f)
		} else {
			err = d.skip()
		}
		if err != nil {
			return err
		}
	}
}

// readMap reads the object at the position as a map[string]any.
func (d *jsonDecoder) readMap() (map[string]any, error) {
	it, err := d.beginObject(exactKeys)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for {
		key, more, err := d.nextMember(&it)
		if err != nil || !more {
			return out, err
		}
		v, err := d.readAny()
		if err != nil {
			return nil, err
		}
		out[string(key)] = v
	}
}

// fieldNames are the JSON names of a DTO's fields.
type fieldNames []string

// match returns the field name key selects, "" for none: an exact match,
// else one equal under Unicode case folding, as encoding/json matches.
func (f fieldNames) match(key []byte) string {
	for _, n := range f {
		if string(key) == n {
			return n
		}
	}
	for _, n := range f {
		if equalFold(key, n) {
			return n
		}
	}
	return ""
}

// equalFold is bytes.EqualFold between a key and a field name, without a
// conversion in the common ASCII case.
func equalFold(key []byte, name string) bool {
	for i := 0; i < len(key) && i < len(name); i++ {
		c, n := key[i], name[i]
		if c|n >= utf8.RuneSelf {
			return strings.EqualFold(string(key[i:]), name[i:])
		}
		if c != n && (c|0x20 != n|0x20 || c|0x20 < 'a' || c|0x20 > 'z') {
			return false
		}
	}
	return len(key) == len(name)
}
