package redis

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
)

// FuzzApplyInvalidation feeds applyInvalidation the messages of the
// invalidation channel, which any client of the Redis can publish. It
// must not panic, and:
//
//   - the message InvalidateConsentText publishes for a (type, language)
//     drops exactly that entry from the L1 and no other, and is counted
//     (for a type and language that are valid UTF-8, as the publisher's
//     are; JSON cannot carry other bytes);
//   - any other message drops at most one entry, only if it is valid JSON
//     and is counted, and a message that is not valid JSON changes
//     nothing.
//
// The L1 reads the fake store directly, so no Redis is needed:
// applyInvalidation only ever touches the L1.
func FuzzApplyInvalidation(f *testing.F) {
	for _, s := range []struct{ typ, lang, msg string }{
		{"GDPR", "en", `{"type":"GDPR","language":"en"}`}, {"GDPR", "cs", `{"type":"MARKETING","language":"en"}`},
		{"T", "de", `{not json`}, {"T", "de", ``}, {"T", "de", `null`}, {"T", "de", `{}`}, {"T", "de", `[]`},
		{"T", "de", `{"type":1}`}, {"T", "de", `{"TYPE":"GDPR","LANGUAGE":"en"}`}, {"T", "de", `{"type":"GDPR","language":"en"} x`},
		{"T", "de", `{"type":"GDPR","type":"T","language":"de"}`}, {"a\"b", "\u2028", `{"type":"\u0000"}`},
		{"\xff", "en", "{\"type\":\"\xff\",\"language\":\"en\"}"}, {"T", "de", `{"type":"GDPR","language":"en","extra":[1,2]}`},
	} {
		f.Add(s.typ, s.lang, s.msg)
	}
	f.Fuzz(func(t *testing.T, consentType, language, msg string) {
		ctx := context.Background()
		keys := [][2]string{{consentType, language}}
		for _, k := range [][2]string{{"GDPR", "en"}, {"GDPR", "cs"}, {"MARKETING", "en"}} {
			if k != keys[0] {
				keys = append(keys, k)
			}
		}
		store := newFakeStore()
		c := NewConsentTextCache(nil, nil, store, ConsentTextCacheConfig{L1TTL: time.Hour, Logger: slog.New(slog.DiscardHandler)})
		c.l1.Store(memory.NewConsentTextCache(store, time.Hour, 16, memory.SystemClock{}))
		for _, k := range keys {
			store.publish(k[0], k[1], "<p>"+k[0]+"</p>")
		}
		// dropped reads every entry through the L1 and returns those that
		// had to go to the store since the last call.
		reads := map[[2]string]int{}
		dropped := func() [][2]string {
			var out [][2]string
			for _, k := range keys {
				read(t, c, k[0], k[1])
				if n := store.count(k[0], k[1]); n != reads[k] {
					reads[k] = n
					out = append(out, k)
				}
			}
			return out
		}
		dropped()

		published, err := json.Marshal(invalidation{Type: consentType, Language: language})
		if err != nil {
			t.Fatal(err)
		}
		c.applyInvalidation(ctx, string(published))
		got := dropped()
		if utf8.ValidString(consentType) && utf8.ValidString(language) {
			if len(got) != 1 || got[0] != keys[0] {
				t.Fatalf("the announcement %s dropped %q, want only %q", published, got, keys[0])
			}
		} else if len(got) > 1 || len(got) == 1 && got[0] != keys[0] {
			t.Fatalf("the announcement %s of a type or language JSON cannot carry dropped %q", published, got)
		}
		if n := c.Stats().Invalidations; n != 1 {
			t.Fatalf("%d invalidations counted after one announcement", n)
		}

		c.applyInvalidation(ctx, msg)
		got = dropped()
		counted := c.Stats().Invalidations - 1
		switch {
		case counted > 1:
			t.Fatalf("one message %q counted %d times", msg, counted)
		case counted == 0 && len(got) > 0:
			t.Fatalf("the ignored message %q dropped %q", msg, got)
		case len(got) > 1:
			t.Fatalf("the message %q dropped %q", msg, got)
		case counted == 1 && !json.Valid([]byte(msg)):
			t.Fatalf("the message %q, which is not JSON, was applied", msg)
		}
	})
}
