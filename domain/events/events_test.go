package events_test

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/events"
	"github.com/bankkit/onboarding-adapter/ports"
)

var now = time.Date(2025, 6, 15, 10, 0, 0, 0, time.UTC)

func request() ports.ProcessEventRequest {
	return ports.ProcessEventRequest{
		Type: "FINISHED", ProcessID: "p-1", ProcessType: "ONBOARDING", UserID: "u-jana", IdentityVerificationID: "iv-1",
		Data: map[string]any{"language": "cs", "httpUserAgent": "Mozilla/5.0", "clientIPAddress": "192.0.2.1"},
		Meta: domain.RequestMeta{CorrelationID: "corr-1", RequestID: "req-1"},
	}
}

func TestRecordEventValidation(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(*ports.ProcessEventRequest)
		wantField string // "" for success
	}{
		{"FINISHED", func(*ports.ProcessEventRequest) {}, ""},
		{"PROCESS_FINISHED", func(r *ports.ProcessEventRequest) { r.Type = "PROCESS_FINISHED" }, ""},
		{"DOCUMENT_VERIFICATION_FINISHED", func(r *ports.ProcessEventRequest) { r.Type = "DOCUMENT_VERIFICATION_FINISHED" }, ""},
		{"type of 64 characters", func(r *ports.ProcessEventRequest) { r.Type = strings.Repeat("A", 64) }, ""},
		{"no data", func(r *ports.ProcessEventRequest) { r.Data = nil }, ""},
		{"no user", func(r *ports.ProcessEventRequest) { r.UserID = "" }, ""},
		{"type of 65 characters", func(r *ports.ProcessEventRequest) { r.Type = strings.Repeat("A", 65) }, "type"},
		{"no type", func(r *ports.ProcessEventRequest) { r.Type = " " }, "type"},
		{"no processId", func(r *ports.ProcessEventRequest) { r.ProcessID = "" }, "processId"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := memory.NewProcessEvents()
			svc := events.New(store, memory.NewFakeClock(now))
			r := request()
			tc.mutate(&r)
			err := svc.RecordEvent(context.Background(), r)
			stored := store.Events()
			if tc.wantField != "" {
				de, ok := domain.AsError(err)
				if !ok || de.Code != domain.CodeInvalid || de.Field != tc.wantField {
					t.Fatalf("err = %v, want invalid %s", err, tc.wantField)
				}
				if len(stored) != 0 {
					t.Error("an invalid event was stored")
				}
				return
			}
			if err != nil || len(stored) != 1 {
				t.Fatalf("err = %v, stored %d", err, len(stored))
			}
			e := stored[0]
			if e.Type != r.Type || e.ProcessID != "p-1" || e.ProcessType != "ONBOARDING" || e.UserID != r.UserID ||
				e.IdentityVerificationID != "iv-1" || e.RequestID != "req-1" || e.CorrelationID != "corr-1" || !e.ReceivedAt.Equal(now) {
				t.Errorf("stored = %+v", e)
			}
		})
	}
}

func TestRecordEventStripsSecrets(t *testing.T) {
	store := memory.NewProcessEvents()
	svc := events.New(store, memory.NewFakeClock(now))
	r := request()
	r.Data = map[string]any{
		"language":        "cs",
		"clientIPAddress": "192.0.2.1",
		"password":        "hunter2",
		"otpCode":         "12345678",
		"Authorization":   "Basic dXNlcjpwYXNz",
		"fds": map[string]any{
			"deviceId":     "d-1",
			"sessionToken": "t",
			"api_key":      "k",
			"nested":       []any{map[string]any{"X-Api-Key": "k2", "score": 0.3}, "plain"},
		},
	}
	if err := svc.RecordEvent(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"language":        "cs",
		"clientIPAddress": "192.0.2.1",
		"fds": map[string]any{
			"deviceId": "d-1",
			"nested":   []any{map[string]any{"score": 0.3}, "plain"},
		},
	}
	if got := store.Events()[0].Data; !reflect.DeepEqual(got, want) {
		t.Errorf("stored data = %#v\nwant %#v", got, want)
	}
	// The caller's map is not changed.
	if _, ok := r.Data["password"]; !ok {
		t.Error("the request's data was modified")
	}
	if _, ok := r.Data["fds"].(map[string]any)["api_key"]; !ok {
		t.Error("the request's nested data was modified")
	}
}

func TestLooksSecret(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"password", true}, {"userPassword", true}, {"PASSWD", true}, {"clientSecret", true},
		{"accessToken", true}, {"refresh_token", true}, {"otp", true}, {"otpCode", true},
		{"pin", true}, {"PIN", true}, {"authorization", true}, {"Authorization", true},
		{"apikey", true}, {"api_key", true}, {"Api-Key", true}, {"x.api.key", true},
		{"credentials", true}, {"Cookie", true}, {"set-cookie", true}, {"private_key", true},
		{"pwd", true}, {"Api Key", true}, {"accessKey", true}, {"access_key", true}, {"passphrase", true},
		{"bearer", true}, {"jwt", true}, {"sessionId", true}, {"cvv", true}, {"card/cvc", true}, {"privKey", true},
		{"language", false}, {"httpUserAgent", false}, {"clientIPAddress", false},
		{"requestId", false}, {"deviceId", false}, {"score", false}, {"", false},
	}
	for _, tc := range tests {
		if got := events.LooksSecret(tc.key); got != tc.want {
			t.Errorf("LooksSecret(%q) = %v, want %v", tc.key, got, tc.want)
		}
	}
}

func TestSanitizeNil(t *testing.T) {
	if got := events.Sanitize(nil); got != nil {
		t.Errorf("Sanitize(nil) = %#v, want nil", got)
	}
}

type brokenRecorder struct{ calls int }

func (b *brokenRecorder) RecordProcessEvent(context.Context, domain.ProcessEvent) error {
	b.calls++
	return domain.Unavailable(errors.New("connection refused"), "event store unavailable")
}

func TestRecordEventSwallowsStoreErrors(t *testing.T) {
	rec := &brokenRecorder{}
	svc := events.New(rec, memory.NewFakeClock(now))
	if err := svc.RecordEvent(context.Background(), request()); err != nil {
		t.Errorf("RecordEvent = %v, want nil for a store failure", err)
	}
	if rec.calls != 1 {
		t.Errorf("store called %d times, want 1", rec.calls)
	}
}

func BenchmarkRecordEvent(b *testing.B) {
	svc := events.New(memory.NewProcessEventsLimit(1024), memory.NewFakeClock(now))
	ctx := context.Background()
	r := request()
	r.Data["fds"] = map[string]any{"deviceId": "d-1", "sessionToken": "t", "signals": []any{1.0, 2.0}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.ProcessID = "p-" + strconv.Itoa(i)
		if err := svc.RecordEvent(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}
