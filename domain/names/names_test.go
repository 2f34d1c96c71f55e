package names_test

import (
	"testing"

	"github.com/bankkit/onboarding-adapter/domain/names"
)

func TestFold(t *testing.T) {
	tests := []struct{ in, want string }{
		{"NOVÁKOVÁ", "novakova"},
		{"Nováková", "novakova"},
		{"Novakova", "novakova"},
		{"  Jana   Marie\tNOVÁKOVÁ ", "jana marie novakova"},
		{"Žofie Šťastná", "zofie stastna"},
		{"Łukasz", "łukasz"}, // ł has no decomposition: kept, one edit from "lukasz"
		{"Müller-Lüdenscheidt", "muller-ludenscheidt"},
		{"Nova\u0301kova\u0301", "novakova"}, // already decomposed input
		{"", ""},
		{"   ", ""},
	}
	for _, tc := range tests {
		if got := names.Fold(tc.in); got != tc.want {
			t.Errorf("Fold(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"", "abc", 3},
		{"novakova", "novakova", 0},
		{"novakova", "novakowa", 1},
		{"jana novakova", "jena nowakova", 2},
		{"jana novakova", "jena nowakowa", 3},
		{"kitten", "sitting", 3},
		{"flaw", "lawn", 2},
		{"łukasz", "lukasz", 1},     // counted in runes, not bytes
		{"novákova", "novakova", 1}, // a multi-byte rune is one substitution
	}
	for _, tc := range tests {
		if got := names.EditDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("EditDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := names.EditDistance(tc.b, tc.a); got != tc.want {
			t.Errorf("EditDistance(%q, %q) = %d, want %d (symmetric)", tc.b, tc.a, got, tc.want)
		}
	}
}

func BenchmarkFold(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		names.Fold("Jana Marie NOVÁKOVÁ")
	}
}

func BenchmarkEditDistance(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		names.EditDistance("jana marie novakova", "jena marie nowakowa")
	}
}
