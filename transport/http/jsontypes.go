package httptransport

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"unicode/utf8"

	fastbase64 "github.com/segmentio/asm/base64"

	"github.com/bankkit/onboarding-adapter/domain"
)

// The JSON types below never fail decoding: they record what was wrong in
// problem, and the converter, which knows the value's full JSON path (array
// indices included), reports it after the whole body has been read.

// base64Image is an image sent as a base64 JSON string. It is decoded
// straight from the body into a recycled buffer of at least the decoded
// size (bodyBuffers, at most an eighth larger), never into a string copy of
// the image first. The decoded bytes, data, live in buf, which the decoder
// hands to the request's scope to be put back once the request is answered
// (keepUntilAnswered): the presence-check frame, whose bytes a review case
// may keep (copied by the decision engine) but which is otherwise garbage
// when the request ends.
type base64Image struct {
	data    []byte // nil when absent, null or "", and for a digestOnly image
	buf     *[]byte
	problem string
	// digestOnly, set before reading, keeps only what the service records
	// of an image (format, SHA-256, size: image), not its bytes: they are
	// decoded into a recycled buffer (bodyBuffers) that is put back at
	// once. A document's images are only ever digested, so a request no
	// longer allocates, zeroes and leaves as garbage a decoded copy of each
	// (a 200 KB face is most of an evaluation's allocations).
	digestOnly bool
	image      domain.Image // digestOnly: the image without Data; zero when absent
}

// reset empties im for a new read, keeping its mode; a buffer it held goes
// back to the pool.
func (im *base64Image) reset() {
	bodyBuffers.put(im.buf)
	*im = base64Image{digestOnly: im.digestOnly}
}

// present reports whether an image was sent (and decoded).
func (im *base64Image) present() bool { return im.data != nil || im.image.Size > 0 }

// decode decodes the base64 text s (not empty) into im and returns how
// many leading bytes of s are proven to be of the standard alphabet (see
// decodeBase64). ok is false when s is no base64; a digestOnly image that
// is no JPEG or PNG is recorded as a problem with ok true.
func (im *base64Image) decode(s []byte) (proven int, ok bool) {
	n := base64.RawStdEncoding.DecodedLen(len(s)) // the largest of the four alphabets' and paddings'
	buf := bodyBuffers.get(n)
	data, proven, ok := decodeBase64((*buf)[:n], s)
	switch {
	case !ok:
		bodyBuffers.put(buf)
		return 0, false
	case !im.digestOnly:
		im.data, im.buf = data, buf
		return proven, true
	}
	defer bodyBuffers.put(buf)
	img, err := domain.NewImage("", data)
	if err != nil {
		im.problem = errNotAnImage
		return proven, true
	}
	img.Data = nil
	im.image = img
	return proven, true
}

// errNotAnImage is the problem of image bytes that are neither JPEG nor PNG.
const errNotAnImage = "not a JPEG or PNG image"

// readImage reads an image field: standard or URL-safe base64, padded or
// not, with line breaks (MIME style) and an optional data: URI prefix.
func (d *jsonDecoder) readImage(dst *base64Image) error {
	dst.reset()
	switch d.peek() {
	case '"':
	case 'n':
		return d.literal("null")
	default:
		dst.problem = "must be a string"
		return d.skip()
	}
	start := d.i + 1
	if q := bytes.IndexByte(d.b[start:], '"'); q >= 0 {
		// Unless text holds a backslash, the quote found closes the string
		// and text is its content: found at memory speed and decoded in
		// place.
		ok, err := d.imageText(dst, d.b[start:start+q])
		if err != nil {
			return err
		}
		if ok {
			d.i = start + q + 1
			return nil
		}
	}
	// Some encoders escape '/' as \/ or '=' as \u003d: check the string,
	// then resolve the escapes into a copy. Anything unescaping to
	// non-ASCII is no base64 anyway.
	s, e, _, err := d.scanString()
	if err != nil {
		return err
	}
	text, ok := unescapeASCII(d.b[s:e])
	if !ok {
		dst.problem = "not valid base64"
		return nil
	}
	dst.decodeText(text)
	return nil
}

