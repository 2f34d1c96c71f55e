package domain_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/bankkit/onboarding-adapter/domain"
)

func TestNormalizeIdentification(t *testing.T) {
	tests := []struct {
		name    string
		key     domain.IdentificationKey
		raw     string
		want    string
		wantErr string // substring of the error text, "" for success
	}{
		// Every key: empty or blank is refused.
		{"birth date empty", domain.KeyBirthDate, "", "", "must not be empty"},
		{"client number blank", domain.KeyClientNumber, "  \t ", "", "must not be empty"},
		{"personal number empty", domain.KeyPersonalNumber, "", "", "must not be empty"},
		{"phone empty", domain.KeyPhoneNumber, " ", "", "must not be empty"},

		// birthDate accepts the spellings apps send and always answers ISO.
		{"birth ISO", domain.KeyBirthDate, "1985-04-12", "1985-04-12", ""},
		{"birth ISO padded", domain.KeyBirthDate, "  1985-04-12 ", "1985-04-12", ""},
		{"birth compact", domain.KeyBirthDate, "19850412", "1985-04-12", ""},
		{"birth Czech", domain.KeyBirthDate, "12.4.1985", "1985-04-12", ""},
		{"birth Czech zero-padded", domain.KeyBirthDate, "12.04.1985", "1985-04-12", ""},
		{"birth Czech single digits", domain.KeyBirthDate, "1.4.1985", "1985-04-01", ""},
		{"birth Czech with spaces", domain.KeyBirthDate, "12. 4. 1985", "1985-04-12", ""},
		{"birth ISO date-time", domain.KeyBirthDate, "1985-04-12T00:00:00Z", "1985-04-12", ""},
		{"birth ISO date-time with offset", domain.KeyBirthDate, "1985-04-12T00:00:00+02:00", "1985-04-12", ""},
		{"birth ISO date-time with millis", domain.KeyBirthDate, "1985-04-12T00:00:00.000Z", "1985-04-12", ""},
		{"birth ISO date-time negative compact offset", domain.KeyBirthDate, "1985-04-12T00:00:00.000-0500", "1985-04-12", ""},
		{"birth ISO local date-time", domain.KeyBirthDate, "1985-04-12T00:00:00", "1985-04-12", ""},
		{"birth ISO date-time minutes", domain.KeyBirthDate, "1985-04-12T00:00", "1985-04-12", ""},
		// A time other than midnight: the date was shifted on the way
		// (JavaScript's toISOString of local midnight in Prague).
		{"birth UTC instant of local midnight", domain.KeyBirthDate, "1985-04-11T22:00:00.000Z", "", "YYYY-MM-DD"},
		{"birth date-time late with offset", domain.KeyBirthDate, "1985-04-12T23:30:00+02:00", "", "YYYY-MM-DD"},
		{"birth date-time one millisecond", domain.KeyBirthDate, "1985-04-12T00:00:00.001Z", "", "YYYY-MM-DD"},
		{"birth date-time garbage", domain.KeyBirthDate, "1985-04-12Tnoon", "", "YYYY-MM-DD"},
		{"birth date-time bad offset", domain.KeyBirthDate, "1985-04-12T00:00:00+2", "", "YYYY-MM-DD"},
		{"birth date-time empty time", domain.KeyBirthDate, "1985-04-12T", "", "YYYY-MM-DD"},
		{"birth date-time double offset", domain.KeyBirthDate, "1985-04-12T00:00Z+01:00", "", "YYYY-MM-DD"},
		{"birth date-time lower-case t and z", domain.KeyBirthDate, "1985-04-12t00:00:00z", "1985-04-12", ""},
		{"birth date-time hour offset", domain.KeyBirthDate, "1985-04-12T00:00:00+02", "1985-04-12", ""},
		{"birth date-time negative zero offset", domain.KeyBirthDate, "1985-04-12T00:00:00-00:00", "1985-04-12", ""},
		{"birth date-time offset out of range", domain.KeyBirthDate, "1985-04-12T00:00:00+99:99", "", "YYYY-MM-DD"},
		{"birth date-time hour out of range", domain.KeyBirthDate, "1985-04-12T24:00:00Z", "", "YYYY-MM-DD"},
		{"birth date-time leap second", domain.KeyBirthDate, "1985-04-11T23:59:60Z", "", "midnight"},
		{"birth date-time noon says why", domain.KeyBirthDate, "1985-04-12T12:00:00Z", "", "a date-time only at midnight"},
		{"birth date-time seconds without minutes", domain.KeyBirthDate, "1985-04-12T00:00:0Z", "", "YYYY-MM-DD"},
		{"birth date-time empty fraction", domain.KeyBirthDate, "1985-04-12T00:00:00.Z", "", "YYYY-MM-DD"},
		{"birth leap day", domain.KeyBirthDate, "29.2.2024", "2024-02-29", ""},
		{"birth 30 Feb ISO", domain.KeyBirthDate, "2023-02-30", "", "YYYY-MM-DD"},
		{"birth 30 Feb compact", domain.KeyBirthDate, "20230230", "", "YYYY-MM-DD"},
		{"birth 29 Feb non-leap Czech", domain.KeyBirthDate, "29.2.2023", "", "YYYY-MM-DD"},
		{"birth ISO unpadded", domain.KeyBirthDate, "1985-4-12", "", "YYYY-MM-DD"},
		{"birth two-digit year", domain.KeyBirthDate, "12.4.85", "", "YYYY-MM-DD"},
		{"birth trailing dot", domain.KeyBirthDate, "12.4.1985.", "", "YYYY-MM-DD"},
		{"birth missing day", domain.KeyBirthDate, ".4.1985", "", "YYYY-MM-DD"},
		{"birth day month swapped past 12", domain.KeyBirthDate, "4.13.1985", "", "YYYY-MM-DD"},
		{"birth slashes", domain.KeyBirthDate, "12/04/1985", "", "YYYY-MM-DD"},
		{"birth compact DDMMYYYY", domain.KeyBirthDate, "12041985", "", "YYYY-MM-DD"},
		{"birth date-time of bad date", domain.KeyBirthDate, "2023-02-30T00:00:00Z", "", "YYYY-MM-DD"},
		{"birth words", domain.KeyBirthDate, "twelfth of April", "", "YYYY-MM-DD"},
		{"birth date with space time", domain.KeyBirthDate, "1985-04-12 10:00", "", "YYYY-MM-DD"},

		// personalNumber keeps letters and digits only.
		{"personal with slash", domain.KeyPersonalNumber, "855412/1234", "8554121234", ""},
		{"personal plain", domain.KeyPersonalNumber, "8554121234", "8554121234", ""},
		{"personal separators", domain.KeyPersonalNumber, " 85-54.12 1234 ", "8554121234", ""},
		{"personal letters upper-cased", domain.KeyPersonalNumber, "ab123cd", "AB123CD", ""},
		{"personal only separators", domain.KeyPersonalNumber, "/-./", "", "letters or digits"},

		// phoneNumber is E.164.
		{"phone E.164", domain.KeyPhoneNumber, "+420777123456", "+420777123456", ""},
		{"phone formatted", domain.KeyPhoneNumber, "+420 777 123 456", "+420777123456", ""},
		{"phone national", domain.KeyPhoneNumber, "777123456", "", "international format"},

		// clientNumber is kept as given, bounded.
		{"client number", domain.KeyClientNumber, " 12345678 ", "12345678", ""},
		{"client number 64", domain.KeyClientNumber, strings.Repeat("9", 64), strings.Repeat("9", 64), ""},
		{"client number 65", domain.KeyClientNumber, strings.Repeat("9", 65), "", "at most 64"},

		// A key the registry does not know is only trimmed.
		{"unknown key", domain.IdentificationKey("email"), " a@b.cz ", "a@b.cz", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, msg := domain.NormalizeIdentification(tc.key, tc.raw)
			if tc.wantErr != "" {
				if msg == "" || !strings.Contains(msg, tc.wantErr) {
					t.Fatalf("NormalizeIdentification(%s, %q) message = %q, want it to contain %q", tc.key, tc.raw, msg, tc.wantErr)
				}
				if got != "" {
					t.Errorf("value %q returned with an error", got)
				}
				if raw := strings.TrimSpace(tc.raw); raw != "" && strings.Contains(msg, raw) {
					t.Errorf("message %q repeats the value", msg)
				}
				return
			}
			if msg != "" {
				t.Fatalf("NormalizeIdentification(%s, %q): %s", tc.key, tc.raw, msg)
			}
			if got != tc.want {
				t.Errorf("NormalizeIdentification(%s, %q) = %q, want %q", tc.key, tc.raw, got, tc.want)
			}
		})
	}
}

