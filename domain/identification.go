package domain

import (
	"log/slog"
	"sort"
	"strings"
	"time"
	"unicode"
)

// IdentificationKey names one credential the mobile app may send in the
// free-form identification map of /user/lookup.
type IdentificationKey string

// The identification keys the registry can search by. Policies may only build
// schemes from these, so a typo in configuration fails at start.
const (
	KeyClientNumber   IdentificationKey = "clientNumber"
	KeyBirthDate      IdentificationKey = "birthDate"
	KeyPersonalNumber IdentificationKey = "personalNumber"
	KeyPhoneNumber    IdentificationKey = "phoneNumber"
)

// KnownIdentificationKeys lists every key in a stable order.
func KnownIdentificationKeys() []IdentificationKey {
	return []IdentificationKey{KeyClientNumber, KeyBirthDate, KeyPersonalNumber, KeyPhoneNumber}
}

// Known reports whether the registry can search by k.
func (k IdentificationKey) Known() bool {
	for _, x := range KnownIdentificationKeys() {
		if x == k {
			return true
		}
	}
	return false
}

// Identification is the normalised subset of the caller's identification map
// that one scheme selected. Values holds exactly the scheme's keys.
type Identification struct {
	Scheme []IdentificationKey
	Values map[IdentificationKey]string
}

// Value returns the normalised value of k, or "".
func (i Identification) Value(k IdentificationKey) string { return i.Values[k] }

