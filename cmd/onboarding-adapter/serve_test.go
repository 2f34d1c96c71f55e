package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	apptelemetry "github.com/bankkit/onboarding-adapter/adapters/telemetry"
	"github.com/bankkit/onboarding-adapter/cmd/onboarding-adapter/internal/config"
	"github.com/bankkit/onboarding-adapter/cmd/onboarding-adapter/internal/telemetry"
	httptransport "github.com/bankkit/onboarding-adapter/transport/http"
)

// lockedBuffer is a log sink safe for concurrent handlers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// servedAPI is the API as serve builds it (in-memory demo adapters), with
// spans recorded in memory.
type servedAPI struct {
	srv   *httptest.Server
	tel   *telemetry.Telemetry
	spans *tracetest.SpanRecorder
	logs  *lockedBuffer
}

// buildForTest wires the service as serve does, with the given ONBOARDING_*
// settings (in memory when they name no database) and OTEL_* variables,
// logging to logger and recording spans with procs. The app is closed and
// its telemetry shut down when tb's cleanup runs.
func buildForTest(tb testing.TB, settings, otel map[string]string, logger *slog.Logger, procs ...sdktrace.SpanProcessor) (*app, *telemetry.Telemetry, config.Config) {
	tb.Helper()
	ctx := context.Background()
	tel, err := telemetry.Setup(ctx, telemetry.Config{
		ServiceName: serviceName, Version: "test", Environ: otel, Logger: logger, SpanProcessors: procs,
	})
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := config.Load(settings)
	if err != nil {
		tb.Fatal(err)
	}
	pol, err := config.LoadPolicy("")
	if err != nil {
		tb.Fatal(err)
	}
	app, err := build(ctx, cfg, pol, logger, tel)
	if err != nil {
		_ = tel.Shutdown(context.Background())
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		app.close()
		_ = tel.Shutdown(context.Background())
	})
	return app, tel, cfg
}

func newServedAPI(t *testing.T) *servedAPI {
	t.Helper()
	logs := &lockedBuffer{}
	logger := slog.New(apptelemetry.NewLogHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	spans := tracetest.NewSpanRecorder()
	app, tel, cfg := buildForTest(t, map[string]string{}, map[string]string{}, logger, spans)
	if err := tel.ObserveReadiness(telemetry.NewReadiness(logger, app.deps...)); err != nil {
		t.Fatal(err)
	}
	h, err := newAPIHandler(app.services, cfg, logger, tel)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close) // before buildForTest's: the server stops first
	return &servedAPI{srv: srv, tel: tel, spans: spans, logs: logs}
}

