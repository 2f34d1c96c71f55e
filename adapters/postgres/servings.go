package postgres

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

var _ ports.ConsentServings = (*ConsentServings)(nil)

// maxPendingServings bounds the servings held in memory while they wait
// for their batch: beyond it RecordServing writes synchronously, so a
// database that cannot keep up slows /consent/text down instead of
// growing the queue.
const maxPendingServings = 8192

// Servings are written in larger batches than the durable writes: nobody
// waits for them, and PostgreSQL's cost of a batch is mostly per
// statement and commit, not per row. Measured under the load harness on
// /consent/text, the 1 ms window of the durable writes gave batches of a
// few rows and cost PostgreSQL about 50 µs of CPU per serving, a third of
// a core at 7,000 servings a second on the two cores it shares with the
// service.
const (
	servingsBatchWindow   = 20 * time.Millisecond
	servingsBatchMaxItems = 1024
)

// servingsBatch is the batching of servings when bc turns batching on: at
// least servingsBatchWindow: a crash of this process loses up to that
// much of servings, and other replicas see a serving up to that late (see
// ConsentServings), both far shorter than a user takes to read a consent.
func servingsBatch(bc BatchConfig) BatchConfig {
	bc.Window = max(bc.Window, servingsBatchWindow)
	bc.MaxItems = max(bc.MaxItems, servingsBatchMaxItems)
	bc.Lanes = 0 // nobody waits: under load a batch waits out its window, to be large
	return bc
}

// ConsentServings remembers the consent text version last served to each
// (process, consent type) in consent_servings, so a stored consent names
// the text the user saw.
//
// A serving is a hint, not a record: when none is found, consent storage
// names the current text version, which is the one served unless a new
// version was published in between. So a serving is written without
// waiting for the WAL flush (synchronous_commit off for its transaction
// only), and with group commit on it is written in the background:
// RecordServing queues it and returns, and the servings queued within the
// batch window are written by one statement. Until it is written, this
// replica answers LastServing from the queue, so a consent stored through
// the same replica always names the version it served. The trade-off: a
// crash of PostgreSQL loses the servings of its last few hundred
// milliseconds of WAL (the async commit delay), a crash of this process
// those of its last batch window (servingsBatchWindow), and another replica
// sees a serving up to a window late; in each case a consent stored meanwhile names the
// current version. Close writes what is queued.
type ConsentServings struct {
	db     *db
	clock  ports.Clock
	logger *slog.Logger
	batch  *group[queuedServing, struct{}] // nil: every serving written before RecordServing returns

	// writers bounds the batches written at once: while the database
	// stalls, batches (about 50 a second) would otherwise each hold a pool
	// connection for up to batchTimeout, and on its return compete with the
	// requests' own writes for them. A batch that cannot start before its
	// deadline is dropped (logged), as a failed write is.
	writers chan struct{}

	mu      sync.RWMutex
	gen     uint64
	pending map[servingKey]queuedServing // queued or being written
	// maxPending is maxPendingServings (tests make it smaller).
	maxPending int
}

// servingsWriters is how many serving batches are written at once.
const servingsWriters = 2

type servingKey struct{ processID, consentType string }

// servingRead is the outcome of one LastServing lookup.
type servingRead struct {
	s     domain.ConsentServing
	found bool
}

// queuedServing is a serving waiting for its batch; gen orders the
// servings of one key.
type queuedServing struct {
	s   domain.ConsentServing
	gen uint64
}

// NewConsentServings returns the store on pool, with the background writes
// DefaultBatchConfig turns on; clock stamps servings that come without
// ServedAt.
func NewConsentServings(pool *pgxpool.Pool, clock ports.Clock) *ConsentServings {
	return newConsentServings(newDB(pool), clock, DefaultBatchConfig(), nil)
}

func newConsentServings(d *db, clock ports.Clock, bc BatchConfig, logger *slog.Logger) *ConsentServings {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &ConsentServings{db: d, clock: clock, logger: logger, pending: make(map[servingKey]queuedServing),
		writers: make(chan struct{}, servingsWriters), maxPending: maxPendingServings}
	if bc.enabled() {
		c.batch = newGroup(servingsBatch(bc), c.flush, nil) // a lone serving goes in the same upsert
	}
	return c
}

