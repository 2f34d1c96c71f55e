package redis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

var (
	_ ports.ConsentTextReader         = (*ConsentTextCache)(nil)
	_ ports.ConsentTextFallbackReader = (*ConsentTextCache)(nil)
	_ ports.ConsentTextInvalidator    = (*ConsentTextCache)(nil)
)

// Defaults of ConsentTextCacheConfig.
const (
	DefaultConsentTextTTL         = 10 * time.Minute
	DefaultConsentTextNegativeTTL = 5 * time.Second
	DefaultConsentTextL1TTL       = 30 * time.Second
	DefaultConsentTextL1Entries   = memory.DefaultCacheEntries
	DefaultPubSubPingInterval     = 15 * time.Second
)

// Resubscription backoff of the invalidation subscriber: quick after a
// blip, at most a few seconds apart during a long outage.
const (
	minResubscribeBackoff = 100 * time.Millisecond
	maxResubscribeBackoff = 5 * time.Second
)

// ConsentTextCacheConfig configures a ConsentTextCache. The zero value
// gives the defaults above.
type ConsentTextCacheConfig struct {
	// KeyPrefix starts every key and the channel name ("" means
	// DefaultKeyPrefix). Replicas sharing a cache must share the prefix.
	KeyPrefix string
	// TTL is how long Redis keeps a text. Invalidation makes publishing
	// visible at once; the TTL only bounds what a lost invalidation costs.
	TTL time.Duration
	// NegativeTTL is how long Redis remembers that nothing is published
	// for a (type, language), so requests for a language that falls back
	// to the default do not each hit the store. Kept short: a NotFound must
	// never outlive a publish by much even if its invalidation is lost.
	// Negative disables negative caching.
	NegativeTTL time.Duration
	// L1TTL is how long this replica keeps a text in process memory;
	// negative disables the L1 (every read goes to Redis).
	L1TTL time.Duration
	// L1MaxEntries bounds the L1; the entry stored longest ago goes first.
	L1MaxEntries int
	// PubSubPingInterval is how often a silent invalidation subscription
	// is pinged, so a connection that died without a word is noticed.
	PubSubPingInterval time.Duration
	// Clock drives the L1's expiry (nil means the system clock).
	Clock ports.Clock
	// Logger receives the (rate-limited) fallback and subscription logs.
	Logger *slog.Logger
	// Coalescer sends the cache's reads, several concurrent ones in one
	// round trip (nil: one of its own with DefaultCoalescerLanes). Only
	// reads go through it (see Coalescer); fills and invalidations are
	// sent on their own.
	Coalescer *Coalescer
	// OnFallback, when set, is called each time Redis could not be used
	// and the store answered (or a cache write was skipped), with the
	// operation: "read", "fill" or "invalidate". It is called from many
	// goroutines at once and must be quick: it is the hook for a fallback
	// counter metric.
	OnFallback func(op string, err error)
}

// ConsentTextCacheStats are the cache's counters since it was built.
type ConsentTextCacheStats struct {
	// L1Hits and L1Misses count reads the in-process cache answered or
	// passed on (both stay 0 with the L1 disabled).
	L1Hits, L1Misses uint64
	// L2Hits counts reads Redis answered (a cached NotFound included);
	// L2Misses counts reads Redis did not have, answered by the store.
	L2Hits, L2Misses uint64
	// Fallbacks counts operations done without Redis because it failed
	// or the breaker was open (reads served by the store, skipped writes).
	Fallbacks uint64
	// Invalidations counts invalidation messages received from any replica.
	Invalidations uint64
	// Subscriptions counts (re)subscriptions to the invalidation channel;
	// more than one means the subscription was lost and restored.
	Subscriptions uint64
	// Rejected counts entries Redis held and the cache did not serve
	// (each also an L2 miss, answered by the store and refilled): Tampered
	// those whose HTML does not match their SHA-256, Unreadable the rest
	// (another format, another type, language or version).
	Rejected RejectedEntries
}

// RejectedEntries counts the entries found in Redis and refused, by reason.
type RejectedEntries struct {
	Tampered, Unreadable uint64
}

