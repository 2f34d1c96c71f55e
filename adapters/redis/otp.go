package redis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

var (
	_ ports.OTPDedupe   = (*OTPGuard)(nil)
	_ ports.OTPThrottle = (*OTPGuard)(nil)
)

// OTPFallback is the guard used while Redis cannot be: the per-replica
// in-process memory.OTPGuard unless configured otherwise.
type OTPFallback interface {
	ports.OTPDedupe
	ports.OTPThrottle
}

// OTPGuardConfig configures an OTPGuard. The zero value gives the defaults.
type OTPGuardConfig struct {
	// KeyPrefix starts every key ("" means DefaultKeyPrefix). Replicas
	// must share it, or each would dedupe and throttle on its own.
	KeyPrefix string
	// Fallback answers while Redis cannot (nil means
	// memory.NewOTPGuard(Clock)).
	Fallback OTPFallback
	// Clock drives the default fallback's TTLs and windows (nil means the
	// system clock). Redis uses its own clock.
	Clock ports.Clock
	// Logger receives the (rate-limited) fallback logs.
	Logger *slog.Logger
	// Coalescer sends the guard's scripts, several concurrent ones in one
	// round trip (nil: one of its own with DefaultCoalescerLanes). Each
	// script is safe to run twice (see OTPGuard), as a Coalescer requires:
	// go-redis repeats a failed round trip whole.
	Coalescer *Coalescer
	// SettleEvery is how often Run writes the outcomes owed to Redis (see
	// finishes) while there are any (0 means DefaultSettleEvery).
	SettleEvery time.Duration
	// OnFallback, when set, is called each time the fallback answered
	// instead of Redis, with the operation: "begin", "finish", "allow" or
	// "refund".
	// It is called from many goroutines at once and must be quick: it is
	// the hook for a fallback counter metric.
	OnFallback func(op string, err error)
}

// OTPGuardStats are the guard's counters since it was built.
type OTPGuardStats struct {
	// Fallbacks counts operations the in-process fallback answered.
	Fallbacks uint64
	// Owed is how many send outcomes this replica owes Redis now (see
	// finishes): a gauge, not a count since start.
	Owed int64
}

// OTPGuard is the OTP dedupe and throttle shared by every replica through
// Redis, atomic under concurrency:
//
//   - Dedupe (BeginOTP) is one SET key pending|<token> NX PX ttl, and when
//     the key exists, its outcome, in one Lua script; FinishOTP replaces
//     its own claim with the outcome (see finishScript) and keeps the
//     key's TTL, so the dedupe window runs from the first request. Keys
//     are <prefix>otp:dedupe:<key>, where key is the keyed hash the domain
//     computes: no code ever reaches Redis.
//   - Throttle (AllowOTP) is a sliding-window log in a sorted set per
//     process, <prefix>otp:sends:<sha256(processId)[:32]>, trimmed, counted
//     and appended in one Lua script on Redis' own clock (so replicas with
//     skewed clocks agree): "limit per window" holds for every window-long
//     span, not per calendar slot, and a refused send is not logged, so
//     hammering does not extend the lock-out.
//
// When Redis fails or the breaker is open, the fallback (a per-replica
// in-process guard) answers, logged at a bounded rate and counted: sends
// stay bounded per replica, never unlimited. To make that fallback useful
// mid-window, every claim, outcome and allowed send Redis accepts is also
// recorded in the fallback, and for the keys and processes the fallback
// answered for during an outage (outage), what it holds and Redis never saw
// is respected when Redis answers again: a code claimed there is a repeat,
// and its sends count against the limit. Once Redis answers again it is
// used again. The other way round, a send claimed in Redis that finishes
// while Redis cannot be written owes Redis its outcome, written with this
// replica's next call Redis answers or by Run within about a second (see
// finishes, Run), so a retry on any replica is not left waiting for a
// claim nobody will finish.
//
// The scripts are safe to run twice, as go-redis sends a command (or a
// Coalescer's pipeline) again when its reply is late: the claim and the
// throttle check carry a token of their call and answer a repeat as the
// first run; a finish finds its own outcome on a repeat.
type OTPGuard struct {
	rdb         goredis.UniversalClient
	co          *Coalescer // the scripts' round trips, shared with concurrent callers
	breaker     *Breaker
	prefix      string
	fallback    OTPFallback
	fallbacks   *fallbacks
	clock       ports.Clock
	outage      outage
	finishes    finishes
	settleEvery time.Duration // Run's period
}

