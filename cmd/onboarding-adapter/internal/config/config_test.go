package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	redisadapter "github.com/bankkit/onboarding-adapter/adapters/redis"
)

func TestLoadDefaults(t *testing.T) {
	c, err := Load(map[string]string{})
	if err != nil {
		t.Fatalf("Load(empty): %v", err)
	}
	if c.HTTPAddr != ":8080" || c.AdminAddr != ":9090" || c.SMSProvider != "log" ||
		c.RequestTimeout != 4*time.Second || c.MaxBodyBytes != 64<<10 || c.MaxImageBodyBytes != 10<<20 ||
		c.CorrelationHeader != "X-Correlation-Id" || c.RequestIDHeader != "X-Request-Id" || !c.DemoData ||
		c.DBBatchWindow != time.Millisecond || c.DBBatchLanes != 1 || c.AdminLoginFailures != 10 ||
		c.AdminLoginRefill != 6*time.Second || c.Pprof || c.MemoryMaxRecords != memory.DefaultMaxRecords || c.RedisLanes != 2 ||
		c.GCHeapFloor != 16<<20 || c.RedisKeyPrefix != redisadapter.DefaultKeyPrefix {
		t.Fatalf("unexpected defaults: %+v", c)
	}
	for _, env := range []map[string]string{
		{"ONBOARDING_PPROF_ENABLED": "true", "ONBOARDING_ADMIN_USERNAME": "ops", "ONBOARDING_ADMIN_PASSWORD": "ops-password-123"},
		{"ONBOARDING_PPROF_ENABLED": "true", "ONBOARDING_ADMIN_USERS": "alice:alice-password-123"},
	} {
		if c, err := Load(env); err != nil || !c.Pprof {
			t.Errorf("pprof with admin credentials %v: %v", env, err)
		}
	}
}