// Fingerprint is a canonical text of the scheme and its values, used as the
// unique key of a registered prospect so the same identification always maps
// to the same user. It contains personal data: store it, never log it.
func (i Identification) Fingerprint() string {
	keys := make([]string, 0, len(i.Values))
	for k := range i.Values {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	var b strings.Builder
	for n, k := range keys {
		if n > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(fingerprintEscaper.Replace(i.Values[IdentificationKey(k)]))
	}
	return b.String()
}

// fingerprintEscaper percent-encodes the separators of Fingerprint. A client
// number is free text, so without it {clientNumber: "C&phoneNumber=+420…"}
// and {clientNumber: "C", phoneNumber: "+420…"} would share one fingerprint,
// and so one registered prospect. Values without these characters keep
// their plain text.
var fingerprintEscaper = strings.NewReplacer("%", "%25", "&", "%26", "=", "%3D")

// LogValue keeps identification values out of logs: only the scheme is shown.
func (i Identification) LogValue() slog.Value {
	keys := make([]string, len(i.Scheme))
	for n, k := range i.Scheme {
		keys[n] = string(k)
	}
	return slog.StringValue("scheme=" + strings.Join(keys, "+"))
}

// NormalizeIdentification normalises one raw identification value for key k.
// It returns the error text to show (naming no value) when the value is unusable.
func NormalizeIdentification(k IdentificationKey, raw string) (string, string) {
	v := strings.TrimSpace(raw)
	if v == "" {
		return "", "must not be empty"
	}
	switch k {
	case KeyBirthDate:
		d, ok := parseLooseDate(v)
		if !ok {
			if _, zero, ok := isoDateTime(v); ok && !zero {
				return "", "must be a date in the format YYYY-MM-DD (a date-time only at midnight: another time makes its day ambiguous)"
			}
			return "", "must be a date in the format YYYY-MM-DD"
		}
		return d.spelledAs(v), ""
	case KeyPersonalNumber:
		n := NormalizePersonalNumber(v)
		if n == "" {
			return "", "must contain letters or digits"
		}
		return n, ""
	case KeyPhoneNumber:
		p, ok := NormalizePhone(v)
		if !ok {
			return "", "must be a phone number in international format"
		}
		return p, ""
	case KeyClientNumber:
		if len(v) > 64 {
			return "", "must be at most 64 characters"
		}
		return v, ""
	}
	return v, ""
}

// parseLooseDate accepts the date spellings mobile apps send: ISO
// (YYYY-MM-DD), compact (YYYYMMDD), Czech and German (D.M.YYYY, with or
// without spaces) and an ISO date-time at midnight, whose date part is
// taken (see isoDateTime).
func parseLooseDate(v string) (Date, bool) {
	if d, err := ParseDate(v); err == nil {
		return d, true
	}
	if len(v) > 10 && (v[10] == 'T' || v[10] == 't') {
		d, zero, ok := isoDateTime(v)
		return d, ok && zero
	}
	if len(v) == 8 {
		if y, ok := atoi(v[0:4]); ok {
			m, ok2 := atoi(v[4:6])
			dd, ok3 := atoi(v[6:8])
			if ok2 && ok3 {
				d, err := NewDate(y, time.Month(m), dd)
				return d, err == nil
			}
		}
	}
	parts := strings.Split(strings.ReplaceAll(v, " ", ""), ".")
	if len(parts) == 3 && len(parts[2]) == 4 && len(parts[0]) <= 2 && len(parts[1]) <= 2 {
		dd, ok1 := atoi(parts[0])
		m, ok2 := atoi(parts[1])
		y, ok3 := atoi(parts[2])
		if ok1 && ok2 && ok3 && parts[0] != "" && parts[1] != "" {
			d, err := NewDate(y, time.Month(m), dd)
			return d, err == nil
		}
	}
	return Date{}, false
}

// isoDateTime parses v as an ISO date-time: a valid YYYY-MM-DD, T (or t),
// hh:mm, hh:mm:ss or hh:mm:ss.f…, and an optional offset (Z, z, ±hh,
// ±hhmm or ±hh:mm). ok reports whether it is one; zero whether its time is
// midnight.
//
// A birth date serialised as a date-time is a date at midnight in some
// zone (a Java LocalDate at UTC, a local date with its offset), and its
// date part is the date. Any other time means the date was shifted on the
// way: JavaScript's toISOString of local midnight on 12 April in Prague is
// "…-04-11T22:00:00.000Z", whose date part is the day before. Which day was
// meant cannot be known, so such a value is refused, naming the field,
// rather than looked up or registered as the wrong day.
func isoDateTime(v string) (d Date, zero, ok bool) {
	if len(v) <= 10 || v[10] != 'T' && v[10] != 't' {
		return Date{}, false, false
	}
	d, err := ParseDate(v[:10])
	if err != nil {
		return Date{}, false, false
	}
	t := v[11:]
	if i := strings.IndexAny(t, "Zz+-"); i >= 0 {
		if !validOffset(t[i:]) {
			return Date{}, false, false
		}
		t = t[:i]
	}
	if len(t) < 5 || t[2] != ':' {
		return Date{}, false, false
	}
	h, okH := atoi(t[:2])
	m, okM := atoi(t[3:5])
	sec, frac := "00", ""
	switch rest := t[5:]; {
	case rest == "":
	case len(rest) >= 3 && rest[0] == ':':
		sec = rest[1:3]
		if rest = rest[3:]; rest != "" {
			if len(rest) < 2 || rest[0] != '.' {
				return Date{}, false, false
			}
			frac = rest[1:]
		}
	default:
		return Date{}, false, false
	}
	sc, okS := atoi(sec)
	_, okF := atoi(frac)
	if !okH || !okM || !okS || !okF || h > 23 || m > 59 || sc > 60 {
		return Date{}, false, false
	}
	return d, h == 0 && m == 0 && sc == 0 && strings.Trim(frac, "0") == "", true
}

// validOffset reports whether off is a UTC offset of an ISO date-time: Z,
// z, ±hh, ±hhmm or ±hh:mm.
func validOffset(off string) bool {
	if off == "Z" || off == "z" {
		return true
	}
	if off[0] != '+' && off[0] != '-' {
		return false
	}
	var hh, mm string
	switch o := off[1:]; {
	case len(o) == 2:
		hh, mm = o, "00"
	case len(o) == 4:
		hh, mm = o[:2], o[2:]
	case len(o) == 5 && o[2] == ':':
		hh, mm = o[:2], o[3:]
	default:
		return false
	}
	h, ok1 := atoi(hh)
	m, ok2 := atoi(mm)
	return ok1 && ok2 && h <= 23 && m <= 59
}

// NormalizePersonalNumber strips separators (spaces, slashes, dashes, dots)
// and upper-cases letters, so "855412/1234" and "8554121234" compare equal.
func NormalizePersonalNumber(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case unicode.IsLetter(r):
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	return b.String()
}

// NormalizePhone turns a phone number into E.164 (+ and 8 to 15 digits): it
// drops spaces (any Unicode space, as phone apps insert no-break spaces),
// dashes, dots, brackets and a bracketed trunk prefix "(0)", and turns a
// leading 00 into +. A
// number without an international prefix is refused, since guessing the
// country would send a code to a stranger.
func NormalizePhone(s string) (string, bool) {
	var b strings.Builder
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "00") {
		s = "+" + s[2:]
	}
	if !strings.HasPrefix(s, "+") {
		return "", false
	}
	rest := s[1:]
	// "+44 (0)20 7946 0958": the bracketed 0 is the national trunk prefix,
	// dialled only inside the country. Keeping it would silently address a
	// different number.
	if i := strings.Index(rest, "(0)"); i > 0 {
		rest = rest[:i] + rest[i+3:]
	}
	b.WriteByte('+')
	for _, r := range rest {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case unicode.IsSpace(r) || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", false
		}
	}
	out := b.String()
	if n := len(out) - 1; n < 8 || n > 15 || out[1] == '0' {
		return "", false
	}
	return out, true
}

// MaskPhone shows at most the plus and three leading digits (the country
// calling code, or part of a longer one; a shorter one's first national
// digits too: +44 7…) and the last two digits (+420****56):
// enough for support to tell a number's country and its ending, while at
// least six digits stay hidden, so a log line with the number's ending and
// its time still leaves millions of candidates. The stars do not count
// the hidden digits; a short number shows fewer leading digits, or none.
func MaskPhone(p string) string {
	const hidden, tail = 6, 2
	head := min(4, len(p)-hidden-tail)
	if head < 1 {
		return "****"
	}
	return p[:head] + "****" + p[len(p)-tail:]
}