// outage remembers, until their window ends, the dedupe keys and the
// processes the fallback answered for while Redis failed: only those can
// have claims and sends Redis never saw, so only for those is the fallback
// consulted once Redis answers again. (Consulting it for every call made a
// resend just past the dedupe window a repeat: the fallback's entries can
// outlive Redis's by the length of a send.) It holds at most
// maxOutageEntries; past that, during a long outage, further entries are
// not remembered, and their calls are decided by Redis alone once it is
// back, as before this existed.
type outage struct {
	n     atomic.Int64 // entries held: Redis-healthy calls skip the lock
	mu    sync.Mutex
	until map[string]time.Time
}

// maxOutageEntries bounds each of the guard's per-replica maps of
// outage bookkeeping (outage, finishes).
const maxOutageEntries = 10_000

// makeRoom reports whether m can take one more entry within
// maxOutageEntries, first dropping the entries that expired by now
// (expires gives an entry's end) when it is full.
func makeRoom[V any](m map[string]V, now time.Time, expires func(V) time.Time) bool {
	if len(m) < maxOutageEntries {
		return true
	}
	dropExpired(m, now, expires)
	return len(m) < maxOutageEntries
}

// dropExpired deletes the entries of m that expired by now.
func dropExpired[V any](m map[string]V, now time.Time, expires func(V) time.Time) {
	for k, v := range m {
		if !now.Before(expires(v)) {
			delete(m, k)
		}
	}
}

func (o *outage) add(k string, now, until time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.until == nil {
		o.until = make(map[string]time.Time)
	}
	if !makeRoom(o.until, now, func(t time.Time) time.Time { return t }) {
		o.n.Store(int64(len(o.until)))
		return
	}
	if prev, ok := o.until[k]; !ok || until.After(prev) {
		o.until[k] = until
	}
	o.n.Store(int64(len(o.until)))
}

func (o *outage) has(k string, now time.Time) bool {
	if o.n.Load() == 0 {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	t, ok := o.until[k]
	if ok && !now.Before(t) {
		delete(o.until, k)
		o.n.Store(int64(len(o.until)))
		return false
	}
	return ok
}

// NewOTPGuard returns the Redis OTP guard.
func NewOTPGuard(rdb goredis.UniversalClient, b *Breaker, c OTPGuardConfig) *OTPGuard {
	if c.KeyPrefix == "" {
		c.KeyPrefix = DefaultKeyPrefix
	}
	if c.Clock == nil {
		c.Clock = memory.SystemClock{}
	}
	if c.Fallback == nil {
		c.Fallback = memory.NewOTPGuard(c.Clock)
	}
	if c.Coalescer == nil {
		c.Coalescer = NewCoalescer(rdb, 0)
	}
	if c.SettleEvery <= 0 {
		c.SettleEvery = DefaultSettleEvery
	}
	return &OTPGuard{
		rdb:         rdb,
		co:          c.Coalescer,
		breaker:     b,
		prefix:      c.KeyPrefix + "otp:",
		fallback:    c.Fallback,
		fallbacks:   newFallbacks("otp_guard", c.Logger, c.OnFallback),
		clock:       c.Clock,
		settleEvery: c.SettleEvery,
	}
}

// beginScript claims KEYS[1] with ARGV[1] (the pending outcome and this
// call's token, "pending|<token>") for ARGV[2] ms, or returns the outcome
// held: {1} when claimed, else {0, outcome} (without any token).
//
// It must be safe to run twice: go-redis sends a command again when its
// reply did not come within the read timeout, and the first run may have
// claimed the key. The retry finds its own token and answers {1} again,
// instead of "pending" for the caller's own claim (which nobody would ever
// finish: the code would not be sent for the whole dedupe window).
var beginScript = newLuaScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1} end
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then return {1} end
if v then
  local sep = string.find(v, '|', 1, true)
  if sep then v = string.sub(v, 1, sep - 1) end