// TestBirthDateTimeMessages checks the midnight wording is given only for a
// well-formed date-time at another time, not for one malformed otherwise.
func TestBirthDateTimeMessages(t *testing.T) {
	const plain = "must be a date in the format YYYY-MM-DD"
	for raw, want := range map[string]string{
		"1985-04-11T22:00:00.000Z":  plain + " (a date-time only at midnight: another time makes its day ambiguous)",
		"2023-02-30T00:00:00Z":      plain,
		"1985-04-12T00:00:00+2":     plain,
		"1985-04-12T00:00:00+99:00": plain,
		"1985-04-12Tnoon":           plain,
	} {
		if _, problem := domain.NormalizeIdentification(domain.KeyBirthDate, raw); problem != want {
			t.Errorf("%s: %q, want %q", raw, problem, want)
		}
	}
}

func TestNormalizePersonalNumber(t *testing.T) {
	tests := []struct{ in, want string }{
		{"855412/1234", "8554121234"},
		{"8554121234", "8554121234"},
		{"855412 / 1234", "8554121234"},
		{"x1234567-ab", "X1234567AB"},
		{"AbC", "ABC"},
		{"ž123", "Ž123"},
		{"", ""},
		{" /-. ", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := domain.NormalizePersonalNumber(tc.in); got != tc.want {
				t.Errorf("NormalizePersonalNumber(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	// The point of normalising: both spellings of one number compare equal.
	if domain.NormalizePersonalNumber("855412/1234") != domain.NormalizePersonalNumber("8554121234") {
		t.Error("spellings of one personal number differ after normalisation")
	}
}

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // "" when refused
	}{
		{"E.164", "+420777123456", "+420777123456"},
		{"spaces", "+420 777 123 456", "+420777123456"},
		{"surrounding space", "  +420777123456\n", "+420777123456"},
		{"no-break spaces", "+420\u00a0777\u00a0123\u00a0456", "+420777123456"},
		{"00 prefix", "00420777123456", "+420777123456"},
		{"00 prefix with spaces", "00 420 777 123 456", "+420777123456"},
		{"dashes and dots", "+420-777.123-456", "+420777123456"},
		{"brackets", "+1 (415) 555-2671", "+14155552671"},
		{"trunk zero in brackets", "+44 (0)20 7946 0958", "+442079460958"},
		{"trunk zero after 00", "0049 (0) 30 1234567", "+49301234567"},
		{"8 digits (shortest)", "+12345678", "+12345678"},
		{"15 digits (longest)", "+123456789012345", "+123456789012345"},
		{"7 digits", "+1234567", ""},
		{"16 digits", "+1234567890123456", ""},
		{"leading 0 after +", "+0420777123456", ""},
		{"000 prefix", "000420777123456", ""},
		{"(0) right after +", "+(0)420777123456", ""},
		{"letters", "+420777ABC456", ""},
		{"vanity letters", "+1 800 FLOWERS", ""},
		{"missing +", "420777123456", ""},
		{"national with 0", "0777123456", ""},
		{"second +", "+420+777123456", ""},
		{"plus only", "+", ""},
		{"slash", "+420/777123456", ""},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := domain.NormalizePhone(tc.in)
			if ok != (tc.want != "") || got != tc.want {
				t.Errorf("NormalizePhone(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.want != "")
			}
		})
	}
}

func TestMaskPhone(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+420777123456", "+420****56"},
		{"+14155552671", "+141****71"},
		{"+123456789", "+1****89"}, // a shorter prefix, still six hidden
		{"+12345678", "+****78"},   // shortest E.164: no digit of the prefix, still six hidden
		{"+1234567", "****"},
		{"+42", "****"},
		{"", "****"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got := domain.MaskPhone(tc.in)
			if got != tc.want {
				t.Errorf("MaskPhone(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestMaskPhoneRevealsLittle checks the property for every length of a valid
// number: the prefix is at most the plus and three digits, the tail two
// digits, and at least six digits stay hidden.
func TestMaskPhoneRevealsLittle(t *testing.T) {
	const digits = "123456789012345"
	for n := 8; n <= 15; n++ {
		p := "+" + digits[:n]
		m := domain.MaskPhone(p)
		head, tail, ok := strings.Cut(m, "****")
		if !ok {
			t.Fatalf("MaskPhone(%q) = %q has no mask", p, m)
		}
		if len(head) > 4 || !strings.HasPrefix(p, head) {
			t.Errorf("MaskPhone(%q) = %q: prefix %q", p, m, head)
		}
		if tail != "" && tail != p[len(p)-2:] {
			t.Errorf("MaskPhone(%q) = %q: tail %q, want last two digits or none", p, m, tail)
		}
		if hidden := len(p) - len(head) - len(tail); hidden < 6 {
			t.Errorf("MaskPhone(%q) = %q hides only %d characters", p, m, hidden)
		}
		if strings.Contains(m, p[len(head):len(p)-2]) {
			t.Errorf("MaskPhone(%q) = %q shows the hidden middle", p, m)
		}
	}
}

func TestKnownIdentificationKeys(t *testing.T) {
	want := []domain.IdentificationKey{domain.KeyClientNumber, domain.KeyBirthDate, domain.KeyPersonalNumber, domain.KeyPhoneNumber}
	got := domain.KnownIdentificationKeys()
	if len(got) != len(want) {
		t.Fatalf("KnownIdentificationKeys() = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("KnownIdentificationKeys()[%d] = %q, want %q (order is part of the contract)", i, got[i], want[i])
		}
	}
	// The returned slice is a copy: changing it must not change the set.
	got[0] = "tampered"
	if !domain.KeyClientNumber.Known() || domain.KnownIdentificationKeys()[0] != domain.KeyClientNumber {
		t.Error("changing the returned slice changed the known keys")
	}

	tests := []struct {
		key  domain.IdentificationKey
		want bool
	}{
		{"clientNumber", true},
		{"birthDate", true},
		{"personalNumber", true},
		{"phoneNumber", true},
		{"ClientNumber", false},
		{"birthdate", false},
		{"email", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := tc.key.Known(); got != tc.want {
			t.Errorf("%q.Known() = %v, want %v", tc.key, got, tc.want)
		}
	}
}

func TestIdentificationFingerprint(t *testing.T) {
	tests := []struct {
		name   string
		values map[domain.IdentificationKey]string
		want   string
	}{
		{"one key", map[domain.IdentificationKey]string{domain.KeyPersonalNumber: "8554121234"}, "personalNumber=8554121234"},
		{"keys sorted", map[domain.IdentificationKey]string{
			domain.KeyClientNumber: "1234567", domain.KeyBirthDate: "1985-04-12",
		}, "birthDate=1985-04-12&clientNumber=1234567"},
		{"all keys", map[domain.IdentificationKey]string{
			domain.KeyPhoneNumber: "+420777123456", domain.KeyPersonalNumber: "8554121234",
			domain.KeyClientNumber: "1234567", domain.KeyBirthDate: "1985-04-12",
		}, "birthDate=1985-04-12&clientNumber=1234567&personalNumber=8554121234&phoneNumber=+420777123456"},
		{"separators escaped", map[domain.IdentificationKey]string{domain.KeyClientNumber: "a&b=c%d"}, "clientNumber=a%26b%3Dc%25d"},
		{"empty", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Build the map many times: Go randomises map iteration, so an
			// order-dependent fingerprint would show up as a mismatch.
			for range 50 {
				m := make(map[domain.IdentificationKey]string, len(tc.values))
				for k, v := range tc.values {
					m[k] = v
				}
				if got := (domain.Identification{Values: m}).Fingerprint(); got != tc.want {
					t.Fatalf("Fingerprint() = %q, want %q", got, tc.want)
				}
			}
		})
	}
}

// TestFingerprintInjective: a free-text client number must not be able to
// spell another identification's fingerprint and so take over its prospect.
func TestFingerprintInjective(t *testing.T) {
	pairs := []struct {
		name string
		a, b map[domain.IdentificationKey]string
	}{
		{"ampersand injects a key",
			map[domain.IdentificationKey]string{domain.KeyClientNumber: "C&phoneNumber=+420777123456"},
			map[domain.IdentificationKey]string{domain.KeyClientNumber: "C", domain.KeyPhoneNumber: "+420777123456"}},
		{"equals sign moves the boundary",
			map[domain.IdentificationKey]string{domain.KeyClientNumber: "C&personalNumber=X"},
			map[domain.IdentificationKey]string{domain.KeyClientNumber: "C", domain.KeyPersonalNumber: "X"}},
		{"percent cannot fake an escape",
			map[domain.IdentificationKey]string{domain.KeyClientNumber: "a%26b"},
			map[domain.IdentificationKey]string{domain.KeyClientNumber: "a&b"}},
	}
	for _, tc := range pairs {
		t.Run(tc.name, func(t *testing.T) {
			fa := domain.Identification{Values: tc.a}.Fingerprint()
			fb := domain.Identification{Values: tc.b}.Fingerprint()
			if fa == fb {
				t.Errorf("different identifications share fingerprint %q", fa)
			}
		})
	}
}

func TestIdentificationValue(t *testing.T) {
	id := domain.Identification{
		Scheme: []domain.IdentificationKey{domain.KeyPersonalNumber},
		Values: map[domain.IdentificationKey]string{domain.KeyPersonalNumber: "8554121234"},
	}
	if got := id.Value(domain.KeyPersonalNumber); got != "8554121234" {
		t.Errorf("Value(personalNumber) = %q", got)
	}
	if got := id.Value(domain.KeyBirthDate); got != "" {
		t.Errorf("Value(birthDate) = %q, want empty", got)
	}
}

func TestIdentificationLogValue(t *testing.T) {
	id := domain.Identification{
		Scheme: []domain.IdentificationKey{domain.KeyClientNumber, domain.KeyBirthDate},
		Values: map[domain.IdentificationKey]string{domain.KeyClientNumber: "77001234", domain.KeyBirthDate: "1985-04-12"},
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("lookup", "identification", id)
	out := buf.String()
	if !strings.Contains(out, `"identification":"scheme=clientNumber+birthDate"`) {
		t.Errorf("log %s does not show the scheme", out)
	}
	for _, secret := range []string{"77001234", "1985-04-12", "1985"} {
		if strings.Contains(out, secret) {
			t.Errorf("log %s contains identification value %q", out, secret)
		}
	}
}

// TestNormalizeBirthDateKeepsCanonicalSpelling: a birth date already
// spelled YYYY-MM-DD comes back as the same string, without a copy (every
// lookup by client number sends one); other spellings still get the ISO
// form (the table above).
func TestNormalizeBirthDateKeepsCanonicalSpelling(t *testing.T) {
	raw := "1985-04-12"
	if got, _ := domain.NormalizeIdentification(domain.KeyBirthDate, "12.4.1985"); got != raw {
		t.Errorf("12.4.1985 = %q, want %q", got, raw)
	}
	if raceEnabled {
		t.Skip("allocations are asserted without -race (make unit runs this package once more without it)")
	}
	if n := testing.AllocsPerRun(100, func() {
		if got, problem := domain.NormalizeIdentification(domain.KeyBirthDate, raw); got != raw || problem != "" {
			t.Fatalf("= %q, %q", got, problem)
		}
	}); n != 0 {
		t.Errorf("a canonical birth date cost %v allocations, want 0", n)
	}
}