// imageText decodes text, the bytes up to the first quote after an image
// string's opening quote, when it holds no backslash (ok false otherwise,
// for the caller to read the string with its escapes). It checks text is
// valid string content (UTF-8, no control character), skipping the part
// the base64 decoder already proved to be of its ASCII alphabet, and
// leaves the backslash search to that decoder too (a backslash is no
// base64): the common image is read once.
func (d *jsonDecoder) imageText(dst *base64Image, text []byte) (ok bool, err error) {
	b64 := trimDataURI(text)
	prefix := text[:len(text)-len(b64)]
	var proven int
	if len(b64) > 0 {
		var decoded bool
		if proven, decoded = dst.decode(b64); !decoded {
			dst.problem = "not valid base64"
		}
	}
	rest := b64[proven:]
	if bytes.IndexByte(prefix, '\\') >= 0 || bytes.IndexByte(rest, '\\') >= 0 {
		dst.reset()
		return false, nil
	}
	if hasControl(prefix) || hasControl(rest) || !utf8.Valid(prefix) || !utf8.Valid(rest) {
		return false, d.syntax()
	}
	return true, nil
}

// decodeText decodes the unescaped text of an image string into im.
func (im *base64Image) decodeText(text []byte) {
	b64 := trimDataURI(text)
	if len(b64) == 0 {
		return
	}
	if _, ok := im.decode(b64); !ok {
		im.reset()
		im.problem = "not valid base64"
	}
}

// trimDataURI drops a data:...;base64, prefix.
func trimDataURI(s []byte) []byte {
	if bytes.HasPrefix(s, []byte("data:")) {
		if _, after, found := bytes.Cut(s, []byte(";base64,")); found {
			return after
		}
	}
	return s
}

// hasControl reports whether s holds a byte below 0x20, eight bytes at a
// time.
func hasControl(s []byte) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := binary.LittleEndian.Uint64(s[i:])
		if (x-0x20*swarOnes)&^x&swarHighs != 0 {
			return true
		}
	}
	for ; i < len(s); i++ {
		if s[i] < 0x20 {
			return true
		}
	}
	return false
}

// decodeBase64 decodes s, which is not empty, into dst, which must hold
// base64.RawStdEncoding.DecodedLen(len(s)) bytes (the most any alphabet
// and padding decodes s to), picking the alphabet (URL-safe when '-' or '_'
// occur) and the padding (when the text ends in '=') from the text itself,
// as encoding/base64 decodes it. It also returns how many leading bytes of
// s are proven to be of the standard alphabet, so the caller need not check
// them for JSON string content.
//
// The standard alphabet is decoded by github.com/segmentio/asm/base64: SIMD
// (AVX2, NEON) over the longest valid prefix, then encoding/base64 for the
// rest, so it accepts and refuses exactly what encoding/base64 does
// (FuzzDecodeBase64) at about ten times its speed here: an image is the
// largest part of every approve and evaluate body.
func decodeBase64(dst, s []byte) (data []byte, proven int, ok bool) {
	end := len(s)
	for end > 0 && (s[end-1] == '\n' || s[end-1] == '\r') {
		end--
	}
	padded := end > 0 && s[end-1] == '='
	// The URL-safe alphabet is encoding/base64's own: segmentio's SIMD
	// decoder of it also accepts '/', which encoding/base64 refuses.
	std, url := fastbase64.RawStdEncoding, base64.RawURLEncoding
	if padded {
		std, url = fastbase64.StdEncoding, base64.URLEncoding
	}
	// The common case, the standard alphabet. encoding/base64 skips line
	// breaks, which JSON does not allow raw in a string: a text with one
	// proves nothing.
	if n, err := std.Decode(dst, s); err == nil {
		if n == 0 {
			return nil, 0, false
		}
		if data := bytes.TrimRight(s, "="); end == len(s) && n == breakFreeLen(len(s), len(s)-len(data), padded) {
			proven = len(data)
		}
		return dst[:n], proven, true
	}
	if bytes.IndexByte(s, '-') < 0 && bytes.IndexByte(s, '_') < 0 {
		return nil, 0, false
	}
	n, err := url.Decode(dst, s)
	if err != nil || n == 0 {
		return nil, 0, false
	}
	return dst[:n], 0, true
}

