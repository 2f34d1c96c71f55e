package sms

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestScrub(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"The 'To' number +420777123456 is not valid.", "The 'To' number *** is not valid."},
		{"to +420 777 123 456, ok", "to ***, ok"},
		{"(+1) 415-555-0100 called", "(*** called"},
		{"code 83920174 sent", "code *** sent"},
		{"code 4821", "code ***"},
		{"HTTP 500 at 12:30", "HTTP 500 at 12:30"},
		{"a + b", "a + b"},
		{"code AB12CD sent", "code *** sent"},
		{"code 12ab", "code ***"},
		{"to 420/777/123/456", "to ***"},
		{"to 420_777_123", "to ***"},
		{"status v2 ok, id ab1", "status v2 ok, id ab1"},
		{"line\nbreak\ttab", "line break tab"},
		{strings.Repeat("é", 150), strings.Repeat("é", 100) + "…"},
	} {
		if got := scrub(tc.in); got != tc.want {
			t.Errorf("scrub(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"999999999", 24 * time.Hour},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"soon", 0},
	} {
		h := http.Header{}
		if tc.v != "" {
			h.Set("Retry-After", tc.v)
		}
		if got := retryAfter(h, now); got != tc.want {
			t.Errorf("Retry-After %q = %s, want %s", tc.v, got, tc.want)
		}
	}
}

func TestLookup(t *testing.T) {
	doc := map[string]any{"messages": []any{map[string]any{"status": "0", "n": json.Number("12"), "ok": false, "nil": nil}},
		"a.b": "dotted"}
	for _, tc := range []struct {
		path   string
		want   string
		wantOK bool
	}{
		{"messages.0.status", "0", true},
		{"messages.0.n", "12", true},
		{"messages.0.ok", "false", true},
		{"messages.0.nil", "null", true},
		{"messages.1.status", "", false},
		{"messages.x.status", "", false},
		{"messages.0", "", false},
		{"messages.0.status.deeper", "", false},
		{"missing", "", false},
	} {
		p, err := parsePath(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := lookup(doc, p)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("lookup %s = %q, %v; want %q, %v", tc.path, got, ok, tc.want, tc.wantOK)
		}
	}
}

func TestParseStatuses(t *testing.T) {
	s, err := parseStatuses("200-204, 302")
	if err != nil {
		t.Fatal(err)
	}
	for status, want := range map[int]bool{199: false, 200: true, 204: true, 205: false, 302: true, 500: false} {
		if s.has(status) != want {
			t.Errorf("has(%d) = %v", status, !want)
		}
	}
	for _, bad := range []string{"", "2xx", "99", "600", "300-200", "200-", "200,,201"} {
		if _, err := parseStatuses(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestTransportFailure(t *testing.T) {
	refused := &url.Error{Op: "Post", URL: "https://gw/send?api_key=SECRET", Err: &net.OpError{Op: "dial", Net: "tcp",
		Addr: &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 8443}, Err: syscall.ECONNREFUSED}}
	reset := &url.Error{Op: "Post", URL: "https://gw/send?api_key=SECRET", Err: &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}}
	expired, cancel := context.WithTimeout(context.Background(), -time.Second)
	defer cancel()
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		err   error
		wrote bool
		want  Reason
	}{
		{"refused before writing", context.Background(), refused, false, ReasonConnect},
		{"dial error yet something was written", context.Background(), refused, true, ReasonNetwork},
		{"dns failure", context.Background(), &url.Error{Err: &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host"}}}, false, ReasonConnect},
		{"reset after writing", context.Background(), reset, true, ReasonNetwork},
		{"unknown error without trace information is not retried", context.Background(), errors.New("custom transport"), false, ReasonNetwork},
		{"attempt timeout", expired, &url.Error{Err: context.DeadlineExceeded}, true, ReasonTimeout},
		{"attempt timeout before writing is still not retried", expired, &url.Error{Err: context.DeadlineExceeded}, false, ReasonTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := transportFailure(tc.ctx, tc.err, tc.wrote)
			if a.Reason != tc.want || a.Err == nil {
				t.Fatalf("%+v, want reason %s", a, tc.want)
			}
			if text := a.Err.Error() + a.Detail; strings.Contains(text, "SECRET") || strings.Contains(text, "10.1.2.3") {
				t.Errorf("the error shows the URL or address: %s", text)
			}
			if tc.want == ReasonTimeout && !errors.Is(a.Err, context.DeadlineExceeded) {
				t.Errorf("%v does not wrap the deadline", a.Err)
			}
		})
	}
}

func TestRetryDelay(t *testing.T) {
	r := &Resilient{cfg: ResilienceConfig{BackoffBase: 100 * time.Millisecond, BackoffMax: 300 * time.Millisecond,
		MaxRetryAfter: 2 * time.Second, MinAttemptTime: 100 * time.Millisecond}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		n        int
		after    time.Duration
		lo, hi   time.Duration
		wantSkip bool
	}{
		{n: 1, lo: 50 * time.Millisecond, hi: 100 * time.Millisecond},
		{n: 2, lo: 100 * time.Millisecond, hi: 200 * time.Millisecond},
		{n: 5, lo: 150 * time.Millisecond, hi: 300 * time.Millisecond}, // capped
		{n: 1, after: time.Second, lo: time.Second, hi: time.Second},
		{n: 1, after: 3 * time.Second, wantSkip: true},
	} {
		for range 50 {
			d, why := r.retryDelay(ctx, tc.n, Attempt{RetryAfter: tc.after})
			if (why != "") != tc.wantSkip || (!tc.wantSkip && (d < tc.lo || d > tc.hi)) {
				t.Fatalf("n=%d after=%s: %s %q, want [%s, %s] skip=%v", tc.n, tc.after, d, why, tc.lo, tc.hi, tc.wantSkip)
			}
		}
	}
	short, cancel2 := context.WithTimeout(context.Background(), 120*time.Millisecond)
	defer cancel2()
	if _, why := r.retryDelay(short, 1, Attempt{}); why == "" {
		t.Error("a retry was planned that leaves less than MinAttemptTime before the deadline")
	}
}

func TestGatewayClientNeverFollowsRedirects(t *testing.T) {
	orig := &http.Client{Timeout: time.Second}
	c := gatewayClient(orig, 4)
	if c == orig || c.CheckRedirect == nil || orig.CheckRedirect != nil || c.Timeout != time.Second {
		t.Fatalf("the caller's client was changed or not copied: %+v", c)
	}
	if err := c.CheckRedirect(nil, nil); !errors.Is(err, http.ErrUseLastResponse) {
		t.Fatalf("CheckRedirect = %v", err)
	}
	if d := gatewayClient(nil, 4); d.Transport == nil || d.CheckRedirect == nil {
		t.Fatalf("default client %+v", d)
	}
}
