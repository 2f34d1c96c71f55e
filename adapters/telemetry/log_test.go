package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/bankkit/onboarding-adapter/domain"
)

// Personal data and secrets of the tests: none may appear in any output.
const (
	phone          = "+420777123456"
	personalNumber = "8554121234"
	otpCode        = "73915284"
	password       = "s3cret-passw0rd"
	imageB64       = "/9j/4AAQSkZJRgABAQEASABIAAD"
)

var secrets = []string{phone, "777123456", personalNumber, otpCode, password, imageB64}

func jsonLogger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(NewLogHandler(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
}

func assertNoSecret(t *testing.T, out string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("output contains %q: %s", s, out)
		}
	}
}

// request is a struct a careless caller might log whole.
type request struct {
	ProcessID string
	Phone     Phone
	Number    PersonalNumber
	Code      Code
	Password  Secret
}

func TestLogRedaction(t *testing.T) {
	tests := []struct {
		name string
		log  func(*slog.Logger)
		want []string // what must still be there
	}{
		{"typed values", func(l *slog.Logger) {
			l.Info("m", "to", Phone(phone), "pn", PersonalNumber(personalNumber), "c", Code(otpCode),
				"p", Secret(password), "img", ImageData(imageB64))
		}, []string{`"to":"+420****56"`, `"pn":"[REDACTED]"`, `"c":"[REDACTED]"`, `"p":"[REDACTED]"`, `"img":"[image, 27 bytes]"`}},
		{"typed values inside a struct", func(l *slog.Logger) {
			l.Info("m", "req", request{ProcessID: "p-1", Phone: phone, Number: personalNumber, Code: otpCode, Password: password})
		}, []string{`"ProcessID":"p-1"`, `"Phone":"+420****56"`, `"Code":"[REDACTED]"`}},
		{"sensitive keys, any case and separator", func(l *slog.Logger) {
			l.Info("m", "otpCode", otpCode, "otp_code", otpCode, "Password", password, "phoneNumber", phone,
				"personal-number", personalNumber, "frame", imageB64, "authorization", "Basic "+password, "processId", "p-1")
		}, []string{`"otpCode":"[REDACTED]"`, `"otp_code":"[REDACTED]"`, `"phoneNumber":"[REDACTED]"`, `"processId":"p-1"`}},
		{"nested groups", func(l *slog.Logger) {
			l.Info("m", slog.Group("req", slog.String("processId", "p-1"),
				slog.Group("identification", slog.String("personalNumber", personalNumber)),
				slog.Group("presence", slog.String("frame", imageB64))))
		}, []string{`"processId":"p-1"`, `"identification":"[REDACTED]"`, `"frame":"[REDACTED]"`}},
		{"maps", func(l *slog.Logger) {
			l.Info("m", "data", map[string]any{"otpCode": otpCode, "nested": map[string]any{"phone": phone}, "locale": "cs"},
				"headers", map[string]string{"Authorization": "Bearer " + password, "Accept": "json"})
		}, []string{`"locale":"cs"`, `"Accept":"json"`, `"otpCode":"[REDACTED]"`}},
		{"With attributes", func(l *slog.Logger) {
			l.With("password", password, slog.Group("g", slog.String("phone", phone))).Info("m", "k", "v")
		}, []string{`"password":"[REDACTED]"`, `"k":"v"`}},
		{"domain types log themselves", func(l *slog.Logger) {
			id := domain.Identification{Scheme: []domain.IdentificationKey{domain.KeyPersonalNumber},
				Values: map[domain.IdentificationKey]string{domain.KeyPersonalNumber: personalNumber}}
			l.Info("m", "identification", id, "sms", domain.SMS{To: phone, Text: "code " + otpCode})
		}, []string{`"identification":"scheme=personalNumber"`, `"to":"+420****56"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.log(jsonLogger(&buf))
			out := buf.String()
			assertNoSecret(t, out)
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %s: %s", w, out)
				}
			}
		})
	}
}

func TestRedactionTypesFormat(t *testing.T) {
	for _, v := range []any{Phone(phone), PersonalNumber(personalNumber), Code(otpCode), Secret(password), ImageData(imageB64)} {
		for _, verb := range []string{"%v", "%s", "%+v", "%#v"} {
			assertNoSecret(t, fmt.Sprintf(verb, v))
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		assertNoSecret(t, string(b))
	}
	if PersonalNumber("").String() != "" || Secret("").String() != "" {
		t.Errorf("an empty value should log as empty, not as redacted")
	}
}

func TestReplaceAttrForPlainHandlers(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: ReplaceAttr}))
	l.Info("m", "otpCode", otpCode, slog.Group("g", slog.String("password", password)), "ok", "yes")
	assertNoSecret(t, buf.String())
	if !strings.Contains(buf.String(), `"ok":"yes"`) {
		t.Errorf("a harmless attribute was dropped: %s", buf.String())
	}
}

func TestLogHandlerAddsTraceIDs(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
	tests := []struct {
		name      string
		ctx       context.Context
		wantTrace string
		wantSpan  string
	}{
		{"span in context", trace.ContextWithSpanContext(context.Background(), sc), tid.String(), sid.String()},
		{"no span", context.Background(), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			jsonLogger(&buf).InfoContext(tt.ctx, "request", "status", 200)
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatal(err)
			}
			got, _ := line[LogTraceID].(string)
			gotSpan, _ := line[LogSpanID].(string)
			if got != tt.wantTrace || gotSpan != tt.wantSpan {
				t.Errorf("trace_id %q span_id %q, want %q %q", got, gotSpan, tt.wantTrace, tt.wantSpan)
			}
			if line["status"] != float64(200) {
				t.Errorf("record attributes lost: %v", line)
			}
		})
	}
}

func TestLogHandlerKeepsLevel(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(NewLogHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})))
	l.Info("dropped")
	l.WithGroup("g").Warn("kept", "k", "v")
	out := buf.String()
	if strings.Contains(out, "dropped") || !strings.Contains(out, `"g":{"k":"v"}`) {
		t.Errorf("level or group not honoured: %s", out)
	}
}
