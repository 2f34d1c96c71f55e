package memory

import (
	"context"
	"crypto/sha256"
	"hash/maphash"
	"math"
	"sync"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

var (
	_ ports.OTPDedupe   = (*OTPGuard)(nil)
	_ ports.OTPThrottle = (*OTPGuard)(nil)
)

// otpSweepInterval is how often OTPGuard drops expired entries. Memory is
// bounded by what arrives within the TTL or window plus this interval, and
// by the guard's limit.
const otpSweepInterval = time.Minute

// DefaultOTPProcesses bounds the throttled keys an OTPGuard tracks,
// processes and (domain/otp) the keyed hashes of phone numbers alike:
// five times the processes a large bank's onboarding sends OTPs to in the
// 15-minute throttle window (10 per second), about 6 MB at the cap with one
// send each. At that rate a number's hour-long log is forgotten after
// about 40 minutes of others' keys; at a bank's usual rate, never. Past it
// the oldest keys are forgotten, so a flood of fresh process ids cannot
// exhaust a replica's memory; only a key among the oldest of more than this
// many within its window regains its throttle budget.
const DefaultOTPProcesses = 50_000

// DefaultOTPDedupeKeys bounds the dedupe keys an OTPGuard tracks. A key
// matters only for the dedupe window (60 s by default), not the throttle's
// 15 minutes, so this is five times a large bank's sends (10 per second)
// within a window of 200 s, about 1 MB at the cap. Past it the oldest keys
// are forgotten: under a flood of more than this many sends within a
// window, a retry of one of the oldest codes is sent again, and the
// throttle still bounds it. Sizing it like the processes held 4 MB more
// (a fifth of the live heap on PostgreSQL + Redis) for keys long expired.
const DefaultOTPDedupeKeys = 10_000

// OTPGuard is the OTP dedupe and throttle of a single replica.
//
// Dedupe keeps each key's outcome until its TTL passes; an expired entry
// behaves exactly as an absent one. The throttle is a sliding log: it keeps
// the times of the sends allowed within the window, so "5 per 15 minutes"
// holds for every 15-minute span, not only per calendar slot. A refused send
// is not logged, so hammering does not extend the lock-out. Expired entries
// are swept at most once per otpSweepInterval, on the next call.
//
// Entries are compact, because on PostgreSQL + Redis every send Redis
// accepts is mirrored here (adapters/redis): keys are held as a 128-bit
// digest, not the caller's string, and times as offsets from the guard's
// start: about 230 bytes a dedupe key and a process with one send
// (TestOTPGuardBytesPerSend), about 8 MB at the default caps with one send
// each (TestOTPGuardAtDefaultCaps).
type OTPGuard struct {
	clock ports.Clock
	start time.Time    // times are kept as offsets from it (monotonic when clock's is)
	seed  maphash.Seed // of the send ids' hashes

	mu          sync.Mutex
	dedupe      map[otpKey]otpEntry
	sends       map[otpKey]sendLog
	dedupeOrder fifo[otpSlot]
	sendsOrder  fifo[otpSlot]
	dedupeChurn churn
	sendsChurn  churn
	gen         uint64 // the generation of the last entry added
	nextSweep   time.Duration
}

// otpKey is the first 128 bits of the SHA-256 of a dedupe key or process
// id: a quarter of a hex dedupe key's size, and no two of the keys a guard
// holds share one in practice (2^-128 a pair), so it dedupes and throttles
// exactly as the string would.
type otpKey [16]byte

// otpKeyOf digests s without copying it to the heap when it is of usual size.
func otpKeyOf(s string) otpKey {
	var buf [128]byte
	sum := sha256.Sum256(append(buf[:0], s...))
	return otpKey(sum[:16])
}

type otpEntry struct {
	expires time.Duration // since start
	gen     uint64
	outcome domain.OTPOutcome // OTPPending until FinishOTP
}

type sendLog struct {
	times  []sent // allowed sends, oldest first
	window time.Duration
	gen    uint64
}

// sent is one allowed send: when, since start, and a 64-bit hash of its
// send id, which RefundOTP looks for (two ids of one process's window
// share one with odds of 2^-64 a pair).
type sent struct {
	at time.Duration
	id uint64
}

// otpSlot is an entry's place in the order of additions. A swept entry's
// key may be added again later; the generation tells the new entry from
// the old slot, so the old slot's turn to be forgotten passes it by.
type otpSlot struct {
	key otpKey
	gen uint64
}

// NewOTPGuard returns an empty guard bounded by DefaultOTPDedupeKeys and
// DefaultOTPProcesses; clock drives TTLs and windows.
func NewOTPGuard(clock ports.Clock) *OTPGuard {
	return NewOTPGuardLimits(clock, DefaultOTPDedupeKeys, DefaultOTPProcesses)
}

// NewOTPGuardLimit returns an empty guard that tracks at most limit dedupe
// keys and limit processes (below 1: unbounded).
func NewOTPGuardLimit(clock ports.Clock, limit int) *OTPGuard {
	return NewOTPGuardLimits(clock, limit, limit)
}

// NewOTPGuardLimits returns an empty guard that tracks at most keys dedupe
// keys and processes throttled processes (each below 1: unbounded).
func NewOTPGuardLimits(clock ports.Clock, keys, processes int) *OTPGuard {
	return &OTPGuard{
		clock:       clock,
		start:       clock.Now(),
		seed:        maphash.MakeSeed(),
		dedupe:      make(map[otpKey]otpEntry),
		sends:       make(map[otpKey]sendLog),
		dedupeOrder: fifo[otpSlot]{limit: keys},
		sendsOrder:  fifo[otpSlot]{limit: processes},
	}
}

// track gives key, about to be added to m, a fresh generation and its
// place in order, and forgets the entry whose place it takes unless that
// entry was swept and added anew since, counting the deletion in c. The
// caller holds mu, and compacts m after adding key.
func track[V any](m map[otpKey]V, c *churn, order *fifo[otpSlot], gen *uint64, key otpKey, genOf func(V) uint64) uint64 {
	*gen++
	if old, evicted := order.push(otpSlot{key, *gen}); evicted {
		if v, ok := m[old.key]; ok && genOf(v) == old.gen {
			remove(m, old.key, c)
		}
	}
	return *gen
}

func entryGen(e otpEntry) uint64 { return e.gen }

func logGen(l sendLog) uint64 { return l.gen }

// addSaturating is a+b, clamped to the range of time.Duration: a TTL or
// window close to its maximum (no policy bounds them) must not wrap around
// to an entry that expired before it was written, as time.Time.Add never did.
func addSaturating(a, b time.Duration) time.Duration {
	s := a + b
	switch {
	case b > 0 && s < a:
		return math.MaxInt64
	case b < 0 && s > a:
		return math.MinInt64
	}
	return s
}

// now is the clock's time as an offset from the guard's start.
func (g *OTPGuard) now() time.Duration { return g.clock.Now().Sub(g.start) }

// BeginOTP claims key for ttl. The first caller gets claimed true and must
// send, then FinishOTP; until the TTL passes, later callers get false and the
// recorded outcome (OTPPending while the first send is in flight).
func (g *OTPGuard) BeginOTP(_ context.Context, key string, ttl time.Duration) (bool, domain.OTPOutcome, error) {
	if ttl <= 0 {
		return false, "", domain.Invalid("ttl", "must be positive")
	}
	k, now := otpKeyOf(key), g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sweep(now)
	if e, ok := g.dedupe[k]; ok && now < e.expires {
		return false, e.outcome, nil
	}
	g.setDedupe(k, domain.OTPPending, addSaturating(now, ttl))
	return true, "", nil
}

// FinishOTP records the outcome of the claimed send for ttl from now.
func (g *OTPGuard) FinishOTP(_ context.Context, key string, outcome domain.OTPOutcome, ttl time.Duration) error {
	if ttl <= 0 {
		return domain.Invalid("ttl", "must be positive")
	}
	k, now := otpKeyOf(key), g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.setDedupe(k, outcome, addSaturating(now, ttl))
	return nil
}

// ReleaseOTP frees key while it holds a claim (an expired entry behaves as
// an absent one), so the next BeginOTP claims it; an outcome is kept
// (released false). A claim made after the caller's own expired would be
// released too: callers release right after claiming, well within the
// window.
func (g *OTPGuard) ReleaseOTP(_ context.Context, key string) (bool, error) {
	if key == "" {
		return false, domain.Invalid("key", "must not be empty")
	}
	k, now := otpKeyOf(key), g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	e, ok := g.dedupe[k]
	switch {
	case !ok || now >= e.expires:
		return true, nil
	case e.outcome != domain.OTPPending:
		return false, nil
	}
	e.expires = now
	g.dedupe[k] = e
	return true, nil
}

// setDedupe stores key's outcome until expires; a key already held keeps
// its place in the order of additions. The caller holds mu.
func (g *OTPGuard) setDedupe(key otpKey, outcome domain.OTPOutcome, expires time.Duration) {
	e, ok := g.dedupe[key]
	if !ok {
		e.gen = track(g.dedupe, &g.dedupeChurn, &g.dedupeOrder, &g.gen, key, entryGen)
	}
	g.dedupe[key] = otpEntry{expires: expires, gen: e.gen, outcome: outcome}
	g.dedupe = compact(g.dedupe, &g.dedupeChurn)
}

// AllowOTP reports whether one more send for processID stays within limit
// sends in the window ending now, and logs it when it does. A sendID
// already in the window's log is that send again: allowed, counted once.
func (g *OTPGuard) AllowOTP(_ context.Context, processID, sendID string, limit int, window time.Duration) (bool, error) {
	if sendID == "" {
		return false, domain.Invalid("sendID", "must not be empty")
	}
	if limit < 1 {
		return false, domain.Invalid("limit", "must be at least 1")
	}
	if window <= 0 {
		return false, domain.Invalid("window", "must be positive")
	}
	k, now := otpKeyOf(processID), g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sweep(now)
	l, ok := g.sends[k]
	if !ok {
		l.gen = track(g.sends, &g.sendsChurn, &g.sendsOrder, &g.gen, k, logGen)
	}
	l.window = window
	l.drop(now)
	id := maphash.String(g.seed, sendID)
	again := l.find(id) >= 0
	allowed := again || len(l.times) < limit
	if allowed && !again {
		l.times = append(l.times, sent{at: now, id: id})
	}
	g.sends[k] = l
	g.sends = compact(g.sends, &g.sendsChurn)
	return allowed, nil
}

// RefundOTP takes the send sendID off processID's log, if it is there.
func (g *OTPGuard) RefundOTP(_ context.Context, processID, sendID string) error {
	if sendID == "" {
		return domain.Invalid("sendID", "must not be empty")
	}
	k, id := otpKeyOf(processID), maphash.String(g.seed, sendID)
	g.mu.Lock()
	defer g.mu.Unlock()
	l, ok := g.sends[k]
	if !ok {
		return nil
	}
	if i := l.find(id); i >= 0 {
		l.times = append(l.times[:i], l.times[i+1:]...)
		g.sends[k] = l
	}
	return nil
}

// find returns the index of the send with id, or -1.
func (l *sendLog) find(id uint64) int {
	for i, s := range l.times {
		if s.id == id {
			return i
		}
	}
	return -1
}

// drop forgets the sends that left the window ending at now, reusing the
// slice so a log never holds more than limit times.
func (l *sendLog) drop(now time.Duration) {
	cutoff := addSaturating(now, -l.window)
	i := 0
	for i < len(l.times) && l.times[i].at <= cutoff {
		i++
	}
	if i > 0 {
		l.times = append(l.times[:0], l.times[i:]...)
	}
}

// sweep drops expired dedupe entries and empty send logs, at most once per
// otpSweepInterval. The caller holds mu.
func (g *OTPGuard) sweep(now time.Duration) {
	if now < g.nextSweep {
		return
	}
	g.nextSweep = now + otpSweepInterval
	for k, e := range g.dedupe {
		if now >= e.expires {
			remove(g.dedupe, k, &g.dedupeChurn)
		}
	}
	for p, l := range g.sends {
		if l.drop(now); len(l.times) == 0 {
			remove(g.sends, p, &g.sendsChurn)
		} else {
			g.sends[p] = l
		}
	}
	g.dedupe = compact(g.dedupe, &g.dedupeChurn)
	g.sends = compact(g.sends, &g.sendsChurn)
}

// Len returns the number of dedupe keys and throttled processes held,
// expired ones included until the next sweep, for tests and metrics.
func (g *OTPGuard) Len() (keys, processes int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.dedupe), len(g.sends)
}
