package domain_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
)

func TestParseDate(t *testing.T) {
	tests := []struct {
		in      string
		want    string // "" when an error is expected
		y, m, d int
	}{
		{in: "1985-04-12", want: "1985-04-12", y: 1985, m: 4, d: 12},
		{in: "2024-02-29", want: "2024-02-29", y: 2024, m: 2, d: 29}, // leap year
		{in: "2000-02-29", want: "2000-02-29", y: 2000, m: 2, d: 29}, // divisible by 400
		{in: "0001-01-01", want: "0001-01-01", y: 1, m: 1, d: 1},
		{in: "9999-12-31", want: "9999-12-31", y: 9999, m: 12, d: 31},
		{in: "2023-02-30"},
		{in: "2023-02-29"}, // not a leap year
		{in: "1900-02-29"}, // divisible by 100, not by 400
		{in: "2023-04-31"},
		{in: "2023-13-01"},
		{in: "2023-00-10"},
		{in: "2023-01-00"},
		{in: "0000-01-01"},
		{in: "1985-4-12"},
		{in: "12.04.1985"},
		{in: "19850412"},
		{in: "1985/04/12"},
		{in: "1985-04-12T00:00:00Z"},
		{in: " 1985-04-12"},
		{in: "1985-04-1 "},
		{in: "+985-04-12"},
		{in: "1985-0a-12"},
		{in: "1985-04-１２"}, // full-width digits
		{in: ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := domain.ParseDate(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("ParseDate(%q) = %v, want an error", tc.in, got)
				}
				if !got.IsZero() {
					t.Errorf("ParseDate(%q) returned non-zero date %v with its error", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDate(%q): %v", tc.in, err)
			}
			if got.String() != tc.want {
				t.Errorf("String() = %q, want %q", got.String(), tc.want)
			}
			if got.Year() != tc.y || got.Month() != time.Month(tc.m) || got.Day() != tc.d {
				t.Errorf("fields = %d-%d-%d, want %d-%d-%d", got.Year(), got.Month(), got.Day(), tc.y, tc.m, tc.d)
			}
		})
	}
}

func TestParseDateErrorNamesFormatNotValue(t *testing.T) {
	for _, in := range []string{"12.04.1985", "1985-04-1x", "1985-02-30"} {
		_, err := domain.ParseDate(in)
		if err == nil {
			t.Fatalf("ParseDate(%q): no error", in)
		}
		if strings.Contains(err.Error(), in) || strings.Contains(err.Error(), "1985") {
			t.Errorf("ParseDate(%q) error %q echoes the value", in, err)
		}
	}
	if _, err := domain.ParseDate("12.04.1985"); !strings.Contains(err.Error(), "YYYY-MM-DD") {
		t.Errorf("error %v should name the expected format", err)
	}
}

func TestNewDate(t *testing.T) {
	tests := []struct {
		name    string
		y       int
		m       time.Month
		d       int
		wantErr bool
	}{
		{"ordinary", 1985, time.April, 12, false},
		{"leap day", 2024, time.February, 29, false},
		{"no leap day", 2023, time.February, 29, true},
		{"february 30", 2023, time.February, 30, true},
		{"month 13", 2023, 13, 1, true},
		{"month 0", 2023, 0, 1, true},
		{"day 0", 2023, time.March, 0, true},
		{"year 0", 0, time.January, 1, true},
		{"year 10000", 10000, time.January, 1, true},
		{"negative year", -5, time.January, 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := domain.NewDate(tc.y, tc.m, tc.d)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("NewDate(%d, %d, %d) = %v, want an error", tc.y, tc.m, tc.d, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewDate: %v", err)
			}
			if got.Year() != tc.y || got.Month() != tc.m || got.Day() != tc.d {
				t.Errorf("got %v", got)
			}
			if want := time.Date(tc.y, tc.m, tc.d, 0, 0, 0, 0, time.UTC); !got.Time().Equal(want) {
				t.Errorf("Time() = %v, want %v", got.Time(), want)
			}
		})
	}
}

func TestMustDate(t *testing.T) {
	if got := domain.MustDate("1985-04-12").String(); got != "1985-04-12" {
		t.Errorf("MustDate = %q", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("MustDate(2023-02-30) did not panic")
		}
	}()
	domain.MustDate("2023-02-30")
}

func TestDateCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1985-04-12", "1985-04-12", 0},
		{"1985-04-12", "1985-04-13", -1},
		{"1985-04-13", "1985-04-12", 1},
		{"1985-03-31", "1985-04-01", -1},
		{"1985-12-01", "1985-11-30", 1},
		{"1984-12-31", "1985-01-01", -1},
		{"1986-01-01", "1985-12-31", 1},
		{"0001-01-01", "9999-12-31", -1},
	}
	for _, tc := range tests {
		t.Run(tc.a+"_"+tc.b, func(t *testing.T) {
			a, b := domain.MustDate(tc.a), domain.MustDate(tc.b)
			if got := a.Compare(b); got != tc.want {
				t.Errorf("Compare = %d, want %d", got, tc.want)
			}
			if got := b.Compare(a); got != -tc.want {
				t.Errorf("reverse Compare = %d, want %d", got, -tc.want)
			}
			if got := a.Before(b); got != (tc.want < 0) {
				t.Errorf("Before = %v", got)
			}
			if got := a.After(b); got != (tc.want > 0) {
				t.Errorf("After = %v", got)
			}
		})
	}
}