// upsertServingsSQL stores servings ($1..$6 arrays, one per key),
// replacing earlier ones. A stored serving served later than the new one
// stays: two batches of one replica may commit out of order, and the user
// decides about the text shown last.
const upsertServingsSQL = `
INSERT INTO consent_servings (process_id, consent_type, language, version, sha256, served_at)
SELECT i.process_id, i.consent_type, i.language, i.version, i.sha256, i.served_at
FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::text[], $6::timestamptz[])
    AS i(process_id, consent_type, language, version, sha256, served_at)
ON CONFLICT (process_id, consent_type) DO UPDATE SET
    language = EXCLUDED.language, version = EXCLUDED.version, sha256 = EXCLUDED.sha256, served_at = EXCLUDED.served_at
WHERE consent_servings.served_at <= EXCLUDED.served_at`

// RecordServing stores s, replacing the earlier serving of its process and
// type (unless that one has a later ServedAt): the user decides about the
// text shown last. With group commit on
// it queues s and returns at once; a full queue, or batching off, writes
// it before returning.
func (c *ConsentServings) RecordServing(ctx context.Context, s domain.ConsentServing) error {
	s.ServedAt = stamp(s.ServedAt, c.clock)
	if c.batch == nil {
		return c.write(ctx, []domain.ConsentServing{s})
	}
	k := servingKey{s.ProcessID, s.ConsentType}
	c.mu.Lock()
	c.gen++
	q := queuedServing{s: s, gen: c.gen}
	if len(c.pending) < c.maxPending {
		c.pending[k] = q
		c.mu.Unlock()
		c.batch.enqueue(q)
		return nil
	}
	// Full: s is written below. An older serving of its key still queued
	// must not answer LastServing meanwhile or after (a consent stored
	// then would name a text the user was shown before this one), so s
	// takes its place until written; that older one's batch then leaves
	// the entry alone, and its upsert does not replace the later s.
	_, older := c.pending[k]
	if older {
		c.pending[k] = q
	}
	c.mu.Unlock()
	err := c.write(ctx, []domain.ConsentServing{s})
	if older {
		c.mu.Lock()
		if c.pending[k].gen == q.gen {
			delete(c.pending, k)
		}
		c.mu.Unlock()
	}
	return err
}

// asyncCommitSQL precedes upsertServingsSQL in its transaction: its commit
// returns without waiting for the WAL flush (synchronous_commit off for
// this transaction only; set_config(…, true) ends with it), and it runs
// its generic plan (see genericPlanSQL).
const asyncCommitSQL = `SELECT set_config('synchronous_commit', 'off', true), set_config('plan_cache_mode', 'force_generic_plan', true)`

// write upserts servings, at most one per key, in one round trip.
func (c *ConsentServings) write(ctx context.Context, servings []domain.ConsentServing) error {
	n := len(servings)
	var (
		processIDs, types, languages, digests = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		versions                              = make([]int32, n)
		times                                 = make([]time.Time, n)
	)
	for i, s := range servings {
		processIDs[i], types[i], languages[i] = s.ProcessID, s.ConsentType, s.Language
		versions[i], digests[i], times[i] = int32(s.Version), s.SHA256, s.ServedAt
	}
	return c.db.run(ctx, "consent serving", func(ctx context.Context) error {
		return sendAfter(ctx, c.db.pool, asyncCommitSQL, upsertServingsSQL,
			[]any{processIDs, types, languages, versions, digests, times}, nil, nil)
	})
}

