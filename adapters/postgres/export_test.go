package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/domain"
)

// Hooks for the black-box tests of package postgres_test.

// ClientsByUserIDSQL exposes the batched read by user id, for the EXPLAIN
// tests.
const ClientsByUserIDSQL = clientsByUserIDSQL

// FindClientQuery exposes the lookup statement, for the EXPLAIN tests.
func FindClientQuery(id domain.Identification) (string, []any, bool) { return findClientQuery(id) }

// Run exposes db.run (retry and translation) on pool.
func Run(ctx context.Context, pool *pgxpool.Pool, fn func(ctx context.Context) error) error {
	return newDB(pool).run(ctx, "thing", fn)
}

// Translate exposes the error translation on pool.
func Translate(pool *pgxpool.Pool, err error) error { return newDB(pool).translate("thing", err) }

// SyntheticClients returns the first n clients SeedSyntheticClients
// generates for seed, without a database.
func SyntheticClients(n int, seed int64) []domain.Client {
	s := newSynthetic(n, seed)
	out := make([]domain.Client, n)
	for i := range out {
		out[i] = s.client(i)
	}
	return out
}

// FixedWindow makes every batch of c wait out its whole window, so a test
// knows that the calls it makes within the window share one batch.
func FixedWindow(c BatchConfig) BatchConfig {
	c.fixed = true
	return c
}

// DecisionsWithClientSQL is the decisions' combined read, for the EXPLAIN
// tests.
const DecisionsWithClientSQL = selectDecisionsWithClientSQL

// LostConnection exposes the lost-connection classification.
func LostConnection(err error) bool { return lostConnection(err) }

// HoldServingWriters takes every serving writer until release is called,
// as batches still being written would.
func (c *ConsentServings) HoldServingWriters() (release func()) {
	for range cap(c.writers) {
		c.writers <- struct{}{}
	}
	return func() {
		for range cap(c.writers) {
			<-c.writers
		}
	}
}

// BatchDecisionsWithClientSQL is the batched form of the decisions'
// combined read, for the EXPLAIN tests.
const BatchDecisionsWithClientSQL = batchDecisionsWithClientSQL

// BatchSearchSQL is the batched registry search of id's shape with the
// latest records of types consent types, for the EXPLAIN tests.
func BatchSearchSQL(id domain.Identification, types int) string {
	keys, _, _ := searchKeys(id)
	return batchSearchSQL(searchShape{keys: keys, consents: true, types: types})
}

// BatchGroups tells, for each batched group of s, whether it cancels a
// batch once every one of its callers has given up (reads), or commits it
// whatever they do (writes), and how many lanes it has.
func (s *Stores) BatchGroups() map[string]struct {
	Abandon bool
	Lanes   int
} {
	type g = struct {
		Abandon bool
		Lanes   int
	}
	return map[string]g{
		"ledger":          {s.Ledger.batch.cfg.abandon, s.Ledger.batch.cfg.Lanes},
		"decisions":       {s.Decisions.batch.cfg.abandon, s.Decisions.batch.cfg.Lanes},
		"events":          {s.Events.batch.cfg.abandon, s.Events.batch.cfg.Lanes},
		"servings":        {s.Servings.batch.cfg.abandon, s.Servings.batch.cfg.Lanes},
		"decision reads":  {s.Decisions.reads.cfg.abandon, s.Decisions.reads.cfg.Lanes},
		"clients by user": {s.Registry.byUser.cfg.abandon, s.Registry.byUser.cfg.Lanes},
		"searches":        {s.Registry.searches.cfg.abandon, s.Registry.searches.cfg.Lanes},
	}
}

// FlushEvents writes events as one batch, in the order given, as the
// group's flusher does; the first caller's error, if any.
func (p *ProcessEvents) FlushEvents(ctx context.Context, events []domain.ProcessEvent) error {
	calls := make([]*call[eventRow, struct{}], len(events))
	for i, e := range events {
		row, err := p.rowOf(e)
		if err != nil {
			return err
		}
		calls[i] = &call[eventRow, struct{}]{ctx: ctx, in: row, done: make(chan struct{})}
	}
	p.flush(ctx, calls)
	for _, c := range calls {
		if c.solo {
			return errors.New("the batch sent a call back to be written alone")
		}
		if c.err != nil {
			return c.err
		}
	}
	return nil
}

// LedgerQueued is how many appends wait in the ledger's open batch: 0 when
// none is open (or batching is off).
func (s *Stores) LedgerQueued() int {
	g := s.Ledger.batch
	if g == nil {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open == nil {
		return 0
	}
	return len(g.open.calls)
}

// WaitBatches blocks until the batches of durable writes (ledger,
// decisions, process events) opened so far have been flushed, so a test
// knows a write whose caller gave up was settled, not merely not yet due.
func (s *Stores) WaitBatches() {
	s.Ledger.batch.wait()
	s.Decisions.batch.wait()
	s.Events.batch.wait()
}

// MigrateTo exposes migrateTo: the schema at version target, with a short
// lock timeout.
func MigrateTo(ctx context.Context, pool *pgxpool.Pool, target int32, lockTimeout time.Duration) error {
	return migrateTo(ctx, pool, nil, target, lockTimeout)
}

// WaitServings returns once every serving batch opened so far was written.
func WaitServings(s *Stores) { s.Servings.batch.wait() }

// MigrateRetrying exposes Migrate with its lock timeout and first pause.
func MigrateRetrying(ctx context.Context, pool *pgxpool.Pool, lockTimeout, pause time.Duration) error {
	return migrateRetrying(ctx, pool, nil, lockTimeout, pause)
}

// SetMaxPendingServings makes s's serving queue full at n servings.
func SetMaxPendingServings(s *Stores, n int) { s.Servings.maxPending = n }

// SetPurgeBatch makes each purge statement of s take n cases.
func SetPurgeBatch(s *Stores, n int) { s.Decisions.purgeBatch = n }

// TraceSafe is traceSafe, for the tests of real connect errors.
func TraceSafe(err error) error { return traceSafe(err) }
