package domain

import "testing"

// TestGSMSeptetsTable: the ASCII table answers what the character sets do,
// for every rune.
func TestGSMSeptetsTable(t *testing.T) {
	for r := rune(-1); r <= 0x10FFFF; r++ {
		if got, want := gsmSeptets(r), gsmSeptetsOf(r); got != want {
			t.Fatalf("gsmSeptets(%U) = %d, want %d", r, got, want)
		}
	}
	if gsmSeptets('\f') != 2 || gsmSeptets('A') != 1 || gsmSeptets('`') != 0 {
		t.Errorf("form feed %d, A %d, backtick %d", gsmSeptets('\f'), gsmSeptets('A'), gsmSeptets('`'))
	}
}
