package httptransport

import (
	"bytes"
	"context"
	"encoding/base64"
	"flag"
	"io"
	"log/slog"
	"net/http"
	neturl "net/url"
	"runtime"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// benchDecoder measures one decoder on body and reports the bytes it
// allocates per request relative to the body size (x-body), the number that
// matters for image bodies.
func benchDecoder(b *testing.B, dec func(context.Context, *http.Request) (any, error), body []byte, limit int64) {
	b.Helper()
	ctx := withBodyLimit(limit)(context.Background(), nil)
	header := http.Header{"Content-Type": {"application/json"}}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for b.Loop() {
		req := &http.Request{Method: http.MethodPost, Header: header, Body: readCloser{bytes.NewReader(body)}, ContentLength: int64(len(body))}
		if _, err := dec(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/float64(len(body)), "x-body")
}

func BenchmarkDecodeLookup(b *testing.B) {
	benchDecoder(b, decodeLookupRequest, []byte(allEndpoints()[0].body), DefaultMaxBodyBytes)
}

func BenchmarkDecodeApprove(b *testing.B) {
	benchDecoder(b, decodeApproveRequest, []byte(allEndpoints()[1].body), DefaultMaxImageBodyBytes)
}

func BenchmarkDecodeEvaluate(b *testing.B) {
	benchDecoder(b, decodeEvaluateRequest, []byte(allEndpoints()[2].body), DefaultMaxImageBodyBytes)
}

// BenchmarkDecodeEvaluateThreeImages is the memory proof: three 1 MB images
// (about 4 MB of body) must cost well under twice the body.
func BenchmarkDecodeEvaluateThreeImages(b *testing.B) {
	benchDecoder(b, decodeEvaluateRequest, evaluateBody(3, 1<<20), DefaultMaxImageBodyBytes)
}

// BenchmarkDecodeEvaluateFaceImage is the load harness's image evaluation:
// one document with a 200 KB face, whose decoded bytes are only digested.
func BenchmarkDecodeEvaluateFaceImage(b *testing.B) {
	benchDecoder(b, decodeEvaluateRequest, evaluateBody(1, 200<<10), DefaultMaxImageBodyBytes)
}

func BenchmarkDecodeOTPSend(b *testing.B) {
	benchDecoder(b, decodeOTPSendRequest, []byte(allEndpoints()[3].body), DefaultMaxBodyBytes)
}

func BenchmarkDecodeConsentStorage(b *testing.B) {
	benchDecoder(b, decodeConsentStorageRequest, []byte(allEndpoints()[4].body), DefaultMaxBodyBytes)
}

func BenchmarkDecodeConsentText(b *testing.B) {
	benchDecoder(b, decodeConsentTextRequest, []byte(allEndpoints()[5].body), DefaultMaxBodyBytes)
}

func BenchmarkDecodeProcessEvent(b *testing.B) {
	benchDecoder(b, decodeProcessEventRequest, []byte(allEndpoints()[6].body), DefaultMaxBodyBytes)
}

// benchWriter is a reusable http.ResponseWriter, so the handler benchmarks
// measure the handler, not a recorder.
type benchWriter struct {
	header http.Header
	status int
	n      int
}

func (w *benchWriter) Header() http.Header { return w.header }
func (w *benchWriter) WriteHeader(s int)   { w.status = s }
func (w *benchWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(b)
	return len(b), nil
}

// benchLogLevel is the level of BenchmarkHandler's logger: info, the
// service's default, writes the access line of every request; warn, as the
// load harness runs the service, writes none.
var benchLogLevel = flag.String("bench-log-level", "info", "BenchmarkHandler's log level (info: an access line per request; warn: as the load harness)")

// benchHandler is the handler as cmd builds it, minus the server telemetry
// middleware cmd wraps around it: the endpoint telemetry middleware with an
// SDK meter provider and a non-recording tracer, and a JSON access log at
// -bench-log-level written to nowhere.
func benchHandler(b *testing.B) http.Handler {
	b.Helper()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	var level slog.Level
	if err := level.UnmarshalText([]byte(*benchLogLevel)); err != nil {
		b.Fatalf("-bench-log-level: %v", err)
	}
	mw, err := EndpointTelemetry(tracenoop.NewTracerProvider(), mp)
	if err != nil {
		b.Fatal(err)
	}
	h, err := NewHandler((&fakes{}).services(), Config{
		Logger:             slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: level})),
		EndpointMiddleware: mw,
	})
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// BenchmarkHandler runs whole requests through NewHandler (rings, go-kit,
// decoder, endpoint telemetry, fake service, encoder, access log): what a
// request costs in this package beyond net/http itself.
func BenchmarkHandler(b *testing.B) {
	cases := allEndpoints()
	cases = append(cases,
		endpointCase{"client_approve_frame_100KB", "/client/approve", string(approveFrameBody(100 << 10))},
		endpointCase{"client_evaluate_image_200KB", "/client/evaluate", string(evaluateBody(1, 200<<10))})
	for _, ec := range cases {
		b.Run(ec.name, func(b *testing.B) {
			h := benchHandler(b)
			body := []byte(ec.body)
			reader := bytes.NewReader(body)
			header := http.Header{"Content-Type": {"application/json"}}
			url, _ := neturl.Parse(ec.path)
			w := &benchWriter{header: http.Header{}}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				reader.Reset(body)
				req := &http.Request{Method: http.MethodPost, URL: url, RequestURI: ec.path, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
					Header: header, Body: io.NopCloser(reader), ContentLength: int64(len(body)), Host: "bench"}
				// net/http gives every request a cancellable context.
				ctx, cancel := context.WithCancel(context.Background())
				req = req.WithContext(ctx)
				clear(w.header)
				w.status = 0
				h.ServeHTTP(w, req)
				cancel()
				if w.status != http.StatusOK {
					b.Fatalf("status %d", w.status)
				}
			}
		})
	}
}

// approveFrameBody is an approve request with a JPEG-like frame of size
// bytes.
func approveFrameBody(size int) []byte {
	img := make([]byte, size)
	copy(img, []byte{0xFF, 0xD8, 0xFF, 0xE0})
	for i := 4; i < size; i++ {
		img[i] = byte(i * 13)
	}
	return []byte(`{"processId":"p-1","userId":"user-1","identityVerificationId":"iv-1","provider":"iProov","status":"SUCCESS","score":8.5,"presenceCheckResult":{"frame":"` +
		base64.StdEncoding.EncodeToString(img) + `"}}`)
}
