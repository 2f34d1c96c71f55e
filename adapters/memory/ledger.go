package memory

import (
	"context"
	"sync"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

var _ ports.ConsentLedger = (*ConsentLedger)(nil)

// ledgerKey names one consent decision history: a user's decisions about
// one consent type within one process.
type ledgerKey struct{ processID, userID, consentType string }

// userTypeKey names a user's decisions about one type across processes.
type userTypeKey struct{ userID, consentType string }

// ConsentLedger is the append-only consent ledger. No method changes or
// deletes a record: a revocation is a new record with Approved false. With
// a limit it forgets its oldest records, as a process restart forgets them
// all: the in-memory ledger is for development, the durable one is
// PostgreSQL's.
type ConsentLedger struct {
	clock ports.Clock
	limit int

	mu      sync.RWMutex
	records []domain.ConsentRecord // records[i-base].ID == i+1
	base    int                    // records forgotten so far
	latest  map[ledgerKey]int      // index of the latest record of the history
	newest  map[userTypeKey]int    // index of the user's newest record of the type
	kept    map[userTypeKey]int    // records kept per user and type, with a limit
	// Deletions by forgetOldest since each map was last compacted.
	latestChurn, newestChurn, keptChurn churn
}

// NewConsentLedger returns an empty ledger without a bound; clock stamps
// records that come without RecordedAt.
func NewConsentLedger(clock ports.Clock) *ConsentLedger { return NewConsentLedgerLimit(clock, 0) }

// NewConsentLedgerLimit returns an empty ledger that keeps its last limit
// records; below 1 it keeps everything.
func NewConsentLedgerLimit(clock ports.Clock, limit int) *ConsentLedger {
	return &ConsentLedger{
		clock:  clock,
		limit:  limit,
		latest: make(map[ledgerKey]int),
		newest: make(map[userTypeKey]int),
		kept:   make(map[userTypeKey]int),
	}
}

// at returns the record with index i; the caller holds mu.
func (l *ConsentLedger) at(i int) domain.ConsentRecord { return l.records[i-l.base] }

// forgetOldest drops the oldest record and the indexes that point at it;
// the caller holds mu for writing. When the user keeps other records of
// the type and the forgotten one was the newest by time (a clock that
// stepped back), the newest of the kept ones takes its place.
func (l *ConsentLedger) forgetOldest() {
	r := l.records[0]
	if k := (ledgerKey{r.ProcessID, r.UserID, r.ConsentType}); l.latest[k] == l.base {
		remove(l.latest, k, &l.latestChurn)
	}
	l.records[0] = domain.ConsentRecord{}
	l.records = l.records[1:]
	l.base++
	uk := userTypeKey{r.UserID, r.ConsentType}
	if l.kept[uk]--; l.kept[uk] == 0 {
		remove(l.kept, uk, &l.keptChurn)
		remove(l.newest, uk, &l.newestChurn)
		return
	}
	if l.newest[uk] != l.base-1 {
		return
	}
	best := -1
	for i, rec := range l.records {
		if rec.UserID == r.UserID && rec.ConsentType == r.ConsentType &&
			(best < 0 || !l.records[best].RecordedAt.After(rec.RecordedAt)) {
			best = i
		}
	}
	if best < 0 { // cannot happen while kept counts right
		remove(l.newest, uk, &l.newestChurn)
		return
	}
	l.newest[uk] = l.base + best
}

// AppendConsent appends rec unless the latest record of (ProcessID, UserID,
// ConsentType) has the same Approved value and rec's text is no newer
// version of that record's, in which case it returns that record and
// false: the caller re-sends storage requests, and a repeat must not look
// like a second decision. The same decision on a newer version is a new
// consent. The ledger assigns ID (increasing) and Seq (1 for the first
// record of the history, then latest+1), ignoring the values in rec, and
// sets RecordedAt from the clock when it is zero, and to the history's
// latest RecordedAt when it is earlier.
func (l *ConsentLedger) AppendConsent(_ context.Context, rec domain.ConsentRecord) (domain.ConsentRecord, bool, error) {
	k := ledgerKey{rec.ProcessID, rec.UserID, rec.ConsentType}
	l.mu.Lock()
	defer l.mu.Unlock()
	rec.Seq = 1
	if rec.RecordedAt.IsZero() {
		rec.RecordedAt = l.clock.Now()
	}
	if i, ok := l.latest[k]; ok {
		prev := l.at(i)
		if sameConsent(prev, rec) {
			return prev, false, nil
		}
		rec.Seq = prev.Seq + 1
		// Never before the history's latest: LatestConsent orders by time,
		// and a clock that went back must not reorder a history (as the
		// postgres ledger).
		if rec.RecordedAt.Before(prev.RecordedAt) {
			rec.RecordedAt = prev.RecordedAt
		}
	}
	i := l.base + len(l.records)
	rec.ID = int64(i + 1)
	l.records = append(l.records, rec)
	l.latest[k] = i
	uk := userTypeKey{rec.UserID, rec.ConsentType}
	// Newest by time, the later-appended on a tie, as ORDER BY recorded_at
	// DESC, id DESC would pick it.
	if j, ok := l.newest[uk]; !ok || !l.at(j).RecordedAt.After(rec.RecordedAt) {
		l.newest[uk] = i
	}
	if l.limit > 0 {
		l.kept[uk]++
	}
	if l.limit > 0 && len(l.records) > l.limit {
		l.forgetOldest()
		l.latest = compact(l.latest, &l.latestChurn)
		l.newest = compact(l.newest, &l.newestChurn)
		l.kept = compact(l.kept, &l.keptChurn)
	}
	return rec, true, nil
}

// LatestConsent returns the user's newest record of consentType across
// processes: the one recorded last, the last appended on a tie.
func (l *ConsentLedger) LatestConsent(_ context.Context, userID, consentType string) (domain.ConsentRecord, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	i, ok := l.newest[userTypeKey{userID, consentType}]
	if !ok {
		return domain.ConsentRecord{}, domain.NotFound("consentType", "no consent is recorded for this user and type")
	}
	return l.at(i), nil
}

// LatestConsents returns the user's newest record of each of consentTypes
// that has one, read under one lock.
func (l *ConsentLedger) LatestConsents(_ context.Context, userID string, consentTypes []string) (map[string]domain.ConsentRecord, error) {
	out := make(map[string]domain.ConsentRecord, len(consentTypes))
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, t := range consentTypes {
		if i, ok := l.newest[userTypeKey{userID, t}]; ok {
			out[t] = l.at(i)
		}
	}
	return out, nil
}

// Records returns a copy of every record kept, in append order, for tests
// and the demo's audit view.
func (l *ConsentLedger) Records() []domain.ConsentRecord {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]domain.ConsentRecord, len(l.records))
	copy(out, l.records)
	return out
}

// sameConsent reports whether rec repeats prev: the same decision, unless
// rec names a newer version of prev's text (same language), as the
// PostgreSQL ledger's appendSQL decides it.
func sameConsent(prev, rec domain.ConsentRecord) bool {
	return prev.Approved == rec.Approved && !(prev.Language == rec.Language && rec.TextVersion > prev.TextVersion)
}
