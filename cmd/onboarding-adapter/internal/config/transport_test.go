package config

import (
	"strings"
	"testing"
)

func TestTransportWarnings(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		pgSSLMode string
		pgHost    string
		want      []string // variable: a word of the problem
	}{
		{name: "in memory", env: nil},
		{name: "local PostgreSQL without TLS", env: map[string]string{"ONBOARDING_DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"}},
		{name: "localhost", env: map[string]string{"ONBOARDING_DATABASE_URL": "postgres://postgres@LocalHost/test"}},
		{name: "no host, PGHOST remote", env: map[string]string{"ONBOARDING_DATABASE_URL": "postgres:///onb"}, pgHost: "pg.db",
			want: []string{"ONBOARDING_DATABASE_URL: no sslmode"}},
		{name: "no host, no PGHOST: the local socket", env: map[string]string{"ONBOARDING_DATABASE_URL": "postgres:///onb"}},
		{name: "a socket directory", env: map[string]string{"ONBOARDING_DATABASE_URL": "postgres:///test?host=/var/run/postgresql"}},
		{name: "verify-full", env: map[string]string{"ONBOARDING_DATABASE_URL": "postgres://svc:pw@pg.db:5432/onb?sslmode=verify-full"}},
		{name: "verify-ca", env: map[string]string{"ONBOARDING_DATABASE_URL": "postgres://svc:pw@pg.db/onb?sslmode=verify-ca"}},
		{name: "no sslmode", env: map[string]string{"ONBOARDING_DATABASE_URL": "postgres://svc:pw@pg.db/onb"},
			want: []string{"ONBOARDING_DATABASE_URL: no sslmode (prefer)"}},
		{name: "no sslmode, PGSSLMODE verify-full", env: map[string]string{"ONBOARDING_DATABASE_URL": "postgres://svc:pw@pg.db/onb"}, pgSSLMode: "verify-full"},
		{name: "sslmode in the URL wins over PGSSLMODE", env: map[string]string{"ONBOARDING_DATABASE_URL": "postgres://svc:pw@pg.db/onb?sslmode=require"}, pgSSLMode: "verify-full",
			want: []string{"ONBOARDING_DATABASE_URL: not verified"}},
		{name: "disable", env: map[string]string{"ONBOARDING_DATABASE_URL": "postgres://svc:pw@10.0.0.5/onb?sslmode=disable"},
			want: []string{"ONBOARDING_DATABASE_URL: not encrypted"}},
		{name: "one remote host of several", env: map[string]string{"ONBOARDING_DATABASE_URL": "postgres://svc:pw@127.0.0.1:5432,pg.db:5432/onb?sslmode=prefer"},
			want: []string{"ONBOARDING_DATABASE_URL: falls back"}},
		{name: "remote Redis in clear", env: map[string]string{"ONBOARDING_REDIS_URL": "redis://:pw@cache.internal:6379/0"},
			want: []string{"ONBOARDING_REDIS_URL: unencrypted"}},
		{name: "remote Redis over TLS", env: map[string]string{"ONBOARDING_REDIS_URL": "rediss://:pw@cache.internal:6380/0"}},
		{name: "local Redis", env: map[string]string{"ONBOARDING_REDIS_URL": "redis://127.0.0.1:6379/0"}},
		{name: "webhook over http", env: map[string]string{"ONBOARDING_SMS_PROVIDER": "http", "ONBOARDING_SMS_HTTP_URL": "http://sms-gw.internal/send"},
			want: []string{"ONBOARDING_SMS_HTTP_URL: OTP code"}},
		{name: "webhook over https", env: map[string]string{"ONBOARDING_SMS_PROVIDER": "http", "ONBOARDING_SMS_HTTP_URL": "https://sms-gw.example/send"}},
		{name: "Twilio base URL over http", env: map[string]string{"ONBOARDING_SMS_PROVIDER": "twilio", "ONBOARDING_TWILIO_BASE_URL": "http://twilio-proxy.internal",
			"ONBOARDING_TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000", "ONBOARDING_TWILIO_AUTH_TOKEN": "token-token-token", "ONBOARDING_TWILIO_FROM": "+15005550006"},
			want: []string{"ONBOARDING_TWILIO_BASE_URL: https://"}},
		{name: "all three", env: map[string]string{"ONBOARDING_DATABASE_URL": "postgres://svc:pw@pg.db/onb?sslmode=disable",
			"ONBOARDING_REDIS_URL": "redis://cache:6379", "ONBOARDING_SMS_PROVIDER": "http", "ONBOARDING_SMS_HTTP_URL": "http://[fd00::5]:8080/send"},
			want: []string{"ONBOARDING_DATABASE_URL: disable", "ONBOARDING_REDIS_URL: rediss://", "ONBOARDING_SMS_HTTP_URL: http://"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load(tc.env)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			got := cfg.TransportWarnings(tc.pgSSLMode, tc.pgHost)
			if len(got) != len(tc.want) {
				t.Fatalf("warnings %+v, want %d: %v", got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				variable, word, _ := strings.Cut(w, ": ")
				if got[i].Variable != variable || !strings.Contains(got[i].Problem, word) {
					t.Errorf("warning %d = %+v, want %s mentioning %q", i, got[i], variable, word)
				}
				for _, secret := range []string{"pw", "token-token"} {
					if strings.Contains(got[i].Problem, secret) {
						t.Errorf("warning %d carries a credential: %q", i, got[i].Problem)
					}
				}
			}
		})
	}
}