// breakFreeLen is what a standard-alphabet text of length l ending in pad
// '=' decodes to when it holds no line break, or -1 when no break-free text
// has that length. Skipped breaks make a text longer than the part that
// was decoded, and longer break-free texts decode to more bytes, so a text
// that decoded to this size had none: the decoder's own count proves it
// without a second pass over the text.
func breakFreeLen(l, pad int, padded bool) int {
	switch {
	case padded && l%4 == 0:
		return l/4*3 - pad
	case !padded && l%4 != 1:
		return l * 6 / 8
	}
	return -1
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

// readIdentification reads the identification object. Its problems, in
// order: more than maxIdentificationKeys keys, then the first key or value
// (in the body's order) over its length limit.
func (d *jsonDecoder) readIdentification(dst *identification) error {
	*dst = identification{}
	switch d.peek() {
	case '{':
	case 'n':
		return d.literal("null")
	default:
		dst.problem = "must be an object"
		return d.skipFree()
	}
	it, err := d.beginObject(exactKeys) // keys are read as written
	if err != nil {
		return err
	}
	values := make(map[string]string, 4)
	var problem string
	for n := 0; ; n++ {
		key, more, err := d.nextMember(&it)
		if err != nil {
			return err
		}
		if !more {
			switch {
			case n > maxIdentificationKeys:
				dst.problem = "must have at most " + strconv.Itoa(maxIdentificationKeys) + " keys"
			case problem != "":
				dst.problem = problem
			default:
				dst.values = values
			}
			return nil
		}
		if problem == "" && utf8.RuneCount(key) > maxIdentificationKeyChars {
			problem = "keys must be at most " + strconv.Itoa(maxIdentificationKeyChars) + " characters"
		}
		var value string
		switch c := d.peek(); {
		case c == '"':
			value, err = d.stringValue()
		case c == 't' || c == 'f':
			start := d.i
			err = d.skipFree()
			value = string(d.b[start:d.i])
		case c == '-' || c >= '0' && c <= '9':
			var num []byte
			num, err = d.scanNumber()
			value = string(num)
		default: // null, objects and arrays are no credential
			if err := d.skipFree(); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if problem == "" && len(value) > maxIdentificationValueChars && utf8.RuneCountInString(value) > maxIdentificationValueChars {
			problem = "values must be at most " + strconv.Itoa(maxIdentificationValueChars) + " characters"
		}
		if problem == "" && n < maxIdentificationKeys {
			values[identificationKey(key)] = value
		}
	}
}

// identificationKey is key as a string: a known key's constant (a lookup's
// keys cost no allocation each), anything else a copy.
func identificationKey(key []byte) string {
	switch string(key) { // compared in place, not converted
	case string(domain.KeyClientNumber):
		return string(domain.KeyClientNumber)
	case string(domain.KeyBirthDate):
		return string(domain.KeyBirthDate)
	case string(domain.KeyPersonalNumber):
		return string(domain.KeyPersonalNumber)
	case string(domain.KeyPhoneNumber):
		return string(domain.KeyPhoneNumber)
	}
	return string(key)
}

// jsonObject is a free-form JSON object (process event data). Numbers stay
// json.Number, so large ids from fraud-detection vendors keep every digit.
type jsonObject struct {
	values  map[string]any // nil when absent or null
	problem string
}

// readObject reads a free-form object field.
func (d *jsonDecoder) readObject(dst *jsonObject) error {
	*dst = jsonObject{}
	switch d.peek() {
	case '{':
		m, err := d.readMap()
		dst.values = m
		return err
	case 'n':
		return d.literal("null")
	}
	dst.problem = "must be an object"
	return d.skipFree()
}
