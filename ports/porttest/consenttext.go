package porttest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

// ConsentTextStore runs the suite of ports.ConsentTextStore.
func ConsentTextStore(t *testing.T, newStore func(t *testing.T) ports.ConsentTextStore) {
	ctx := context.Background()
	store := newStore(t)

	t.Run("nothing published is not found", func(t *testing.T) {
		_, err := store.LatestConsentText(ctx, "T_"+unique(), "en")
		wantCode(t, err, domain.CodeNotFound)
	})

	t.Run("versions count from 1 per type and language", func(t *testing.T) {
		typ := "T_" + unique()
		before := now()
		v1, err := store.PublishConsentText(ctx, typ, "en", "<h1>One</h1><p>first</p>")
		must(t, err)
		checkText(t, v1, typ, "en", 1, "<h1>One</h1><p>first</p>")
		if v1.PublishedAt.Before(before.Add(-time.Minute)) {
			t.Fatalf("PublishedAt %v is before the publish call at %v", v1.PublishedAt, before)
		}
		got, err := store.LatestConsentText(ctx, typ, "en")
		must(t, err)
		sameText(t, got, v1)

		v2, err := store.PublishConsentText(ctx, typ, "en", "<h1>Two</h1><p>second</p>")
		must(t, err)
		checkText(t, v2, typ, "en", 2, "<h1>Two</h1><p>second</p>")
		got, err = store.LatestConsentText(ctx, typ, "en")
		must(t, err)
		sameText(t, got, v2)

		cs, err := store.PublishConsentText(ctx, typ, "cs", "<h1>Jedna</h1><p>první</p>")
		must(t, err)
		checkText(t, cs, typ, "cs", 1, "<h1>Jedna</h1><p>první</p>")
		got, err = store.LatestConsentText(ctx, typ, "en")
		must(t, err)
		sameText(t, got, v2)
		_, err = store.LatestConsentText(ctx, typ, "de")
		wantCode(t, err, domain.CodeNotFound)
	})

	t.Run("invalid publish", func(t *testing.T) {
		typ := "T_" + unique()
		for _, tc := range []struct{ name, typ, lang, html string }{
			{"empty type", "", "en", "<p>x</p>"},
			{"empty language", typ, "", "<p>x</p>"},
			{"empty html", typ, "en", ""},
			{"blank html", typ, "en", "  \n"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := store.PublishConsentText(ctx, tc.typ, tc.lang, tc.html)
				wantCode(t, err, domain.CodeInvalid)
				if de, _ := domain.AsError(err); de.Field == "" {
					t.Fatalf("error %v names no field", err)
				}
			})
		}
		_, err := store.LatestConsentText(ctx, typ, "en")
		wantCode(t, err, domain.CodeNotFound)
	})

	t.Run("concurrent publishes get distinct versions", func(t *testing.T) {
		typ := "T_" + unique()
		const n = 20
		versions := make([]int, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				v, err := store.PublishConsentText(ctx, typ, "en", fmt.Sprintf("<p>text %d</p>", i))
				versions[i], errs[i] = v.Version, err
			})
		}
		wg.Wait()
		seen := map[int]bool{}
		for i, v := range versions {
			must(t, errs[i])
			if v < 1 || v > n || seen[v] {
				t.Fatalf("versions = %v, want each of 1..%d once", versions, n)
			}
			seen[v] = true
		}
		got, err := store.LatestConsentText(ctx, typ, "en")
		must(t, err)
		if got.Version != n {
			t.Fatalf("latest version = %d, want %d", got.Version, n)
		}
	})
}

func checkText(t *testing.T, got domain.ConsentText, typ, lang string, version int, html string) {
	t.Helper()
	sum := sha256.Sum256([]byte(html))
	if got.Type != typ || got.Language != lang || got.Version != version || got.HTML != html ||
		got.SHA256 != hex.EncodeToString(sum[:]) || got.PublishedAt.IsZero() {
		t.Fatalf("text = %+v, want %s/%s version %d with the html's SHA-256 and a publish time", got, typ, lang, version)
	}
}

func sameText(t *testing.T, got, want domain.ConsentText) {
	t.Helper()
	got.PublishedAt, want.PublishedAt = utc(got.PublishedAt), utc(want.PublishedAt)
	same(t, "consent text", got, want)
}

// ConsentTextCache is a cache in front of a ConsentTextReader: the
// in-process L1 and the Redis cache.
type ConsentTextCache interface {
	ports.ConsentTextReader
	ports.ConsentTextInvalidator
}

