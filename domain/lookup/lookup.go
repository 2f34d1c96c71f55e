// Package lookup identifies a prospect for /user/lookup: it picks the first
// identification scheme whose keys the mobile app sent, normalises the
// values, finds the client in the registry (or registers a prospect, when
// policy says so) and tells whether the user still has to consent.
//
// Lookup must be deterministic: the Onboarding Server calls it again when a
// process is resumed and fails the process when the userId changes, and it
// must never answer 200 without a userId (the 1.x caller crashes on it).
package lookup

import (
	"context"
	"fmt"
	"strings"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/policy"
	"github.com/bankkit/onboarding-adapter/ports"
)

type service struct {
	registry ports.ClientRegistry
	// withConsents is registry when it reads the client's consents with
	// it (one round trip); else nil.
	withConsents ports.ClientConsentsFinder
	ledger       ports.ConsentLedger
	texts        ports.ConsentTextReader
	policy       policy.Lookup
	consent      policy.Consent
	expected     string // the schemes in words, for the error naming them
}

// New returns the lookup service. registry finds clients and registers
// prospects; ledger and texts tell whether the user approved every
// required consent at its current text version.
func New(registry ports.ClientRegistry, ledger ports.ConsentLedger, texts ports.ConsentTextReader, p policy.Lookup, c policy.Consent) ports.LookupService {
	withConsents, _ := registry.(ports.ClientConsentsFinder)
	return &service{registry: registry, withConsents: withConsents, ledger: ledger, texts: texts, policy: p, consent: c,
		expected: describeSchemes(p.Schemes)}
}

// Lookup returns the user id and consent status for r's identification.
func (s *service) Lookup(ctx context.Context, r ports.LookupRequest) (ports.LookupResult, error) {
	if strings.TrimSpace(r.ProcessID) == "" {
		return ports.LookupResult{}, domain.Invalid("processId", "is required")
	}
	id, err := s.identify(r.Identification)
	if err != nil {
		return ports.LookupResult{}, err
	}
	client, latest, err := s.find(ctx, id)
	if err != nil {
		return ports.LookupResult{}, err
	}
	if !client.Status.Eligible() {
		return ports.LookupResult{}, domain.NotEligible("client is not eligible for onboarding")
	}
	if client.UserID == "" {
		// A 200 without userId crashes the caller; refuse loudly instead.
		return ports.LookupResult{}, domain.Internal(nil, "registry returned a client without a user id")
	}
	return ports.LookupResult{UserID: client.UserID, Consent: s.consentStatus(ctx, client.UserID, latest)}, nil
}

// identify selects the first scheme whose keys are all present and
// normalises its values. A present but unusable value is an error naming
// its key rather than a silent fall-through to the next scheme, so the user
// learns what to fix.
func (s *service) identify(raw map[string]string) (domain.Identification, error) {
	for _, scheme := range s.policy.Schemes {
		if !applies(scheme, raw) {
			continue
		}
		id := domain.Identification{Scheme: scheme, Values: make(map[domain.IdentificationKey]string, len(scheme))}
		for _, k := range scheme {
			v, problem := domain.NormalizeIdentification(k, raw[string(k)])
			if problem != "" {
				return domain.Identification{}, domain.Invalid("identification."+string(k), "%s", problem)
			}
			id.Values[k] = v
		}
		return id, nil
	}
	return domain.Identification{}, domain.Invalid("identification", "expected %s", s.expected)
}

func applies(scheme []domain.IdentificationKey, raw map[string]string) bool {
	for _, k := range scheme {
		if strings.TrimSpace(raw[string(k)]) == "" {
			return false
		}
	}
	return len(scheme) > 0
}

// describeSchemes renders the schemes as "clientNumber and birthDate, or
// personalNumber".
func describeSchemes(schemes [][]domain.IdentificationKey) string {
	alts := make([]string, 0, len(schemes))
	for _, s := range schemes {
		keys := make([]string, len(s))
		for i, k := range s {
			keys[i] = string(k)
		}
		switch len(keys) {
		case 0:
			continue
		case 1:
			alts = append(alts, keys[0])
		default:
			alts = append(alts, strings.Join(keys[:len(keys)-1], ", ")+" and "+keys[len(keys)-1])
		}
	}
	return strings.Join(alts, ", or ")
}

