package consent

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/policy"
	"github.com/bankkit/onboarding-adapter/ports"
)

// answerEnvelope is the JSON around a consent text in the /consent/text
// answer; with the escaped text it must stay under the caller's 1 MiB
// response limit.
const answerEnvelope = len(`{"consentText":}`) + 1

// Publisher publishes new consent text versions and makes every cache drop
// the old one, so an operator's change reaches users at once.
type Publisher struct {
	store       ports.ConsentTextPublisher
	invalidator ports.ConsentTextInvalidator
	policy      policy.Consent
}

// NewPublisher returns a publisher; invalidator may be nil when no cache
// sits in front of the store.
func NewPublisher(store ports.ConsentTextPublisher, invalidator ports.ConsentTextInvalidator, p policy.Consent) *Publisher {
	return &Publisher{store: store, invalidator: invalidator, policy: p}
}

// Publish validates html, stores it as the next version of (consentType,
// language) and invalidates the caches. When only the invalidation fails,
// the stored text is returned together with a CodeUnavailable error: the
// version is live in the store, but replicas may serve the previous one
// until their caches expire.
func (p *Publisher) Publish(ctx context.Context, consentType, language, html string) (domain.ConsentText, error) {
	if err := ValidateText(consentType, language, html, p.policy); err != nil {
		return domain.ConsentText{}, err
	}
	t, err := p.store.PublishConsentText(ctx, consentType, language, html)
	if err != nil {
		return domain.ConsentText{}, fmt.Errorf("publishing consent text %s/%s: %w", consentType, language, err)
	}
	if p.invalidator != nil {
		if err := p.invalidator.InvalidateConsentText(ctx, consentType, language); err != nil {
			return t, domain.Unavailable(err, "version %d is stored but the caches were not invalidated", t.Version)
		}
	}
	return t, nil
}

// ValidateText checks a text before it is published: a consent type of
// upper-case letters, digits and underscores, an ISO 639-1 language, and
// HTML that is non-empty, valid UTF-8, looks like markup, and whose JSON
// answer stays under policy MaxTextBytes.
func ValidateText(consentType, language, html string, p policy.Consent) error {
	if consentType == "" || len(consentType) > 64 || !domain.ValidReasonCode(consentType) {
		return domain.Invalid("type", "must be 1 to 64 upper-case letters, digits or underscores")
	}
	if len(language) != 2 || strings.ToLower(language) != language || strings.IndexFunc(language, func(r rune) bool { return r < 'a' || r > 'z' }) >= 0 {
		return domain.Invalid("language", "must be a two-letter ISO 639-1 code such as en or cs")
	}
	if strings.TrimSpace(html) == "" {
		return domain.Invalid("html", "must not be empty")
	}
	if !utf8.ValidString(html) {
		return domain.Invalid("html", "must be valid UTF-8")
	}
	if !strings.Contains(html, "<") || !strings.Contains(html, ">") {
		return domain.Invalid("html", "must be HTML markup")
	}
	encoded, err := json.Marshal(html)
	if err != nil {
		return domain.Invalid("html", "cannot be encoded as JSON")
	}
	if n := len(encoded) + answerEnvelope; n > p.MaxTextBytes {
		return domain.Invalid("html", "the /consent/text answer would be %d bytes, over the limit of %d", n, p.MaxTextBytes)
	}
	return nil
}
