package memory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

var _ ports.ConsentTextStore = (*ConsentTextStore)(nil)

// textKey names the version history of one consent text.
type textKey struct{ consentType, language string }

// ConsentTextStore keeps every published version of every consent text.
// Versions are never changed or dropped: a stored consent names the version
// the user saw, and an auditor must be able to read that exact text.
type ConsentTextStore struct {
	clock ports.Clock

	mu       sync.RWMutex
	versions map[textKey][]domain.ConsentText // oldest first; Version = index+1
}

// NewConsentTextStore returns an empty store; clock stamps PublishedAt.
func NewConsentTextStore(clock ports.Clock) *ConsentTextStore {
	return &ConsentTextStore{
		clock:    clock,
		versions: make(map[textKey][]domain.ConsentText),
	}
}

// LatestConsentText returns the newest version of (consentType, language).
func (s *ConsentTextStore) LatestConsentText(_ context.Context, consentType, language string) (domain.ConsentText, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	vs := s.versions[textKey{consentType, language}]
	if len(vs) == 0 {
		return domain.ConsentText{}, domain.NotFound("consentType", "no consent text is published for this type and language")
	}
	return vs[len(vs)-1], nil
}

// PublishConsentText stores html as the next version (1 for the first) of
// (consentType, language), with its SHA-256. Size limits are policy and are
// checked by the consent service before it publishes.
func (s *ConsentTextStore) PublishConsentText(_ context.Context, consentType, language, html string) (domain.ConsentText, error) {
	switch {
	case strings.TrimSpace(consentType) == "":
		return domain.ConsentText{}, domain.Invalid("consentType", "must not be empty")
	case strings.TrimSpace(language) == "":
		return domain.ConsentText{}, domain.Invalid("language", "must not be empty")
	case strings.TrimSpace(html) == "":
		return domain.ConsentText{}, domain.Invalid("html", "must not be empty")
	}
	sum := sha256.Sum256([]byte(html))
	k := textKey{consentType, language}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := domain.ConsentText{
		Type:        consentType,
		Language:    language,
		Version:     len(s.versions[k]) + 1,
		HTML:        html,
		SHA256:      hex.EncodeToString(sum[:]),
		PublishedAt: s.clock.Now(),
	}
	s.versions[k] = append(s.versions[k], t)
	return t, nil
}