func TestLoadRejectsBadValuesNamingTheVariable(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad addr", map[string]string{"ONBOARDING_HTTP_ADDR": "8080"}, "ONBOARDING_HTTP_ADDR"},
		{"same addrs", map[string]string{"ONBOARDING_ADMIN_ADDR": ":8080"}, "ONBOARDING_ADMIN_ADDR"},
		{"service name port", map[string]string{"ONBOARDING_HTTP_ADDR": ":http-api"}, "ONBOARDING_HTTP_ADDR"},
		{"API username with a colon", map[string]string{"ONBOARDING_BASIC_AUTH_USERNAME": "os:x", "ONBOARDING_BASIC_AUTH_PASSWORD": "0123456789abc"}, "ONBOARDING_BASIC_AUTH_USERNAME"},
		{"port out of range", map[string]string{"ONBOARDING_ADMIN_ADDR": "127.0.0.1:99999"}, "ONBOARDING_ADMIN_ADDR"},
		{"base path without slash", map[string]string{"ONBOARDING_BASE_PATH": "api"}, "ONBOARDING_BASE_PATH"},
		{"base path trailing slash", map[string]string{"ONBOARDING_BASE_PATH": "/api/"}, "ONBOARDING_BASE_PATH"},
		{"base path root", map[string]string{"ONBOARDING_BASE_PATH": "/"}, "ONBOARDING_BASE_PATH"},
		{"base path double slash", map[string]string{"ONBOARDING_BASE_PATH": "/api//v1"}, "ONBOARDING_BASE_PATH"},
		{"base path dot segment", map[string]string{"ONBOARDING_BASE_PATH": "/api/../v1"}, "ONBOARDING_BASE_PATH"},
		{"base path escape", map[string]string{"ONBOARDING_BASE_PATH": "/api/%20"}, "ONBOARDING_BASE_PATH"},
		{"base path space", map[string]string{"ONBOARDING_BASE_PATH": "/api v1"}, "ONBOARDING_BASE_PATH"},
		{"user without password", map[string]string{"ONBOARDING_BASIC_AUTH_USERNAME": "os"}, "ONBOARDING_BASIC_AUTH_PASSWORD"},
		{"short password", map[string]string{"ONBOARDING_BASIC_AUTH_USERNAME": "os", "ONBOARDING_BASIC_AUTH_PASSWORD": "short"}, "at least 12"},
		{"short next password", map[string]string{"ONBOARDING_BASIC_AUTH_USERNAME": "os", "ONBOARDING_BASIC_AUTH_PASSWORD": "0123456789abc",
			"ONBOARDING_BASIC_AUTH_NEXT_USERNAME": "os2", "ONBOARDING_BASIC_AUTH_NEXT_PASSWORD": "abc"}, "ONBOARDING_BASIC_AUTH_NEXT_PASSWORD"},
		{"reviewer with the next API username", map[string]string{"ONBOARDING_BASIC_AUTH_USERNAME": "os", "ONBOARDING_BASIC_AUTH_PASSWORD": "0123456789abc",
			"ONBOARDING_BASIC_AUTH_NEXT_USERNAME": "os2", "ONBOARDING_BASIC_AUTH_NEXT_PASSWORD": "0123456789abd",
			"ONBOARDING_ADMIN_USERNAME": "os2", "ONBOARDING_ADMIN_PASSWORD": "reviewer-password-1"}, "ONBOARDING_ADMIN_USERNAME"},
		{"reviewer with an API password", map[string]string{"ONBOARDING_BASIC_AUTH_USERNAME": "os", "ONBOARDING_BASIC_AUTH_PASSWORD": "0123456789abc",
			"ONBOARDING_ADMIN_USERNAME": "alice", "ONBOARDING_ADMIN_PASSWORD": "0123456789abc"}, "ONBOARDING_ADMIN_PASSWORD"},
		{"shutdown shorter than a request", map[string]string{"ONBOARDING_SHUTDOWN_TIMEOUT": "2s"}, "ONBOARDING_SHUTDOWN_TIMEOUT"},
		{"next without current", map[string]string{"ONBOARDING_BASIC_AUTH_NEXT_USERNAME": "a", "ONBOARDING_BASIC_AUTH_NEXT_PASSWORD": "0123456789abc"}, "ONBOARDING_BASIC_AUTH_NEXT_USERNAME"},
		{"database scheme", map[string]string{"ONBOARDING_DATABASE_URL": "mysql://x"}, "ONBOARDING_DATABASE_URL"},
		{"redis scheme", map[string]string{"ONBOARDING_REDIS_URL": "http://x"}, "ONBOARDING_REDIS_URL"},
		{"sms provider", map[string]string{"ONBOARDING_SMS_PROVIDER": "pigeon"}, "ONBOARDING_SMS_PROVIDER"},
		{"log level", map[string]string{"ONBOARDING_LOG_LEVEL": "loud"}, "ONBOARDING_LOG_LEVEL"},
		{"log format", map[string]string{"ONBOARDING_LOG_FORMAT": "xml"}, "ONBOARDING_LOG_FORMAT"},
		{"header name", map[string]string{"ONBOARDING_CORRELATION_HEADER": "X Bad"}, "ONBOARDING_CORRELATION_HEADER"},
		{"same headers", map[string]string{"ONBOARDING_REQUEST_ID_HEADER": "x-correlation-id"}, "ONBOARDING_REQUEST_ID_HEADER"},
		{"timeout over caller budget", map[string]string{"ONBOARDING_REQUEST_TIMEOUT": "5s"}, "ONBOARDING_REQUEST_TIMEOUT"},
		{"timeout not a duration", map[string]string{"ONBOARDING_REQUEST_TIMEOUT": "soon"}, "ONBOARDING_REQUEST_TIMEOUT"},
		{"body limit", map[string]string{"ONBOARDING_MAX_BODY_BYTES": "10"}, "ONBOARDING_MAX_BODY_BYTES"},
		{"image body below body", map[string]string{"ONBOARDING_MAX_IMAGE_BODY_BYTES": "2048"}, "ONBOARDING_MAX_IMAGE_BODY_BYTES"},
		{"gc floor below the runtime's minimum", map[string]string{"ONBOARDING_GC_HEAP_FLOOR": "1048576"}, "ONBOARDING_GC_HEAP_FLOOR"},
		{"gc floor past 1 GiB", map[string]string{"ONBOARDING_GC_HEAP_FLOOR": "2147483648"}, "ONBOARDING_GC_HEAP_FLOOR"},
		{"gc floor not a number", map[string]string{"ONBOARDING_GC_HEAP_FLOOR": "16MiB"}, "ONBOARDING_GC_HEAP_FLOOR"},
		{"shutdown", map[string]string{"ONBOARDING_SHUTDOWN_TIMEOUT": "1h"}, "ONBOARDING_SHUTDOWN_TIMEOUT"},
		{"otp key short", map[string]string{"ONBOARDING_OTP_HASH_KEY": "short"}, "ONBOARDING_OTP_HASH_KEY"},
		{"demo not bool", map[string]string{"ONBOARDING_DEMO_DATA": "maybe"}, "ONBOARDING_DEMO_DATA"},
		{"batch window negative", map[string]string{"ONBOARDING_DB_BATCH_WINDOW": "-1ms"}, "ONBOARDING_DB_BATCH_WINDOW"},
		{"batch window too long", map[string]string{"ONBOARDING_DB_BATCH_WINDOW": "1s"}, "ONBOARDING_DB_BATCH_WINDOW"},
		{"batch lanes negative", map[string]string{"ONBOARDING_DB_BATCH_LANES": "-1"}, "ONBOARDING_DB_BATCH_LANES"},
		{"sign-in failures negative", map[string]string{"ONBOARDING_ADMIN_LOGIN_FAILURES": "-1"}, "ONBOARDING_ADMIN_LOGIN_FAILURES"},
		{"sign-in refill too short", map[string]string{"ONBOARDING_ADMIN_LOGIN_REFILL": "1ms"}, "ONBOARDING_ADMIN_LOGIN_REFILL"},
		{"too many batch lanes", map[string]string{"ONBOARDING_DB_BATCH_LANES": "17"}, "ONBOARDING_DB_BATCH_LANES"},
		{"no Redis lane", map[string]string{"ONBOARDING_REDIS_LANES": "0"}, "ONBOARDING_REDIS_LANES"},
		{"too many Redis lanes", map[string]string{"ONBOARDING_REDIS_LANES": "65"}, "ONBOARDING_REDIS_LANES"},
		{"pprof without admin credentials", map[string]string{"ONBOARDING_PPROF_ENABLED": "true"}, "ONBOARDING_PPROF_ENABLED"},
		{"memory records negative", map[string]string{"ONBOARDING_MEMORY_MAX_RECORDS": "-1"}, "ONBOARDING_MEMORY_MAX_RECORDS"},
		{"memory records too many", map[string]string{"ONBOARDING_MEMORY_MAX_RECORDS": "20000000"}, "ONBOARDING_MEMORY_MAX_RECORDS"},
		{"pprof not bool", map[string]string{"ONBOARDING_PPROF_ENABLED": "sometimes"}, "ONBOARDING_PPROF_ENABLED"},
		{"Redis key prefix without the final colon", map[string]string{"ONBOARDING_REDIS_KEY_PREFIX": "prod"}, "ONBOARDING_REDIS_KEY_PREFIX"},
		{"Redis key prefix too long", map[string]string{"ONBOARDING_REDIS_KEY_PREFIX": strings.Repeat("a", 64) + ":"}, "ONBOARDING_REDIS_KEY_PREFIX"},
		{"Redis key prefix with a glob", map[string]string{"ONBOARDING_REDIS_KEY_PREFIX": "prod*:"}, "ONBOARDING_REDIS_KEY_PREFIX"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.env)
			if err == nil {
				t.Fatal("Load accepted a bad configuration")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name %q", err, tc.want)
			}
		})
	}
}