// ConsentTextCache is the read path of consent texts: an in-process L1
// (short TTL, bounded) in front of Redis (longer TTL) in front of the store
// (next). It implements the same port as the store and wraps it, so the
// domain cannot tell it is there.
//
// In Redis each (type, language) has a small pointer key holding the latest
// version, and each version's text sits under its own key:
//
//	<prefix>consent-text:{<type>|<language>}:latest  -> "3" (or "0": none published)
//	<prefix>consent-text:{<type>|<language>}:v3      -> the encoded text
//
// A read is one round trip (a Lua script follows the pointer; the hash tag
// keeps both keys in one cluster slot). A fill only moves the pointer
// forward, so a replica that read an old version from the store before a
// publish cannot overwrite the new one.
//
// InvalidateConsentText, called after a publish, deletes the pointer and
// the text it points at, refills Redis from the store, and announces the
// change on a pub/sub channel; Run subscribes to that channel and drops the
// announced entry from this replica's L1, and after every (re)subscription
// drops the whole L1, since announcements made while it was disconnected
// are lost.
//
// When Redis fails or the breaker is open, reads are served by the store
// with no error to the caller and counted as fallbacks; errors of the store
// itself are returned unchanged and never cached.
type ConsentTextCache struct {
	rdb       goredis.UniversalClient
	co        *Coalescer
	breaker   *Breaker
	next      ports.ConsentTextReader
	prefix    string
	channel   string
	ttl       time.Duration
	negTTL    time.Duration
	l1TTL     time.Duration
	l1Max     int
	pingEvery time.Duration
	clock     ports.Clock
	logger    *slog.Logger
	fallbacks *fallbacks

	l1 atomic.Pointer[memory.ConsentTextCache] // nil when the L1 is disabled

	reads, l2Calls, l2Hits, l2Misses atomic.Uint64
	invalidations, subscriptions     atomic.Uint64
	tampered, unreadable             atomic.Uint64
	tamperLog                        logLimiter
	running                          atomic.Bool
}

