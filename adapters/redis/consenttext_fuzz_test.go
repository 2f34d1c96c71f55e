package redis

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
)

// fuzzConsentText is a text as the store has it: its SHA-256 is that of
// its HTML, its version at least 1.
func fuzzConsentText() domain.ConsentText {
	html := "<h1>Souhlas</h1>\n<p>Zpracování údajů…</p>"
	sum := sha256.Sum256([]byte(html))
	return domain.ConsentText{Type: "GDPR", Language: "cs", Version: 3, HTML: html, SHA256: hex.EncodeToString(sum[:]),
		PublishedAt: time.Date(2025, 3, 1, 10, 0, 0, 123456000, time.UTC)}
}

// FuzzDecodeReply feeds decodeReply what readScript may find in Redis
// under the keys of a (type, language): a pointer and, maybe, a text
// value, either of which another writer or a corruption may have put
// there. Whatever they are, it must not panic, and an entry it does not
// read as a text must be a miss, never a wrong text:
//
//   - a miss (any verdict but entryServed) carries no text, but for a
//     tampered one its version;
//   - a cached NotFound comes only from the "0" pointer;
//   - a hit is the text of the requested type and language, of the
//     version the pointer names, with the value's HTML verbatim and the
//     SHA-256 of that HTML, and it encodes to a value that decodes to the
//     same text.
func FuzzDecodeReply(f *testing.F) {
	text := fuzzConsentText()
	valid := encodeText(text)
	other := text
	other.Language = "en"
	changed := text
	changed.HTML += "<p>Souhlasím s prodejem údajů.</p>"
	published := "\n" + strconv.FormatInt(text.PublishedAt.UnixNano(), 10) + "\n"
	for _, s := range []struct {
		pointer, payload string
		withText         bool
	}{
		{"3", valid, true}, {"3", valid, false}, {"0", "", false}, {"0", valid, true}, {"4", valid, true},
		{"03", valid, true}, {"+3", valid, true}, {"3", strings.Replace(valid, "\n3\n", "\n+3\n", 1), true},
		{"3", encodeText(other), true}, {"3", "", true}, {"3", "not an encoded text", true},
		{"3", strings.Replace(valid, "ct1", "ct2", 1), true}, {"3", valid[:len(valid)-len(text.HTML)-1], true},
		{"3", strings.Replace(valid, `"GDPR"`, "GDPR", 1), true}, {"3", strings.Replace(valid, `"cs"`, "`cs`", 1), true},
		{"3", strings.Replace(valid, `"cs"`, `"c\x73"`, 1), true}, {"3", strings.Replace(valid, published, "\nyesterday\n", 1), true},
		{"", valid, true}, {"3\x00", valid, true}, {"-1", encodeText(domain.ConsentText{Type: "GDPR", Language: "cs", Version: -1}), true},
		{"3", encodeText(changed), true}, {"3", valid[:len(valid)-5], true}, {"3", strings.Replace(valid, text.SHA256, strings.ToUpper(text.SHA256), 1), true},
	} {
		f.Add(text.Type, text.Language, s.pointer, s.payload, s.withText)
	}
	f.Fuzz(func(t *testing.T, consentType, language, pointer, payload string, withText bool) {
		reply := []any{pointer}
		if withText {
			reply = append(reply, payload)
		}
		got, found, verdict := (&ConsentTextCache{}).decodeReply(consentType, language, reply)
		switch {
		case verdict == entryTampered:
			if found || got != (domain.ConsentText{Version: got.Version}) {
				t.Fatalf("a tampered entry with found %v, text %+v", found, got)
			}
		case verdict != entryServed:
			if found || got != (domain.ConsentText{}) {
				t.Fatalf("a miss (%d) with found %v, text %+v", verdict, found, got)
			}
		case !found:
			if pointer != "0" || got != (domain.ConsentText{}) {
				t.Fatalf("a cached NotFound from pointer %q, text %+v", pointer, got)
			}
		default:
			if got.Type != consentType || got.Language != language {
				t.Fatalf("asked for (%q, %q), got the text of (%q, %q) from %q", consentType, language, got.Type, got.Language, payload)
			}
			if strconv.Itoa(got.Version) != pointer {
				t.Fatalf("pointer %q, got version %d", pointer, got.Version)
			}
			if !withText || !strings.HasSuffix(payload, got.HTML) {
				t.Fatalf("got HTML %q from %q", got.HTML, payload)
			}
			if sum := sha256.Sum256([]byte(got.HTML)); got.SHA256 != hex.EncodeToString(sum[:]) {
				t.Fatalf("served HTML %q under the SHA-256 %q, which is not its own", got.HTML, got.SHA256)
			}
			if back, err := decodeText(encodeText(got)); err != nil || back != got {
				t.Fatalf("%+v encodes to a value that decodes as %+v, %v", got, back, err)
			}
		}
	})
}