// TestRedisKeyPrefix: a prefix is 1-64 letters, digits and ". _ - :",
// ending with ':'. Glob metacharacters would make a deployment's
// SCAN <prefix>* match other keys, braces would replace the adapters' hash
// tags, and without the final colon "prod*" matches "prod2:"'s keys.
// deploy/chartest's TestRedisKeyPrefixSchema holds the chart's schema to
// the same cases: keep the two tables equal.
func TestRedisKeyPrefix(t *testing.T) {
	tests := redisKeyPrefixCases(t)
	for _, tc := range tests {
		t.Run(tc.Prefix, func(t *testing.T) {
			c, err := Load(map[string]string{"ONBOARDING_REDIS_KEY_PREFIX": tc.Prefix})
			if tc.OK {
				if err != nil || c.RedisKeyPrefix != tc.Prefix {
					t.Fatalf("Load: prefix %q, %v; want %q accepted", c.RedisKeyPrefix, err, tc.Prefix)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load accepted the prefix %q", tc.Prefix)
			}
			if !strings.Contains(err.Error(), "ONBOARDING_REDIS_KEY_PREFIX") {
				t.Fatalf("error %q does not name ONBOARDING_REDIS_KEY_PREFIX", err)
			}
		})
	}
	// Set but empty is unset (the environment parser's rule for every
	// variable with a default); a Config built by hand is checked too.
	if c, err := Load(map[string]string{"ONBOARDING_REDIS_KEY_PREFIX": ""}); err != nil || c.RedisKeyPrefix != redisadapter.DefaultKeyPrefix {
		t.Fatalf("empty prefix: %q, %v; want the default", c.RedisKeyPrefix, err)
	}
	c, err := Load(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	c.RedisKeyPrefix = ""
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "ONBOARDING_REDIS_KEY_PREFIX") {
		t.Fatalf("Validate with an empty prefix: %v", err)
	}
}

func TestRedisKeyPrefixLogged(t *testing.T) {
	c, err := Load(map[string]string{"ONBOARDING_REDIS_KEY_PREFIX": "tenant-b:"})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("config", "config", c)
	if !strings.Contains(b.String(), `"redis_key_prefix":"tenant-b:"`) {
		t.Fatalf("the start-up summary lacks the prefix: %s", b.String())
	}
}

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "password")
	if err := os.WriteFile(path, []byte("correct-horse-battery\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(map[string]string{
		"ONBOARDING_BASIC_AUTH_USERNAME":      "onboarding",
		"ONBOARDING_BASIC_AUTH_PASSWORD_FILE": path,
	})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.BasicAuthPassword.Value() != "correct-horse-battery" {
		t.Fatalf("password from file = %q", c.BasicAuthPassword.Value())
	}
	if _, err := Load(map[string]string{
		"ONBOARDING_BASIC_AUTH_PASSWORD":      "x",
		"ONBOARDING_BASIC_AUTH_PASSWORD_FILE": path,
	}); err == nil || !strings.Contains(err.Error(), "both set") {
		t.Fatalf("both set: err = %v", err)
	}
	if _, err := Load(map[string]string{"ONBOARDING_DATABASE_URL_FILE": filepath.Join(dir, "missing")}); err == nil ||
		!strings.Contains(err.Error(), "ONBOARDING_DATABASE_URL_FILE") {
		t.Fatalf("missing file: err = %v", err)
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	c, err := Load(map[string]string{
		"ONBOARDING_BASIC_AUTH_USERNAME": "onboarding",
		"ONBOARDING_BASIC_AUTH_PASSWORD": "very-secret-password",
		"ONBOARDING_DATABASE_URL":        "postgres://app:db-secret@db:5432/onb?sslmode=require&password=q-secret",
		"ONBOARDING_OTP_HASH_KEY":        "0123456789abcdef0123456789abcdef-otpkey",
	})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("config", "config", c)
	out := b.String() + fmt.Sprintf("%v %+v %s", c, c, c.BasicAuthPassword)
	for _, secret := range []string{"very-secret-password", "db-secret", "q-secret", "otpkey"} {
		if strings.Contains(out, secret) {
			t.Fatalf("secret %q printed: %s", secret, out)
		}
	}
	if !strings.Contains(b.String(), "postgres://db:5432/onb") {
		t.Fatalf("redacted database URL missing: %s", b.String())
	}
}

