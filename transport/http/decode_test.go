package httptransport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

// decodeBody runs a decoder the way a route does: body limit in ctx.
func decodeBody(dec func(context.Context, *http.Request) (any, error), body string, limit int64) (any, error) {
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	ctx := withBodyLimit(limit)(context.Background(), req)
	return dec(ctx, req)
}

func wantRequestError(t *testing.T, err error, status int, msg string) {
	t.Helper()
	var re *requestError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want a %d requestError %q", err, status, msg)
	}
	if re.status != status || re.msg != msg {
		t.Errorf("got %d %q, want %d %q", re.status, re.msg, status, msg)
	}
}

func TestImages(t *testing.T) {
	escaped := strings.ReplaceAll(base64.StdEncoding.EncodeToString(append([]byte{0xFF, 0xD8, 0xFF}, bytes.Repeat([]byte{0xFC}, 30)...)), "/", `\/`)
	tests := []struct {
		name    string
		frame   string // JSON value
		want    []byte // decoded frame, nil for none
		wantErr string
	}{
		{"std padded", `"` + jpegB64 + `"`, jpegBytes, ""},
		{"std raw", `"` + base64.RawStdEncoding.EncodeToString(pngBytes) + `"`, pngBytes, ""},
		{"url padded", `"` + base64.URLEncoding.EncodeToString(append([]byte{0xFF, 0xD8, 0xFF}, bytes.Repeat([]byte{0xFB}, 30)...)) + `"`,
			append([]byte{0xFF, 0xD8, 0xFF}, bytes.Repeat([]byte{0xFB}, 30)...), ""},
		{"url raw", `"` + base64.RawURLEncoding.EncodeToString(append([]byte{0xFF, 0xD8, 0xFF}, bytes.Repeat([]byte{0xFB}, 31)...)) + `"`,
			append([]byte{0xFF, 0xD8, 0xFF}, bytes.Repeat([]byte{0xFB}, 31)...), ""},
		{"escaped slashes", `"` + escaped + `"`, append([]byte{0xFF, 0xD8, 0xFF}, bytes.Repeat([]byte{0xFC}, 30)...), ""},
		{"unicode-escaped padding", `"` + strings.ReplaceAll(jpegB64, "=", `\u003d`) + `"`, jpegBytes, ""},
		{"MIME line breaks", `"` + jpegB64[:40] + `\r\n` + jpegB64[40:] + `"`, jpegBytes, ""},
		{"data URI", `"data:image/jpeg;base64,` + jpegB64 + `"`, jpegBytes, ""},
		{"null", `null`, nil, ""},
		{"empty", `""`, nil, ""},
		{"invalid base64", `"not*base64"`, nil, "presenceCheckResult.frame: not valid base64"},
		{"spaces", `"` + jpegB64[:8] + ` ` + jpegB64[8:] + `"`, nil, "presenceCheckResult.frame: not valid base64"},
		{"bad escape", `"\u00e9AAA"`, nil, "presenceCheckResult.frame: not valid base64"},
		{"not an image", `"` + base64.StdEncoding.EncodeToString([]byte("GIF89a is not allowed")) + `"`, nil, "presenceCheckResult.frame: not a JPEG or PNG image"},
		{"number", `42`, nil, "presenceCheckResult.frame: must be a string"},
		{"object", `{"data":"x"}`, nil, "presenceCheckResult.frame: must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeBody(decodeApproveRequest, `{"processId":"p","presenceCheckResult":{"frame":`+tt.frame+`}}`, DefaultMaxImageBodyBytes)
			if tt.wantErr != "" {
				wantRequestError(t, err, 400, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			frame := got.(ports.ApprovalRequest).Frame
			switch {
			case tt.want == nil && frame != nil:
				t.Errorf("frame %+v, want none", frame)
			case tt.want != nil && (frame == nil || !bytes.Equal(frame.Data, tt.want) || frame.Kind != "FRAME" || frame.Size != len(tt.want) || len(frame.SHA256) != 64):
				t.Errorf("frame %+v, want %x", frame, tt.want)
			}
		})
	}
}

func TestDocumentImageErrorsNameTheirPath(t *testing.T) {
	body := func(img2 string) string {
		return `{"processId":"p","documentCheckResult":{"documents":[{"type":"ID_CARD","images":[{"type":"FACE","data":"` + jpegB64 + `"}]},` +
			`{"type":"PASSPORT","images":[{"type":"FACE","data":"` + pngB64 + `"},{"type":"SIGNATURE","data":` + img2 + `}]}]}}`
	}
	tests := []struct{ name, img, want string }{
		{"invalid base64", `"%%%"`, "documentCheckResult.documents[1].images[1].data: not valid base64"},
		{"not an image", `"` + base64.StdEncoding.EncodeToString([]byte("plain text")) + `"`, "documentCheckResult.documents[1].images[1].data: not a JPEG or PNG image"},
		{"wrong type", `true`, "documentCheckResult.documents[1].images[1].data: must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeBody(decodeEvaluateRequest, body(tt.img), DefaultMaxImageBodyBytes)
			wantRequestError(t, err, 400, tt.want)
		})
	}
}