// ConsentTextReaderCache runs the suite of a consent text cache. newCache
// wraps next, a fake store the suite controls, with the cache under test.
// The cache's TTL must be long enough (a minute or more) that no entry
// expires while the suite runs.
func ConsentTextReaderCache(t *testing.T, newCache func(t *testing.T, next ports.ConsentTextReader) ConsentTextCache) {
	ctx := context.Background()

	t.Run("reads through once, then serves the cached text", func(t *testing.T) {
		next := newFakeTexts()
		cache := newCache(t, next)
		typ := "T_" + unique()
		v1 := next.publish(typ, "en", "<p>one</p>")
		for i := range 3 {
			got, err := cache.LatestConsentText(ctx, typ, "en")
			must(t, err)
			sameText(t, got, v1)
			if c := next.count(typ, "en"); c != 1 {
				t.Fatalf("read %d: the store was read %d times, want once", i+1, c)
			}
		}
	})

	t.Run("invalidation shows the new version", func(t *testing.T) {
		next := newFakeTexts()
		cache := newCache(t, next)
		typ := "T_" + unique()
		v1 := next.publish(typ, "en", "<p>one</p>")
		cs := next.publish(typ, "cs", "<p>jedna</p>")
		for _, want := range []domain.ConsentText{v1, cs} {
			got, err := cache.LatestConsentText(ctx, typ, want.Language)
			must(t, err)
			sameText(t, got, want)
		}
		v2 := next.publish(typ, "en", "<p>two</p>")
		got, err := cache.LatestConsentText(ctx, typ, "en")
		must(t, err)
		sameText(t, got, v1) // cached until invalidated
		must(t, cache.InvalidateConsentText(ctx, typ, "en"))
		got, err = cache.LatestConsentText(ctx, typ, "en")
		must(t, err)
		sameText(t, got, v2)
		got, err = cache.LatestConsentText(ctx, typ, "cs")
		must(t, err)
		sameText(t, got, cs)
		if c := next.count(typ, "cs"); c != 1 {
			t.Fatalf("invalidating en re-read cs %d times, want it still cached", c-1)
		}
	})

	t.Run("not found passes through and a publish shows after invalidation", func(t *testing.T) {
		next := newFakeTexts()
		cache := newCache(t, next)
		typ := "T_" + unique()
		_, err := cache.LatestConsentText(ctx, typ, "en")
		wantCode(t, err, domain.CodeNotFound)
		v1 := next.publish(typ, "en", "<p>one</p>")
		must(t, cache.InvalidateConsentText(ctx, typ, "en"))
		got, err := cache.LatestConsentText(ctx, typ, "en")
		must(t, err)
		sameText(t, got, v1)
	})

	t.Run("store errors pass through and are not cached", func(t *testing.T) {
		next := newFakeTexts()
		cache := newCache(t, next)
		typ := "T_" + unique()
		v1 := next.publish(typ, "en", "<p>one</p>")
		next.fail(domain.Unavailable(errors.New("connection refused"), "consent store unavailable"))
		_, err := cache.LatestConsentText(ctx, typ, "en")
		wantCode(t, err, domain.CodeUnavailable)
		next.fail(nil)
		got, err := cache.LatestConsentText(ctx, typ, "en")
		must(t, err)
		sameText(t, got, v1)
	})
}

// fakeTexts is the store behind a cache under test: it counts reads and
// fails on demand.
type fakeTexts struct {
	mu    sync.Mutex
	texts map[[2]string]domain.ConsentText
	reads map[[2]string]int
	err   error
}

func newFakeTexts() *fakeTexts {
	return &fakeTexts{texts: map[[2]string]domain.ConsentText{}, reads: map[[2]string]int{}}
}

func (f *fakeTexts) LatestConsentText(_ context.Context, typ, lang string) (domain.ConsentText, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := [2]string{typ, lang}
	f.reads[k]++
	if f.err != nil {
		return domain.ConsentText{}, f.err
	}
	t, ok := f.texts[k]
	if !ok {
		return domain.ConsentText{}, domain.NotFound("consentType", "no consent text")
	}
	return t, nil
}

func (f *fakeTexts) publish(typ, lang, html string) domain.ConsentText {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := [2]string{typ, lang}
	sum := sha256.Sum256([]byte(html))
	t := domain.ConsentText{Type: typ, Language: lang, Version: f.texts[k].Version + 1, HTML: html,
		SHA256: hex.EncodeToString(sum[:]), PublishedAt: now()}
	f.texts[k] = t
	return t
}

func (f *fakeTexts) count(typ, lang string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads[[2]string{typ, lang}]
}

func (f *fakeTexts) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}
