package domain

import "unicode/utf8"

// SMSEncoding is the alphabet a message is sent in; it decides how many
// characters fit into one segment and so what a message costs.
type SMSEncoding string

// The two encodings of GSM 03.38.
const (
	EncodingGSM7 SMSEncoding = "GSM-7"
	EncodingUCS2 SMSEncoding = "UCS-2"
)

// gsm7Basic is the GSM 03.38 basic character set; gsm7Ext needs an escape
// and so counts as two septets.
const gsm7Basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
const gsm7Ext = "^{}\\[~]|€\f"

var gsmBasicSet, gsmExtSet = runeSet(gsm7Basic), runeSet(gsm7Ext)

func runeSet(s string) map[rune]struct{} {
	m := make(map[rune]struct{}, len(s))
	for _, r := range s {
		m[r] = struct{}{}
	}
	return m
}

// MeasureSMS returns the encoding a gateway will use for text and the number
// of segments it takes: GSM-7 holds 160 septets in one segment and 153 per
// part when concatenated; UCS-2 holds 70 UTF-16 units, 67 per part. A
// character is never split between parts (an escaped GSM-7 character or a
// UTF-16 surrogate pair moves whole into the next part, as handsets and
// gateways do), so a long text may need one part more than its length alone
// suggests.
func MeasureSMS(text string) (SMSEncoding, int) {
	for _, r := range text {
		if gsmSeptets(r) == 0 {
			return EncodingUCS2, segments(text, 70, 67, utf16Units)
		}
	}
	return EncodingGSM7, segments(text, 160, 153, gsmSeptets)
}

// gsmASCII is gsmSeptets of the ASCII runes, most of any template's text:
// an array index instead of up to two map lookups per character (about 2%
// of an in-memory OTP send's CPU).
var gsmASCII = asciiSeptets()

func asciiSeptets() (t [utf8.RuneSelf]uint8) {
	for r := range rune(utf8.RuneSelf) {
		t[r] = uint8(gsmSeptetsOf(r))
	}
	return t
}

// gsmSeptets is the GSM-7 size of r, 0 when GSM-7 cannot encode it.
func gsmSeptets(r rune) int {
	if r >= 0 && r < utf8.RuneSelf {
		return int(gsmASCII[r])
	}
	return gsmSeptetsOf(r)
}

// gsmSeptetsOf is gsmSeptets from the character sets themselves.
func gsmSeptetsOf(r rune) int {
	if _, ok := gsmBasicSet[r]; ok {
		return 1
	}
	if _, ok := gsmExtSet[r]; ok {
		return 2
	}
	return 0
}

// utf16Units is the UCS-2 (UTF-16) size of r.
func utf16Units(r rune) int {
	if r > 0xFFFF {
		return 2
	}
	return 1
}

// segments packs text into parts of multi units, none split, unless the whole
// fits into one single-part message.
func segments(text string, single, multi int, size func(rune) int) int {
	total := 0
	for _, r := range text {
		total += size(r)
	}
	if total <= single {
		return 1
	}
	parts, used := 1, 0
	for _, r := range text {
		n := size(r)
		if used+n > multi {
			parts, used = parts+1, 0
		}
		used += n
	}
	return parts
}