// FuzzConsentTextCodec checks the other half of decodeReply's promise: a
// text as this cache writes it (with a hex SHA-256, as the store has it)
// decodes to itself, and is a hit for its own type, language and version
// and a miss for any other type or language, or when its SHA-256 is not
// that of its HTML. Version 0 is none: the "0" pointer means nothing is
// published. An empty sum stands for the HTML's own digest, so that the
// fuzzer reaches hits with any HTML.
func FuzzConsentTextCodec(f *testing.F) {
	text := fuzzConsentText()
	sum, _ := hex.DecodeString(text.SHA256)
	f.Add(text.Type, text.Language, text.Version, text.HTML, sum, text.PublishedAt.UnixNano(), true)
	f.Add(text.Type, text.Language, text.Version, text.HTML+" ", sum, text.PublishedAt.UnixNano(), true)
	f.Add("T", "en", 1, "<p>x</p>", []byte{0}, int64(0), false)
	f.Add("a\nb\"c", "e\n", 12, "\n\n", []byte{}, int64(-1), true)
	f.Add("", "", 0, "", []byte(nil), int64(0), false)
	f.Add("\xff", "\u202e", -7, "ct1\n1\n-\n\n\"T\"\n\"en\"\n", []byte{0xff}, int64(1<<62), true)
	f.Fuzz(func(t *testing.T, consentType, language string, version int, html string, sum []byte, ns int64, published bool) {
		if len(sum) == 0 {
			own := sha256.Sum256([]byte(html))
			sum = own[:]
		}
		want := domain.ConsentText{Type: consentType, Language: language, Version: version, HTML: html, SHA256: hex.EncodeToString(sum)}
		if published {
			want.PublishedAt = time.Unix(0, ns).UTC()
		}
		value := encodeText(want)
		if got, err := decodeText(value); err != nil || got != want {
			t.Fatalf("%+v encodes as %q, which decodes as %+v, %v", want, value, got, err)
		}
		reply := []any{strconv.Itoa(version), value}
		got, found, verdict := (&ConsentTextCache{}).decodeReply(consentType, language, reply)
		if version == 0 {
			if verdict != entryServed || found {
				t.Fatalf("pointer 0 read as found %v, verdict %d", found, verdict)
			}
			return
		}
		if own := sha256.Sum256([]byte(html)); !bytes.Equal(sum, own[:]) {
			if verdict != entryTampered || found || got.Version != version {
				t.Fatalf("%+v, whose digest is not its HTML's, is read as %+v, found %v, verdict %d", want, got, found, verdict)
			}
			return
		}
		if verdict != entryServed || !found || got != want {
			t.Fatalf("%+v cached is read as %+v, found %v, verdict %d", want, got, found, verdict)
		}
		for _, asked := range [][2]string{{consentType + "X", language}, {consentType, language + "x"}, {language, consentType}} {
			if asked == [2]string{consentType, language} {
				continue // a type equal to its language, swapped
			}
			if got, found, verdict := (&ConsentTextCache{}).decodeReply(asked[0], asked[1], reply); verdict != entryUnreadable || found {
				t.Fatalf("the text of (%q, %q) is read for (%q, %q) as %+v", consentType, language, asked[0], asked[1], got)
			}
		}
	})
}