end
return {0, v}
`)

// finishScript sets KEYS[1] to the outcome ARGV[1], keeping its TTL, when
// it still holds the claim ARGV[3], or for ARGV[2] ms when the key is gone
// (the claim expired, or Redis lost it): 1 when set (or already set to
// ARGV[1]), 0 when the key holds something else. A send that outlived its
// claim then does not overwrite the claim another call made after it
// expired, nor that call's outcome.
//
// An empty ARGV[3] replaces whatever the key holds, as before claims were
// kept: the claim was made through the fallback during an outage (Redis
// never saw it), or past the cap of kept claims, so its value is unknown.
// Safe to run twice: the second run finds its outcome.
var finishScript = newLuaScript(`
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if ARGV[3] == '' or v == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
  return 1
end
if v == ARGV[1] then return 1 end
return 0
`)

// allowScript trims the send log KEYS[1] to the window of ARGV[1] ms ending
// now, and logs a send (member ARGV[3], the send's id) if fewer than
// ARGV[2] remain: 1 allowed, 0 refused. An id already logged answers 1:
// go-redis may send the script again after a late reply, and the first run
// must not count twice.
var allowScript = newLuaScript(`
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then return 1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return 1
`)

// callToken is a fresh random token that tells one call's script runs from
// another's.
func callToken() string { return strconv.FormatUint(rand.Uint64(), 36) }

// BeginOTP claims key for ttl; see ports.OTPDedupe. Errors: CodeInvalid
// for an empty key or a non-positive ttl, CodeUnavailable only when the
// caller's context ended (a Redis failure falls back instead).
func (g *OTPGuard) BeginOTP(ctx context.Context, key string, ttl time.Duration) (bool, domain.OTPOutcome, error) {
	if key == "" {
		return false, "", domain.Invalid("key", "must not be empty")
	}
	if ttl <= 0 {
		return false, "", domain.Invalid("ttl", "must be positive")
	}
	var reply []any
	claimValue := string(domain.OTPPending) + "|" + callToken()
	err := g.breaker.Do(ctx, func(ctx context.Context) error {
		cmd, err := g.co.runScript(ctx, beginScript, []string{g.dedupeKey(key)}, claimValue, ms(ttl))
		if err != nil {
			return err
		}
		reply, err = cmd.Slice()
		return err
	})
	if err == nil {
		claimed, prior, perr := parseBegin(reply)
		err = perr
		if err == nil {
			// Redis answers again: outcomes it could not take are written
			// now, and a retry it answered "pending" for a send this
			// replica finished meanwhile gets that send's outcome.
			if g.finishes.n.Load() > 0 {
				if out, ok := g.settle(ctx, key); ok && !claimed {
					return false, out, nil
				}
			}
			if !claimed {
				return false, prior, nil
			}
			now := g.clock.Now()
			g.finishes.claimed(key, claim{value: claimValue, expires: now.Add(ttl)}, now)
			// Mirror the claim, so a retry served by the fallback during
			// an outage still sees this send in flight. If the fallback
			// answered for this key while Redis failed, it may hold a claim
			// Redis never saw, in flight or done within its window: then
			// this is a repeat, answered as the fallback says.
			mine, held, merr := g.fallback.BeginOTP(ctx, key, ttl)
			if merr == nil && !mine && g.outage.has(outageBegin+key, now) {
				if held != domain.OTPPending {
					// Done: tell Redis, so every replica answers it. (A send
					// still in flight tells Redis when it finishes, replacing
					// this claim.)
					c, tracked := g.finishes.finished(key)
					err := g.breaker.Do(ctx, func(ctx context.Context) error {
						_, err := g.co.runScript(ctx, finishScript, []string{g.dedupeKey(key)}, string(held), ms(ttl), claimValue)
						return err
					})
					if err != nil && tracked {
						// Redis failed again: this call's claim is owed the
						// outcome, as a finish would be.
						g.finishes.owe(key, owedFinish{claim: c, outcome: held}, g.clock.Now())
					}
				}
				return false, held, nil
			}
			return true, "", nil
		}
	}
	if ctx.Err() != nil {
		return false, "", unavailable(ctx.Err(), "begin OTP dedupe: caller gone")
	}
	g.fallbacks.report(ctx, opBegin, err)
	now := g.clock.Now()
	g.outage.add(outageBegin+key, now, now.Add(ttl))
	return g.fallback.BeginOTP(ctx, key, ttl)
}

// The outage entries of dedupe keys and of processes.
const (
	outageBegin = "begin:"
	outageAllow = "allow:"
)

func parseBegin(reply []any) (claimed bool, prior domain.OTPOutcome, err error) {
	if len(reply) == 0 {
		return false, "", errors.New("redis: empty reply to OTP claim")
	}
	flag, _ := reply[0].(int64)
	if flag == 1 {
		return true, "", nil
	}
	if len(reply) < 2 {
		return false, "", errors.New("redis: OTP claim reply without the prior outcome")
	}
	v, _ := reply[1].(string)
	if v == "" {
		return false, "", errors.New("redis: OTP claim reply with an empty outcome")
	}
	return false, domain.OTPOutcome(v), nil
}

// FinishOTP records the outcome of the claimed send, keeping the claim's
// TTL (or for ttl if the claim has expired), unless the key holds another
// call's claim or outcome by then (the claim expired and was made again:
// that call's outcome is the one to keep). The outcome is also recorded
// in the fallback; when Redis cannot be written, the fallback alone holds
// it and nil is returned. Errors: CodeInvalid, CodeUnavailable only when
// the caller's context ended.
func (g *OTPGuard) FinishOTP(ctx context.Context, key string, outcome domain.OTPOutcome, ttl time.Duration) error {
	switch {
	case key == "":
		return domain.Invalid("key", "must not be empty")
	case outcome == "":
		return domain.Invalid("outcome", "must not be empty")
	case ttl <= 0:
		return domain.Invalid("ttl", "must be positive")
	}
	if err := g.fallback.FinishOTP(ctx, key, outcome, ttl); err != nil {
		return err
	}
	// The outcome replaces this replica's own claim only (finishScript);
	// a claim it did not keep (the map full) is replaced whatever the key
	// holds, as before claims were kept.
	c, tracked := g.finishes.finished(key)
	err := g.breaker.Do(ctx, func(ctx context.Context) error {
		_, err := g.co.runScript(ctx, finishScript, []string{g.dedupeKey(key)}, string(outcome), ms(ttl), c.value)
		return err
	})
	if err == nil {
		if g.finishes.n.Load() > 0 {
			g.settle(ctx, "")
		}
		return nil
	}
	if tracked {
		// Owed to Redis, which still holds the claim: written when Redis
		// answers again (see finishes).
		g.finishes.owe(key, owedFinish{claim: c, outcome: outcome}, g.clock.Now())
	}
	if ctx.Err() != nil {
		return unavailable(ctx.Err(), "finish OTP dedupe: caller gone")
	}
	g.fallbacks.report(ctx, opFinish, err)
	return nil
}

// releaseScript deletes KEYS[1] while it holds the claim ARGV[1]: 1 when
// deleted or already gone, 0 when the key holds anything else (an outcome,
// another call's claim). Safe to run twice: the second run finds the key
// gone and answers 1, unless a retry claimed it between the two runs; then
// it answers 0, and the caller's FinishOTP writes nothing in Redis (it
// replaces only its own claim) but records its outcome in this replica's
// mirror, over the retry's mirrored claim: a window of one round trip.
var releaseScript = newLuaScript(`
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
if not v then return 1 end
return 0
`)

// ReleaseOTP frees key while Redis holds this replica's claim of it, and
// the fallback's mirror of that claim; see ports.OTPDedupe. A claim this
// replica did not keep (made through the fallback during an outage, past
// the cap of kept claims, or while another claim of the key was still
// unfinished here) is not released, nor is any while Redis cannot be
// asked: released is then false, and the caller's FinishOTP records an
// outcome as before (owed to Redis if need be). Errors: CodeInvalid.
func (g *OTPGuard) ReleaseOTP(ctx context.Context, key string) (bool, error) {
	if key == "" {
		return false, domain.Invalid("key", "must not be empty")
	}
	c, tracked := g.finishes.claim(key)
	if !tracked {
		return false, nil
	}
	// The mirror first: released after Redis, it could expire the claim a
	// retry on this replica made in Redis meanwhile (and mirrored onto the
	// pending entry still there). If Redis then refuses, the caller's
	// FinishOTP records the outcome in both.
	if _, err := g.fallback.ReleaseOTP(ctx, key); err != nil {
		return false, err
	}
	var released int64
	err := g.breaker.Do(ctx, func(ctx context.Context) error {
		cmd, err := g.co.runScript(ctx, releaseScript, []string{g.dedupeKey(key)}, c.value)
		if err != nil {
			return err
		}
		released, err = cmd.Int64()
		return err
	})
	if err != nil || released != 1 {
		// Not counted as a fallback: the caller's FinishOTP follows, and
		// is counted if Redis fails it too.
		return false, nil
	}
	g.finishes.forget(key, c)
	return true, nil
}

// AllowOTP counts one send for processID if it stays within limit sends
// per window; see ports.OTPThrottle. sendID is the send's member in the
// process's log, so a repeat of the script (a late reply) counts it once
// and RefundOTP finds it. Errors: CodeInvalid for an empty sendID, a limit
// below 1 or a non-positive window, CodeUnavailable only when the caller's
// context ended.
func (g *OTPGuard) AllowOTP(ctx context.Context, processID, sendID string, limit int, window time.Duration) (bool, error) {
	if sendID == "" {
		return false, domain.Invalid("sendID", "must not be empty")
	}
	if limit < 1 {
		return false, domain.Invalid("limit", "must be at least 1")
	}
	if window <= 0 {
		return false, domain.Invalid("window", "must be positive")
	}
	var allowed int64
	err := g.breaker.Do(ctx, func(ctx context.Context) error {
		cmd, err := g.co.runScript(ctx, allowScript, []string{g.sendsKey(processID)}, ms(window), limit, sendID)
		if err != nil {
			return err
		}
		allowed, err = cmd.Int64()
		return err
	})
	if err == nil {
		if allowed != 1 {
			return false, nil
		}
		// Mirror the send, so the fallback knows this window's sends if
		// Redis fails before it ends. If the fallback allowed sends of
		// this process while Redis failed, Redis never saw them: when the
		// fallback's log is full, the send is refused, and taken off
		// Redis's log again.
		ok, merr := g.fallback.AllowOTP(ctx, processID, sendID, limit, window)
		if merr == nil && !ok && g.outage.has(outageAllow+processID, g.clock.Now()) {
			_ = g.breaker.Do(ctx, func(ctx context.Context) error {
				return g.rdb.ZRem(ctx, g.sendsKey(processID), sendID).Err()
			})
			return false, nil
		}
		return true, nil
	}
	if ctx.Err() != nil {
		return false, unavailable(ctx.Err(), "OTP throttle: caller gone")
	}
	g.fallbacks.report(ctx, opAllow, err)
	now := g.clock.Now()
	g.outage.add(outageAllow+processID, now, now.Add(window))
	return g.fallback.AllowOTP(ctx, processID, sendID, limit, window)
}

// RefundOTP takes the send sendID off processID's log in Redis and in the
// fallback (which mirrors it); see ports.OTPThrottle. ZREM of a member
// that is not there changes nothing, so a repeat is harmless. When Redis
// cannot be written the send stays counted there (logged and counted as a
// fallback): the user may be throttled sooner, never allowed more sends.
// Errors: CodeInvalid, CodeUnavailable only when the caller's context
// ended.
func (g *OTPGuard) RefundOTP(ctx context.Context, processID, sendID string) error {
	if sendID == "" {
		return domain.Invalid("sendID", "must not be empty")
	}
	if err := g.fallback.RefundOTP(ctx, processID, sendID); err != nil {
		return err
	}
	err := g.breaker.Do(ctx, func(ctx context.Context) error {
		return g.co.Process(ctx, goredis.NewIntCmd(ctx, "zrem", g.sendsKey(processID), sendID))
	})
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return unavailable(ctx.Err(), "OTP throttle refund: caller gone")
	}
	g.fallbacks.report(ctx, opRefund, err)
	return nil
}

// Stats returns the guard's counters, for the fallback metric.
func (g *OTPGuard) Stats() OTPGuardStats {
	return OTPGuardStats{Fallbacks: g.fallbacks.count.Load(), Owed: g.finishes.n.Load()}
}

func (g *OTPGuard) dedupeKey(key string) string { return g.prefix + "dedupe:" + keyPart(key) }

// sendsKey hashes the process id: it is not secret, but hashing bounds the
// key's length and keeps its characters plain whatever the caller sent.
func (g *OTPGuard) sendsKey(processID string) string {
	sum := sha256.Sum256([]byte(processID))
	return g.prefix + "sends:" + hex.EncodeToString(sum[:16])
}

// ms renders d in whole milliseconds, at least 1 (PX 0 is an error).
func ms(d time.Duration) int64 { return max(d.Milliseconds(), 1) }
