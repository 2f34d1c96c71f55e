package sms_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/bankkit/onboarding-adapter/adapters/sms"
	"github.com/bankkit/onboarding-adapter/domain"
)

// BenchmarkResilientSend measures one send through the resilient wrapper
// (semaphore, breaker, attempt timeout, request, answer parsing, the log
// line) against a local httptest gateway answering at once: the adapter's
// own cost per OTP, which the real gateway's latency dwarfs.
func BenchmarkResilientSend(b *testing.B) {
	for _, d := range dialects() {
		b.Run(d.name, func(b *testing.B) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(d.ok.status)
				_, _ = io.WriteString(w, d.ok.body)
			}))
			defer srv.Close()
			sender := d.newSender(b, srv.URL, sms.Options{Logger: slog.New(slog.DiscardHandler)})
			msg := testSMS()
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if res, err := sender.SendSMS(ctx, msg); err != nil || res.Outcome != domain.OTPSent {
						b.Errorf("%+v, %v", res, err)
						return
					}
				}
			})
		})
	}
}