func TestSMSConfiguration(t *testing.T) {
	base := map[string]string{"ONBOARDING_SMS_PROVIDER": "twilio"}
	if _, err := Load(base); err == nil || !strings.Contains(err.Error(), "ONBOARDING_TWILIO_ACCOUNT_SID") {
		t.Fatalf("twilio without an account: %v", err)
	}
	c, err := Load(map[string]string{
		"ONBOARDING_SMS_PROVIDER":       "twilio",
		"ONBOARDING_TWILIO_ACCOUNT_SID": "AC0123456789abcdef0123456789abcdef",
		"ONBOARDING_TWILIO_AUTH_TOKEN":  "twilio-token-value",
		"ONBOARDING_TWILIO_FROM":        "+15005550006",
		"ONBOARDING_SMS_MAX_ATTEMPTS":   "2",
	})
	if err != nil {
		t.Fatalf("twilio: %v", err)
	}
	sc, err := c.SMS()
	if err != nil || sc.Twilio.AuthToken != "twilio-token-value" || sc.Resilience.MaxAttempts != 2 {
		t.Fatalf("SMS() = %+v, %v", sc, err)
	}
	if _, err := Load(map[string]string{"ONBOARDING_SMS_PROVIDER": "http", "ONBOARDING_SMS_HTTP_URL": "https://sms.bank.example/send",
		"ONBOARDING_SMS_HTTP_BODY_TEMPLATE": "{not json"}); err == nil || !strings.Contains(err.Error(), "ONBOARDING_SMS_HTTP_BODY_TEMPLATE") {
		t.Fatalf("bad template: %v", err)
	}
	if _, err := Load(map[string]string{"ONBOARDING_SMS_PROVIDER": "http", "ONBOARDING_SMS_HTTP_URL": "https://sms.bank.example/send",
		"ONBOARDING_SMS_HTTP_HEADERS": "no-equals-sign"}); err == nil || !strings.Contains(err.Error(), "ONBOARDING_SMS_HTTP_HEADERS") {
		t.Fatalf("bad headers: %v", err)
	}
}

