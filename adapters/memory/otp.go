package memory

import (
	"context"
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

// DefaultOTPGuardEntries bounds the dedupe keys and the throttled processes
// an OTPGuard tracks, each: five times the OTPs a large bank's onboarding
// sends in a 15-minute window (10 per second), about 20 MB at most. Past it
// the oldest entries are forgotten, so a flood of fresh process ids cannot
// exhaust a replica's memory; only a process among the oldest of more than
// this many within its window regains its throttle budget.
const DefaultOTPGuardEntries = 50_000

// OTPGuard is the OTP dedupe and throttle of a single replica.
//
// Dedupe keeps each key's outcome until its TTL passes; an expired entry
// behaves exactly as an absent one. The throttle is a sliding log: it keeps
// the times of the sends allowed within the window, so "5 per 15 minutes"
// holds for every 15-minute span, not only per calendar slot. A refused send
// is not logged, so hammering does not extend the lock-out. Expired entries
// are swept at most once per otpSweepInterval, on the next call.
type OTPGuard struct {
	clock ports.Clock

	mu          sync.Mutex
	dedupe      map[string]otpEntry
	sends       map[string]*sendLog
	dedupeOrder fifo[otpSlot]
	sendsOrder  fifo[otpSlot]
	gen         uint64 // the generation of the last entry added
	nextSweep   time.Time
}

type otpEntry struct {
	outcome domain.OTPOutcome // OTPPending until FinishOTP
	expires time.Time
	gen     uint64
}

type sendLog struct {
	times  []time.Time // allowed sends, oldest first
	window time.Duration
	gen    uint64
}

// otpSlot is an entry's place in the order of additions. A swept entry's
// key may be added again later; the generation tells the new entry from
// the old slot, so the old slot's turn to be forgotten passes it by.
type otpSlot struct {
	key string
	gen uint64
}

// NewOTPGuard returns an empty guard bounded by DefaultOTPGuardEntries;
// clock drives TTLs and windows.
func NewOTPGuard(clock ports.Clock) *OTPGuard { return NewOTPGuardLimit(clock, DefaultOTPGuardEntries) }

// NewOTPGuardLimit returns an empty guard that tracks at most limit dedupe
// keys and limit processes (below 1: unbounded).
func NewOTPGuardLimit(clock ports.Clock, limit int) *OTPGuard {
	return &OTPGuard{
		clock:       clock,
		dedupe:      make(map[string]otpEntry),
		sends:       make(map[string]*sendLog),
		dedupeOrder: fifo[otpSlot]{limit: limit},
		sendsOrder:  fifo[otpSlot]{limit: limit},
	}
}

// track gives key, about to be added to m, a fresh generation and its
// place in order, and forgets the entry whose place it takes unless that
// entry was swept and added anew since. The caller holds mu.
func track[V any](m map[string]V, order *fifo[otpSlot], gen *uint64, key string, genOf func(V) uint64) uint64 {
	*gen++
	if old, evicted := order.push(otpSlot{key, *gen}); evicted {
		if v, ok := m[old.key]; ok && genOf(v) == old.gen {
			delete(m, old.key)
		}
	}
	return *gen
}

func entryGen(e otpEntry) uint64 { return e.gen }

func logGen(l *sendLog) uint64 { return l.gen }

// BeginOTP claims key for ttl. The first caller gets claimed true and must
// send, then FinishOTP; until the TTL passes, later callers get false and the
// recorded outcome (OTPPending while the first send is in flight).
func (g *OTPGuard) BeginOTP(_ context.Context, key string, ttl time.Duration) (bool, domain.OTPOutcome, error) {
	if ttl <= 0 {
		return false, "", domain.Invalid("ttl", "must be positive")
	}
	now := g.clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sweep(now)
	if e, ok := g.dedupe[key]; ok && now.Before(e.expires) {
		return false, e.outcome, nil
	}
	g.setDedupe(key, domain.OTPPending, now.Add(ttl))
	return true, "", nil
}

// FinishOTP records the outcome of the claimed send for ttl from now.
func (g *OTPGuard) FinishOTP(_ context.Context, key string, outcome domain.OTPOutcome, ttl time.Duration) error {
	if ttl <= 0 {
		return domain.Invalid("ttl", "must be positive")
	}
	now := g.clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.setDedupe(key, outcome, now.Add(ttl))
	return nil
}

// setDedupe stores key's outcome until expires; a key already held keeps
// its place in the order of additions. The caller holds mu.
func (g *OTPGuard) setDedupe(key string, outcome domain.OTPOutcome, expires time.Time) {
	e, ok := g.dedupe[key]
	if !ok {
		e.gen = track(g.dedupe, &g.dedupeOrder, &g.gen, key, entryGen)
	}
	g.dedupe[key] = otpEntry{outcome: outcome, expires: expires, gen: e.gen}
}

// AllowOTP reports whether one more send for processID stays within limit
// sends in the window ending now, and logs it when it does.
func (g *OTPGuard) AllowOTP(_ context.Context, processID string, limit int, window time.Duration) (bool, error) {
	if limit < 1 {
		return false, domain.Invalid("limit", "must be at least 1")
	}
	if window <= 0 {
		return false, domain.Invalid("window", "must be positive")
	}
	now := g.clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sweep(now)
	l, ok := g.sends[processID]
	if !ok {
		l = &sendLog{gen: track(g.sends, &g.sendsOrder, &g.gen, processID, logGen)}
		g.sends[processID] = l
	}
	l.window = window
	l.drop(now)
	if len(l.times) >= limit {
		return false, nil
	}
	l.times = append(l.times, now)
	return true, nil
}

// drop forgets the sends that left the window ending at now, reusing the
// slice so a log never holds more than limit times.
func (l *sendLog) drop(now time.Time) {
	cutoff := now.Add(-l.window)
	i := 0
	for i < len(l.times) && !l.times[i].After(cutoff) {
		i++
	}
	if i > 0 {
		l.times = append(l.times[:0], l.times[i:]...)
	}
}

// sweep drops expired dedupe entries and empty send logs, at most once per
// otpSweepInterval. The caller holds mu.
func (g *OTPGuard) sweep(now time.Time) {
	if now.Before(g.nextSweep) {
		return
	}
	g.nextSweep = now.Add(otpSweepInterval)
	for k, e := range g.dedupe {
		if !now.Before(e.expires) {
			delete(g.dedupe, k)
		}
	}
	for p, l := range g.sends {
		if l.drop(now); len(l.times) == 0 {
			delete(g.sends, p)
		}
	}
}

// Len returns the number of dedupe keys and throttled processes held,
// expired ones included until the next sweep, for tests and metrics.
func (g *OTPGuard) Len() (keys, processes int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.dedupe), len(g.sends)
}
