package config

import (
	"net"
	"net/url"
	"strings"
)

// TransportWarning names a connection the configuration leaves without
// verified TLS to a host other than this machine: what a bank's security
// review asks about first. The service still starts (a service mesh may
// encrypt in-cluster traffic, and a local database needs no TLS), but says
// so once at start, naming the variable.
type TransportWarning struct {
	Variable string // ONBOARDING_DATABASE_URL, ...
	Problem  string // what travels unprotected, without any value of the URL
}

// TransportWarnings returns the connections to other hosts that are not
// encrypted, or whose server certificate is not verified: PostgreSQL
// unless sslmode (in the URL, else pgSSLMode, the PGSSLMODE environment
// variable pgx also reads) is verify-ca or verify-full; Redis over
// redis://; the SMS gateway over http://. pgHost is PGHOST, which pgx
// uses when the URL names no host.
func (c Config) TransportWarnings(pgSSLMode, pgHost string) []TransportWarning {
	var out []TransportWarning
	if c.DatabaseURL != "" {
		if u, err := url.Parse(c.DatabaseURL.Value()); err == nil && !loopbackOnly(postgresHosts(u, pgHost)) {
			mode := u.Query().Get("sslmode")
			if mode == "" {
				mode = pgSSLMode
			}
			if p := postgresTLSProblem(mode); p != "" {
				out = append(out, TransportWarning{Prefix + "DATABASE_URL", p})
			}
		}
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL.Value()); err == nil && u.Scheme == "redis" && !loopbackOnly([]string{u.Hostname()}) {
			out = append(out, TransportWarning{Prefix + "REDIS_URL",
				"redis:// sends the password, the cached consent texts and the OTP dedupe keys unencrypted; rediss:// encrypts and verifies the server"})
		}
	}
	smsURL, smsVar := "", ""
	switch c.SMSProvider {
	case "http":
		smsURL, smsVar = c.SMSHTTPURL, "SMS_HTTP_URL"
	case "twilio":
		smsURL, smsVar = c.TwilioBaseURL, "TWILIO_BASE_URL"
	}
	if u, err := url.Parse(smsURL); smsURL != "" && err == nil && u.Scheme == "http" && !loopbackOnly([]string{u.Hostname()}) {
		out = append(out, TransportWarning{Prefix + smsVar,
			"http:// sends the SMS text with its OTP code, the phone number and the gateway's credentials unencrypted; use https://"})
	}
	return out
}

// postgresTLSProblem says what sslmode mode leaves unprotected, or "".
func postgresTLSProblem(mode string) string {
	switch mode {
	case "verify-full", "verify-ca":
		return ""
	case "disable":
		return "sslmode=disable: the connection to PostgreSQL is not encrypted; use sslmode=verify-full"
	case "require":
		return "sslmode=require: the connection to PostgreSQL is encrypted but the server's certificate is not verified, so an impostor is not detected; use sslmode=verify-full"
	case "", "prefer", "allow":
		label := "sslmode=" + mode
		if mode == "" {
			label = "no sslmode (prefer)"
		}
		return label + ": the connection to PostgreSQL falls back to no encryption when the server offers none, " +
			"and the server's certificate is not verified; use sslmode=verify-full"
	}
	return "" // an unknown mode: pgx refuses the URL when connecting
}

// postgresHosts are the hosts a postgres:// URL names: its authority's,
// comma-separated for several, or a host parameter (a socket directory),
// else pgHost (PGHOST).
func postgresHosts(u *url.URL, pgHost string) []string {
	if h := u.Query().Get("host"); h != "" {
		return strings.Split(h, ",")
	}
	if u.Host == "" && pgHost != "" {
		return strings.Split(pgHost, ",")
	}
	var hosts []string
	for _, hp := range strings.Split(u.Host, ",") {
		if h, _, err := net.SplitHostPort(hp); err == nil {
			hp = h
		}
		hosts = append(hosts, strings.Trim(hp, "[]"))
	}
	return hosts
}

// loopbackOnly reports whether every host is this machine: localhost, a
// loopback address or a Unix socket directory. An empty host is
// localhost's socket for pgx.
func loopbackOnly(hosts []string) bool {
	for _, h := range hosts {
		switch ip := net.ParseIP(h); {
		case h == "" || strings.EqualFold(h, "localhost") || strings.HasPrefix(h, "/"):
		case ip != nil && ip.IsLoopback():
		default:
			return false
		}
	}
	return true
}
