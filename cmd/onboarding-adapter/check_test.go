package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestCheckRefusesWhatServeRefuses runs check and serve on the same
// environments: a configuration check is only worth running in a pipeline
// if it refuses what would stop the pods, with the same message, and
// accepts what would start them without needing the database or Redis.
func TestCheckRefusesWhatServeRefuses(t *testing.T) {
	base := map[string]string{
		// serve binds ephemeral ports if it gets as far as listening.
		"ONBOARDING_HTTP_ADDR":  "127.0.0.1:0",
		"ONBOARDING_ADMIN_ADDR": "127.0.0.2:0", // another loopback: the two must differ
		"ONBOARDING_LOG_LEVEL":  "error",
	}
	// Nothing listens on port 1: a check that dialled would fail or hang.
	unreachable := map[string]string{
		"ONBOARDING_DATABASE_URL": "postgres://app:secret@127.0.0.1:1/onboarding?connect_timeout=1",
		"ONBOARDING_REDIS_URL":    "redis://127.0.0.1:1/0",
		"ONBOARDING_OTP_HASH_KEY": "0123456789abcdef0123456789abcdef",
	}
	httpGateway := map[string]string{
		"ONBOARDING_SMS_PROVIDER": "http",
		"ONBOARDING_SMS_HTTP_URL": "https://sms.bank.example/api/v1/messages",
	}
	tests := []struct {
		name    string
		env     []map[string]string
		wantErr string // "" means both succeed (serve until the context ends)
		wantOut string
	}{
		{name: "in-memory default", wantOut: "configuration valid: storage memory, SMS gateway log"},
		{name: "databases unreachable", env: []map[string]string{unreachable},
			wantOut: "configuration valid: storage postgres+redis, SMS gateway log"},
		{name: "body template in another syntax", env: []map[string]string{httpGateway, {
			"ONBOARDING_SMS_HTTP_BODY_TEMPLATE": `{"to":"{to}","text":"{text}"}`}},
			wantErr: "ONBOARDING_SMS_HTTP_BODY_TEMPLATE"},
		{name: "body template fine", env: []map[string]string{httpGateway, {
			"ONBOARDING_SMS_HTTP_BODY_TEMPLATE": `{"to":{{json .To}},"text":{{json .Text}}}`}},
			wantOut: "SMS gateway http"},
		{name: "reviewer list with nobody", env: []map[string]string{{"ONBOARDING_ADMIN_USERS": "# to do\n"}},
			wantErr: "ONBOARDING_ADMIN_USERS: lists no reviewer"},
		{name: "reviewer with the API's name", env: []map[string]string{{
			"ONBOARDING_BASIC_AUTH_USERNAME": "onboarding-server", "ONBOARDING_BASIC_AUTH_PASSWORD": "api-password-long-enough",
			"ONBOARDING_ADMIN_USERS": "Onboarding-Server:another-password-1"}},
			wantErr: "uses the API's username or password"},
		{name: "unknown trace sampler", env: []map[string]string{{"OTEL_TRACES_SAMPLER": "sometimes"}},
			wantErr: "OTEL_TRACES_SAMPLER"},
		{name: "reviewer password too short", env: []map[string]string{{"ONBOARDING_ADMIN_USERS": "alice:short-pw"}},
			wantErr: "at least 12 characters"},
		{name: "reviewer listed twice", env: []map[string]string{{
			"ONBOARDING_ADMIN_USERS": "alice:reviewer-password-1\nAlice:reviewer-password-2"}},
			wantErr: "used twice"},
		{name: "reviewer hash truncated", env: []map[string]string{{"ONBOARDING_ADMIN_USERS": "alice:$2b$12$abc"}},
			wantErr: "bcrypt"},
		{name: "API username with a colon", env: []map[string]string{{
			"ONBOARDING_BASIC_AUTH_USERNAME": "onboarding-server:oops", "ONBOARDING_BASIC_AUTH_PASSWORD": "api-password-long-enough"}},
			wantErr: "ONBOARDING_BASIC_AUTH_USERNAME"},
		{name: "listener port by name", env: []map[string]string{{"ONBOARDING_HTTP_ADDR": "127.0.0.1:http-api"}},
			wantErr: "ONBOARDING_HTTP_ADDR"},
		{name: "database URL malformed", env: []map[string]string{{"ONBOARDING_DATABASE_URL": "postgres://app@127.0.0.1:5432/x?pool_max_conns=many"}},
			wantErr: "ONBOARDING_DATABASE_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for _, m := range append([]map[string]string{base}, tt.env...) {
				for k, v := range m {
					env[k] = v
				}
			}
			var out, errOut bytes.Buffer
			checkErr := run(context.Background(), []string{"check"}, env, &out, &errOut)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			serveErr := run(ctx, []string{"serve"}, env, &bytes.Buffer{}, &bytes.Buffer{})
			if tt.wantErr == "" {
				if checkErr != nil || serveErr != nil {
					t.Fatalf("check: %v; serve: %v; want both to accept", checkErr, serveErr)
				}
				if !strings.Contains(out.String(), tt.wantOut) {
					t.Errorf("check printed %q, want %q", out.String(), tt.wantOut)
				}
				return
			}
			if checkErr == nil || !strings.Contains(checkErr.Error(), tt.wantErr) {
				t.Errorf("check: %v, want an error naming %q", checkErr, tt.wantErr)
			}
			if serveErr == nil || checkErr == nil || serveErr.Error() != checkErr.Error() {
				t.Errorf("serve: %v\ncheck: %v\nwant the same error", serveErr, checkErr)
			}
			if out.Len() != 0 {
				t.Errorf("check printed %q on failure", out.String())
			}
		})
	}
}

