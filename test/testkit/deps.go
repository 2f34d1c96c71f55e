package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bankkit/onboarding-adapter/test/reach"
)

// RedisURL is the Redis the black-box tests use, from
// ONBOARDING_TEST_REDIS_URL (default redis://127.0.0.1:6379/0); unreachable
// means skip, or fail under CI=true.
func RedisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("ONBOARDING_TEST_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	opts, err := goredis.ParseURL(u)
	if err != nil {
		t.Fatalf("ONBOARDING_TEST_REDIS_URL: %v", err)
	}
	// One dial and no retries per attempt, bounded by its deadline:
	// reach.Try does the retrying, and only of time-outs, so a refused
	// Redis fails at once.
	opts.ContextTimeoutEnabled = true
	opts.MaxRetries = -1
	opts.DialerRetries = 1
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := reach.Try(ctx, 2*time.Second, func(ctx context.Context) error { return rdb.Ping(ctx).Err() }); err != nil {
		msg := "\n*** Redis is not reachable at " + opts.Addr + " (" + err.Error() + "): the Redis black-box test is SKIPPED ***\n"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "CI=true: failing instead of skipping.")
		}
		t.Skip(msg)
	}
	return u
}

// deleteRedisKeys deletes the keys matching pattern in the Redis at url
// and returns how many it deleted.
func deleteRedisKeys(ctx context.Context, url, pattern string) (int, error) {
	opts, err := goredis.ParseURL(url)
	if err != nil {
		return 0, fmt.Errorf("redis URL: %w", err)
	}
	opts.ContextTimeoutEnabled = true
	opts.MaxRetries = -1
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	n := 0
	iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		if err := rdb.Del(ctx, iter.Val()).Err(); err != nil {
			return n, err
		}
		n++
	}
	return n, iter.Err()
}

// RedisKeys returns the keys matching pattern in the Redis at url, sorted.
func RedisKeys(t testing.TB, url, pattern string) []string {
	t.Helper()
	opts, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatalf("redis URL: %v", err)
	}
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var keys []string
	iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("scan %s: %v", pattern, err)
	}
	slices.Sort(keys)
	return keys
}

// EnvRedisKeyPrefix is the variable StartService fills with a prefix of the
// service's own when the environment names a Redis but no prefix.
const EnvRedisKeyPrefix = "ONBOARDING_REDIS_KEY_PREFIX"

// NewRedisKeyPrefix returns a fresh ONBOARDING_REDIS_KEY_PREFIX,
// onboarding-test-<random>:, and deletes its keys from the Redis at url
// when t ends. Tests, packages and runs sharing one Redis then share no
// key: a consent text one test publishes is never served to another's
// service, nor to the next run's. StartService calls it for every service
// started against Redis without a prefix; a test whose replicas must share
// their cache and OTP guard calls it once and passes the prefix to each.
//
// Call it before starting the services that use it: cleanups run last in,
// first out, so the keys are deleted after those services have stopped.
// The deletion is best effort (a Redis the test took away, a proxy already
// closed): what it leaves expires on its own, as every key the service
// writes has a TTL.
func NewRedisKeyPrefix(t testing.TB, url string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "onboarding-test-" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := deleteRedisKeys(ctx, url, prefix+"*"); err != nil {
			t.Logf("Redis keys %s* not deleted (they expire on their own): %v", prefix, err)
		}
	})
	return prefix
}

// RunCommand runs an operator subcommand of binary with env and returns its
// output; a non-zero exit fails the test.
func RunCommand(t testing.TB, binary string, env map[string]string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "ONBOARDING_LOG_LEVEL=warn"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("onboarding-adapter %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Gateway behaviours of FakeTwilio.
const (
	GatewayOK          = "ok"          // 201 queued
	GatewayUnavailable = "unavailable" // 503: provably not taken, the sender may retry
	GatewayError       = "error"       // 500: ambiguous, never retried
	GatewayHang        = "hang"        // no answer until the client gives up
)

// FakeTwilio is a Twilio Messages API stand-in that records what it got and
// answers as its mode says (GatewayOK unless SetMode changed it).
type FakeTwilio struct {
	mu       sync.Mutex
	mode     string
	requests []url.Values
	auth     []string
	attempts int
}

// SetMode switches how the next requests are answered.
func (f *FakeTwilio) SetMode(mode string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode = mode
}

// ServeHTTP answers one Messages.json request.
func (f *FakeTwilio) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/Messages.json") {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.attempts++
	mode := f.mode
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch mode {
	case GatewayUnavailable:
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"code":20003,"message":"Service Unavailable","status":503}`))
		return
	case GatewayError:
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"code":20500,"message":"Internal Server Error","status":500}`))
		return
	case GatewayHang:
		<-r.Context().Done()
		return
	}
	user, _, _ := r.BasicAuth()
	f.mu.Lock()
	f.requests = append(f.requests, r.PostForm)
	f.auth = append(f.auth, user)
	f.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"sid": "SM0123456789abcdef0123456789abcdef", "status": "queued"})
}

// Sent returns the messages the gateway accepted.
func (f *FakeTwilio) Sent() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.requests...)
}

// Attempts counts every request that reached the gateway, answered or not.
func (f *FakeTwilio) Attempts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts
}

// TwilioEnv is the service environment that sends SMS through the fake
// gateway at baseURL.
func TwilioEnv(baseURL string) map[string]string {
	return map[string]string{
		"ONBOARDING_SMS_PROVIDER":       "twilio",
		"ONBOARDING_TWILIO_BASE_URL":    baseURL,
		"ONBOARDING_TWILIO_ACCOUNT_SID": "AC0123456789abcdef0123456789abcdef",
		"ONBOARDING_TWILIO_AUTH_TOKEN":  "fake-twilio-auth-token",
		"ONBOARDING_TWILIO_FROM":        "+15005550006",
	}
}
