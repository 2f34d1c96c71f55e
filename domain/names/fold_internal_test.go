package names

import (
	"math/rand/v2"
	"testing"
)

// The fast path folds exactly as the definition does: every rune it takes,
// alone and in random strings mixing them with white space, marks and
// runes it leaves to foldNFD.
func TestFoldFastPath(t *testing.T) {
	taken := 0
	for r := rune(0); r < latinEnd; r++ {
		s := "x" + string(r) + "Y " + string(r)
		if got, ok := foldLatin(s); ok {
			taken++
			if want := foldNFD(s); got != want {
				t.Errorf("U+%04X: fast path %q, foldNFD %q", r, got, want)
			}
		}
	}
	// ASCII (128) and nearly all of U+00C0–U+017F (× and ÷ are symbols,
	// but still one rune folded).
	if taken < 128+180 {
		t.Fatalf("the fast path took %d runes, want nearly all of ASCII and U+00C0–U+017F", taken)
	}

	alphabet := []rune("aZ -\t\nÁáČčĎďÉéĚěÍíŇňÓóŘřŠšŤťÚúŮůÝýŽžÄäÖöÜüßŁłØøÆæÐðÞþŒœ\u0301\u00a0\u0130ǅẞ")
	rnd := rand.New(rand.NewPCG(1, 2))
	fast := 0
	for range 20000 {
		n := rnd.IntN(12)
		rs := make([]rune, n)
		for i := range rs {
			rs[i] = alphabet[rnd.IntN(len(alphabet))]
		}
		s := string(rs)
		if _, ok := foldLatin(s); ok {
			fast++
		}
		if got, want := Fold(s), foldNFD(s); got != want {
			t.Fatalf("Fold(%q) = %q, foldNFD %q", s, got, want)
		}
	}
	if fast == 0 {
		t.Fatal("no random string took the fast path")
	}
}
