package consent_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/consent"
	"github.com/bankkit/onboarding-adapter/domain/policy"
)

type failingInvalidator struct{ calls int }

func (f *failingInvalidator) InvalidateConsentText(context.Context, string, string) error {
	f.calls++
	return errors.New("redis down")
}

func TestValidateText(t *testing.T) {
	p := policy.Default().Consent
	small := p
	small.MaxTextBytes = 64
	tests := []struct {
		name, typ, lang, html string
		pol                   policy.Consent
		wantField             string
	}{
		{"valid", "GDPR", "en", "<p>I agree</p>", p, ""},
		{"empty type", "", "en", "<p>x</p>", p, "type"},
		{"lower-case type", "gdpr", "en", "<p>x</p>", p, "type"},
		{"language with region", "GDPR", "en-GB", "<p>x</p>", p, "language"},
		{"upper-case language", "GDPR", "EN", "<p>x</p>", p, "language"},
		{"empty html", "GDPR", "en", "   ", p, "html"},
		{"plain text", "GDPR", "en", "I agree", p, "html"},
		{"invalid utf-8", "GDPR", "en", "<p>\xff</p>", p, "html"},
		{"answer over the limit", "GDPR", "en", "<p>" + strings.Repeat("a", 40) + "</p>", small, "html"},
		// Quotes grow when escaped: 20 quotes are 40 bytes of JSON.
		{"escaping counts", "GDPR", "en", "<p>" + strings.Repeat(`"`, 20) + "</p>", small, "html"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := consent.ValidateText(tc.typ, tc.lang, tc.html, tc.pol)
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("ValidateText: %v", err)
				}
				return
			}
			de, ok := domain.AsError(err)
			if !ok || de.Code != domain.CodeInvalid || de.Field != tc.wantField {
				t.Fatalf("err = %v, want invalid %s", err, tc.wantField)
			}
		})
	}
}

func TestPublishStoresAndInvalidates(t *testing.T) {
	ctx := context.Background()
	clock := memory.NewFakeClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	store := memory.NewConsentTextStore(clock)
	cache := memory.NewConsentTextCache(store, time.Hour, 10, clock)
	pub := consent.NewPublisher(store, cache, policy.Default().Consent)

	v1, err := pub.Publish(ctx, "GDPR", "en", "<p>v1</p>")
	if err != nil || v1.Version != 1 {
		t.Fatalf("Publish v1 = %+v, %v", v1, err)
	}
	if got, _ := cache.LatestConsentText(ctx, "GDPR", "en"); got.Version != 1 {
		t.Fatalf("cache warm-up read version %d", got.Version)
	}
	v2, err := pub.Publish(ctx, "GDPR", "en", "<p>v2</p>")
	if err != nil || v2.Version != 2 {
		t.Fatalf("Publish v2 = %+v, %v", v2, err)
	}
	if got, _ := cache.LatestConsentText(ctx, "GDPR", "en"); got.Version != 2 || got.HTML != "<p>v2</p>" {
		t.Fatalf("after publishing, the cache served version %d", got.Version)
	}

	if _, err := pub.Publish(ctx, "GDPR", "en", ""); domain.CodeOf(err) != domain.CodeInvalid {
		t.Fatalf("empty html: %v", err)
	}
	if got, _ := store.LatestConsentText(ctx, "GDPR", "en"); got.Version != 2 {
		t.Fatalf("a refused text was stored: version %d", got.Version)
	}

	inv := &failingInvalidator{}
	t3, err := consent.NewPublisher(store, inv, policy.Default().Consent).Publish(ctx, "GDPR", "en", "<p>v3</p>")
	if domain.CodeOf(err) != domain.CodeUnavailable || t3.Version != 3 || inv.calls != 1 {
		t.Fatalf("failing invalidation: %+v, %v, calls %d", t3, err, inv.calls)
	}
}
