package memory

import (
	"container/list"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

var (
	_ ports.ConsentTextReader      = (*ConsentTextCache)(nil)
	_ ports.ConsentTextInvalidator = (*ConsentTextCache)(nil)
)

// DefaultCacheEntries bounds a ConsentTextCache built with maxEntries < 1.
// Each (type, language) pair takes one entry, so it is generous.
const DefaultCacheEntries = 1024

// NotFoundTTL is how long a ConsentTextCache remembers that nothing is
// published for a (type, language), when its TTL is longer. A language with
// no text of its own (the caller then reads the default language) is asked
// for on every /consent/text of a user with that language; without this each
// of those reads would go to Redis or the store. It is short so that a first
// publish shows within seconds even where no invalidation reaches this
// replica (no Redis).
const NotFoundTTL = 5 * time.Second

// ConsentTextCache is the in-process L1 in front of another
// ConsentTextReader (Redis, or the store itself): consent texts are read on
// every /consent/text and /user/lookup and change a few times a year.
//
// Entries live for the TTL; when the cache is full the entry stored longest
// ago (with one TTL for all, also the one expiring first) is evicted.
// NotFound is cached for NotFoundTTL at most (see there); other errors are
// not cached, so an outage is not remembered after it ends.
// Concurrent misses of one key each read through; with a handful of keys and
// a TTL of seconds that costs little and keeps the cache simple.
//
// InvalidateConsentText drops this replica's entry only and does not forward
// to the next reader, so a handler of another replica's invalidation
// broadcast can call it without echoing the broadcast.
type ConsentTextCache struct {
	next  ports.ConsentTextReader
	ttl   time.Duration
	max   int
	clock ports.Clock

	hits, misses atomic.Uint64

	mu      sync.RWMutex
	entries map[textKey]*list.Element // of *cacheEntry
	order   *list.List                // front: stored longest ago
	// gen counts invalidations; a read-through that started before one does
	// not store its (possibly superseded) answer.
	gen uint64
}

type cacheEntry struct {
	key      textKey
	text     domain.ConsentText
	notFound error // the next reader's NotFound, answered instead of text
	expires  time.Time
}

// NewConsentTextCache wraps next with a cache of at most maxEntries texts
// (DefaultCacheEntries when maxEntries < 1), each kept for ttl. A ttl <= 0
// disables caching: every read goes to next.
func NewConsentTextCache(next ports.ConsentTextReader, ttl time.Duration, maxEntries int, clock ports.Clock) *ConsentTextCache {
	if maxEntries < 1 {
		maxEntries = DefaultCacheEntries
	}
	return &ConsentTextCache{
		next:    next,
		ttl:     ttl,
		max:     maxEntries,
		clock:   clock,
		entries: make(map[textKey]*list.Element),
		order:   list.New(),
	}
}

// LatestConsentText answers from the cache while the entry is fresh, else
// reads through to next and remembers its answer: a text for the TTL, a
// NotFound for NotFoundTTL at most, nothing else.
func (c *ConsentTextCache) LatestConsentText(ctx context.Context, consentType, language string) (domain.ConsentText, error) {
	k := textKey{consentType, language}
	now := c.clock.Now()
	c.mu.RLock()
	gen := c.gen
	if el, ok := c.entries[k]; ok {
		if e := el.Value.(*cacheEntry); now.Before(e.expires) {
			c.mu.RUnlock()
			c.hits.Add(1)
			return e.text, e.notFound
		}
	}
	c.mu.RUnlock()
	c.misses.Add(1)
	t, err := c.next.LatestConsentText(ctx, consentType, language)
	ttl := c.ttl
	if err != nil {
		if !domain.IsNotFound(err) {
			return t, err
		}
		ttl = min(ttl, NotFoundTTL)
	}
	if ttl <= 0 {
		return t, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.store(&cacheEntry{key: k, text: t, notFound: err, expires: now.Add(ttl)})
	}
	return t, err
}

// store puts e as the newest entry, replacing one of its key and evicting
// the oldest when full. Entries are replaced, not changed, so a reader
// holding one never sees it change. The caller holds mu.
func (c *ConsentTextCache) store(e *cacheEntry) {
	if el, ok := c.entries[e.key]; ok {
		c.order.Remove(el)
	}
	for c.order.Len() >= c.max {
		oldest := c.order.Front()
		delete(c.entries, oldest.Value.(*cacheEntry).key)
		c.order.Remove(oldest)
	}
	c.entries[e.key] = c.order.PushBack(e)
}

// InvalidateConsentText drops the cached (consentType, language) of this
// replica and keeps reads already in flight from storing an older version.
func (c *ConsentTextCache) InvalidateConsentText(_ context.Context, consentType, language string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if el, ok := c.entries[textKey{consentType, language}]; ok {
		delete(c.entries, textKey{consentType, language})
		c.order.Remove(el)
	}
	return nil
}

// Stats returns how many reads were answered from the cache and how many
// went to the next reader, for the cache hit/miss metrics.
func (c *ConsentTextCache) Stats() (hits, misses uint64) {
	return c.hits.Load(), c.misses.Load()
}

// Len returns the number of cached entries, fresh or expired.
func (c *ConsentTextCache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.order.Len()
}
