// Package consent serves consent texts (/consent/text) and records the
// user's decisions (/consent/storage) in an append-only ledger. The ledger
// names the text version the user was actually shown, which is why serving
// a text remembers it per process.
package consent

import (
	"context"
	"fmt"
	"strings"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/policy"
	"github.com/bankkit/onboarding-adapter/ports"
)

type service struct {
	texts    ports.ConsentTextReader
	servings ports.ConsentServings
	ledger   ports.ConsentLedger
	served   ports.ServedConsentAppender // ledger, when it looks the serving up itself; else nil
	clock    ports.Clock
	policy   policy.Consent
}

// New returns the consent service. texts is the (usually cached) text
// store, servings remembers which version each process was shown, ledger
// stores decisions, clock stamps servings and records.
func New(texts ports.ConsentTextReader, servings ports.ConsentServings, ledger ports.ConsentLedger, clock ports.Clock, p policy.Consent) ports.ConsentService {
	served, _ := ledger.(ports.ServedConsentAppender)
	return &service{texts: texts, servings: servings, ledger: ledger, served: served, clock: clock, policy: p}
}

// ConsentText returns the latest text of the type in the requested
// language, falling back to the default language.
func (s *service) ConsentText(ctx context.Context, r ports.ConsentTextRequest) (domain.ConsentText, error) {
	typ := strings.TrimSpace(r.ConsentType)
	if typ == "" {
		return domain.ConsentText{}, domain.Invalid("consentType", "is required")
	}
	text, err := s.latest(ctx, typ, normalizeLanguage(r.Language, s.policy.DefaultLanguage))
	if err != nil {
		return domain.ConsentText{}, err
	}
	if pid := strings.TrimSpace(r.ProcessID); pid != "" {
		// Best effort: the user gets the text even when the serving cannot
		// be remembered, since failing here would fail the onboarding. The
		// stored consent then names the current version instead, which is
		// the one just served unless a new version is published in between.
		// The adapter logs its own failure; the domain has no logger.
		_ = s.servings.RecordServing(ctx, domain.ConsentServing{
			ProcessID: pid, ConsentType: typ, Language: text.Language,
			Version: text.Version, SHA256: text.SHA256, ServedAt: s.clock.Now(),
		})
	}
	return text, nil
}

// latest reads (typ, lang), then (typ, default language), in one call when
// the reader can; a type published in neither is unknown to the caller.
func (s *service) latest(ctx context.Context, typ, lang string) (domain.ConsentText, error) {
	text, err := ports.LatestConsentTextOr(ctx, s.texts, typ, lang, s.policy.DefaultLanguage)
	switch {
	case domain.IsNotFound(err):
		return domain.ConsentText{}, domain.Invalid("consentType", "unknown consent type")
	case err != nil:
		return domain.ConsentText{}, fmt.Errorf("consent: read text: %w", err)
	}
	return text, nil
}

// StoreConsent appends the decision to the ledger and returns once it is
// durable. A re-sent identical decision adds no row; a changed one does.
func (s *service) StoreConsent(ctx context.Context, r ports.ConsentStorageRequest) (domain.ConsentRecord, error) {
	pid, uid, typ := strings.TrimSpace(r.ProcessID), strings.TrimSpace(r.UserID), strings.TrimSpace(r.ConsentType)
	switch {
	case pid == "":
		return domain.ConsentRecord{}, domain.Invalid("processId", "is required")
	case uid == "":
		return domain.ConsentRecord{}, domain.Invalid("userId", "is required")
	case typ == "":
		return domain.ConsentRecord{}, domain.Invalid("consentType", "is required")
	}
	rec := domain.ConsentRecord{
		ProcessID:     pid,
		UserID:        uid,
		ConsentType:   typ,
		Approved:      r.Approved,
		RequestID:     r.Meta.RequestID,
		CorrelationID: r.Meta.CorrelationID,
		RecordedAt:    s.clock.Now(),
	}
	return s.append(ctx, rec)
}

// append stores rec naming the text the process was shown: in one write
// when the ledger looks the serving up itself, else after reading it.
func (s *service) append(ctx context.Context, rec domain.ConsentRecord) (domain.ConsentRecord, error) {
	if s.served != nil {
		current, err := s.latest(ctx, rec.ConsentType, s.policy.DefaultLanguage)
		if err != nil && domain.CodeOf(err) != domain.CodeInvalid {
			// The texts cannot answer (an outage): reading the serving
			// would only wait for the same outage a second time.
			return domain.ConsentRecord{}, err
		}
		if err == nil {
			rec.Language, rec.TextVersion, rec.TextSHA256 = current.Language, current.Version, current.SHA256
			stored, _, err := s.served.AppendServedConsent(ctx, rec)
			if err != nil {
				return domain.ConsentRecord{}, fmt.Errorf("consent: append to ledger: %w", err)
			}
			return stored, nil
		}
		// A type without a text in the default language may still have
		// been served in another one: read the serving first.
	}
	shown, served, err := s.shown(ctx, rec.ProcessID, rec.ConsentType)
	if err != nil {
		return domain.ConsentRecord{}, err
	}
	rec.Language, rec.TextVersion, rec.TextSHA256 = shown.Language, shown.Version, shown.SHA256
	rec.TextServed = served
	stored, _, err := s.ledger.AppendConsent(ctx, rec)
	if err != nil {
		return domain.ConsentRecord{}, fmt.Errorf("consent: append to ledger: %w", err)
	}
	return stored, nil
}

// shown is the text version the process was last served (served true),
// else the current one in the default language.
func (s *service) shown(ctx context.Context, processID, typ string) (sv domain.ConsentServing, served bool, err error) {
	sv, err = s.servings.LastServing(ctx, processID, typ)
	switch {
	case err == nil:
		return sv, true, nil
	case !domain.IsNotFound(err):
		return domain.ConsentServing{}, false, fmt.Errorf("consent: read serving: %w", err)
	}
	text, err := s.latest(ctx, typ, s.policy.DefaultLanguage)
	if err != nil {
		return domain.ConsentServing{}, false, err
	}
	return domain.ConsentServing{ProcessID: processID, ConsentType: typ, Language: text.Language,
		Version: text.Version, SHA256: text.SHA256}, false, nil
}

// normalizeLanguage reduces "cs-CZ" or " CS " to "cs", and "" to def: the
// app sends what the device has, texts are keyed by ISO 639-1.
func normalizeLanguage(lang, def string) string {
	lang = strings.ToLower(strings.TrimSpace(lang))
	if i := strings.IndexAny(lang, "-_"); i >= 0 {
		lang = lang[:i]
	}
	if lang == "" {
		return def
	}
	return lang
}