func TestAgeOn(t *testing.T) {
	tests := []struct {
		name      string
		birth, on string
		want      int
	}{
		{"birthday today", "2006-06-15", "2024-06-15", 18},
		{"birthday tomorrow", "2006-06-16", "2024-06-15", 17},
		{"birthday yesterday", "2006-06-14", "2024-06-15", 18},
		{"birthday next month", "2006-07-01", "2024-06-30", 17},
		{"birthday last month", "2006-05-31", "2024-06-01", 18},
		{"born today", "2024-06-15", "2024-06-15", 0},
		{"day before first birthday", "2023-06-15", "2024-06-14", 0},
		{"new year's eve", "2006-12-31", "2024-12-31", 18},
		{"born on new year's day, asked on new year's eve", "2007-01-01", "2024-12-31", 17},
		// A 29 February birth comes of age on 1 March in non-leap years.
		{"leap birth, 28 Feb of non-leap year", "2004-02-29", "2022-02-28", 17},
		{"leap birth, 1 Mar of non-leap year", "2004-02-29", "2022-03-01", 18},
		{"leap birth, 28 Feb of leap year", "2004-02-29", "2024-02-28", 19},
		{"leap birth, 29 Feb of leap year", "2004-02-29", "2024-02-29", 20},
		{"leap birth, 1 Mar of leap year", "2004-02-29", "2024-03-01", 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := domain.MustDate(tc.birth).AgeOn(domain.MustDate(tc.on)); got != tc.want {
				t.Errorf("AgeOn(%s, %s) = %d, want %d", tc.birth, tc.on, got, tc.want)
			}
		})
	}
}

func TestDateOf(t *testing.T) {
	prague, err := time.LoadLocation("Europe/Prague")
	if err != nil {
		prague = time.FixedZone("CET", 3600)
	}
	tests := []struct {
		name string
		in   time.Time
		want string
	}{
		{"utc midnight", time.Date(1985, 4, 12, 0, 0, 0, 0, time.UTC), "1985-04-12"},
		{"utc last nanosecond", time.Date(1985, 4, 12, 23, 59, 59, 999999999, time.UTC), "1985-04-12"},
		// 00:30 in Prague is still the previous day in UTC: the date is the
		// one on the wall in t's own location.
		{"local zone kept", time.Date(2024, 3, 1, 0, 30, 0, 0, prague), "2024-03-01"},
		{"same instant in utc", time.Date(2024, 3, 1, 0, 30, 0, 0, prague).UTC(), "2024-02-29"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := domain.DateOf(tc.in).String(); got != tc.want {
				t.Errorf("DateOf(%v) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestZeroDate(t *testing.T) {
	var z domain.Date
	if !z.IsZero() {
		t.Error("zero Date is not IsZero")
	}
	if z.String() != "" {
		t.Errorf("zero Date String() = %q, want empty", z.String())
	}
	if domain.MustDate("0001-01-01").IsZero() {
		t.Error("0001-01-01 reported as zero")
	}
	if !z.Before(domain.MustDate("0001-01-01")) {
		t.Error("zero date should sort before every real date")
	}
}

// String formats every date of the years 1..9999 (and the far-off ones
// DateOf can make) as fmt's "%04d-%02d-%02d" would.
func TestDateStringMatchesFmt(t *testing.T) {
	start := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, day := 0, start; day.Year() <= 9999; i, day = i+1, day.AddDate(0, 0, 1+i%97) {
		d := domain.DateOf(day)
		if want := fmt.Sprintf("%04d-%02d-%02d", day.Year(), int(day.Month()), day.Day()); d.String() != want {
			t.Fatalf("String() = %q, want %q", d.String(), want)
		}
	}
	for _, day := range []time.Time{time.Date(12345, 6, 7, 0, 0, 0, 0, time.UTC), time.Date(-5, 6, 7, 0, 0, 0, 0, time.UTC)} {
		d := domain.DateOf(day)
		if want := fmt.Sprintf("%04d-%02d-%02d", day.Year(), int(day.Month()), day.Day()); d.String() != want {
			t.Errorf("String() = %q, want %q", d.String(), want)
		}
	}
}

func BenchmarkDateString(b *testing.B) {
	d := domain.MustDate("1985-04-12")
	b.ReportAllocs()
	for b.Loop() {
		if d.String() != "1985-04-12" {
			b.Fatal("wrong")
		}
	}
}