func TestTypeErrorPaths(t *testing.T) {
	tests := []struct {
		name string
		dec  func(context.Context, *http.Request) (any, error)
		body string
		want string
	}{
		{"score string", decodeApproveRequest, `{"score":"9"}`, "score: must be a number"},
		{"score overflow", decodeApproveRequest, `{"score":1e400}`, "score: number out of range"},
		{"score object", decodeEvaluateRequest, `{"score":{"value":1}}`, "score: must be a number"},
		{"score array", decodeEvaluateRequest, `{"score":[1]}`, "score: must be a number"},
		{"score bool", decodeEvaluateRequest, `{"score":true}`, "score: must be a number"},
		{"presenceCheckResult string", decodeApproveRequest, `{"presenceCheckResult":"x"}`, "presenceCheckResult: must be an object"},
		{"documents object", decodeEvaluateRequest, `{"documentCheckResult":{"documents":{}}}`, "documentCheckResult.documents: must be an array"},
		{"document data field", decodeEvaluateRequest,
			`{"documentCheckResult":{"documents":[{"type":"ID_CARD","data":{"surname":"A"}},{"type":"PASSPORT","data":{"surname":"B","dateOfExpiry":20300101}}]}}`,
			"documentCheckResult.documents[1].data.dateOfExpiry: must be a string"},
		{"document type", decodeEvaluateRequest, `{"documentCheckResult":{"documents":[ {"type" : 1} ]}}`, "documentCheckResult.documents[0].type: must be a string"},
		{"images not array", decodeEvaluateRequest, `{"documentCheckResult":{"documents":[{"images":"x"}]}}`, "documentCheckResult.documents[0].images: must be an array"},
		{"image type", decodeEvaluateRequest, `{"documentCheckResult":{"documents":[{"images":[{"type":null},{"type":7}]}]}}`, "documentCheckResult.documents[0].images[1].type: must be a string"},
		{"escaped key", decodeEvaluateRequest, `{"proc\u0065ssId":false}`, "processId: must be a string"},
		{"otp resend", decodeOTPSendRequest, `{"resend":"yes"}`, "resend: must be true or false"},
		{"otp code number", decodeOTPSendRequest, `{"otpCode":12345678}`, "otpCode: must be a string"},
		{"event data string", decodeProcessEventRequest, `{"data":"x"}`, "data: must be an object"},
		{"event eventData array", decodeProcessEventRequest, `{"eventData":[1]}`, "eventData: must be an object"},
		{"identification string", decodeLookupRequest, `{"identification":"1000001"}`, "identification: must be an object"},
		{"identification array", decodeLookupRequest, `{"identification":[{"clientNumber":"1"}]}`, "identification: must be an object"},
		{"identification too many keys", decodeLookupRequest, `{"identification":{` + manyKeys(257) + `}}`, "identification: must have at most 256 keys"},
		{"consent type", decodeConsentTextRequest, `{"consentType":["GDPR"]}`, "consentType: must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeBody(tt.dec, tt.body, DefaultMaxBodyBytes)
			wantRequestError(t, err, 400, tt.want)
		})
	}
}

func manyKeys(n int) string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf(`"k%d":"v"`, i)
	}
	return strings.Join(keys, ",")
}

