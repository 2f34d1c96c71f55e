package test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/postgres/pgtest"
)

// otlpCollector is a fake OTLP/HTTP trace receiver keeping the raw
// payloads: the span names and attribute strings are plain in protobuf.
type otlpCollector struct {
	mu       sync.Mutex
	payloads [][]byte
}

func (c *otlpCollector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	if r.URL.Path == "/v1/traces" {
		c.mu.Lock()
		c.payloads = append(c.payloads, b)
		c.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

func (c *otlpCollector) all() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Join(c.payloads, nil)
}

var (
	hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)
	hex16 = regexp.MustCompile(`^[0-9a-f]{16}$`)
)

// TestObservabilityBlackBox runs the Onboarding Server's flow plus traced
// requests of its own against the binary (Basic Auth on, spans exported to
// a fake OTLP collector) and checks the three signals: one access line per
// request with the ids and the trace, no personal data or secret in any log
// line or exported span, and the Prometheus series the dashboards use.
func TestObservabilityBlackBox(t *testing.T) {
	t.Parallel()
	col := &otlpCollector{}
	colSrv := httptest.NewServer(col)
	t.Cleanup(colSrv.Close)
	const password = "obs-s3cret-passw0rd"
	svc := startService(t, map[string]string{
		"ONBOARDING_BASIC_AUTH_USERNAME": "onboarding-server",
		"ONBOARDING_BASIC_AUTH_PASSWORD": password,
		"OTEL_TRACES_EXPORTER":           "otlp",
		"OTEL_EXPORTER_OTLP_ENDPOINT":    colSrv.URL,
		"OTEL_SERVICE_NAME":              "onboarding-adapter-obs-test",
	})
	auth := map[string]string{"Authorization": basic("onboarding-server", password)}
	runOnboardingServerFlow(t, svc, auth)

	// Requests of our own, each with known ids and a caller trace.
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	const otpCode = "60417329"
	frame := jpegBase64(t, 40)
	face := jpegBase64(t, 44)
	type traced struct {
		path    string
		body    any
		status  int
		headers map[string]string
	}
	reqs := []traced{
		{"/user/lookup", map[string]any{"processId": "obs-" + run, "identification": map[string]any{"personalNumber": "855412/1234"}}, 200, nil},
		{"/user/lookup", map[string]any{"processId": "obs-" + run, "identification": map[string]any{"phoneNumber": "+420777123456"}}, 400, nil},
		{"/otp/send", map[string]any{"processId": "obs-" + run, "userId": "u-1000001", "language": "cs", "otpCode": otpCode, "otpType": "ACTIVATION"}, 200, nil},
		{"/otp/send", map[string]any{"processId": "obs-" + run, "userId": "u-1000001", "language": "cs", "otpCode": otpCode, "otpType": "ACTIVATION"}, 200, nil},
		{"/client/approve", map[string]any{"processId": "obs-" + run, "userId": "u-1000001", "identityVerificationId": "iv-obs", "provider": "iProov",
			"status": "SUCCESS", "score": 5.5, "presenceCheckResult": map[string]any{"frame": frame}}, 200, nil},
		{"/client/approve", map[string]any{"processId": "obs-" + run, "userId": "u-1000001", "identityVerificationId": "iv-obs-bad",
			"status": "SUCCESS", "score": 9, "presenceCheckResult": map[string]any{"frame": "bm90IGFuIGltYWdl"}}, 400, nil},
		{"/consent/text", map[string]any{"processId": "obs-" + run, "consentType": "GDPR", "language": "en"}, 200, nil},
		{"/client/evaluate", map[string]any{"processId": "obs-" + run, "userId": "u-1000001", "identityVerificationId": "iv-obs-doc", "provider": "ZenID",
			"status": "SUCCESS", "score": 9.3, "documentCheckResult": map[string]any{"documents": []any{janaDocument(face)}}}, 200, nil},
		{"/no/such/route", map[string]any{}, 404, nil},
		{"/user/lookup", map[string]any{"processId": "obs-" + run}, 401, map[string]string{"Authorization": basic("onboarding-server", "wrong-"+password)}},
	}
	traceOf := func(i int) string { return fmt.Sprintf("%032x", 0xabc000+i) }
	for i, r := range reqs {
		h := map[string]string{
			"X-Correlation-Id": fmt.Sprintf("obs-corr-%d-%s", i, run),
			"X-Request-Id":     fmt.Sprintf("obs-req-%d-%s", i, run),
			"traceparent":      "00-" + traceOf(i) + "-00f067aa0ba902b7-01",
		}
		for k, v := range auth {
			h[k] = v
		}
		for k, v := range r.headers {
			h[k] = v
		}
		if got := call(t, svc.API+r.path, r.body, h); got.Status != r.status {
			t.Fatalf("%s: %d %s, want %d", r.path, got.Status, got.Raw, r.status)
		}
	}

	ms := scrapeMetrics(t, svc)
	metricsText := rawMetrics(t, svc)
	checkMetrics(t, ms, []wantMetric{
		{"http_server_request_duration_seconds_bucket", map[string]string{"http_route": "/client/approve", "http_request_method": "POST", "http_response_status_code": "200", "le": "+Inf"}, 5},
		{"http_server_request_duration_seconds_count", map[string]string{"http_route": "/user/lookup", "http_response_status_code": "404"}, 1},
		{"http_server_request_duration_seconds_count", map[string]string{"http_route": "/client/approve", "http_response_status_code": "400"}, 2},
		{"http_server_request_duration_seconds_count", map[string]string{"http_request_method": "POST", "http_response_status_code": "401"}, 1},
		{"onboarding_decisions_total", map[string]string{"kind": "approval", "result": "WAIT", "reason": "SCORE_BORDERLINE"}, 2},
		{"onboarding_decisions_total", map[string]string{"kind": "approval", "result": "NOK", "reason": "VERIFICATION_FAILED"}, 1},
		{"onboarding_decisions_total", map[string]string{"kind": "evaluation", "result": "OK"}, 1},
		{"onboarding_otp_sends_total", map[string]string{"outcome": "sent"}, 3},
		{"onboarding_otp_sends_total", map[string]string{"outcome": "deduped"}, 2},
		{"onboarding_consent_text_cache_requests_total", map[string]string{"level": "l1", "result": "hit"}, 1},
		{"onboarding_consent_text_cache_requests_total", map[string]string{"level": "l1", "result": "miss"}, 1},
		{"onboarding_endpoint_duration_seconds_bucket", map[string]string{"endpoint": "otp_send", "outcome": "not_found", "le": "+Inf"}, 1},
		{"onboarding_ready", nil, 1},
		{"onboarding_build_info", map[string]string{"version": "dev"}, 1},
		{"go_goroutine_count", nil, 1},
		{"process_resident_memory_bytes", nil, 1},
		{"target_info", map[string]string{"service_name": "onboarding-adapter-obs-test"}, 1},
	})
	for _, m := range ms {
		for k, v := range m.Labels {
			if k == "server_address" || k == "server_port" || strings.HasPrefix(k, "otel_scope") || strings.Contains(k, "user") || strings.Contains(k, "process_id") {
				t.Errorf("label %s on %s", k, m.Name)
			}
			if strings.Contains(v, run) || strings.Contains(v, "u-1000001") || strings.Contains(v, "proc-bb") {
				t.Errorf("%s label %s=%q carries a request value", m.Name, k, v)
			}
		}
	}

	svc.Stop(t) // every line written, every span flushed

	personal := []string{
		otpCode, "73915284", "55512345", // OTP codes
		frame[:40], face[:40], face[len(face)-40:], "bm90IGFuIGltYWdl", // frames and document images
		"855412/1234", "8554121234", "855412", // personal number
		"+420777123456", "777123456", // phone
		"NOVÁKOVÁ", "Nováková", // the name on the document
		password, "s3cret-passw0rd", // passwords
	}
	logs := svc.Logs.String()
	spans := col.all()
	for _, p := range personal {
		if strings.Contains(logs, p) {
			t.Errorf("the logs contain %q", p)
		}
		if bytes.Contains(spans, []byte(p)) {
			t.Errorf("an exported span contains %q", p)
		}
		if strings.Contains(metricsText, p) {
			t.Errorf("/metrics contains %q", p)
		}
	}
	for _, name := range []string{"POST /client/approve", "client_approve", "decisions.SaveDecision", "sms.SendSMS", "onboarding-adapter-obs-test", traceHexBytes(traceOf(4))} {
		if !bytes.Contains(spans, []byte(name)) {
			t.Errorf("the exported spans lack %q", name)
		}
	}

	seen := map[string]int{}
	access := 0
	for _, l := range svc.Logs.Lines(t) {
		if l["msg"] != "request" {
			continue
		}
		access++
		for _, k := range []string{"correlation_id", "request_id", "method", "status", "duration_ms", "route"} {
			if _, ok := l[k]; !ok {
				t.Errorf("access line without %s: %v", k, l)
			}
		}
		if id, _ := l["correlation_id"].(string); id == "" {
			t.Errorf("access line without a correlation id: %v", l)
		}
		tid, _ := l["trace_id"].(string)
		sid, _ := l["span_id"].(string)
		if !hex32.MatchString(tid) || !hex16.MatchString(sid) {
			t.Errorf("access line without trace_id/span_id: %v", l)
		}
		rid, _ := l["request_id"].(string)
		seen[rid]++
		var i int
		if _, err := fmt.Sscanf(rid, "obs-req-%d-", &i); err == nil && strings.HasSuffix(rid, "-"+run) {
			if tid != traceOf(i) {
				t.Errorf("request %s logged trace %s, want the caller's %s", rid, tid, traceOf(i))
			}
			if l["correlation_id"] != fmt.Sprintf("obs-corr-%d-%s", i, run) {
				t.Errorf("request %s logged correlation id %v", rid, l["correlation_id"])
			}
		}
	}
	for i := range reqs {
		if rid := fmt.Sprintf("obs-req-%d-%s", i, run); seen[rid] != 1 {
			t.Errorf("request %s has %d access lines, want 1", rid, seen[rid])
		}
	}
	for rid, n := range seen {
		if n != 1 {
			t.Errorf("request id %s has %d access lines", rid, n)
		}
	}
	if access < 20+len(reqs) {
		t.Errorf("%d access lines, want one per request (at least %d)", access, 20+len(reqs))
	}
}