// NewConsentTextCache wraps next (the store) with the L1 and Redis caches.
// Call Run in a goroutine for the invalidations of other replicas to reach
// this one's L1.
func NewConsentTextCache(rdb goredis.UniversalClient, b *Breaker, next ports.ConsentTextReader, c ConsentTextCacheConfig) *ConsentTextCache {
	if c.KeyPrefix == "" {
		c.KeyPrefix = DefaultKeyPrefix
	}
	if c.TTL <= 0 {
		c.TTL = DefaultConsentTextTTL
	}
	if c.NegativeTTL == 0 {
		c.NegativeTTL = DefaultConsentTextNegativeTTL
	}
	if c.L1TTL == 0 {
		c.L1TTL = DefaultConsentTextL1TTL
	}
	if c.L1MaxEntries <= 0 {
		c.L1MaxEntries = DefaultConsentTextL1Entries
	}
	if c.PubSubPingInterval <= 0 {
		c.PubSubPingInterval = DefaultPubSubPingInterval
	}
	if c.Clock == nil {
		c.Clock = memory.SystemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Coalescer == nil {
		c.Coalescer = NewCoalescer(rdb, 0)
	}
	ct := &ConsentTextCache{
		rdb:       rdb,
		co:        c.Coalescer,
		breaker:   b,
		next:      next,
		prefix:    c.KeyPrefix + "consent-text:",
		channel:   c.KeyPrefix + "consent-text:invalidate",
		ttl:       c.TTL,
		negTTL:    c.NegativeTTL,
		l1TTL:     c.L1TTL,
		l1Max:     c.L1MaxEntries,
		pingEvery: c.PubSubPingInterval,
		clock:     c.Clock,
		logger:    c.Logger,
		fallbacks: newFallbacks("consent_text_cache", c.Logger, c.OnFallback),
	}
	ct.resetL1()
	return ct
}

// LatestConsentText returns the newest version of (consentType, language)
// from the first level that has it. Errors: those of the store
// (CodeNotFound, CodeUnavailable); a Redis failure is never one of them.
func (c *ConsentTextCache) LatestConsentText(ctx context.Context, consentType, language string) (domain.ConsentText, error) {
	if l1 := c.l1.Load(); l1 != nil {
		c.reads.Add(1)
		return l1.LatestConsentText(ctx, consentType, language)
	}
	return c.readL2(ctx, consentType, language)
}

// InvalidateConsentText makes a newly published version visible: it drops
// this replica's L1 entry, moves the Redis pointer to the store's latest
// version (with its text), and announces the change to every replica. Call
// it after the store has published.
//
// The pointer is moved in one step, by fillScript, which never moves
// it back: a replica still filling from a store read older than the
// publish cannot put the old version back for the Redis TTL. (Deleting the
// keys first and refilling after, as this did before, left that window
// open whenever the refill failed, and the publish still reported
// success.) An error (CodeUnavailable) means the store could not be read,
// or Redis could not be updated or told: other replicas may then serve the
// old version until the TTL passes, so the publisher should report it and
// retry.
func (c *ConsentTextCache) InvalidateConsentText(ctx context.Context, consentType, language string) error {
	c.dropL1(ctx, consentType, language)
	t, err := c.next.LatestConsentText(ctx, consentType, language)
	switch {
	case err == nil:
		if err := c.store(ctx, consentType, language, t); err != nil {
			c.fallbacks.report(ctx, opInvalidate, err)
			return unavailable(err, "move the cached consent text to the new version")
		}
	case domain.IsNotFound(err):
		// Nothing published (a text withdrawn from the store by hand):
		// forget what is cached.
		ptr, textPrefix := c.keys(consentType, language)
		err := c.breaker.Do(ctx, func(ctx context.Context) error {
			return invalidateScript.Run(ctx, c.rdb, []string{ptr}, textPrefix).Err()
		})
		if err != nil && !errors.Is(err, goredis.Nil) {
			c.fallbacks.report(ctx, opInvalidate, err)
			return unavailable(err, "delete cached consent text")
		}
	default:
		return unavailable(err, "read the published consent text")
	}
	msg, err := json.Marshal(invalidation{Type: consentType, Language: language})
	if err != nil {
		return domain.Internal(err, "encode consent text invalidation")
	}
	err = c.breaker.Do(ctx, func(ctx context.Context) error {
		return c.rdb.Publish(ctx, c.channel, msg).Err()
	})
	if err != nil {
		c.fallbacks.report(ctx, opInvalidate, err)
		return unavailable(err, "announce consent text invalidation")
	}
	// A read of this replica between the first drop and the Redis update
	// may have put the old version back into the L1.
	c.dropL1(ctx, consentType, language)
	return nil
}

// Stats returns the cache's counters, for the hit/miss and fallback metrics.
func (c *ConsentTextCache) Stats() ConsentTextCacheStats {
	s := ConsentTextCacheStats{
		L2Hits:        c.l2Hits.Load(),
		L2Misses:      c.l2Misses.Load(),
		Fallbacks:     c.fallbacks.count.Load(),
		Invalidations: c.invalidations.Load(),
		Subscriptions: c.subscriptions.Load(),
		Rejected:      RejectedEntries{Tampered: c.tampered.Load(), Unreadable: c.unreadable.Load()},
	}
	if c.l1TTL > 0 {
		// Every L2 read is an L1 miss; reads is loaded last so it is never
		// behind the misses it includes.
		s.L1Misses = c.l2Calls.Load()
		s.L1Hits = c.reads.Load() - s.L1Misses
	}
	return s
}

// invalidation is the message announcing a new version of a consent text.
type invalidation struct {
	Type     string `json:"type"`
	Language string `json:"language"`
}

// keys returns the pointer key of (consentType, language) and the prefix
// of its text keys (the version number completes them).
func (c *ConsentTextCache) keys(consentType, language string) (ptr, textPrefix string) {
	base := c.prefix + "{" + keyPart(consentType) + "|" + keyPart(language) + "}:"
	return base + "latest", base + "v"
}

// resetL1 replaces the L1 with an empty one (or leaves it nil when
// disabled). Reads in flight on the old one finish there and are dropped.
func (c *ConsentTextCache) resetL1() {
	if c.l1TTL <= 0 {
		return
	}
	c.l1.Store(memory.NewConsentTextCache(l2Reader{c}, c.l1TTL, c.l1Max, c.clock))
}

func (c *ConsentTextCache) dropL1(ctx context.Context, consentType, language string) {
	if l1 := c.l1.Load(); l1 != nil {
		_ = l1.InvalidateConsentText(ctx, consentType, language)
	}
}

// l2Reader is the L1's next level: Redis, then the store.
type l2Reader struct{ c *ConsentTextCache }

func (r l2Reader) LatestConsentText(ctx context.Context, consentType, language string) (domain.ConsentText, error) {
	return r.c.readL2(ctx, consentType, language)
}

// readScript follows the pointer: nil when nothing is cached, {"0"} for a
// cached NotFound, {version} when the text key is gone, else {version, text}.
// KEYS[1] is the pointer, ARGV[1] the text key prefix (same hash tag).
var readScript = newLuaScript(`
local v = redis.call('GET', KEYS[1])
if not v then return false end
if v == '0' then return {v} end
local t = redis.call('GET', ARGV[1] .. v)
if not t then return {v} end
return {v, t}
`)

// fillScript stores a text and moves the pointer to it, unless the pointer
// already names a newer version, and deletes the text key of the version
// the pointer named before (no longer reachable). Reads fill with it, and a
// publish moves the pointer with it in one step, never back. KEYS: pointer,
// text key; ARGV: version, encoded text, TTL in milliseconds, text key
// prefix (same hash tag).
var fillScript = goredis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if (tonumber(cur or '0') or 0) > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
if cur and cur ~= '0' and cur ~= ARGV[1] then redis.call('DEL', ARGV[4] .. cur) end
return 1
`)

// invalidateScript deletes the pointer and the text it names. KEYS[1] is
// the pointer, ARGV[1] the text key prefix.
var invalidateScript = goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1])
if v and v ~= '0' then redis.call('DEL', ARGV[1] .. v) end
return 1
`)