// find reads the registry and applies the not-found policy. When the
// registry reads the client's required consents in the same statement, it
// returns them too (latest not nil). Should that read fail for another
// reason than an unreachable store or a timeout (which the client's own
// read would most likely meet too, after as long a wait), the client is
// read alone and the consents apart, which cannot fail the lookup.
func (s *service) find(ctx context.Context, id domain.Identification) (domain.Client, map[string]domain.ConsentRecord, error) {
	if s.withConsents != nil && s.consent.Enabled && len(s.consent.RequiredTypes) > 0 {
		c, latest, err := s.withConsents.FindClientWithConsents(ctx, id, s.consent.RequiredTypes)
		switch {
		case err == nil:
			return c, latest, nil
		case domain.IsNotFound(err):
			c, err := s.notFound(ctx, id)
			return c, nil, err
		case domain.CodeOf(err) == domain.CodeUnavailable:
			return domain.Client{}, nil, fmt.Errorf("lookup: find client: %w", err)
		}
	}
	c, err := s.registry.FindClient(ctx, id)
	switch {
	case err == nil:
		return c, nil, nil
	case !domain.IsNotFound(err):
		return domain.Client{}, nil, fmt.Errorf("lookup: find client: %w", err)
	}
	c, err = s.notFound(ctx, id)
	return c, nil, err
}

// notFound applies the not-found policy: register a prospect, or answer
// that the client is unknown.
func (s *service) notFound(ctx context.Context, id domain.Identification) (domain.Client, error) {
	if s.policy.NotFound == policy.NotFoundRegister {
		c, err := s.registry.RegisterProspect(ctx, id)
		if err != nil {
			return domain.Client{}, fmt.Errorf("lookup: register prospect: %w", err)
		}
		return c, nil
	}
	return domain.Client{}, domain.NotFound("identification", "client not found")
}

// consentStatus answers NOT_REQUIRED only when every required type was
// approved at (or after) its current text version. It never fails lookup:
// a consent store that cannot answer makes it REQUIRED, which costs the
// user one more tap, whereas failing would cost the whole onboarding.
//
// The ledger is read once for all required types (one round trip however
// many there are), unless the registry already read them with the client
// (latest not nil); the current text versions come from the text reader,
// which is the cached one in production.
func (s *service) consentStatus(ctx context.Context, userID string, latest map[string]domain.ConsentRecord) string {
	if !s.consent.Enabled {
		return ports.ConsentNotEvaluated
	}
	if len(s.consent.RequiredTypes) == 0 {
		return ports.ConsentNotRequired
	}
	if latest == nil {
		var err error
		if latest, err = s.ledger.LatestConsents(ctx, userID, s.consent.RequiredTypes); err != nil {
			return ports.ConsentRequired
		}
	}
	for _, t := range s.consent.RequiredTypes {
		rec, ok := latest[t]
		if !ok || !s.approvedCurrent(ctx, t, rec) {
			return ports.ConsentRequired
		}
	}
	return ports.ConsentNotRequired
}

// approvedCurrent reports whether rec, the user's latest record of
// consentType, approves it at (or after) the current text version in rec's
// language (else the default one).
func (s *service) approvedCurrent(ctx context.Context, consentType string, rec domain.ConsentRecord) bool {
	if !rec.Approved {
		return false
	}
	text, err := s.texts.LatestConsentText(ctx, consentType, rec.Language)
	if domain.IsNotFound(err) && rec.Language != s.consent.DefaultLanguage {
		text, err = s.texts.LatestConsentText(ctx, consentType, s.consent.DefaultLanguage)
	}
	if err != nil {
		return false
	}
	return rec.TextVersion >= text.Version
}