func TestIdentificationValues(t *testing.T) {
	got, err := decodeBody(decodeLookupRequest,
		`{"processId":"p","identification":{"clientNumber":1000001,"big":12345678901234567890123,"exp":1e3,"birthDate":"12.4.1985","flag":true,"off":false,"none":null,"obj":{"a":"b"},"arr":["x"],"esc":"a\"b\u00e9"}}`,
		DefaultMaxBodyBytes)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"clientNumber": "1000001", "big": "12345678901234567890123", "exp": "1e3", "birthDate": "12.4.1985",
		"flag": "true", "off": "false", "esc": `a"bé`}
	if id := got.(ports.LookupRequest).Identification; !reflect.DeepEqual(id, want) {
		t.Errorf("identification = %v, want %v", id, want)
	}
	got, err = decodeBody(decodeLookupRequest, `{"processId":"p","identification":{`+manyKeys(256)+`}}`, DefaultMaxBodyBytes)
	if err != nil || len(got.(ports.LookupRequest).Identification) != 256 {
		t.Errorf("256 keys: err %v", err)
	}
	got, err = decodeBody(decodeLookupRequest, `{"processId":"p","identification":null}`, DefaultMaxBodyBytes)
	if err != nil || got.(ports.LookupRequest).Identification != nil {
		t.Errorf("null identification: %v %v", got, err)
	}
}

func TestProcessEventDataPrecedence(t *testing.T) {
	got, err := decodeBody(decodeProcessEventRequest, `{"type":"FINISHED","locale":"en","data":{"locale":"cs","a":1},"eventData":{"b":2}}`, DefaultMaxBodyBytes)
	if err != nil {
		t.Fatal(err)
	}
	data := got.(ports.ProcessEventRequest).Data
	if len(data) != 2 || data["locale"] != "cs" || data["a"] == nil {
		t.Errorf("data = %v, want data's own keys with its locale kept", data)
	}
	got, err = decodeBody(decodeProcessEventRequest, `{"type":"FINISHED","data":null}`, DefaultMaxBodyBytes)
	if err != nil || got.(ports.ProcessEventRequest).Data != nil {
		t.Errorf("null data: %v %v", got, err)
	}
}

func TestNesting(t *testing.T) {
	nest := func(n int) string {
		// n levels in total, the body object included.
		return `{"processId":"p","data":` + strings.Repeat(`{"a":`, n-2) + `{}` + strings.Repeat(`}`, n-2) + `}`
	}
	if _, err := decodeBody(decodeProcessEventRequest, nest(32), DefaultMaxBodyBytes); err != nil {
		t.Errorf("32 levels: %v", err)
	}
	_, err := decodeBody(decodeProcessEventRequest, nest(33), DefaultMaxBodyBytes)
	wantRequestError(t, err, 400, "request body is nested more than 32 levels deep")
	// Brackets inside strings do not count.
	if _, err := decodeBody(decodeProcessEventRequest, `{"type":"FINISHED","data":{"note":"`+strings.Repeat("[{", 100)+`\"[{"}}`, DefaultMaxBodyBytes); err != nil {
		t.Errorf("brackets in a string: %v", err)
	}
}

func TestNULCharacters(t *testing.T) {
	tests := []struct {
		body string
		ok   bool
	}{
		{`{"processId":"a\u0000b"}`, false},
		{`{"proc\u0000essId":"a"}`, false},
		{`{"processId":"a\\u0000b"}`, true}, // an escaped backslash, then text
		{`{"processId":"a\\\u0000b"}`, false},
		{`{"processId":"a\u0001b"}`, true},
	}
	for _, tt := range tests {
		_, err := decodeBody(decodeConsentTextRequest, tt.body, DefaultMaxBodyBytes)
		if tt.ok && err != nil {
			t.Errorf("%s: %v", tt.body, err)
		}
		if !tt.ok {
			wantRequestError(t, err, 400, "request body must not contain NUL characters")
		}
	}
}

func TestUnknownFieldsIgnored(t *testing.T) {
	got, err := decodeBody(decodeConsentStorageRequest,
		`{"processId":"p","approved":true,"extra":{"deep":[1,2,{"x":null}]},"consentType":"GDPR","another":"x"}`, DefaultMaxBodyBytes)
	if err != nil {
		t.Fatal(err)
	}
	if r := got.(ports.ConsentStorageRequest); !r.Approved || r.ConsentType != "GDPR" {
		t.Errorf("request %+v", r)
	}
}

