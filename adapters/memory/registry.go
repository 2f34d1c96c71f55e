package memory

import (
	"context"
	"sync"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

var _ ports.ClientRegistry = (*ClientRegistry)(nil)

// ClientRegistry is the bank's client registry held in memory, with the
// prospects the service registered itself.
//
// Registry clients are indexed by every identification key (client number,
// birth date, personal number, phone), so FindClient is a map lookup plus a
// check of the few candidates of the most selective key, never a scan.
// Prospects are reachable by user id and by their identification's
// fingerprint only: FindClient searches the bank's registry, and
// RegisterProspect is what maps an unknown identification to its prospect.
type ClientRegistry struct {
	ids ports.IDGenerator

	mu        sync.RWMutex
	byUser    map[string]domain.Client                         // clients and prospects
	index     map[domain.IdentificationKey]map[string][]string // key -> value -> user ids
	prospects map[string]string                                // fingerprint -> user id
}

// NewClientRegistry returns a registry holding clients. ids names prospects
// (and clients added without a user id).
func NewClientRegistry(ids ports.IDGenerator, clients ...domain.Client) *ClientRegistry {
	r := &ClientRegistry{
		ids:       ids,
		byUser:    make(map[string]domain.Client, len(clients)),
		index:     make(map[domain.IdentificationKey]map[string][]string),
		prospects: make(map[string]string),
	}
	for _, k := range domain.KnownIdentificationKeys() {
		r.index[k] = make(map[string][]string, len(clients))
	}
	for _, c := range clients {
		r.Add(c)
	}
	return r
}

// Add stores c as a registry client, replacing the client with the same
// user id. A client without a user id gets one from the generator.
// Identification values are indexed as stored, so PersonalNumber must
// already be normalised (domain.NormalizePersonalNumber) and Phone be E.164.
func (r *ClientRegistry) Add(c domain.Client) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c.UserID == "" {
		c.UserID = r.ids.NewID()
	}
	if old, ok := r.byUser[c.UserID]; ok {
		r.unindex(old)
	}
	r.byUser[c.UserID] = c
	for _, k := range domain.KnownIdentificationKeys() {
		if v := clientValue(c, k); v != "" {
			r.index[k][v] = append(r.index[k][v], c.UserID)
		}
	}
}

func (r *ClientRegistry) unindex(c domain.Client) {
	for _, k := range domain.KnownIdentificationKeys() {
		v := clientValue(c, k)
		if v == "" {
			continue
		}
		ids := r.index[k][v]
		for i, id := range ids {
			if id == c.UserID {
				ids = append(ids[:i:i], ids[i+1:]...)
				break
			}
		}
		if len(ids) == 0 {
			delete(r.index[k], v)
		} else {
			r.index[k][v] = ids
		}
	}
}

// clientValue is the registry field an identification key is compared with.
func clientValue(c domain.Client, k domain.IdentificationKey) string {
	switch k {
	case domain.KeyClientNumber:
		return c.ClientNumber
	case domain.KeyBirthDate:
		return c.BirthDate.String()
	case domain.KeyPersonalNumber:
		return c.PersonalNumber
	case domain.KeyPhoneNumber:
		return c.Phone
	}
	return ""
}

// FindClient returns the one registry client whose fields equal every value
// of the identification. No match, an empty identification, a key the
// registry cannot search by, and an identification that fits more than one
// client (a phone number two clients share, a birth date alone) are all
// CodeNotFound: guessing between two people would hand one person's account
// to another.
func (r *ClientRegistry) FindClient(_ context.Context, id domain.Identification) (domain.Client, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var candidates []string
	searched := false
	for k, v := range id.Values {
		idx, ok := r.index[k]
		if !ok {
			return domain.Client{}, errClientNotFound()
		}
		if ids := idx[v]; !searched || len(ids) < len(candidates) {
			candidates, searched = ids, true
		}
	}
	var found domain.Client
	n := 0
	for _, uid := range candidates {
		c := r.byUser[uid]
		if matches(c, id) {
			found = c
			n++
		}
	}
	if n != 1 {
		return domain.Client{}, errClientNotFound()
	}
	return found, nil
}

func matches(c domain.Client, id domain.Identification) bool {
	for k, v := range id.Values {
		if clientValue(c, k) != v {
			return false
		}
	}
	return true
}

func errClientNotFound() error {
	return domain.NotFound("identification", "client not found")
}

// ClientByUserID returns the registry client or registered prospect with
// that user id.
func (r *ClientRegistry) ClientByUserID(_ context.Context, userID string) (domain.Client, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.byUser[userID]
	if !ok {
		return domain.Client{}, domain.NotFound("userId", "user not found")
	}
	return c, nil
}

// RegisterProspect returns the prospect of the identification's fingerprint,
// creating it on first use with the identification's values and status
// PROSPECT. The check and the insert share one critical section, so
// concurrent calls get the same user id.
func (r *ClientRegistry) RegisterProspect(_ context.Context, id domain.Identification) (domain.Client, error) {
	if len(id.Values) == 0 {
		return domain.Client{}, domain.Invalid("identification", "must contain at least one key")
	}
	fp := id.Fingerprint()
	r.mu.Lock()
	defer r.mu.Unlock()
	if uid, ok := r.prospects[fp]; ok {
		return r.byUser[uid], nil
	}
	c := domain.Client{
		UserID:         r.ids.NewID(),
		ClientNumber:   id.Value(domain.KeyClientNumber),
		PersonalNumber: id.Value(domain.KeyPersonalNumber),
		Phone:          id.Value(domain.KeyPhoneNumber),
		Status:         domain.StatusProspect,
	}
	if v := id.Value(domain.KeyBirthDate); v != "" {
		// Values are normalised to YYYY-MM-DD by the lookup, so this only
		// fails for a caller that skipped normalisation; the prospect is
		// then stored without a birth date rather than refused.
		if d, err := domain.ParseDate(v); err == nil {
			c.BirthDate = d
		}
	}
	r.prospects[fp] = c.UserID
	r.byUser[c.UserID] = c
	return c, nil
}
