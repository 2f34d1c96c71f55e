package postgres

import (
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/ports"
)

// Stores holds every adapter of one pool, sharing its failover guard. It is
// what cmd wires in place of the memory adapters when a database URL is
// configured.
type Stores struct {
	Registry     *ClientRegistry
	ConsentTexts *ConsentTextStore
	Ledger       *ConsentLedger
	Servings     *ConsentServings
	Decisions    *DecisionStore // also the ports.ReviewCases
	Events       *ProcessEvents
	Health       *Health
}

// New builds every adapter on pool. clock stamps records stored without a
// time (as the memory adapters do, so both behave alike under a fake
// clock); ids names registered prospects.
func New(pool *pgxpool.Pool, clock ports.Clock, ids ports.IDGenerator) *Stores {
	d := newDB(pool)
	return &Stores{
		Registry:     &ClientRegistry{db: d, ids: ids},
		ConsentTexts: &ConsentTextStore{db: d, clock: clock},
		Ledger:       &ConsentLedger{db: d, clock: clock},
		Servings:     &ConsentServings{db: d, clock: clock},
		Decisions:    &DecisionStore{db: d, clock: clock},
		Events:       &ProcessEvents{db: d, clock: clock},
		Health:       &Health{db: d},
	}
}

// systemClock is the wall clock of the seeding functions, which take no
// clock: seeded records are stamped when they are seeded.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// utc returns t in UTC for a time read from the database (pgx returns the
// local zone), and the zero time for NULL.
func utc(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// timeOrNil is the value of a nullable timestamptz: NULL for the zero time.
func timeOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// textOrNil is the value of a nullable text column: NULL for "".
func textOrNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// text reads a nullable text column: "" for NULL.
func text(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// stamp returns t, or clock's now when t is zero, in UTC at the
// microsecond precision the database keeps, so the value returned to the
// caller is the value a later read returns.
func stamp(t time.Time, clock ports.Clock) time.Time {
	if t.IsZero() {
		t = clock.Now()
	}
	return t.Truncate(time.Microsecond).UTC()
}