// readL2 answers from Redis, else from the store (filling Redis).
func (c *ConsentTextCache) readL2(ctx context.Context, consentType, language string) (domain.ConsentText, error) {
	ptr, textPrefix := c.keys(consentType, language)
	var reply []any
	err := c.breaker.Do(ctx, func(ctx context.Context) error {
		cmd, err := c.co.runScript(ctx, readScript, []string{ptr}, textPrefix)
		if err != nil {
			return err
		}
		reply, err = cmd.Slice()
		return err
	})
	return c.settleL2(ctx, consentType, language, reply, err)
}

// LatestConsentTextOr implements ports.ConsentTextFallbackReader. With the
// L1 on it reads the L1 twice (which rarely reaches Redis); with the L1 off
// one pipelined round trip asks Redis for both languages.
func (c *ConsentTextCache) LatestConsentTextOr(ctx context.Context, consentType, language, fallback string) (domain.ConsentText, error) {
	if c.l1.Load() != nil || language == fallback {
		t, err := c.LatestConsentText(ctx, consentType, language)
		if domain.IsNotFound(err) && language != fallback {
			return c.LatestConsentText(ctx, consentType, fallback)
		}
		return t, err
	}
	ptr, textPrefix := c.keys(consentType, language)
	fbPtr, fbTextPrefix := c.keys(consentType, fallback)
	var first, second *goredis.Cmd
	err := c.breaker.Do(ctx, func(ctx context.Context) error {
		_, err := c.co.runScripts(ctx, func(withSource bool) []goredis.Cmder {
			first = readScript.cmd(ctx, withSource, []string{ptr}, textPrefix)
			second = readScript.cmd(ctx, withSource, []string{fbPtr}, fbTextPrefix)
			return []goredis.Cmder{first, second}
		})
		return err
	})
	if err != nil {
		// Redis failed: each language from the store, as readL2 does.
		t, err2 := c.settleL2(ctx, consentType, language, nil, err)
		if domain.IsNotFound(err2) {
			return c.settleL2(ctx, consentType, fallback, nil, err)
		}
		return t, err2
	}
	reply, rerr := first.Slice()
	t, err := c.settleL2(ctx, consentType, language, reply, rerr)
	if domain.IsNotFound(err) {
		reply, rerr = second.Slice()
		return c.settleL2(ctx, consentType, fallback, reply, rerr)
	}
	return t, err
}

