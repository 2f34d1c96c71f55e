package admin

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
)

// FuzzParseFilter feeds parseFilter the query string of a queue request.
// Whatever it gets it must not panic, and:
//
//   - a refusal is CodeInvalid with one of three fixed (field, message)
//     pairs, naming a parameter the query gave, so the query is never
//     echoed;
//   - an accepted filter satisfies what the doc comment promises: a limit
//     of 1-500 (the number given, else the default), a cursor of at most
//     maxIDLen bytes that is the one given, a status or kind named in any
//     letter case as the service spells it, and for olderThan a creation
//     bound that is now minus ParseAge's reading of it (never after now).
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		"", "status=open", "status=CLAIMED&kind=Evaluation", "kind=approval&limit=10", "olderThan=90m", "olderThan=36h",
		"olderThan=3d", "olderThan=+3d", "olderThan=3650d", "olderThan=3651d", "olderThan=-1h", "olderThan=soon",
		"olderThan=2562047h", "olderThan=9223372036854775807ns", "limit=0", "limit=1", "limit=500", "limit=501",
		"limit=+7", "limit=-1", "limit=1e2", "limit=%20%2042%20", "after=case-wait", "after=" + strings.Repeat("a", maxIDLen),
		"after=" + strings.Repeat("a", maxIDLen+1), "after=%00", "after=%ff&limit=2", "status=DONE", "status=re%C5%BFolved",
		"status=%20open%20", "limit=5&limit=600", "olderThan=&limit=", "a=b;c", "%zz=1&limit=3", "olderThan=1d&after=x&limit=50&status=OPEN&kind=approval",
	} {
		f.Add(s)
	}
	now := time.Date(2025, 6, 15, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, rawQuery string) {
		q, _ := url.ParseQuery(rawQuery) // as r.URL.Query() does
		status := strings.TrimSpace(q.Get("status"))
		kind := strings.TrimSpace(q.Get("kind"))
		olderThan := strings.TrimSpace(q.Get("olderThan"))
		after := strings.TrimSpace(q.Get("after"))
		limit := strings.TrimSpace(q.Get("limit"))

		got, err := parseFilter(q, now)
		if err != nil {
			de, ok := domain.AsError(err)
			if !ok || de.Code != domain.CodeInvalid || de.Err != nil {
				t.Fatalf("parseFilter(%q): %v, not a plain CodeInvalid", rawQuery, err)
			}
			var given string
			switch [2]string{de.Field, de.Message} {
			case [2]string{"after", "is not a case id"}:
				given = after
			case [2]string{"olderThan", "must be a duration such as 30m, 12h or 3d"}:
				given = olderThan
			case [2]string{"limit", "must be between 1 and 500"}:
				given = limit
			default:
				t.Fatalf("parseFilter(%q): %q %q, not one of the fixed refusals", rawQuery, de.Field, de.Message)
			}
			if given == "" {
				t.Fatalf("parseFilter(%q) blames %s, which the query does not give", rawQuery, de.Field)
			}
			return
		}

		if got.Limit < 1 || got.Limit > maxLimit {
			t.Fatalf("parseFilter(%q): limit %d", rawQuery, got.Limit)
		}
		if limit == "" && got.Limit != defaultLimit {
			t.Fatalf("parseFilter(%q): limit %d without one given, want %d", rawQuery, got.Limit, defaultLimit)
		}
		if n, err := strconv.Atoi(limit); limit != "" && (err != nil || n != got.Limit) {
			t.Fatalf("parseFilter(%q): limit %d for %q", rawQuery, got.Limit, limit)
		}
		if got.AfterID != after || len(got.AfterID) > maxIDLen {
			t.Fatalf("parseFilter(%q): cursor %q", rawQuery, got.AfterID)
		}
		for _, s := range []domain.ReviewStatus{domain.ReviewOpen, domain.ReviewClaimed, domain.ReviewResolved} {
			if strings.EqualFold(status, string(s)) && got.Status != s {
				t.Fatalf("parseFilter(%q): status %q, want %q", rawQuery, got.Status, s)
			}
		}
		for _, k := range []domain.DecisionKind{domain.KindApproval, domain.KindEvaluation} {
			if strings.EqualFold(kind, string(k)) && got.Kind != k {
				t.Fatalf("parseFilter(%q): kind %q, want %q", rawQuery, got.Kind, k)
			}
		}
		if olderThan == "" {
			if !got.CreatedBefore.IsZero() {
				t.Fatalf("parseFilter(%q): created before %s without olderThan", rawQuery, got.CreatedBefore)
			}
			return
		}
		d, err := ParseAge(olderThan)
		if err != nil || !got.CreatedBefore.Equal(now.Add(-d)) || got.CreatedBefore.After(now) {
			t.Fatalf("parseFilter(%q): created before %s; ParseAge(%q) = %s, %v", rawQuery, got.CreatedBefore, olderThan, d, err)
		}
	})
}

// FuzzParseAge feeds ParseAge the olderThan parameter. Whatever it gets it
// must not panic, and:
//
//   - a refusal is one of its two fixed errors, which never repeat s;
//   - an accepted age is not negative; a day count ("3d") is whole days,
//     at most 3650 of them, and reads back from its own day count; any
//     other is exactly time.ParseDuration's reading; either reads back
//     from its Go duration text.
func FuzzParseAge(f *testing.F) {
	for _, s := range []string{
		"0", "0s", "90m", "36h", "1h30m", "1.5h", "-1h", "-0s", "3d", "0d", "+3d", "03d", "-0d", "-1d", "3650d", "3651d",
		"1.5d", "d", "", " 3d", "3d ", "3D", "3h1d", "1d1h", "9223372036854775807ns", "9223372036854775808ns", "2562047h",
		"2562048h", "99999999999999999999d", "1e3d", "0x10d", "1_000d", "１d", "5µs", "5us", ".5h", "5.h",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseAge(s)
		if err != nil {
			if msg := err.Error(); msg != "bad days" && msg != "bad duration" {
				t.Fatalf("ParseAge(%q): %q, not a fixed error", s, msg)
			}
			return
		}
		if d < 0 {
			t.Fatalf("ParseAge(%q) = %s, negative", s, d)
		}
		if strings.HasSuffix(s, "d") {
			const day = 24 * time.Hour
			if d%day != 0 || d > 3650*day {
				t.Fatalf("ParseAge(%q) = %s, not a whole number of days up to 3650", s, d)
			}
			canonical := strconv.FormatInt(int64(d/day), 10) + "d"
			if back, err := ParseAge(canonical); err != nil || back != d {
				t.Fatalf("ParseAge(%q) = %s, but ParseAge(%q) = %s, %v", s, d, canonical, back, err)
			}
		} else if want, err := time.ParseDuration(s); err != nil || want != d {
			t.Fatalf("ParseAge(%q) = %s; time.ParseDuration: %s, %v", s, d, want, err)
		}
		if back, err := ParseAge(d.String()); err != nil || back != d {
			t.Fatalf("ParseAge(%q) = %s, but ParseAge(%q) = %s, %v", s, d, d.String(), back, err)
		}
	})
}
