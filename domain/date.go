package domain

import (
	"errors"
	"fmt"
	"time"
)

// Date is a civil date without time zone, as printed in identity documents and
// the client registry. It avoids the off-by-one-day bugs of time.Time at
// midnight in some zone.
type Date struct {
	y int
	m time.Month
	d int
}

// The date errors name no value: a date is often a birth date, and these
// errors reach logs (a stored date that no longer parses is an internal
// error, logged with its cause).
var (
	errNotISODate      = errors.New("not in the format YYYY-MM-DD")
	errNotCalendarDate = errors.New("not a calendar date")
)

// NewDate returns the date, or an error when it does not exist (2023-02-30).
func NewDate(year int, month time.Month, day int) (Date, error) {
	t := time.Date(year, month, day, 0, 0, 0, 0, time.UTC)
	if t.Year() != year || t.Month() != month || t.Day() != day || year < 1 || year > 9999 {
		return Date{}, errNotCalendarDate
	}
	return Date{y: year, m: month, d: day}, nil
}

// MustDate is NewDate for literals in tests and seed data; it panics on a bad date.
func MustDate(s string) Date {
	d, err := ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

// ParseDate reads the ISO 8601 calendar date YYYY-MM-DD strictly: the wire
// contract fixes that format, and a lenient parser would turn 2023-02-30 into
// March.
func ParseDate(s string) (Date, error) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return Date{}, errNotISODate
	}
	y, ok1 := atoi(s[0:4])
	m, ok2 := atoi(s[5:7])
	d, ok3 := atoi(s[8:10])
	if !ok1 || !ok2 || !ok3 {
		return Date{}, errNotISODate
	}
	return NewDate(y, time.Month(m), d)
}

// DateOf returns the civil date of t in t's location.
func DateOf(t time.Time) Date {
	return Date{y: t.Year(), m: t.Month(), d: t.Day()}
}

func atoi(s string) (int, bool) {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// IsZero reports whether the date is unset.
func (d Date) IsZero() bool { return d.y == 0 }

// Year returns the year.
func (d Date) Year() int { return d.y }

// Month returns the month.
func (d Date) Month() time.Month { return d.m }

// Day returns the day of the month.
func (d Date) Day() int { return d.d }

// String renders YYYY-MM-DD, or "" for the zero date.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	b, ok := d.digits()
	if !ok {
		// Only DateOf of a far-off time.Time gets here.
		return fmt.Sprintf("%04d-%02d-%02d", d.y, int(d.m), d.d)
	}
	return string(b[:])
}

// digits is the date as YYYY-MM-DD, false for a year out of 1–9999 (or an
// impossible month or day). Every lookup by birth date formats one:
// without fmt it costs a tenth as much.
func (d Date) digits() ([10]byte, bool) {
	if d.y < 1 || d.y > 9999 || d.m < 1 || d.m > 12 || d.d < 1 || d.d > 31 {
		return [10]byte{}, false
	}
	return [10]byte{
		byte('0' + d.y/1000), byte('0' + d.y/100%10), byte('0' + d.y/10%10), byte('0' + d.y%10), '-',
		byte('0' + int(d.m)/10), byte('0' + int(d.m)%10), '-',
		byte('0' + d.d/10), byte('0' + d.d%10),
	}, true
}

// spelledAs is d.String(), or s itself when s already spells it that way:
// a birth date sent as YYYY-MM-DD, the usual, costs no new string.
func (d Date) spelledAs(s string) string {
	b, ok := d.digits()
	switch {
	case !ok:
		return d.String()
	case string(b[:]) == s:
		return s
	}
	return string(b[:])
}

// Time returns midnight UTC of the date, for storage in date columns.
func (d Date) Time() time.Time { return time.Date(d.y, d.m, d.d, 0, 0, 0, 0, time.UTC) }

// Compare returns -1, 0 or +1 as d is before, equal to or after o.
func (d Date) Compare(o Date) int {
	switch {
	case d.y != o.y:
		return sign(d.y - o.y)
	case d.m != o.m:
		return sign(int(d.m) - int(o.m))
	default:
		return sign(d.d - o.d)
	}
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// Before reports whether d is strictly before o.
func (d Date) Before(o Date) bool { return d.Compare(o) < 0 }

// After reports whether d is strictly after o.
func (d Date) After(o Date) bool { return d.Compare(o) > 0 }

// AgeOn returns the completed years between d (a birth date) and on. A person
// born on 29 February comes of age on 1 March in non-leap years.
func (d Date) AgeOn(on Date) int {
	age := on.y - d.y
	if on.m < d.m || (on.m == d.m && on.d < d.d) {
		age--
	}
	return age
}