// settleL2 turns readScript's reply (or err) for (consentType, language)
// into the answer: Redis's when it has one, else the store's, which is then
// cached. A failure of Redis (err other than redis.Nil) is reported and
// answered from the store.
func (c *ConsentTextCache) settleL2(ctx context.Context, consentType, language string, reply []any, err error) (domain.ConsentText, error) {
	c.l2Calls.Add(1)
	switch {
	case errors.Is(err, goredis.Nil):
		// Nothing cached.
	case err != nil:
		if ctx.Err() != nil {
			return domain.ConsentText{}, unavailable(ctx.Err(), "read consent text: caller gone")
		}
		c.fallbacks.report(ctx, opRead, err)
		return c.next.LatestConsentText(ctx, consentType, language)
	default:
		t, found, verdict := c.decodeReply(consentType, language, reply)
		switch verdict {
		case entryServed:
			c.l2Hits.Add(1)
			if !found {
				return domain.ConsentText{}, domain.NotFound("consentType", "no consent text is published for this type and language")
			}
			return t, nil
		case entryTampered:
			c.reportTampered(ctx, consentType, language, t.Version)
		case entryUnreadable:
			c.unreadable.Add(1)
		}
	}
	c.l2Misses.Add(1)
	t, err := c.next.LatestConsentText(ctx, consentType, language)
	switch {
	case err == nil:
		c.fill(ctx, consentType, language, t)
	case domain.IsNotFound(err) && c.negTTL > 0:
		ptr, _ := c.keys(consentType, language)
		c.fillNotFound(ctx, ptr)
	}
	return t, err
}

// entryVerdict is what decodeReply made of an entry.
type entryVerdict int

const (
	entryAbsent     entryVerdict = iota // nothing cached (or the text key expired)
	entryServed                         // a text, or a cached NotFound, to answer with
	entryUnreadable                     // another format, or another type, language or version
	entryTampered                       // a text whose HTML does not match its SHA-256
)

// decodeReply reads readScript's answer for (consentType, language). Only
// an entryServed verdict is an answer; on any other the caller reads the
// store and refills. An entry is unreadable when it was written by an
// incompatible version or names another type or language than its key
// (written by something else sharing the prefix): the store answers
// exactly the type and language asked for, so a text of another would be
// served as the wrong text.
//
// A text whose HTML does not hash to its SHA-256 is refused too: the
// digest is what the consent ledger records as the text the user saw, so
// a text changed or cut short in Redis (by hand, by another writer, by a
// proxy) must never be served under it. On entryTampered t carries only
// the version, for the log. Checking costs one SHA-256 of the text per
// Redis hit, which the L1 spares most reads.
func (c *ConsentTextCache) decodeReply(consentType, language string, reply []any) (t domain.ConsentText, found bool, v entryVerdict) {
	if len(reply) == 0 {
		return t, false, entryAbsent
	}
	ptr, _ := reply[0].(string)
	if ptr == "0" {
		return t, false, entryServed
	}
	if len(reply) < 2 {
		return t, false, entryAbsent
	}
	payload, _ := reply[1].(string)
	t, err := decodeText(payload)
	if err != nil || strconv.Itoa(t.Version) != ptr || t.Type != consentType || t.Language != language {
		return domain.ConsentText{}, false, entryUnreadable
	}
	if !digestMatches(t.HTML, t.SHA256) {
		return domain.ConsentText{Version: t.Version}, false, entryTampered
	}
	return t, true, entryServed
}

// digestMatches reports whether want is the lowercase hex SHA-256 of html,
// as the store writes it.
func digestMatches(html, want string) bool {
	var got [sha256.Size * 2]byte
	sum := sha256.Sum256([]byte(html))
	hex.Encode(got[:], sum[:])
	return string(got[:]) == want
}

