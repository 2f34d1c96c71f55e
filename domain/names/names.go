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