func TestPathAt(t *testing.T) {
	doc := []byte(`{"a": {"b": [10, {"c": "x"}, [true, null]]}, "d\"e": 1, "f":[]}`)
	tests := []struct {
		at   string // substring whose first byte is the target
		want string
	}{
		{`10`, "a.b[0]"},
		{`"x"`, "a.b[1].c"},
		{`true`, "a.b[2][0]"},
		{`null`, "a.b[2][1]"},
		{`[true`, "a.b[2]"},
		{`{"b"`, "a"},
		{`1, "f"`, `d"e`},
		{`[]}`, "f"},
	}
	for _, tt := range tests {
		off := bytes.Index(doc, []byte(tt.at))
		if got, ok := pathAt(doc, off); !ok || got != tt.want {
			t.Errorf("pathAt(%q) = %q %v, want %q", tt.at, got, ok, tt.want)
		}
	}
	if _, ok := pathAt(doc, len(doc)); ok {
		t.Errorf("offset past the end found a path")
	}
}

// evaluateBody builds an evaluate request with n images of size bytes each.
func evaluateBody(n, size int) []byte {
	img := make([]byte, size)
	copy(img, []byte{0xFF, 0xD8, 0xFF, 0xE0})
	for i := 4; i < size; i++ {
		img[i] = byte(i * 7)
	}
	b64 := base64.StdEncoding.EncodeToString(img)
	var b bytes.Buffer
	b.WriteString(`{"processId":"p-1","userId":"user-1","identityVerificationId":"iv-1","provider":"ZenID","status":"SUCCESS","score":9,"documentCheckResult":{"documents":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"ID_CARD","status":"SUCCESS","data":{"givenNames":"Jana","surname":"Nováková","dateOfBirth":"1985-04-12","dateOfExpiry":"2030-01-01"},"images":[{"type":"FACE","data":"%s"}]}`, b64)
	}
	b.WriteString(`]}}`)
	return b.Bytes()
}

// TestEvaluateMemory proves the image path: decoding allocates the body
// once (a recycled buffer at most an eighth larger, or one of its own size
// past 1 MiB) plus a buffer the images are decoded into to be digested
// (recycled too, up to 1 MiB), well under twice the body.
// Allocation is counted, not time, with the buffer pool emptied first so
// the body's buffer is counted too.
func TestEvaluateMemory(t *testing.T) {
	for _, tt := range []struct{ images, size int }{{3, 1 << 20}, {1, 600 << 10}, {1, 200 << 10}} {
		body := evaluateBody(tt.images, tt.size)
		ctx := withBodyLimit(DefaultMaxImageBodyBytes)(context.Background(), nil)
		decode := func() {
			req := &http.Request{Method: http.MethodPost, Header: http.Header{"Content-Type": {"application/json"}},
				Body: readCloser{bytes.NewReader(body)}, ContentLength: int64(len(body))}
			got, err := decodeEvaluateRequest(ctx, req)
			if err != nil || len(got.(ports.EvaluationRequest).Documents) != tt.images {
				t.Fatalf("decode: %v", err)
			}
		}
		decode() // warm up
		var before, after runtime.MemStats
		runtime.GC()
		runtime.GC() // a sync.Pool keeps its buffers through one collection
		runtime.ReadMemStats(&before)
		decode()
		runtime.ReadMemStats(&after)
		ratio := float64(after.TotalAlloc-before.TotalAlloc) / float64(len(body))
		t.Logf("%d × %d-byte images: body %d bytes, allocated %.2fx the body", tt.images, tt.size, len(body), ratio)
		if ratio > 2.0 {
			t.Errorf("%d × %d-byte images: decoding allocated %.2fx the body, want at most 2x", tt.images, tt.size, ratio)
		}
	}
}