func (s *servedAPI) post(t *testing.T, path, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (s *servedAPI) spanByName(t *testing.T, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	for _, sp := range s.spans.Ended() {
		if sp.Name() == name {
			return sp
		}
	}
	t.Fatalf("no span %q", name)
	return nil
}

func (s *servedAPI) childrenOf(parent sdktrace.ReadOnlySpan) map[string]int {
	out := map[string]int{}
	for _, sp := range s.spans.Ended() {
		if sp.Parent().SpanID() == parent.SpanContext().SpanID() {
			out[sp.Name()]++
		}
	}
	return out
}

// Personal data of the demo client and the requests below; none may reach
// a span, a metric or a log line.
var personal = []string{"+420777123456", "777123456", "855412", "8554121234", "Nováková", "NOVÁKOVÁ", "1985-04-12", "73915284", "u-1000001"}

const (
	callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpan  = "00f067aa0ba902b7"
)

func TestServedAPISpanTree(t *testing.T) {
	s := newServedAPI(t)
	status, body := s.post(t, "/client/approve",
		`{"processId":"proc-span-1","userId":"u-1000001","identityVerificationId":"iv-1","provider":"iProov","status":"SUCCESS","score":5.0}`,
		"traceparent", "00-"+callerTrace+"-"+callerSpan+"-01", "X-Correlation-Id", "corr-span-1", "X-Request-Id", "req-span-1")
	if status != http.StatusOK || !strings.Contains(body, `"WAIT"`) {
		t.Fatalf("approve: %d %s", status, body)
	}
	status, body = s.post(t, "/otp/send",
		`{"processId":"proc-span-1","userId":"u-1000001","language":"cs","otpCode":"73915284","otpType":"ACTIVATION"}`)
	if status != http.StatusOK || !strings.Contains(body, "true") {
		t.Fatalf("otp: %d %s", status, body)
	}

	server := s.spanByName(t, "POST /client/approve")
	if server.SpanContext().TraceID().String() != callerTrace || server.Parent().SpanID().String() != callerSpan || !server.Parent().IsRemote() {
		t.Fatalf("server span %s/%s parent %s: the caller's traceparent is not the parent",
			server.SpanContext().TraceID(), server.SpanContext().SpanID(), server.Parent().SpanID())
	}
	sa := attrMap(server)
	for k, v := range map[string]string{
		"http.route": "/client/approve", "http.request.method": "POST", "http.response.status_code": "200",
		string(httptransport.AttrCorrelationID): "corr-span-1", string(httptransport.AttrRequestID): "req-span-1",
		string(httptransport.AttrProcessID): "proc-span-1",
	} {
		if sa[k] != v {
			t.Errorf("server span %s = %q, want %q", k, sa[k], v)
		}
	}
	if kids := s.childrenOf(server); len(kids) != 1 || kids[httptransport.EndpointClientApprove] != 1 {
		t.Fatalf("server span children %v, want the one endpoint span", kids)
	}
	ep := s.spanByName(t, httptransport.EndpointClientApprove)
	ea := attrMap(ep)
	for k, v := range map[string]string{
		"onboarding.decision.kind": "approval", "onboarding.decision.result": "WAIT",
		"onboarding.decision.reason": "SCORE_BORDERLINE", "onboarding.endpoint": "client_approve",
	} {
		if ea[k] != v {
			t.Errorf("endpoint span %s = %q, want %q", k, ea[k], v)
		}
	}
	kids := s.childrenOf(ep)
	for _, want := range []string{apptelemetry.SpanVerificationDecisions, apptelemetry.SpanClientByUserID, apptelemetry.SpanSaveDecision} {
		if kids[want] == 0 {
			t.Errorf("endpoint span children %v lack %s", kids, want)
		}
	}
	otpKids := s.childrenOf(s.spanByName(t, httptransport.EndpointOTPSend))
	for _, want := range []string{apptelemetry.SpanClientByUserID, apptelemetry.SpanBeginOTP, apptelemetry.SpanSendSMS, apptelemetry.SpanFinishOTP} {
		if otpKids[want] != 1 {
			t.Errorf("otp endpoint span children %v lack %s", otpKids, want)
		}
	}
	if otpKids[apptelemetry.SpanAllowOTP] != 2 { // the phone number's throttle, then the process's
		t.Errorf("otp endpoint span children %v: want %s twice", otpKids, apptelemetry.SpanAllowOTP)
	}

	for _, sp := range s.spans.Ended() {
		for k, v := range attrMap(sp) {
			for _, p := range personal {
				if strings.Contains(v, p) {
					t.Errorf("span %s attribute %s = %q carries personal data", sp.Name(), k, v)
				}
			}
		}
	}

	// The access line of the traced request names its trace and server span.
	var found bool
	for _, l := range logLines(t, s.logs.String()) {
		if l["msg"] == "request" && l["request_id"] == "req-span-1" {
			found = true
			if l["trace_id"] != callerTrace || l["span_id"] != server.SpanContext().SpanID().String() {
				t.Errorf("access line trace_id %v span_id %v, want %s %s", l["trace_id"], l["span_id"], callerTrace, server.SpanContext().SpanID())
			}
		}
	}
	if !found {
		t.Errorf("no access line for req-span-1:\n%s", s.logs)
	}
}

func TestServedAPIMetrics(t *testing.T) {
	s := newServedAPI(t)
	otp := `{"processId":"proc-m-1","userId":"u-1000001","language":"en","otpCode":"73915284","otpType":"ACTIVATION"}`
	requests := []struct {
		path, body string
		status     int
	}{
		{"/user/lookup", `{"processId":"proc-m-1","identification":{"clientNumber":"1000001","birthDate":"1985-04-12"}}`, 200},
		{"/client/approve", `{"processId":"proc-m-1","userId":"u-1000001","identityVerificationId":"iv-1","status":"SUCCESS","score":5}`, 200},
		{"/client/approve", `{"processId":"proc-m-1","userId":"u-1000001","identityVerificationId":"iv-2","status":"FAILURE","score":1}`, 200},
		{"/client/evaluate", `{"processId":"proc-m-1","userId":"u-1000001","identityVerificationId":"iv-1"}`, 200},
		{"/otp/send", otp, 200},
		{"/otp/send", otp, 200}, // the caller's retry: deduplicated
		{"/consent/text", `{"processId":"proc-m-1","userId":"u-1000001","consentType":"GDPR","language":"en"}`, 200},
		{"/consent/text", `{"processId":"proc-m-1","userId":"u-1000001","consentType":"GDPR","language":"en"}`, 200},
		{"/otp/send", `{"processId":"proc-m-1","userId":"u-unknown","language":"en","otpCode":"1","otpType":"ACTIVATION"}`, 404},
	}
	// Another process asks for six codes: the default policy sends five a
	// process, and the sixth is throttled by the process's bound.
	for i := range 6 {
		requests = append(requests, struct {
			path, body string
			status     int
		}{"/otp/send", `{"processId":"proc-m-2","userId":"u-1000001","language":"en","otpCode":"6100000` + strconv.Itoa(i) + `","otpType":"ACTIVATION"}`, 200})
	}
	for _, r := range requests {
		if status, body := s.post(t, r.path, r.body); status != r.status {
			t.Fatalf("%s: %d %s, want %d", r.path, status, body, r.status)
		}
	}
	rec := httptest.NewRecorder()
	s.tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	series := parseMetrics(t, rec.Body.String())

	tests := []struct {
		name   string
		labels map[string]string
		want   float64 // -1: present, any value
	}{
		{"http_server_request_duration_seconds_count", map[string]string{"http_route": "/client/approve", "http_request_method": "POST", "http_response_status_code": "200"}, 2},
		{"http_server_request_duration_seconds_bucket", map[string]string{"http_route": "/otp/send", "http_response_status_code": "404", "le": "+Inf"}, 1},
		{"onboarding_decisions_total", map[string]string{"kind": "approval", "result": "WAIT", "reason": "SCORE_BORDERLINE"}, 1},
		{"onboarding_decisions_total", map[string]string{"kind": "approval", "result": "NOK", "reason": "VERIFICATION_FAILED"}, 1},
		{"onboarding_decisions_total", map[string]string{"kind": "evaluation", "result": "OK", "reason": "none"}, 1},
		{"onboarding_otp_sends_total", map[string]string{"outcome": "sent"}, 6},
		{"onboarding_otp_sends_total", map[string]string{"outcome": "deduped"}, 1},
		{"onboarding_otp_sends_total", map[string]string{"outcome": "throttled", "bound": "process"}, 1},
		{"onboarding_otp_sends_total", map[string]string{"outcome": "throttled", "bound": "phone"}, 0},
		{"onboarding_consent_text_cache_requests_total", map[string]string{"level": "l1", "result": "hit"}, -1},
		{"onboarding_consent_text_cache_requests_total", map[string]string{"level": "l1", "result": "miss"}, -1},
		{"onboarding_endpoint_duration_seconds_count", map[string]string{"endpoint": "otp_send", "outcome": "not_found"}, 1},
		{"onboarding_endpoint_duration_seconds_count", map[string]string{"endpoint": "client_approve", "outcome": "ok"}, 2},
		{"onboarding_ready", map[string]string{}, 1},
		{"onboarding_build_info", map[string]string{"version": "test"}, 1},
		{"go_goroutine_count", map[string]string{}, -1},
	}
	for _, tt := range tests {
		v, ok := series.find(tt.name, tt.labels)
		switch {
		case !ok:
			t.Errorf("no series %s%v", tt.name, tt.labels)
		case tt.want >= 0 && v != tt.want:
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, v, tt.want)
		}
	}
	if hits, _ := series.find("onboarding_consent_text_cache_requests_total", map[string]string{"level": "l1", "result": "hit"}); hits < 1 {
		t.Errorf("the second identical consent text read was no L1 hit")
	}
	for _, sr := range series {
		if strings.Contains(sr.name, "body_size") {
			t.Errorf("%s is exported; the body-size histograms are dropped", sr.name)
		}
		for k, v := range sr.labels {
			if k == "server_address" || k == "server_port" || strings.Contains(k, "user") || strings.Contains(k, "process_id") || strings.HasPrefix(k, "otel_scope") {
				t.Errorf("label %s on %s", k, sr.name)
			}
			for _, p := range append(personal, "proc-m-1") {
				if strings.Contains(v, p) {
					t.Errorf("%s label %s=%q carries request data", sr.name, k, v)
				}
			}
		}
	}
}

