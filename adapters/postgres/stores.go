package postgres

import (
	"log/slog"
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

// Option adjusts New.
type Option func(*options)

type options struct {
	batch  BatchConfig
	logger *slog.Logger
}

// WithBatching sets group commit; a zero or negative Window turns it off
// (every durable write its own statement and commit, every serving written
// before RecordServing returns). Without this option New uses
// DefaultBatchConfig.
func WithBatching(c BatchConfig) Option { return func(o *options) { o.batch = c } }

// WithLogger is where the adapters log what no caller sees: a batch of
// consent servings written in the background that could not be stored, a
// batched read that failed and ran as single statements. Without it such
// failures are dropped silently.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// New builds every adapter on pool. clock stamps records stored without a
// time (as the memory adapters do, so both behave alike under a fake
// clock); ids names registered prospects. Group commit is on with
// DefaultBatchConfig unless WithBatching says otherwise; call Close before
// closing the pool so queued consent servings are written.
func New(pool *pgxpool.Pool, clock ports.Clock, ids ports.IDGenerator, opts ...Option) *Stores {
	o := options{batch: DefaultBatchConfig()}
	for _, opt := range opts {
		opt(&o)
	}
	d := newDB(pool)
	if o.logger != nil {
		d.logger = o.logger
	}
	servings := newConsentServings(d, clock, o.batch, o.logger)
	ledger := newConsentLedger(d, clock, o.batch)
	ledger.servings = servings
	return &Stores{
		Registry:     newClientRegistry(d, ids, o.batch),
		ConsentTexts: &ConsentTextStore{db: d, clock: clock},
		Ledger:       ledger,
		Servings:     servings,
		Decisions:    newDecisionStore(d, clock, o.batch),
		Events:       newProcessEvents(d, clock, o.batch),
		Health:       &Health{db: d},
	}
}

// Close waits for the writes still batched (consent servings queued in the
// background, ledger appends, decisions and process events whose callers
// gave up) to reach the database. It does not close the pool, which must
// stay open until Close returns.
func (s *Stores) Close() {
	s.Servings.Close()
	s.Ledger.batch.wait()
	s.Decisions.batch.wait()
	s.Events.batch.wait()
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

// textPtr is the value of a nullable text column, alone or as an element
// of an array parameter: NULL (nil) for "".
func textPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
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
