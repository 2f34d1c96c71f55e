package httptransport

import (
	"bytes"
	"context"
	"net/http"
	"runtime"
	"testing"
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