// sample is one Prometheus text sample.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

type samples []sample

func (ss samples) find(name string, labels map[string]string) (float64, bool) {
next:
	for _, s := range ss {
		if s.name != name {
			continue
		}
		for k, v := range labels {
			if s.labels[k] != v {
				continue next
			}
		}
		return s.value, true
	}
	return 0, false
}

// parseMetrics reads the Prometheus text format (label values here never
// hold commas or quotes).
func parseMetrics(t *testing.T, text string) samples {
	t.Helper()
	var out samples
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s := sample{labels: map[string]string{}}
		rest := line
		if i := strings.IndexByte(line, '{'); i >= 0 {
			j := strings.LastIndexByte(line, '}')
			s.name = line[:i]
			for _, kv := range strings.Split(line[i+1:j], ",") {
				k, v, _ := strings.Cut(kv, "=")
				s.labels[k] = strings.Trim(v, `"`)
			}
			rest = strings.TrimSpace(line[j+1:])
		} else {
			s.name, rest, _ = strings.Cut(line, " ")
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		s.value = v
		out = append(out, s)
	}
	return out
}

func attrMap(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes() {
		m[string(kv.Key)] = kv.Value.String()
	}
	return m
}

func logLines(t *testing.T, text string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}

// TestCloseWithinBoundsAHungClose: closing the adapters at exit returns
// after its bound with a warning when a close hangs (a batch waiting on a
// hung database), and at once, silently, when it does not.
func TestCloseWithinBoundsAHungClose(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	hung := make(chan struct{})
	defer close(hung)
	start := time.Now()
	closeWithin(func() { <-hung }, 50*time.Millisecond, logger)
	if took := time.Since(start); took < 50*time.Millisecond || took > 2*time.Second {
		t.Fatalf("returned after %s, want about the 50ms bound", took)
	}
	if !strings.Contains(logs.String(), "adapters not closed within the bound") {
		t.Fatalf("no warning: %q", logs.String())
	}
	logs.Reset()
	closed := false
	closeWithin(func() { closed = true }, time.Minute, logger)
	if !closed || logs.Len() != 0 {
		t.Fatalf("a quick close: closed %v, logged %q", closed, logs.String())
	}
}

func TestBodyBudget(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		configured, memLimit int64
		want                 int64
	}{
		{"configured wins", 64 << 20, 230 << 20, 64 << 20},
		{"half of GOMEMLIMIT", 0, 230 << 20, 115 << 20},
		{"a tiny limit still holds a MiB", 0, 1 << 20, 1 << 20},
		{"no memory limit", 0, math.MaxInt64, httptransport.DefaultMaxInFlightBodyBytes},
	} {
		if got := bodyBudget(tc.configured, tc.memLimit); got != tc.want {
			t.Errorf("%s: bodyBudget(%d, %d) = %d, want %d", tc.name, tc.configured, tc.memLimit, got, tc.want)
		}
	}
}
