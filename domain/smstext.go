package domain

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
// part when concatenated; UCS-2 holds 70 UTF-16 units, 67 per part.
func MeasureSMS(text string) (SMSEncoding, int) {
	septets, units, gsm := 0, 0, true
	for _, r := range text {
		if r > 0xFFFF {
			units += 2
		} else {
			units++
		}
		if !gsm {
			continue
		}
		if _, ok := gsmBasicSet[r]; ok {
			septets++
		} else if _, ok := gsmExtSet[r]; ok {
			septets += 2
		} else {
			gsm = false
		}
	}
	if gsm {
		return EncodingGSM7, segments(septets, 160, 153)
	}
	return EncodingUCS2, segments(units, 70, 67)
}

func segments(n, single, multi int) int {
	if n <= single {
		return 1
	}
	return (n + multi - 1) / multi
}