// rawMetrics is the /metrics text as scraped, every name, label and value.
func rawMetrics(t *testing.T, svc *service) string {
	t.Helper()
	resp, err := http.Get(svc.Admin + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// traceHexBytes is the binary trace id as OTLP/protobuf carries it.
func traceHexBytes(hexID string) string {
	b := make([]byte, 16)
	for i := range b {
		v, _ := strconv.ParseUint(hexID[2*i:2*i+2], 16, 8)
		b[i] = byte(v)
	}
	return string(b)
}

// TestObservabilityRedisDown runs the binary with a Redis nobody listens
// on: the replica is ready (Redis is optional), says so once in the log,
// and the metrics show the degraded dependency and the fallbacks, while
// consent texts are still served.
func TestObservabilityRedisDown(t *testing.T) {
	t.Parallel()
	svc := startService(t, map[string]string{"ONBOARDING_REDIS_URL": "redis://" + freePort(t) + "/0"})
	for i := 0; i < 3; i++ {
		r := call(t, svc.API+"/consent/text", map[string]any{"processId": "p-redis-down", "consentType": "GDPR", "language": "en"}, nil)
		if r.Status != 200 {
			t.Fatalf("consent text with Redis down: %d %s", r.Status, r.Raw)
		}
	}
	resp, err := http.Get(svc.Admin + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz with Redis down: %v %v", err, resp)
	}
	resp.Body.Close()
	checkMetrics(t, scrapeMetrics(t, svc), []wantMetric{
		{"onboarding_ready", nil, 1},
		{"onboarding_dependency_up", map[string]string{"dependency": "redis"}, 0},
		{"onboarding_consent_text_cache_requests_total", map[string]string{"level": "l2", "result": "error"}, 1},
		{"onboarding_redis_fallbacks_total", map[string]string{"component": "consent_text_cache", "op": "read"}, 1},
		{"onboarding_circuit_breaker_state", map[string]string{"breaker": "redis"}, 0},
		{"db_client_connections_usage", map[string]string{"state": "idle"}, 0},
	})
	if v, _ := findMetric(scrapeMetrics(t, svc), "onboarding_dependency_up", map[string]string{"dependency": "redis"}); v != 0 {
		t.Errorf("redis reported up")
	}
	if n := strings.Count(svc.Logs.String(), "dependency unavailable: serving degraded"); n != 1 {
		t.Errorf("the Redis outage was logged %d times, want once", n)
	}
}

// TestObservabilityPostgresRedis scrapes the pool metrics of PostgreSQL
// (otelpgx) and Redis (redisotel) and the breaker gauges, with OTPs sent
// through the Twilio sender against a fake gateway that must get the W3C
// trace context and never the caller's baggage.
func TestObservabilityPostgresRedis(t *testing.T) {
	t.Parallel()
	rurl := redisURL(t)
	dsn := pgtest.NewEmptyDatabase(t)
	env := map[string]string{"ONBOARDING_DATABASE_URL": dsn}
	runCommand(t, env, "migrate")
	runCommand(t, env, "seed")

	gw := &fakeTwilio{}
	var mu sync.Mutex
	var gwHeaders []http.Header
	gwSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gwHeaders = append(gwHeaders, r.Header.Clone())
		mu.Unlock()
		gw.ServeHTTP(w, r)
	}))
	t.Cleanup(gwSrv.Close)
	svc := startService(t, map[string]string{
		"ONBOARDING_DATABASE_URL":       dsn,
		"ONBOARDING_REDIS_URL":          rurl,
		"ONBOARDING_OTP_HASH_KEY":       "black-box-test-otp-hash-key-0123456789",
		"ONBOARDING_SMS_PROVIDER":       "twilio",
		"ONBOARDING_TWILIO_BASE_URL":    gwSrv.URL,
		"ONBOARDING_TWILIO_ACCOUNT_SID": "AC0123456789abcdef0123456789abcdef",
		"ONBOARDING_TWILIO_AUTH_TOKEN":  "fake-twilio-auth-token",
		"ONBOARDING_TWILIO_FROM":        "+15005550006",
		"OTEL_PROPAGATORS":              "tracecontext,baggage",
	})
	run := strconv36()
	headers := map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "baggage": "userId=u-1000001"}
	for _, r := range []struct {
		path string
		body map[string]any
	}{
		{"/user/lookup", map[string]any{"processId": "p-obs-" + run, "identification": map[string]any{"clientNumber": "1000001", "birthDate": "1985-04-12"}}},
		{"/consent/text", map[string]any{"processId": "p-obs-" + run, "consentType": "GDPR", "language": "en"}},
		{"/otp/send", map[string]any{"processId": "p-obs-" + run, "userId": "u-1000001", "language": "en", "otpCode": "27182818", "otpType": "ACTIVATION"}},
		{"/client/approve", map[string]any{"processId": "p-obs-" + run, "userId": "u-1000001", "identityVerificationId": "iv-1", "status": "SUCCESS", "score": 8}},
	} {
		if got := call(t, svc.API+r.path, r.body, headers); got.Status != 200 {
			t.Fatalf("%s: %d %s", r.path, got.Status, got.Raw)
		}
	}
	ms := scrapeMetrics(t, svc)
	// Healthy dependencies: closed breakers (state 0), no timeouts, no
	// fallbacks, nothing waiting; these series exist from the start.
	checkExactMetrics(t, ms, []wantMetric{
		{"db_client_connections_timeouts_total", map[string]string{"db_system": "redis"}, 0},
		{"onboarding_circuit_breaker_state", map[string]string{"breaker": "redis"}, 0},
		{"onboarding_circuit_breaker_state", map[string]string{"breaker": "sms"}, 0},
		{"onboarding_redis_fallbacks_total", map[string]string{"component": "otp_guard", "op": "allow"}, 0},
		{"onboarding_circuit_breaker_transitions_total", map[string]string{"breaker": "redis", "state": "open"}, 0},
		{"onboarding_redis_coalescer_waiting", nil, 0},
		{"onboarding_otp_owed_outcomes", nil, 0},
		{"onboarding_process_events_total", map[string]string{"outcome": "failed"}, 0},
		{"onboarding_dependency_up", map[string]string{"dependency": "postgres"}, 1},
		{"onboarding_dependency_up", map[string]string{"dependency": "postgres_schema"}, 1},
		{"onboarding_dependency_up", map[string]string{"dependency": "redis"}, 1},
	})
	checkMetrics(t, ms, []wantMetric{
		{"pgxpool_acquires_total", map[string]string{"db_system_name": "postgresql"}, 1},
		{"pgxpool_idle_connections", nil, 0},
		{"pgxpool_max_connections", nil, 1},
		{"db_client_operation_duration_seconds_count", map[string]string{"db_system_name": "postgresql"}, 1},
		{"db_client_connections_usage", map[string]string{"db_system": "redis", "state": "idle"}, 0},
		{"onboarding_consent_text_cache_requests_total", map[string]string{"level": "l2", "result": "miss"}, 0},
		// The consent text's read reached Redis through the coalescer.
		{"onboarding_redis_coalescer_round_trips_total", nil, 1},
		{"onboarding_redis_coalescer_commands_total", nil, 1},
		{"onboarding_otp_sends_total", map[string]string{"outcome": "sent"}, 1},
		{"http_client_request_duration_seconds_count", map[string]string{"http_request_method": "POST", "http_response_status_code": "201"}, 1},
		{"onboarding_ready", nil, 1},
	})
	mu.Lock()
	defer mu.Unlock()
	if len(gwHeaders) != 1 {
		t.Fatalf("the gateway got %d requests", len(gwHeaders))
	}
	if tp := gwHeaders[0].Get("Traceparent"); !strings.HasPrefix(tp, "00-0af7651916cd43dd8448eb211c80319c-") {
		t.Errorf("the gateway got traceparent %q, want the caller's trace continued", tp)
	}
	if b := gwHeaders[0].Get("Baggage"); b != "" {
		t.Errorf("the caller's baggage reached the SMS gateway: %q", b)
	}
}
