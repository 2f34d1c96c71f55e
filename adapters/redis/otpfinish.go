package redis

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bankkit/onboarding-adapter/domain"
)

// finishes keeps what this replica owes Redis when a send it claimed in
// Redis finishes while Redis cannot be written: the outcome, with the claim
// it replaces. Without it, Redis kept the claim "pending" until its window
// ended, and a retry of the code after Redis came back (on any replica)
// waited for a send that had long finished, then answered otpSent false
// although the SMS went out.
//
// claims holds the claim value ("pending|<token>") of every send this
// replica claimed in Redis and has not finished: a kept outcome replaces
// only its own claim, never a later claim of the key (made after the first
// one expired) nor an outcome Redis already holds. Both maps are bounded by
// maxOutageEntries; past that a finish is not kept, as before this existed.
type finishes struct {
	n        atomic.Int64 // len(unsynced): calls with nothing owed skip the lock
	mu       sync.Mutex
	claims   map[string]claim
	unsynced map[string]owedFinish
}

// claim is a claim this replica made in Redis: its value and when Redis
// lets it expire.
type claim struct {
	value   string
	expires time.Time
}

// owedFinish is an outcome Redis has not taken yet, for the claim it
// replaces; once the claim has expired in Redis nothing is left to replace.
type owedFinish struct {
	claim
	outcome domain.OTPOutcome
}

// DefaultSettleEvery is how often OTPGuard.Run looks for owed outcomes: a
// replica that serves no OTP send after Redis (and the breaker) let it
// through again still writes them within about this long.
const DefaultSettleEvery = time.Second

// settleAtStop bounds the last attempt to write owed outcomes when Run
// ends (the replica stops): a claim left pending in Redis makes other
// replicas answer a retry of its code as in flight until its window ends.
// That attempt goes around the breaker, which may still be open for a
// while after Redis is back; the bound keeps it from holding up the stop.
const settleAtStop = time.Second

// Run writes the outcomes this replica owes Redis (see finishes), all of
// them, each SettleEvery while there are any, and once more when ctx ends,
// then returns nil. Sends also write them as they go (BeginOTP,
// FinishOTP); Run covers a replica that serves none once Redis is back,
// and a stop. With nothing owed a tick costs one atomic load.
func (g *OTPGuard) Run(ctx context.Context) error {
	t := time.NewTicker(g.settleEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if g.finishes.n.Load() > 0 {
				sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleAtStop)
				g.settleAll(sctx, directly)
				cancel()
				// What Redis did not take is lost with this replica: say so,
				// since until those claims end other replicas answer a retry
				// of their codes as still in flight.
				if left := g.finishes.n.Load(); left > 0 {
					g.fallbacks.logger.LogAttrs(context.WithoutCancel(ctx), slog.LevelWarn,
						"OTP send outcomes not written to Redis at stop; other replicas answer retries of those codes as in flight until their dedupe window ends",
						slog.String("component", g.fallbacks.component), slog.Int64("outcomes", left))
				}
			}
			return nil
		case <-t.C:
			g.settleAll(ctx, g.breaker.Do)
		}
	}
}

// directly runs fn without the breaker.
func directly(ctx context.Context, fn func(context.Context) error) error { return fn(ctx) }

// settleAll writes owed outcomes a batch at a time, through do, until none
// is owed or a batch leaves as many owed as before (Redis did not answer,
// or ctx ended).
func (g *OTPGuard) settleAll(ctx context.Context, do func(context.Context, func(context.Context) error) error) {
	for n := g.finishes.n.Load(); n > 0 && ctx.Err() == nil; {
		g.settleVia(ctx, "", do)
		left := g.finishes.n.Load()
		if left >= n {
			return
		}
		n = left
	}
}

// resyncBatch bounds the owed outcomes written by one call: after a long
// outage the first calls each carry a share, in one round trip each.
const resyncBatch = 64

// claimed remembers a claim this replica made. A claim never finished (its
// sender panicked) is dropped once it has expired, when room is needed.
//
// A key claimed again while an earlier claim of this replica is still
// unfinished (that claim expired in Redis, or Redis lost its keys in a
// restart) is forgotten, both claims: FinishOTP and ReleaseOTP do not say
// which of the two sends they are for, and naming the later claim for the
// earlier send would let that send's release free a key whose SMS is in
// flight. Both finishes then write whatever the key holds (the one written
// last stays), as before claims were kept, and neither send is released.
func (f *finishes) claimed(key string, c claim, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.claims == nil {
		f.claims = make(map[string]claim)
	}
	if _, twice := f.claims[key]; twice {
		delete(f.claims, key)
		return
	}
	if makeRoom(f.claims, now, claimExpires) {
		f.claims[key] = c
	}
}

