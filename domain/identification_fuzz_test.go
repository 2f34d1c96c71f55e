package domain

import (
	"strings"
	"testing"
)

// FuzzParseLooseDate feeds parseLooseDate and isoDateTime what a mobile app
// may send as identification.birthDate. Whatever they get, they must not
// panic; a date they accept must be a calendar date that formats as
// YYYY-MM-DD and parses back to itself (the registry is searched by that
// text, so a date that changed on the way would find or register someone
// else); and the two must agree on date-times: parseLooseDate takes one
// exactly when isoDateTime reads it as midnight, as that date.
func FuzzParseLooseDate(f *testing.F) {
	for _, s := range []string{
		"1985-04-12", "19850412", "12.4.1985", "12. 4. 1985", "01.01.2000", "29.02.2024",
		"1985-04-12T00:00:00Z", "1985-04-12T00:00:00.000+02:00", "1985-04-12t00:00z", "1985-04-12T00:00+0200",
		"1985-04-12T00:00:00.000000000-05", "1985-04-11T22:00:00.000Z", "1985-04-12T23:59:60Z",
		"2023-02-30", "29.02.2023", "0000-01-01", "00000101", "99999999", "1.1.0001", "31.12.9999",
		"1985-04-12T", "1985-04-12T24:00", "1985-04-12T00:00:00.", "1985-04-12T00:00-", "1985-04-12T00:00+",
		"1985-04-12TZ", "1985-04-12T0:00", "1985-04-12T00:00:0", "12.4.85", ".4.1985", "12..1985",
		"", " ", "T", "１９８５-04-12", "1985-04-12\x00", "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6T00:00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseLooseDate(v)
		if ok {
			checkDateRoundTrip(t, "parseLooseDate", v, d)
			if strings.TrimSpace(v) == v {
				if got, msg := NormalizeIdentification(KeyBirthDate, v); got != d.String() || msg != "" {
					t.Errorf("NormalizeIdentification(birthDate, %q) = %q, %q; parseLooseDate read %s", v, got, msg, d)
				}
			}
		}
		id, zero, isoOK := isoDateTime(v)
		if !isoOK {
			if ok && len(v) > 10 && (v[10] == 'T' || v[10] == 't') {
				t.Errorf("parseLooseDate(%q) = %s, a date-time isoDateTime refuses", v, d)
			}
			return
		}
		checkDateRoundTrip(t, "isoDateTime", v, id)
		if id.String() != v[:10] {
			t.Errorf("isoDateTime(%q) = %s, want the date part %q", v, id, v[:10])
		}
		if ok != zero || ok && d != id {
			t.Errorf("parseLooseDate(%q) = %s, %v; isoDateTime = %s, midnight %v", v, d, ok, id, zero)
		}
	})
}

// checkDateRoundTrip checks that d, which name accepted from v, is a
// calendar date whose text parses back to it, strictly and loosely.
func checkDateRoundTrip(t *testing.T, name, v string, d Date) {
	t.Helper()
	if _, err := NewDate(d.Year(), d.Month(), d.Day()); err != nil {
		t.Fatalf("%s(%q) = %+v, not a calendar date: %v", name, v, d, err)
	}
	s := d.String()
	if back, err := ParseDate(s); err != nil || back != d {
		t.Errorf("%s(%q) = %s, which ParseDate reads as %+v, %v", name, v, s, back, err)
	}
	if back, ok := parseLooseDate(s); !ok || back != d {
		t.Errorf("%s(%q) = %s, which parseLooseDate reads as %+v, %v", name, v, s, back, ok)
	}
}