// flush writes a batch of queued servings, the newest of each key, and
// drops them from the queue unless a newer one of the key arrived
// meanwhile. A batch the database refuses is written again one serving at
// a time, so one bad serving loses only itself; what still fails is logged
// and dropped, as a serving is a hint.
func (c *ConsentServings) flush(ctx context.Context, calls []*call[queuedServing, struct{}]) {
	newest := make(map[servingKey]queuedServing, len(calls))
	for _, call := range calls {
		k := servingKey{call.in.s.ProcessID, call.in.s.ConsentType}
		if q, ok := newest[k]; !ok || call.in.gen > q.gen {
			newest[k] = call.in
		}
	}
	batch := make([]domain.ConsentServing, 0, len(newest))
	for _, q := range newest {
		batch = append(batch, q.s)
	}
	// In key order, as the ledger and decision batches: two flushes that
	// overlap (one outlasting the window, or two replicas serving one
	// process) then lock their rows in the same order and cannot deadlock.
	slices.SortFunc(batch, func(a, b domain.ConsentServing) int {
		return cmp.Or(cmp.Compare(a.ProcessID, b.ProcessID), cmp.Compare(a.ConsentType, b.ConsentType))
	})
	err := c.writeAll(ctx, batch)
	if err != nil {
		c.logger.Warn("consent servings not stored; consents stored for these processes name the current text version",
			"servings", len(batch), "err", err)
	}
	c.mu.Lock()
	for k, q := range newest {
		if c.pending[k].gen == q.gen {
			delete(c.pending, k)
		}
	}
	c.mu.Unlock()
}

// writeAll writes batch once one of the servingsWriters is free (failing
// with CodeUnavailable when ctx ends first). A batch the database refuses
// is written again one serving at a time, so one bad serving loses only
// itself; the error is nil when each of those was written.
func (c *ConsentServings) writeAll(ctx context.Context, batch []domain.ConsentServing) error {
	select {
	case c.writers <- struct{}{}:
	case <-ctx.Done():
		return domain.Unavailable(ctx.Err(), "no serving writer was free before the batch's deadline")
	}
	defer func() { <-c.writers }()
	err := c.write(ctx, batch)
	if err == nil || len(batch) == 1 || domain.CodeOf(err) == domain.CodeUnavailable {
		return err
	}
	failed := 0
	for _, s := range batch {
		if c.write(ctx, []domain.ConsentServing{s}) != nil {
			failed++
		}
	}
	if failed == 0 {
		return nil
	}
	return err
}

// LastServing returns the text last served to the process for consentType:
// the one queued in this replica when there is one, else the stored one.
func (c *ConsentServings) LastServing(ctx context.Context, processID, consentType string) (domain.ConsentServing, error) {
	if s, ok := c.queued(processID, consentType); ok {
		return s, nil
	}
	res, err := c.lastServing(ctx, servingKey{processID, consentType})
	switch {
	case err != nil:
		return domain.ConsentServing{}, err
	case !res.found:
		return domain.ConsentServing{}, domain.NotFound("consentType", "no consent text was served to this process")
	}
	return res.s, nil
}

// queued returns the serving of (processID, consentType) queued in this
// replica and not yet written, if any.
func (c *ConsentServings) queued(processID, consentType string) (domain.ConsentServing, bool) {
	c.mu.RLock()
	q, ok := c.pending[servingKey{processID, consentType}]
	c.mu.RUnlock()
	return q.s, ok
}

const servingColumns = `process_id, consent_type, language, version, sha256, served_at`

// servingRow scans servingColumns.
type servingRow struct {
	s       domain.ConsentServing
	version int32
	at      time.Time
}

func (r *servingRow) dest() []any {
	return []any{&r.s.ProcessID, &r.s.ConsentType, &r.s.Language, &r.version, &r.s.SHA256, &r.at}
}

func (r *servingRow) toDomain() domain.ConsentServing {
	s := r.s
	s.Version, s.ServedAt = int(r.version), r.at.UTC()
	return s
}

// lastServing reads one serving in a statement of its own.
func (c *ConsentServings) lastServing(ctx context.Context, k servingKey) (servingRead, error) {
	var row servingRow
	err := c.db.run(ctx, "consent serving", func(ctx context.Context) error {
		return c.db.pool.QueryRow(ctx, `SELECT `+servingColumns+`
FROM consent_servings WHERE process_id = $1 AND consent_type = $2`, k.processID, k.consentType).Scan(row.dest()...)
	})
	switch {
	case domain.IsNotFound(err):
		return servingRead{}, nil
	case err != nil:
		return servingRead{}, err
	}
	return servingRead{s: row.toDomain(), found: true}, nil
}

// Close writes the servings still queued and waits for them.
func (c *ConsentServings) Close() {
	c.batch.wait()
}