// check opens no connection, not even the pool's minimum ones in the
// background: a pipeline's check must not reach (or authenticate to) the
// bank's database or Redis.
func TestCheckConnectsToNothing(t *testing.T) {
	var accepted atomic.Int32
	var lns []net.Listener
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		lns = append(lns, ln)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				accepted.Add(1)
				c.Close()
			}
		}()
	}
	env := map[string]string{
		"ONBOARDING_HTTP_ADDR": "127.0.0.1:0", "ONBOARDING_ADMIN_ADDR": "127.0.0.2:0", "ONBOARDING_LOG_LEVEL": "error",
		"ONBOARDING_DATABASE_URL": "postgres://app:secret@" + lns[0].Addr().String() + "/onboarding",
		"ONBOARDING_DB_MIN_CONNS": "2",
		"ONBOARDING_REDIS_URL":    "redis://" + lns[1].Addr().String() + "/0",
		"ONBOARDING_OTP_HASH_KEY": "0123456789abcdef0123456789abcdef",
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"check"}, env, &out, &bytes.Buffer{}); err != nil {
		t.Fatalf("check: %v", err)
	}
	// A background dial would land well within this.
	time.Sleep(300 * time.Millisecond)
	if n := accepted.Load(); n != 0 {
		t.Errorf("check opened %d connection(s) to the database or Redis", n)
	}
}

// TestCheckWarnsOfUnverifiedTransports: check (and serve, which calls the
// same warnTransports after its start-up line) names each connection to
// another host without verified TLS, once, without the URL's credentials.
func TestCheckWarnsOfUnverifiedTransports(t *testing.T) {
	env := map[string]string{
		"ONBOARDING_DATABASE_URL": "postgres://app:s3cret-pw@pg.bank.internal:5432/onboarding",
		"ONBOARDING_REDIS_URL":    "redis://:r3dis-pw@cache.bank.internal:6379/0",
		"ONBOARDING_OTP_HASH_KEY": "0123456789abcdef0123456789abcdef",
		"ONBOARDING_LOG_LEVEL":    "warn",
	}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"check"}, env, &stdout, &stderr); err != nil {
		t.Fatalf("check: %v\n%s", err, stderr.String())
	}
	logs := stderr.String()
	for _, want := range []string{"ONBOARDING_DATABASE_URL", "no sslmode (prefer)", "ONBOARDING_REDIS_URL", "rediss://"} {
		if !strings.Contains(logs, want) {
			t.Errorf("check's logs lack %q:\n%s", want, logs)
		}
	}
	if n := strings.Count(logs, "connection without verified TLS"); n != 2 {
		t.Errorf("%d warnings, want 2:\n%s", n, logs)
	}
	for _, secret := range []string{"s3cret-pw", "r3dis-pw"} {
		if strings.Contains(logs+stdout.String(), secret) {
			t.Errorf("a credential reached the output: %s", logs)
		}
	}

	stderr.Reset()
	env["ONBOARDING_DATABASE_URL"] += "?sslmode=verify-full"
	env["ONBOARDING_REDIS_URL"] = "rediss://:r3dis-pw@cache.bank.internal:6380/0"
	if err := run(context.Background(), []string{"check"}, env, &stdout, &stderr); err != nil {
		t.Fatalf("check: %v\n%s", err, stderr.String())
	}
	if strings.Contains(stderr.String(), "without verified TLS") {
		t.Errorf("warned with verified TLS everywhere:\n%s", stderr.String())
	}
}
