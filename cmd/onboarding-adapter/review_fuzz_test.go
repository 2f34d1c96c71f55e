package main

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParseAge feeds parseAge what an operator may type after `review list
// --older-than`. Whatever it gets it must not panic, and:
//
//   - an accepted age is not negative (the list would otherwise ask for
//     cases created in the future); a day count is exactly the number of
//     whole days the text says, which must be its canonical decimal form;
//     any other is exactly time.ParseDuration's reading; either reads back
//     from its Go duration text;
//   - a refusal quotes the text, so the operator sees what was refused,
//     and holds no control or bidirectional formatting character (the
//     error goes to the terminal, as forTerminal's output does).
func FuzzParseAge(f *testing.F) {
	for _, s := range []string{
		"0", "0s", "90m", "36h", "1h30m", "1.5h", "-1h", "-0s", "3d", "0d", "+3d", "03d", "-0d", "-1d", "3650d", "3651d",
		"1.5d", "d", "", " 3d", "3d ", "3D", "3h1d", "1d1h", "9223372036854775807ns", "9223372036854775808ns", "2562047h",
		"2562048h", "1e3d", "0x10d", "1_000d", "１d", "5µs", ".5h", "3\x1b[2Jd", "3\u202ed", "\xffd",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseAge(s)
		if err != nil {
			msg := err.Error()
			if !strings.Contains(msg, strconv.Quote(s)) {
				t.Fatalf("parseAge(%q): %q does not quote the text", s, msg)
			}
			if i := strings.IndexFunc(msg, unsafeForTerminal); i >= 0 {
				t.Fatalf("parseAge(%q): %q holds a control character at %d", s, msg, i)
			}
			return
		}
		if d < 0 {
			t.Fatalf("parseAge(%q) = %s, negative", s, d)
		}
		if days, ok := strings.CutSuffix(s, "d"); ok {
			const day = 24 * time.Hour
			if d%day != 0 || strconv.FormatInt(int64(d/day), 10) != days {
				t.Fatalf("parseAge(%q) = %s, not %s whole days", s, d, days)
			}
		} else if want, err := time.ParseDuration(s); err != nil || want != d {
			t.Fatalf("parseAge(%q) = %s; time.ParseDuration: %s, %v", s, d, want, err)
		}
		if back, err := parseAge(d.String()); err != nil || back != d {
			t.Fatalf("parseAge(%q) = %s, but parseAge(%q) = %s, %v", s, d, d.String(), back, err)
		}
	})
}
