// Package names holds how personal names are compared: folded to one form
// and measured by edit distance. The evaluation rules decide with it and the
// reviewer pages mark differing names with it, so both always agree.
package names

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Fold reduces a name to the form names are compared in: lower case,
// decomposed (NFD) with the combining marks stripped, and runs of white
// space collapsed to one space. Documents read by OCR or MRZ often lose
// diacritics and case ("NOVAKOVA" for "Nováková"), and the registry may
// keep them, so an exact comparison would reject honest applicants. Letters
// that do not decompose (ø, ł, đ, ß) are kept as they are: they differ by
// one edit at most from a transliteration and so reach review, not NOK.
func Fold(s string) string {
	if f, ok := foldLatin(s); ok {
		return f
	}
	return foldNFD(s)
}

// foldNFD is Fold by its definition: the whole string decomposed by
// golang.org/x/text, then folded rune by rune.
func foldNFD(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// Fold's fast path covers names written in ASCII and the Latin-1 and
// Latin Extended-A letters (U+00C0–U+017F: Czech, Slovak, Polish, German,
// Hungarian, the Nordic and Baltic languages, French…), which is nearly
// every name the Onboarding Server sends. For them the NFD of the string is
// the NFD of each rune in turn (a base letter then marks, which Fold drops,
// so their canonical order does not matter), and each rune's folded form is
// one rune, looked up instead of decomposed: the fold was a tenth of the
// CPU of an evaluation. Anything else takes foldNFD; TestFoldFastPath
// checks that both agree on every rune of the range.
const (
	latinFirst = 0xC0
	latinEnd   = 0x180
)

// latinFolds holds, for each rune of [latinFirst, latinEnd), its folded
// form, or -1 when that is not exactly one rune (then foldNFD folds the
// string). Built once from foldNFD itself; never written after.
var latinFolds = newLatinFolds()

func newLatinFolds() *[latinEnd - latinFirst]rune {
	var t [latinEnd - latinFirst]rune
	for r := rune(latinFirst); r < latinEnd; r++ {
		t[r-latinFirst] = -1
		if f := []rune(foldNFD(string(r))); len(f) == 1 && !unicode.IsSpace(r) {
			t[r-latinFirst] = f[0]
		}
	}
	return &t
}

// foldLatin folds s when every rune is ASCII or in the table; ok is false
// otherwise, and for a string with no such rune at all nothing is
// allocated before it says so.
func foldLatin(s string) (string, bool) {
	for _, r := range s {
		if r >= 0x80 && (r < latinFirst || r >= latinEnd || latinFolds[r-latinFirst] < 0) {
			return "", false
		}
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if r < 0x80 {
			switch {
			case r == ' ' || r == '\t' || r == '\n' || r == '\v' || r == '\f' || r == '\r':
				space = b.Len() > 0
				continue
			case 'A' <= r && r <= 'Z':
				r += 'a' - 'A'
			}
		} else {
			r = latinFolds[r-latinFirst]
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String(), true
}

// EditDistance is the Levenshtein distance between a and b counted in
// runes (insertions, deletions and substitutions each cost one). It decides
// whether two folded names differ by a typo, for review, or are different
// names, for rejection.
func EditDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) < len(rb) {
		ra, rb = rb, ra
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