// TestGCHeapFloorOff: 0 turns the floor off (GOGC alone), a value in range,
// both bounds included, is taken as it is.
func TestGCHeapFloorOff(t *testing.T) {
	for v, want := range map[string]int64{"0": 0, "33554432": 32 << 20, "4194304": 4 << 20, "1073741824": 1 << 30} {
		c, err := Load(map[string]string{"ONBOARDING_GC_HEAP_FLOOR": v})
		if err != nil || c.GCHeapFloor != want {
			t.Errorf("GC_HEAP_FLOOR=%s: %d, %v; want %d", v, c.GCHeapFloor, err, want)
		}
	}
}

// redisKeyPrefixCases are the prefixes of testdata/redis-key-prefixes.json,
// which the chart's schema test reads too, so the two cannot drift apart.
func redisKeyPrefixCases(t *testing.T) []struct {
	Prefix string `json:"prefix"`
	OK     bool   `json:"ok"`
} {
	t.Helper()
	b, err := os.ReadFile("testdata/redis-key-prefixes.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Cases []struct {
			Prefix string `json:"prefix"`
			OK     bool   `json:"ok"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &f); err != nil || len(f.Cases) < 10 {
		t.Fatalf("testdata/redis-key-prefixes.json: %d cases, %v", len(f.Cases), err)
	}
	return f.Cases
}