// finished forgets the claim of key and returns it.
func (f *finishes) finished(key string) (claim, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.claims[key]
	delete(f.claims, key)
	return c, ok
}

// claim returns the claim of key this replica keeps, if any.
func (f *finishes) claim(key string) (claim, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.claims[key]
	return c, ok
}

// forget forgets the claim of key if it is still c (a released claim).
func (f *finishes) forget(key string, c claim) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.claims[key] == c {
		delete(f.claims, key)
	}
}

// owe keeps an outcome Redis could not take, until the claim it replaces
// has expired in Redis.
func (f *finishes) owe(key string, o owedFinish, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unsynced == nil {
		f.unsynced = make(map[string]owedFinish)
	}
	if makeRoom(f.unsynced, now, owedExpires) {
		f.unsynced[key] = o
	}
	f.n.Store(int64(len(f.unsynced)))
}

func claimExpires(c claim) time.Time     { return c.expires }
func owedExpires(o owedFinish) time.Time { return o.expires }

// owed returns up to resyncBatch owed outcomes, first key's when it has
// one, dropping those whose claim has expired.
func (f *finishes) owed(key string, now time.Time) (keys []string, owed []owedFinish) {
	f.mu.Lock()
	defer f.mu.Unlock()
	dropExpired(f.unsynced, now, owedExpires)
	f.n.Store(int64(len(f.unsynced)))
	if o, ok := f.unsynced[key]; ok {
		keys, owed = append(keys, key), append(owed, o)
	}
	for k, o := range f.unsynced {
		if len(keys) == resyncBatch {
			break
		}
		if k != key {
			keys, owed = append(keys, k), append(owed, o)
		}
	}
	return keys, owed
}

// paid forgets the owed outcome of key, unless a newer one replaced it.
func (f *finishes) paid(key string, c claim) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if o, ok := f.unsynced[key]; ok && o.claim == c {
		delete(f.unsynced, key)
		f.n.Store(int64(len(f.unsynced)))
	}
}

// settleScript sets KEYS[1] to ARGV[2], keeping its TTL, when it still
// holds the claim ARGV[1]: 1 when set (or already set to ARGV[2]), 0 when
// the key holds anything else (another outcome, a later claim) or has
// expired. Safe to run twice: the second run finds its outcome and answers
// as the first.
var settleScript = newLuaScript(`
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
if v == ARGV[2] then return 1 end
return 0
`)

// settle writes owed outcomes to Redis through the breaker, first key's,
// up to resyncBatch in one round trip, and reports whether key's outcome
// replaced its claim (then a retry that Redis answered "pending" is
// answered with it). An outcome Redis took, or found nothing to replace
// for, is no longer owed; one that could not be sent stays owed.
func (g *OTPGuard) settle(ctx context.Context, key string) (domain.OTPOutcome, bool) {
	return g.settleVia(ctx, key, g.breaker.Do)
}

// settleVia is settle with do in place of the breaker.
func (g *OTPGuard) settleVia(ctx context.Context, key string, do func(context.Context, func(context.Context) error) error) (domain.OTPOutcome, bool) {
	keys, owed := g.finishes.owed(key, g.clock.Now())
	if len(keys) == 0 {
		return "", false
	}
	var cmds []goredis.Cmder
	err := do(ctx, func(ctx context.Context) error {
		var err error
		cmds, err = g.co.runScripts(ctx, func(withSource bool) []goredis.Cmder {
			cs := make([]goredis.Cmder, len(keys))
			for i, k := range keys {
				cs[i] = settleScript.cmd(ctx, withSource, []string{g.dedupeKey(k)}, owed[i].value, string(owed[i].outcome))
			}
			return cs
		})
		return err
	})
	if err != nil {
		return "", false
	}
	var (
		out  domain.OTPOutcome
		took bool
	)
	for i, c := range cmds {
		set, err := c.(*goredis.Cmd).Int64()
		if err != nil {
			continue
		}
		g.finishes.paid(keys[i], owed[i].claim)
		if keys[i] == key && set == 1 {
			out, took = owed[i].outcome, true
		}
	}
	return out, took
}
