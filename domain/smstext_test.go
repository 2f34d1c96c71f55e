package domain_test

import (
	"strings"
	"testing"

	"github.com/bankkit/onboarding-adapter/domain"
)

func TestMeasureSMS(t *testing.T) {
	r := strings.Repeat
	tests := []struct {
		name     string
		text     string
		wantEnc  domain.SMSEncoding
		wantSegs int
	}{
		{"empty", "", domain.EncodingGSM7, 1},
		{"short ASCII", "Your code is 123456", domain.EncodingGSM7, 1},
		{"GSM-7 160", r("a", 160), domain.EncodingGSM7, 1},
		{"GSM-7 161", r("a", 161), domain.EncodingGSM7, 2},
		{"GSM-7 306 (two full parts)", r("a", 306), domain.EncodingGSM7, 2},
		{"GSM-7 307", r("a", 307), domain.EncodingGSM7, 3},
		{"GSM-7 459", r("a", 459), domain.EncodingGSM7, 3},
		{"GSM-7 basic specials", "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ!\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà\r\n", domain.EncodingGSM7, 1},
		// Extension characters take an escape septet each.
		{"euro 80 fills one", r("€", 80), domain.EncodingGSM7, 1},
		{"euro 81 overflows", r("€", 81), domain.EncodingGSM7, 2},
		{"brace 159+1 = 161 septets", r("a", 159) + "{", domain.EncodingGSM7, 2},
		{"brace 158+1 = 160 septets", r("a", 158) + "{", domain.EncodingGSM7, 1},
		{"all extension chars", "^{}\\[~]|€", domain.EncodingGSM7, 1},
		// An escape sequence is never split between parts: 152 + € does not
		// fit 153, so € opens part two and the last septet needs a third.
		{"escape not split at part boundary", r("a", 152) + "€" + r("a", 152), domain.EncodingGSM7, 3},
		{"escape fits at part end", r("a", 151) + "€" + r("a", 153), domain.EncodingGSM7, 2},
		// Czech diacritics outside GSM-7 switch the whole message to UCS-2.
		{"UCS-2 one ř", "ř", domain.EncodingUCS2, 1},
		{"UCS-2 70", r("ř", 70), domain.EncodingUCS2, 1},
		{"UCS-2 71", r("ř", 71), domain.EncodingUCS2, 2},
		{"UCS-2 134", r("ř", 134), domain.EncodingUCS2, 2},
		{"UCS-2 135", r("ř", 135), domain.EncodingUCS2, 3},
		{"one ř turns 160 GSM chars into 3 UCS-2 parts", r("a", 159) + "ř", domain.EncodingUCS2, 3},
		{"ASCII plus ř at 70", r("a", 69) + "ř", domain.EncodingUCS2, 1},
		{"Czech OTP text", "Váš aktivační kód je 123456. Nikomu jej nesdělujte.", domain.EncodingUCS2, 1},
		{"Váš aktivační kód", "Váš aktivační kód", domain.EncodingUCS2, 1},
		{"á alone is UCS-2", "á", domain.EncodingUCS2, 1},
		// é and ü are GSM-7, Ç is the basic set's capital cedilla.
		{"é ü stay GSM-7", "Café über", domain.EncodingGSM7, 1},
		// An emoji is a surrogate pair: two UTF-16 units.
		{"emoji 35 fill one", r("😀", 35), domain.EncodingUCS2, 1},
		{"emoji 36 overflow", r("😀", 36), domain.EncodingUCS2, 2},
		{"emoji plus 69", "😀" + r("a", 69), domain.EncodingUCS2, 2},
		{"emoji plus 68", "😀" + r("a", 68), domain.EncodingUCS2, 1},
		// A surrogate pair is not split either: 66 + pair does not fit 67.
		{"surrogate pair not split", r("ř", 66) + "😀" + r("ř", 66), domain.EncodingUCS2, 3},
		{"surrogate pair fits at part end", r("ř", 65) + "😀" + r("ř", 67), domain.EncodingUCS2, 2},
		{"invalid UTF-8 is not GSM-7", "code \xff", domain.EncodingUCS2, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc, segs := domain.MeasureSMS(tc.text)
			if enc != tc.wantEnc || segs != tc.wantSegs {
				t.Errorf("MeasureSMS = %s, %d; want %s, %d", enc, segs, tc.wantEnc, tc.wantSegs)
			}
		})
	}
}
