package redis

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
)

func TestTextEncodingRoundTrips(t *testing.T) {
	for _, tc := range []struct {
		name string
		text domain.ConsentText
	}{
		{"typical", domain.ConsentText{Type: "GDPR", Language: "cs", Version: 3, HTML: "<h1>Souhlas</h1>\n<p>Zpracování údajů…</p>",
			SHA256: strings.Repeat("ab", 32), PublishedAt: time.Date(2025, 3, 1, 10, 0, 0, 123456000, time.UTC)}},
		{"no publish time", domain.ConsentText{Type: "T", Language: "en", Version: 1, HTML: "<p>x</p>", SHA256: "00"}},
		{"newlines and quotes in type and language", domain.ConsentText{Type: "a\nb\"c", Language: "e\n", Version: 12, HTML: "\n\n"}},
		{"empty html", domain.ConsentText{Type: "T", Language: "en", Version: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeText(encodeText(tc.text))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.text {
				t.Fatalf("decoded %+v\nwant    %+v", got, tc.text)
			}
		})
	}
}

func TestTextDecodingRejects(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"truncated header", "ct1\n1\n-\nab\n\"T\"\n"},
		{"other format", "ct9\n1\n-\nab\n\"T\"\n\"en\"\n<p>"},
		{"bad version", "ct1\nx\n-\nab\n\"T\"\n\"en\"\n<p>"},
		{"bad time", "ct1\n1\nyesterday\nab\n\"T\"\n\"en\"\n<p>"},
		{"unquoted type", "ct1\n1\n-\nab\nT\n\"en\"\n<p>"},
		{"unquoted language", "ct1\n1\n-\nab\n\"T\"\nen\n<p>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := decodeText(tc.in); err == nil {
				t.Fatalf("decoded %+v, want an error", got)
			}
		})
	}
}

func TestKeyPart(t *testing.T) {
	long := strings.Repeat("x", maxKeyPart+1)
	for _, tc := range []struct{ in, want string }{
		{"GDPR", "GDPR"},
		{"marketing_v2.en-GB", "marketing_v2.en-GB"},
		{"a:b", "a%3Ab"},
		{"{tag}|x", "%7Btag%7D%7Cx"},
		{"a b*", "a%20b%2A"},
		{"č", "%C4%8D"},
		{"", ""},
	} {
		if got := keyPart(tc.in); got != tc.want {
			t.Errorf("keyPart(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	got := keyPart(long)
	if !strings.HasPrefix(got, "#") || len(got) != 65 || got == keyPart(long+"y") {
		t.Errorf("keyPart of a long value = %q, want # and a distinct SHA-256", got)
	}
}

func TestFallbackLogIsRateLimited(t *testing.T) {
	var buf bytes.Buffer
	var hooked []string
	f := newFallbacks("test", slog.New(slog.NewJSONHandler(&buf, nil)), func(op string, _ error) { hooked = append(hooked, op) })
	for range 100 {
		f.report(context.Background(), "read", errors.New("dial tcp: connection refused"))
	}
	if n := f.count.Load(); n != 100 {
		t.Fatalf("counted %d fallbacks, want 100", n)
	}
	if len(hooked) != 100 {
		t.Fatalf("hook called %d times, want 100", len(hooked))
	}
	if lines := strings.Count(buf.String(), "\n"); lines != 1 {
		t.Fatalf("%d log lines for a burst of 100, want 1:\n%s", lines, buf.String())
	}
	if !strings.Contains(buf.String(), `"op":"read"`) || !strings.Contains(buf.String(), "connection refused") {
		t.Fatalf("log line lacks the operation or the cause: %s", buf.String())
	}

	// After the interval the next line says how many were not logged.
	f.log.mu.Lock()
	f.log.last = time.Now().Add(-fallbackLogEvery)
	f.log.mu.Unlock()
	buf.Reset()
	f.report(context.Background(), "fill", errors.New("timeout"))
	if !strings.Contains(buf.String(), `"suppressed_since_last_log":99`) {
		t.Fatalf("log line does not count the 99 suppressed: %s", buf.String())
	}
}