// TestDocumentImagesKeepOnlyTheirDigest: a document's images are decoded
// into a recycled buffer and only their digest is kept (the evaluation
// records nothing else of them), so consecutive images of different sizes
// through the same buffers must each get their own digest, format and
// size, a warm decoder must not allocate decoded copies, and a frame, which
// a review case may keep as evidence, keeps its bytes.
func TestDocumentImagesKeepOnlyTheirDigest(t *testing.T) {
	images := [][]byte{
		bytes.Repeat([]byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 1, 2, 3}, 3000),
		append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte("face"), 200)...),
		append([]byte{0xFF, 0xD8, 0xFF, 0xDB}, bytes.Repeat([]byte{9}, 70_000)...),
	}
	var b bytes.Buffer
	b.WriteString(`{"processId":"p-1","userId":"user-1","identityVerificationId":"iv-1","provider":"ZenID","status":"SUCCESS","documentCheckResult":{"documents":[`)
	for i, img := range images {
		if i > 0 {
			b.WriteByte(',')
		}
		enc := base64.StdEncoding.EncodeToString(img)
		if i == 1 {
			enc = "data:image/jpeg;base64," + base64.RawURLEncoding.EncodeToString(img) // another alphabet, no padding
		}
		fmt.Fprintf(&b, `{"type":"ID_CARD","status":"SUCCESS","images":[{"type":"FACE%d","data":"%s"}]}`, i, enc)
	}
	b.WriteString(`]}}`)
	body := b.Bytes()
	ctx := withBodyLimit(DefaultMaxImageBodyBytes)(context.Background(), nil)
	decode := func() ports.EvaluationRequest {
		t.Helper()
		req := &http.Request{Method: http.MethodPost, Header: http.Header{"Content-Type": {"application/json"}},
			Body: readCloser{bytes.NewReader(body)}, ContentLength: int64(len(body))}
		got, err := decodeEvaluateRequest(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return got.(ports.EvaluationRequest)
	}
	for range 2 { // the second time through recycled buffers
		got := decode()
		for i, img := range images {
			sum := sha256.Sum256(img)
			want := domain.Image{Kind: fmt.Sprintf("FACE%d", i), Format: domain.ImageFormat(img), SHA256: hex.EncodeToString(sum[:]), Size: len(img)}
			if g := got.Documents[i].Images; len(g) != 1 || !reflect.DeepEqual(g[0], want) {
				t.Errorf("document %d: %+v, want %+v (digest only, no bytes)", i, g, want)
			}
		}
	}
	if !raceEnabled {
		allocs := testing.AllocsPerRun(20, func() { decode() })
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		decode()
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > uint64(len(body))/4 {
			t.Errorf("a warm decode allocated %d bytes (%.0f allocations) for a %d-byte body: decoded copies of the images?", grew, allocs, len(body))
		}
	}

	frame := approveFrameBody(4 << 10)
	req := &http.Request{Method: http.MethodPost, Header: http.Header{"Content-Type": {"application/json"}},
		Body: readCloser{bytes.NewReader(frame)}, ContentLength: int64(len(frame))}
	got, err := decodeApproveRequest(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if f := got.(ports.ApprovalRequest).Frame; f == nil || len(f.Data) != 4<<10 || domain.ImageFormat(f.Data) != "jpeg" {
		t.Errorf("the frame lost its bytes: %+v", f)
	}
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// TestDecodedRequestOwnsItsMemory guards the body buffer's reuse
// (bodyBuffers): a decoded request must not refer to the body, so
// scribbling over the body after decoding changes nothing.
func TestDecodedRequestOwnsItsMemory(t *testing.T) {
	decoders := map[string]func(context.Context, *http.Request) (any, error){
		EndpointUserLookup: decodeLookupRequest, EndpointClientApprove: decodeApproveRequest, EndpointClientEvaluate: decodeEvaluateRequest,
		EndpointOTPSend: decodeOTPSendRequest, EndpointConsentStorage: decodeConsentStorageRequest, EndpointConsentText: decodeConsentTextRequest,
		EndpointProcessEvent: decodeProcessEventRequest,
	}
	cases := allEndpoints()
	cases = append(cases,
		endpointCase{EndpointUserLookup, "", `{"processId":"p\u00e9","identification":{"k\u00e9y":"v\u00e9","n":12345678901234567890,"b":true}}`},
		endpointCase{EndpointProcessEvent, "", `{"type":"A","data":{"k":[1,"s",{"x":null}],"n":1e400,"e":"\u00e9"},"locale":"cs"}`},
		endpointCase{EndpointClientApprove, "", string(approveFrameBody(4 << 10))},
		endpointCase{EndpointClientEvaluate, "", string(evaluateBody(2, 3<<10))})
	for _, ec := range cases {
		t.Run(ec.name, func(t *testing.T) {
			decode := func(body []byte) any {
				t.Helper()
				req := &http.Request{Method: http.MethodPost, Header: http.Header{"Content-Type": {"application/json"}},
					Body: readCloser{bytes.NewReader(body)}, ContentLength: int64(len(body))}
				got, err := decoders[ec.name](withBodyLimit(DefaultMaxImageBodyBytes)(context.Background(), nil), req)
				if err != nil {
					t.Fatal(err)
				}
				return got
			}
			buf := []byte(ec.body)
			got := decodeInto(t, ec.name, buf)
			for i := range buf {
				buf[i] = 'X'
			}
			if want := decode([]byte(ec.body)); !reflect.DeepEqual(got, want) {
				t.Errorf("after overwriting the body: %+v, want %+v", got, want)
			}
		})
	}
}

// decodeInto decodes body in place (unmarshalBody on the caller's slice)
// and converts it to the ports request.
func decodeInto(t *testing.T, name string, body []byte) any {
	t.Helper()
	var (
		got any
		err error
	)
	meta := metaFrom(context.Background())
	switch name {
	case EndpointUserLookup:
		var d lookupRequest
		if err = unmarshalBody(body, &d, lookupPaths...); err == nil {
			got, err = d.toPorts(meta)
		}
	case EndpointClientApprove:
		var d approveRequest
		if err = unmarshalBody(body, &d); err == nil {
			got, err = d.toPorts(meta)
		}
	case EndpointClientEvaluate:
		var d evaluateRequest
		if err = unmarshalBody(body, &d, evaluateArrays...); err == nil {
			got, err = d.toPorts(meta)
		}
	case EndpointOTPSend:
		var d otpSendRequest
		if err = unmarshalBody(body, &d); err == nil {
			got, err = d.toPorts(meta)
		}
	case EndpointConsentStorage:
		var d consentStorageRequest
		if err = unmarshalBody(body, &d); err == nil {
			got, err = d.toPorts(meta)
		}
	case EndpointConsentText:
		var d consentTextRequest
		if err = unmarshalBody(body, &d); err == nil {
			got, err = d.toPorts(meta)
		}
	case EndpointProcessEvent:
		var d processEventRequest
		if err = unmarshalBody(body, &d, eventPaths...); err == nil {
			got, err = d.toPorts(meta)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestBodyPoolClasses(t *testing.T) {
	var p bodyPool
	if len(bodyClassSizes) != len(p.classes) {
		t.Fatalf("%d sizes for %d pools", len(bodyClassSizes), len(p.classes))
	}
	for _, tt := range []struct{ n, capacity int }{
		{1, 1 << 10}, {1 << 10, 1 << 10}, {1<<10 + 1, 1152}, {137 << 10, 144 << 10}, {267 << 10, 288 << 10},
		{600 << 10, 640 << 10}, {1 << 20, 1 << 20}, {1<<20 + 1, 1<<20 + 1},
	} {
		b := p.get(tt.n)
		if len(*b) < tt.n || cap(*b) != tt.capacity {
			t.Errorf("get(%d): len %d cap %d, want cap %d", tt.n, len(*b), cap(*b), tt.capacity)
		}
		p.put(b)
	}
	p.put(nil) // ignored
	odd := make([]byte, 3000)
	p.put(&odd) // not a class size: dropped, never handed out
	if b := p.get(3000); cap(*b) != 3<<10 {
		t.Errorf("get(3000) after putting an odd buffer: cap %d", cap(*b))
	}
}

// TestIdentificationKey: the known keys come back as their constants, any
// other key as itself, near misses included.
func TestIdentificationKey(t *testing.T) {
	for _, k := range domain.KnownIdentificationKeys() {
		if got := identificationKey([]byte(k)); got != string(k) {
			t.Errorf("identificationKey(%q) = %q", k, got)
		}
	}
	for _, k := range []string{"", "clientnumber", "clientNumberX", "birthDat", "phone\u00a0Number", "custom"} {
		if got := identificationKey([]byte(k)); got != k {
			t.Errorf("identificationKey(%q) = %q", k, got)
		}
	}
	if raceEnabled {
		return // allocations are asserted without -race (make unit runs this package once more without it)
	}
	if n := testing.AllocsPerRun(100, func() { _ = identificationKey([]byte("personalNumber")) }); n != 0 {
		t.Errorf("a known key cost %v allocations, want 0", n)
	}
}