// reportTampered counts a refused text and logs it (at most once per
// fallbackLogEvery) by its type, language and version, never its text.
// The version's key is text_version: every serve log line already carries
// the service's own version under "version".
func (c *ConsentTextCache) reportTampered(ctx context.Context, consentType, language string, version int) {
	c.tampered.Add(1)
	suppressed, ok := c.tamperLog.allow(time.Now())
	if !ok {
		return
	}
	c.logger.LogAttrs(ctx, slog.LevelWarn, "cached consent text does not match its SHA-256; served from the store and refilled",
		slog.String("consent_type", consentType), slog.String("language", language), slog.Int("text_version", version),
		slog.Int("suppressed_since_last_log", suppressed))
}

// fill stores t in Redis. It runs after the caller has its answer, so it
// ignores the caller's cancellation (the breaker still bounds it); a
// failure only costs a later miss.
func (c *ConsentTextCache) fill(ctx context.Context, consentType, language string, t domain.ConsentText) {
	ctx = context.WithoutCancel(ctx)
	if err := c.store(ctx, consentType, language, t); err != nil {
		c.fallbacks.report(ctx, opFill, err)
	}
}

// store runs fillScript for t under the breaker.
func (c *ConsentTextCache) store(ctx context.Context, consentType, language string, t domain.ConsentText) error {
	ptr, textPrefix := c.keys(consentType, language)
	version := strconv.Itoa(t.Version)
	return c.breaker.Do(ctx, func(ctx context.Context) error {
		return fillScript.Run(ctx, c.rdb, []string{ptr, textPrefix + version},
			version, encodeText(t), c.ttl.Milliseconds(), textPrefix).Err()
	})
}

// fillNotFound remembers for NegativeTTL that nothing is published, unless
// a version was cached meanwhile.
func (c *ConsentTextCache) fillNotFound(ctx context.Context, ptr string) {
	ctx = context.WithoutCancel(ctx)
	err := c.breaker.Do(ctx, func(ctx context.Context) error {
		err := c.rdb.SetNX(ctx, ptr, "0", c.negTTL).Err()
		return err
	})
	if err != nil {
		c.fallbacks.report(ctx, opFill, err)
	}
}

// textFormat tags the encoding of cached texts; an entry with another tag
// is treated as a miss, so a format change needs no flush.
const textFormat = "ct1"

// encodeText renders t as six header lines (format, version, publish time
// in Unix nanoseconds or "-" for none, SHA-256, type and language quoted)
// followed by the HTML verbatim: cheaper than JSON, which would escape
// every '<' of the HTML.
func encodeText(t domain.ConsentText) string {
	published := "-"
	if !t.PublishedAt.IsZero() {
		published = strconv.FormatInt(t.PublishedAt.UnixNano(), 10)
	}
	var b strings.Builder
	b.Grow(len(t.HTML) + len(t.SHA256) + len(t.Type) + len(t.Language) + 64)
	for _, s := range []string{textFormat, strconv.Itoa(t.Version), published, t.SHA256,
		strconv.Quote(t.Type), strconv.Quote(t.Language)} {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	b.WriteString(t.HTML)
	return b.String()
}

// decodeText parses encodeText's output.
func decodeText(s string) (domain.ConsentText, error) {
	var f [6]string
	for i := range f {
		var ok bool
		if f[i], s, ok = strings.Cut(s, "\n"); !ok {
			return domain.ConsentText{}, errors.New("truncated header")
		}
	}
	if f[0] != textFormat {
		return domain.ConsentText{}, fmt.Errorf("unknown format %q", f[0])
	}
	var t domain.ConsentText
	var err error
	if t.Version, err = strconv.Atoi(f[1]); err != nil {
		return domain.ConsentText{}, fmt.Errorf("version: %w", err)
	}
	if f[2] != "-" {
		ns, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return domain.ConsentText{}, fmt.Errorf("publish time: %w", err)
		}
		t.PublishedAt = time.Unix(0, ns).UTC()
	}
	t.SHA256 = f[3]
	if t.Type, err = strconv.Unquote(f[4]); err != nil {
		return domain.ConsentText{}, fmt.Errorf("type: %w", err)
	}
	if t.Language, err = strconv.Unquote(f[5]); err != nil {
		return domain.ConsentText{}, fmt.Errorf("language: %w", err)
	}
	t.HTML = s
	return t, nil
}
