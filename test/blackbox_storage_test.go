package test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/postgres/pgtest"
	"github.com/bankkit/onboarding-adapter/test/testkit"
)

// TestBlackBoxPostgresRedis runs the Onboarding Server's flow against the
// binary on PostgreSQL (migrated and seeded by its own subcommands) and
// Redis, under the key prefix of its own testkit gives it; `consent
// publish` is run with that prefix and must invalidate the running
// service's cache under it.
func TestBlackBoxPostgresRedis(t *testing.T) {
	t.Parallel()
	rurl := redisURL(t)
	dsn := pgtest.NewEmptyDatabase(t)
	env := map[string]string{"ONBOARDING_DATABASE_URL": dsn}
	if out := runCommand(t, env, "migrate", "status"); !strings.Contains(out, "schema version 0 of") {
		t.Fatalf("migrate status on an empty database: %s", out)
	}
	if out := runCommand(t, env, "migrate"); !strings.Contains(out, "up to date") {
		t.Fatalf("migrate: %s", out)
	}
	if out := runCommand(t, env, "migrate", "up"); !strings.Contains(out, "up to date") {
		t.Fatalf("second migrate: %s", out)
	}
	if out := runCommand(t, env, "seed"); !strings.Contains(out, "demo data: 7 clients") {
		t.Fatalf("seed: %s", out)
	}
	if out := runCommand(t, env, "seed"); !strings.Contains(out, "demo data: 0 clients, 0 consent texts, 0 consents added") {
		t.Fatalf("second seed is not a no-op: %s", out)
	}
	svc := startService(t, map[string]string{
		"ONBOARDING_DATABASE_URL": dsn,
		"ONBOARDING_REDIS_URL":    rurl,
		"ONBOARDING_OTP_HASH_KEY": "black-box-test-otp-hash-key-0123456789",
	})
	runOnboardingServerFlow(t, svc, nil)

	// A process whose user approves the text of the day (version 1) and,
	// after a new version is published, approves that one too.
	ident := map[string]any{"clientNumber": "1000002", "birthDate": "1978-11-03"}
	r := call(t, svc.API+"/user/lookup", map[string]any{"processId": "p-reconsent", "identification": ident}, nil)
	userID, _ := r.Body["userId"].(string)
	if r.Status != 200 || userID == "" {
		t.Fatalf("lookup: %d %s", r.Status, r.Raw)
	}
	giveConsent := func(wantText string) {
		t.Helper()
		r := call(t, svc.API+"/consent/text", map[string]any{"processId": "p-reconsent", "userId": userID, "consentType": "GDPR", "language": "en"}, nil)
		if r.Status != 200 || !strings.Contains(r.Raw, wantText) {
			t.Fatalf("consent text: %d %s, want %q", r.Status, r.Raw, wantText)
		}
		r = call(t, svc.API+"/consent/storage", map[string]any{"processId": "p-reconsent", "userId": userID, "consentType": "GDPR", "approved": true}, nil)
		if r.Status != 200 {
			t.Fatalf("consent storage: %d %s", r.Status, r.Raw)
		}
	}
	giveConsent("Consent to the processing")

	// A published consent text reaches the running service through the
	// cache invalidation.
	html := t.TempDir() + "/gdpr.html"
	if err := os.WriteFile(html, []byte("<h1>GDPR v2</h1><p>Updated text.</p>"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := runCommand(t, map[string]string{"ONBOARDING_DATABASE_URL": dsn, "ONBOARDING_REDIS_URL": rurl, "ONBOARDING_REDIS_KEY_PREFIX": svc.RedisKeyPrefix},
		"consent", "publish", "--type", "GDPR", "--language", "en", "--file", html)
	if !strings.Contains(out, "version 2") {
		t.Fatalf("consent publish: %s", out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := call(t, svc.API+"/consent/text", map[string]any{"processId": "p-publish", "consentType": "GDPR", "language": "en"}, nil)
		if r.Status == 200 && strings.Contains(r.Body["consentText"].(string), "GDPR v2") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the published text was not served within 5s: %s", r.Raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A consent given now names the new version, and lookup asks again
	// for consent from a user who approved only the old one.
	r = call(t, svc.API+"/user/lookup", map[string]any{"processId": "p-publish", "identification": ident}, nil)
	if r.Status != 200 || r.Body["consent"] != "REQUIRED" {
		t.Fatalf("lookup after a new consent version: %d %s", r.Status, r.Raw)
	}
	// The same approval, on the new text, is a new consent: recorded, and
	// lookup no longer asks (the ledger once took it for a re-send).
	giveConsent("GDPR v2")
	r = call(t, svc.API+"/user/lookup", map[string]any{"processId": "p-reconsent", "identification": ident}, nil)
	if r.Status != 200 || r.Body["consent"] != "NOT_REQUIRED" {
		t.Fatalf("lookup after approving the new version: %d %s", r.Status, r.Raw)
	}

	// A consent stored without a serving (none recorded for its process)
	// names the current text and says so; the two above name what was
	// served. A compliance officer reads it in the ledger.
	r = call(t, svc.API+"/consent/storage", map[string]any{"processId": "p-unseen", "userId": userID, "consentType": "GDPR", "approved": true}, nil)
	if r.Status != 200 {
		t.Fatalf("consent storage without a serving: %d %s", r.Status, r.Raw)
	}
	rows, err := pgtest.Pool(t, dsn).Query(context.Background(), `SELECT process_id, text_version, text_served
FROM consent_ledger WHERE process_id IN ('p-reconsent', 'p-unseen') ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var (
			pid     string
			version int
			served  *bool
		)
		if err := rows.Scan(&pid, &version, &served); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s v%d served=%v", pid, version, served != nil && *served))
	}
	if want := []string{"p-reconsent v1 served=true", "p-reconsent v2 served=true", "p-unseen v2 served=false"}; rows.Err() != nil ||
		!slices.Equal(got, want) {
		t.Fatalf("consent_ledger: %q (%v), want %q", got, rows.Err(), want)
	}

	// A compliance officer reads the same from the command line: the table
	// says how each record's text was chosen, the JSON the same per record
	// (null for records the ledger kept before migration 009: none here).
	dbEnv := map[string]string{"ONBOARDING_DATABASE_URL": dsn}
	table := runCommand(t, dbEnv, "consent", "history", "--user", userID, "--type", "GDPR")
	for _, want := range []string{"RECORDED (UTC)", "p-reconsent", "p-unseen", "served", "current", "approved"} {
		if !strings.Contains(table, want) {
			t.Fatalf("consent history lacks %q:\n%s", want, table)
		}
	}
	var hist struct {
		Records []struct {
			ProcessID   string `json:"processId"`
			TextVersion int    `json:"textVersion"`
			TextServed  *bool  `json:"textServed"`
			RequestID   string `json:"requestId"`
		} `json:"records"`
	}
	if err := json.Unmarshal([]byte(runCommand(t, dbEnv, "consent", "history", "--user", userID, "--json")), &hist); err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, r := range hist.Records {
		if r.ProcessID == "p-reconsent" || r.ProcessID == "p-unseen" {
			if r.TextServed == nil || r.RequestID == "" {
				t.Fatalf("consent history --json: %+v, want text_served and the request id", r)
			}
			got = append(got, fmt.Sprintf("%s v%d served=%v", r.ProcessID, r.TextVersion, *r.TextServed))
		}
	}
	if want := []string{"p-reconsent v1 served=true", "p-reconsent v2 served=true", "p-unseen v2 served=false"}; !slices.Equal(got, want) {
		t.Fatalf("consent history --json: %q, want %q", got, want)
	}
}

// TestBlackBoxRedisKeyPrefix: two replicas of one deployment share an
// ONBOARDING_REDIS_KEY_PREFIX, another deployment on the same Redis has its
// own. A caller's retry of /otp/send reaching the other replica is
// deduplicated (one SMS); the same request reaching the other deployment
// is that deployment's first (an SMS of its own, not a repeat of a code it
// never sent). Each deployment's keys are under its prefix, none under the
// default.
func TestBlackBoxRedisKeyPrefix(t *testing.T) {
	t.Parallel()
	rurl := redisURL(t)
	gw := &fakeTwilio{}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	env := func(prefix string) map[string]string {
		e := testkit.TwilioEnv(srv.URL)
		e["ONBOARDING_REDIS_URL"] = rurl
		e["ONBOARDING_OTP_HASH_KEY"] = "redis-prefix-test-otp-hash-key-0123456789" // one key: the same code hashes alike everywhere
		if prefix != "" {
			e["ONBOARDING_REDIS_KEY_PREFIX"] = prefix
		}
		return e
	}
	shared := testkit.NewRedisKeyPrefix(t, rurl)
	replica1, replica2 := startService(t, env(shared)), startService(t, env(shared))
	other := startService(t, env("")) // testkit gives it a prefix of its own
	if replica2.RedisKeyPrefix != shared || other.RedisKeyPrefix == "" || other.RedisKeyPrefix == shared {
		t.Fatalf("prefixes: replicas %q and %q, the other deployment %q", replica1.RedisKeyPrefix, replica2.RedisKeyPrefix, other.RedisKeyPrefix)
	}

	process := "p-prefix-" + strconv36()
	body := map[string]any{"processId": process, "userId": "u-1000001", "language": "en", "otpCode": "31415926", "otpType": "ACTIVATION"}
	for _, step := range []struct {
		name string
		svc  *service
		sms  int // the gateway's requests in all after the step
	}{
		{"first send, replica 1", replica1, 1},
		{"the caller's retry on replica 2: a repeat", replica2, 1},
		{"the same request in the other deployment: its own first send", other, 2},
	} {
		if r := call(t, step.svc.API+"/otp/send", body, nil); r.Status != 200 || r.Body["otpSent"] != true {
			t.Fatalf("%s: %d %s", step.name, r.Status, r.Raw)
		}
		if n := len(gw.Sent()); n != step.sms {
			t.Fatalf("%s: the gateway got %d requests in all, want %d", step.name, n, step.sms)
		}
	}
	if r := call(t, replica1.API+"/consent/text", map[string]any{"processId": process, "consentType": "GDPR", "language": "en"}, nil); r.Status != 200 {
		t.Fatalf("consent text: %d %s", r.Status, r.Raw)
	}

	// The throttle's send log of the process (its key names the hashed
	// process id), once per deployment; the text cached by replica 1.
	sum := sha256.Sum256([]byte(process))
	sends := "otp:sends:" + hex.EncodeToString(sum[:16])
	for _, want := range []string{shared + sends, other.RedisKeyPrefix + sends, shared + "consent-text:{GDPR|en}:latest"} {
		if keys := testkit.RedisKeys(t, rurl, want); len(keys) != 1 {
			t.Errorf("key %s: found %v", want, keys)
		}
	}
	if keys := testkit.RedisKeys(t, rurl, "onboarding:"+sends); len(keys) != 0 {
		t.Errorf("keys under the default prefix: %v", keys)
	}
}

// TestBlackBoxTwilio sends OTPs through the twilio sender against a fake
// gateway: one SMS per code, to the registry's number, never logged.
func TestBlackBoxTwilio(t *testing.T) {
	t.Parallel()
	gw := &fakeTwilio{}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	svc := startService(t, map[string]string{
		"ONBOARDING_SMS_PROVIDER":       "twilio",
		"ONBOARDING_TWILIO_BASE_URL":    srv.URL,
		"ONBOARDING_TWILIO_ACCOUNT_SID": "AC0123456789abcdef0123456789abcdef",
		"ONBOARDING_TWILIO_AUTH_TOKEN":  "fake-twilio-auth-token",
		"ONBOARDING_TWILIO_FROM":        "+15005550006",
	})
	const code = "48151623"
	body := map[string]any{"processId": "p-twilio-" + strconv36(), "userId": "u-1000001", "language": "cs", "otpCode": code, "otpType": "ACTIVATION", "resend": false}
	for i := 0; i < 3; i++ { // the caller re-sends after a timeout: one SMS
		if r := call(t, svc.API+"/otp/send", body, nil); r.Status != 200 || r.Body["otpSent"] != true {
			t.Fatalf("otp send %d: %d %s", i, r.Status, r.Raw)
		}
	}
	sent := gw.Sent()
	if len(sent) != 1 {
		t.Fatalf("the gateway got %d requests, want exactly 1", len(sent))
	}
	if sent[0].Get("To") != "+420777123456" || sent[0].Get("From") != "+15005550006" ||
		!strings.Contains(sent[0].Get("Body"), code) || !strings.Contains(sent[0].Get("Body"), "kód") {
		t.Fatalf("unexpected message: To=%q From=%q Body=%q", sent[0].Get("To"), sent[0].Get("From"), sent[0].Get("Body"))
	}
	// A user without a phone number is refused before the gateway.
	if r := call(t, svc.API+"/otp/send", map[string]any{"processId": "p-twilio-nophone", "userId": "u-1000004", "language": "en", "otpCode": "11112222", "otpType": "ACTIVATION"}, nil); r.Status != 400 {
		t.Fatalf("user without phone: %d %s", r.Status, r.Raw)
	}
	if len(gw.Sent()) != 1 {
		t.Fatalf("a refused send reached the gateway")
	}
	logs := svc.Logs.String()
	for _, secret := range []string{code, "+420777123456", "fake-twilio-auth-token"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs contain %q", secret)
		}
	}
}

func strconv36() string { return strings.ToLower(time.Now().Format("150405.000000000")) }
