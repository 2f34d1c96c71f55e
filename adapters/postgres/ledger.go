package postgres

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

var (
	_ ports.ConsentLedger         = (*ConsentLedger)(nil)
	_ ports.ServedConsentAppender = (*ConsentLedger)(nil)
)

// ConsentLedger is the append-only consent ledger in consent_ledger. No
// method changes or deletes a record, and the table's trigger refuses it to
// anyone else: a revocation is a new record with Approved false.
//
// With group commit on (see BatchConfig), appends arriving together are
// written by one statement in one commit; see AppendConsent.
type ConsentLedger struct {
	db    *db
	clock ports.Clock
	batch *group[ledgerAppend, appended] // nil: every append alone
	// servings holds the servings queued in this replica, which
	// AppendServedConsent consults before the table; nil when the ledger
	// was built alone.
	servings *ConsentServings
}

// ledgerAppend is one append: the record and whether the serving stored
// for its (process, type) replaces its text fields (AppendServedConsent).
type ledgerAppend struct {
	rec      domain.ConsentRecord
	asServed bool
}

// appended is the outcome of one append.
type appended struct {
	rec   domain.ConsentRecord
	added bool
}

// NewConsentLedger returns the ledger on pool, with group commit as
// DefaultBatchConfig sets it; clock stamps records that come without
// RecordedAt. servings is the servings store of this replica, whose queue
// AppendServedConsent consults before the table; pass the one the consent
// service records servings in (New does), or nil when servings are not
// queued in this process.
func NewConsentLedger(pool *pgxpool.Pool, clock ports.Clock, servings *ConsentServings) *ConsentLedger {
	l := newConsentLedger(newDB(pool), clock, DefaultBatchConfig())
	l.servings = servings
	return l
}

func newConsentLedger(d *db, clock ports.Clock, bc BatchConfig) *ConsentLedger {
	l := &ConsentLedger{db: d, clock: clock}
	if bc.enabled() {
		l.batch = newGroup(bc, l.flush, l.appendLone)
	}
	return l
}

const ledgerColumns = `id, process_id, user_id, consent_type, seq, approved, language, text_version, text_sha256,
    request_id, correlation_id, recorded_at, text_served`

// ledgerRow is one row of consent_ledger.
type ledgerRow struct {
	ID            int64
	ProcessID     string
	UserID        string
	ConsentType   string
	Seq           int32
	Approved      bool
	Language      string
	TextVersion   int32
	TextSHA256    string
	RequestID     string
	CorrelationID string
	RecordedAt    time.Time
	TextServed    *bool // NULL for records older than migration 009
}

func (r *ledgerRow) dest() []any {
	return []any{&r.ID, &r.ProcessID, &r.UserID, &r.ConsentType, &r.Seq, &r.Approved, &r.Language,
		&r.TextVersion, &r.TextSHA256, &r.RequestID, &r.CorrelationID, &r.RecordedAt, &r.TextServed}
}

func (r *ledgerRow) toDomain() domain.ConsentRecord {
	return domain.ConsentRecord{
		ID:            r.ID,
		ProcessID:     r.ProcessID,
		UserID:        r.UserID,
		ConsentType:   r.ConsentType,
		Approved:      r.Approved,
		Language:      r.Language,
		TextVersion:   int(r.TextVersion),
		TextSHA256:    r.TextSHA256,
		TextServed:    r.TextServed != nil && *r.TextServed,
		Seq:           int(r.Seq),
		RequestID:     r.RequestID,
		CorrelationID: r.CorrelationID,
		RecordedAt:    r.RecordedAt.UTC(),
	}
}

// appendSQL is AppendConsent in one statement, so one round trip and one
// commit: it reads the latest record of the history, inserts seq+1 unless
// that record already has the same decision and the text is no newer
// version of its text (sameConsent), and returns either the new row
// (added) or the latest one it repeats (not added).
//
// A concurrent append of the same history takes the same seq; the unique
// key makes one insert win and the other wait for its commit and do
// nothing. The loser's snapshot predates the winner, so it returns no row
// and AppendConsent runs the statement again: the next snapshot sees the
// winner and answers with it (or appends after it, for a changed decision).
//
// With $11 true the text fields come from the serving stored for (process,
// type) when there is one (one descent of consent_servings_pkey), and
// text_served is then true; else they come from $5..$7, and text_served
// from $12.
//
// recorded_at is $10 or the latest record's, whichever is later: the time is
// stamped by the replica that took the request, and LatestConsent orders by
// it, so a revocation taken by a replica whose clock is behind the one that
// took the approval must still come out as the latest (the order of seq).
const appendSQL = `
WITH latest AS (
    SELECT ` + ledgerColumns + `
    FROM consent_ledger
    WHERE process_id = $1 AND user_id = $2 AND consent_type = $3
    ORDER BY seq DESC
    LIMIT 1
), ` + shownSQL + `, ins AS (
    INSERT INTO consent_ledger (process_id, user_id, consent_type, seq, approved, language, text_version,
        text_sha256, request_id, correlation_id, recorded_at, text_served)
    SELECT $1::text, $2::text, $3::text, COALESCE((SELECT seq FROM latest), 0) + 1, $4::boolean,
        t.language, t.version, t.sha256, $8::text, $9::text, GREATEST($10::timestamptz, (SELECT recorded_at FROM latest)),
        t.served
    FROM shown t
    WHERE NOT EXISTS (SELECT 1 FROM latest l, shown t WHERE ` + sameConsent + `)
    ON CONFLICT ON CONSTRAINT consent_ledger_history_key DO NOTHING
    RETURNING ` + ledgerColumns + `
)
SELECT ` + ledgerColumns + `, true FROM ins
UNION ALL
SELECT ` + latestLedgerColumns + `, false FROM latest l, shown t WHERE ` + sameConsent

// shownSQL is the text a record names: the serving stored for (process,
// type) when $11 asks for it and there is one (served), else $5..$7
// (served as $12 says).
const shownSQL = `shown AS (
    SELECT COALESCE(s.language, $5::text) AS language, COALESCE(s.version, $6::integer) AS version,
        COALESCE(s.sha256, $7::text) AS sha256, s.sha256 IS NOT NULL OR $12::boolean AS served
    FROM (SELECT) AS one
    LEFT JOIN consent_servings s ON $11::boolean AND s.process_id = $1::text AND s.consent_type = $3::text
)`

// sameConsent is when the latest record l makes a record naming text t a
// repeat: the same decision, unless t is a newer version of l's text (same
// language). That newer version is a new consent, which the lookup needs
// to stop asking; any other difference of text is taken for a re-send
// whose serving was resolved otherwise (a serving is a hint: another
// replica's may not be written yet), so a re-send never adds a row.
const sameConsent = `l.approved = $4 AND NOT ` + newerText

// newerText is when text t is a newer version of l's: the same language,
// a higher version.
const newerText = `(l.language = t.language AND t.version > l.text_version)`

// latestLedgerColumns is ledgerColumns of the alias l (ledger_internal_test
// keeps the two lists the same).
const latestLedgerColumns = `l.id, l.process_id, l.user_id, l.consent_type, l.seq, l.approved, l.language,
    l.text_version, l.text_sha256, l.request_id, l.correlation_id, l.recorded_at, l.text_served`

// AppendConsent appends rec unless the latest record of (ProcessID, UserID,
// ConsentType) has the same Approved value and rec's text is no newer
// version of that record's (sameConsent), in which case it returns that
// record and false: the caller re-sends storage requests, and a repeat must
// not look like a second decision, while the same decision on a newer
// version the user was shown is a new consent. The database assigns ID;
// Seq is 1 for the first record of the history, then latest+1, whatever
// rec says; RecordedAt comes from the clock when it is zero, and is never
// earlier than the history's latest (appendSQL). The row is committed
// (synchronous_commit permitting) when AppendConsent returns.
//
// With group commit on, rec joins the batch of appends that arrive within
// the window and returns when that batch has committed (flush). An append
// the batch cannot settle, because it lost a race to another writer of its
// history or because the batch failed for a reason other than an
// unreachable database, is written again on its own, so one bad record
// fails only its own caller. A caller whose ctx ends first gets
// CodeUnavailable; its record is then committed with its batch or not at
// all, and a retry answers either way as for any repeat.
func (l *ConsentLedger) AppendConsent(ctx context.Context, rec domain.ConsentRecord) (domain.ConsentRecord, bool, error) {
	return l.append(ctx, ledgerAppend{rec: rec})
}

// AppendServedConsent is AppendConsent naming the text last served to the
// process: the serving queued in this replica when there is one, else the
// one stored in consent_servings, read by the append's own statement, else
// rec's (the current text). So a consent costs one statement (batched)
// instead of a read and a write. A serving another replica has queued and
// not yet written is not seen, as with ConsentServings.LastServing.
func (l *ConsentLedger) AppendServedConsent(ctx context.Context, rec domain.ConsentRecord) (domain.ConsentRecord, bool, error) {
	if l.servings != nil {
		if q, ok := l.servings.queued(rec.ProcessID, rec.ConsentType); ok {
			rec.Language, rec.TextVersion, rec.TextSHA256, rec.TextServed = q.Language, q.Version, q.SHA256, true
			return l.append(ctx, ledgerAppend{rec: rec})
		}
	}
	return l.append(ctx, ledgerAppend{rec: rec, asServed: true})
}

func (l *ConsentLedger) append(ctx context.Context, a ledgerAppend) (domain.ConsentRecord, bool, error) {
	a.rec.RecordedAt = stamp(a.rec.RecordedAt, l.clock)
	if l.batch != nil {
		res, solo, err := l.batch.do(ctx, a)
		switch {
		case err != nil:
			return domain.ConsentRecord{}, false, err
		case !solo:
			return res.rec, res.added, nil
		}
	}
	return l.appendOne(ctx, a)
}

// appendLone is appendOne for a batch of one append.
func (l *ConsentLedger) appendLone(ctx context.Context, a ledgerAppend) (appended, error) {
	rec, added, err := l.appendOne(ctx, a)
	return appended{rec: rec, added: added}, err
}

// appendOne is one append in one statement of its own.
func (l *ConsentLedger) appendOne(ctx context.Context, a ledgerAppend) (domain.ConsentRecord, bool, error) {
	rec, at := a.rec, a.rec.RecordedAt
	for range maxAttempts {
		var (
			row   ledgerRow
			added bool
			found bool
		)
		err := l.db.run(ctx, "consent record", func(ctx context.Context) error {
			err := l.db.pool.QueryRow(ctx, appendSQL, rec.ProcessID, rec.UserID, rec.ConsentType, rec.Approved,
				rec.Language, int32(rec.TextVersion), rec.TextSHA256, rec.RequestID, rec.CorrelationID, at, a.asServed, rec.TextServed).
				Scan(append(row.dest(), &added)...)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil // lost a race: run again with a fresh snapshot
			}
			found = err == nil
			return err
		})
		if err != nil {
			return domain.ConsentRecord{}, false, err
		}
		if found {
			return row.toDomain(), added, nil
		}
	}
	return domain.ConsentRecord{}, false, domain.Unavailable(nil, "the consent ledger is contended; retry")
}

// LatestConsent returns the user's newest record of consentType across
// processes: the one recorded last, the last appended on a tie. One
// descent of consent_ledger_user_latest_idx.
func (l *ConsentLedger) LatestConsent(ctx context.Context, userID, consentType string) (domain.ConsentRecord, error) {
	var row ledgerRow
	err := l.db.run(ctx, "consent record", func(ctx context.Context) error {
		return l.db.pool.QueryRow(ctx, `SELECT `+ledgerColumns+` FROM consent_ledger
WHERE user_id = $1 AND consent_type = $2 ORDER BY recorded_at DESC, id DESC LIMIT 1`, userID, consentType).Scan(row.dest()...)
	})
	if domain.IsNotFound(err) {
		return domain.ConsentRecord{}, domain.NotFound("consentType", "no consent is recorded for this user and type")
	}
	if err != nil {
		return domain.ConsentRecord{}, err
	}
	return row.toDomain(), nil
}

// LatestConsents returns the user's newest record of each of consentTypes
// that has one, in one statement: a descent of
// consent_ledger_user_latest_idx per type.
func (l *ConsentLedger) LatestConsents(ctx context.Context, userID string, consentTypes []string) (map[string]domain.ConsentRecord, error) {
	out := make(map[string]domain.ConsentRecord, len(consentTypes))
	if len(consentTypes) == 0 {
		return out, nil
	}
	err := l.db.run(ctx, "consent record", func(ctx context.Context) error {
		clear(out)
		args := append(make([]any, 0, 1+len(consentTypes)), userID)
		for _, t := range consentTypes {
			args = append(args, t)
		}
		rows, err := l.db.pool.Query(ctx, `SELECT l.* FROM unnest(`+textArray(2, len(consentTypes))+`) AS t(consent_type)
CROSS JOIN LATERAL (`+latestConsentSQL+`) l`, args...)
		if err != nil {
			return err
		}
		var row ledgerRow
		_, err = pgx.ForEachRow(rows, row.dest(), func() error {
			out[row.ConsentType] = row.toDomain()
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// latestConsentSQL is the newest record of (user_id, t.consent_type),
// user_id being $1 or a column of the enclosing query: one descent of
// consent_ledger_user_latest_idx.
const latestConsentSQL = `
    SELECT ` + ledgerColumns + ` FROM consent_ledger
    WHERE user_id = $1 AND consent_type = t.consent_type
    ORDER BY recorded_at DESC, id DESC LIMIT 1
`

// textArray is ARRAY[$first::text, …] of n parameters. A statement on the
// hot path takes a list this way rather than as one text[] parameter:
// PostgreSQL does not know the length of an array parameter when it
// prices the generic plan, so it keeps planning such a statement afresh on
// every run (0.2–0.7 ms of its CPU for the lookup's, against 0.05 ms to
// run it); with scalar parameters it settles on the generic plan after
// five runs and plans in 0.01 ms. One prepared statement per length; the
// lists here are the required consent types, one or a few.
func textArray(first, n int) string {
	if n == 0 {
		return "ARRAY[]::text[]"
	}
	var b strings.Builder
	b.WriteString("ARRAY[")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(first+i) + "::text")
	}
	b.WriteString("]")
	return b.String()
}

// appendBatchSQL is appendSQL for many histories at once, one record per
// history ($1..$10 are arrays of the record fields, ord the position in
// them): it reads the latest record of each history, inserts latest+1
// where the decision changed or the text is a newer version, and returns
// per position the new row (true) or the latest one it repeats (false). A
// position with no row lost a race to a concurrent writer of its history
// and is retried alone. $11 and $12 are appendSQL's per record.
const appendBatchSQL = `
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::text[], $6::integer[],
        $7::text[], $8::text[], $9::text[], $10::timestamptz[], $11::boolean[], $12::boolean[])
        WITH ORDINALITY AS i(process_id, user_id, consent_type, approved, language, text_version,
            text_sha256, request_id, correlation_id, recorded_at, as_served, text_served, ord)
), latest AS (
    SELECT i.ord, l.*
    FROM input i
    LEFT JOIN LATERAL (
        SELECT ` + ledgerColumns + `
        FROM consent_ledger
        WHERE process_id = i.process_id AND user_id = i.user_id AND consent_type = i.consent_type
        ORDER BY seq DESC
        LIMIT 1
    ) l ON true
), shown AS (
    SELECT i.ord, COALESCE(s.language, i.language) AS language, COALESCE(s.version, i.text_version) AS version,
        COALESCE(s.sha256, i.text_sha256) AS sha256, s.sha256 IS NOT NULL OR i.text_served AS served
    FROM input i
    LEFT JOIN consent_servings s
        ON i.as_served AND s.process_id = i.process_id AND s.consent_type = i.consent_type
), ins AS (
    INSERT INTO consent_ledger (process_id, user_id, consent_type, seq, approved, language, text_version,
        text_sha256, request_id, correlation_id, recorded_at, text_served)
    SELECT i.process_id, i.user_id, i.consent_type, COALESCE(l.seq, 0) + 1, i.approved,
        t.language, t.version, t.sha256, i.request_id, i.correlation_id, GREATEST(i.recorded_at, l.recorded_at),
        t.served
    FROM input i JOIN latest l ON l.ord = i.ord JOIN shown t ON t.ord = i.ord
    WHERE NOT (` + sameBatchConsent + `)
    ORDER BY i.ord
    ON CONFLICT ON CONSTRAINT consent_ledger_history_key DO NOTHING
    RETURNING ` + ledgerColumns + `
)
SELECT i.ord, ins.*, true FROM ins JOIN input i USING (process_id, user_id, consent_type)
UNION ALL
SELECT l.*, false FROM latest l JOIN input i ON i.ord = l.ord JOIN shown t ON t.ord = i.ord
WHERE ` + sameBatchConsent

// sameBatchConsent is sameConsent per input row i; false (not NULL) when
// the history has no record yet (l's columns NULL).
const sameBatchConsent = `COALESCE(l.approved = i.approved AND NOT ` + newerText + `, false)`

// historyKey names one history of the ledger.
type historyKey struct{ processID, userID, consentType string }

func historyOf(r domain.ConsentRecord) historyKey {
	return historyKey{r.ProcessID, r.UserID, r.ConsentType}
}

func compareHistories(a, b historyKey) int {
	return cmp.Or(cmp.Compare(a.processID, b.processID), cmp.Compare(a.userID, b.userID),
		cmp.Compare(a.consentType, b.consentType))
}

// run is consecutive appends of one history with the same input (decision
// and text): its first call (the leader) is written, the others repeat it.
// Appends whose text differs are runs of their own, so the statement
// decides (sameConsent) whether the later one is a new consent.
type run struct {
	calls []*call[ledgerAppend, appended]
}

// flush writes one batch of appends atomically.
//
// Appends of one history are applied in arrival order, as if one after the
// other: consecutive identical appends are one run whose leader is
// written and whose followers get its record, not added (they are
// repeats); a changed decision or text starts the next run, written by the
// next round. Each round is one appendBatchSQL over at most one leader per
// history; a batch of one round is one statement (its own transaction),
// more rounds share a transaction. Rows are inserted in key order within a
// round, so two single-round batches never wait for each other's rows in
// opposite orders; a batch of several rounds can (a history that changed
// its decision within the window), and PostgreSQL then aborts one, which
// db.run retries once.
//
// A batch of one is written by appendOne instead (appendLone), and its
// caller gets that statement's answer. Outcomes of a batch of several: an
// unreachable database fails every call with CodeUnavailable (nothing was
// committed, or the commit's fate is unknown and a retry is idempotent);
// any other error (a record the database refuses) sends every
// run back to be written alone (alone), where only the faulty one fails; a
// leader that lost a race to another writer sends its run back alone, and
// with it every later run of its history, which the later rounds skip: a
// revocation must not be written before the approval that came first.
func (l *ConsentLedger) flush(ctx context.Context, calls []*call[ledgerAppend, appended]) {
	var rounds [][]*run
	histories := make(map[historyKey][]*run, len(calls)) // each history's runs in arrival order
	depth := make(map[historyKey]int, len(calls))
	for _, c := range calls {
		k := historyOf(c.in.rec)
		if rs := histories[k]; len(rs) > 0 && sameInput(rs[len(rs)-1].calls[0].in, c.in) {
			rs[len(rs)-1].calls = append(rs[len(rs)-1].calls, c)
			continue
		}
		r := &run{calls: []*call[ledgerAppend, appended]{c}}
		histories[k] = append(histories[k], r)
		d := depth[k]
		depth[k] = d + 1
		if d == len(rounds) {
			rounds = append(rounds, nil)
		}
		rounds[d] = append(rounds[d], r)
	}
	for _, rs := range rounds {
		slices.SortFunc(rs, func(a, b *run) int { return compareHistories(a.history(), b.history()) })
	}

	results := make(map[*run]appended, len(calls))
	lost := make(map[historyKey]bool)
	err := l.db.run(ctx, "consent record", func(ctx context.Context) error {
		clear(results)
		clear(lost)
		if len(rounds) == 1 {
			return l.appendRound(ctx, l.db.pool, rounds[0], results)
		}
		return pgx.BeginFunc(ctx, l.db.pool, func(tx pgx.Tx) error {
			for _, rs := range rounds {
				rs = slices.DeleteFunc(slices.Clone(rs), func(r *run) bool { return lost[r.history()] })
				if len(rs) == 0 {
					continue
				}
				if err := l.appendRound(ctx, tx, rs, results); err != nil {
					return err
				}
				for _, r := range rs {
					if _, ok := results[r]; !ok {
						lost[r.history()] = true
					}
				}
			}
			return nil
		})
	})
	if err != nil {
		if domain.CodeOf(err) == domain.CodeUnavailable {
			settle(calls, err)
			return
		}
		l.alone(ctx, histories, func(*run) bool { return true })
		return
	}
	for _, rs := range rounds {
		for _, r := range rs {
			res, ok := results[r]
			if !ok {
				continue
			}
			r.calls[0].finish(res, nil)
			for _, c := range r.calls[1:] {
				c.finish(appended{rec: res.rec}, nil)
			}
		}
	}
	l.alone(ctx, histories, func(r *run) bool { _, ok := results[r]; return !ok })
}

// alone sends back the runs of each history that the batch did not write
// (pending). Where a history has one, its callers write it on their own,
// at once and in parallel (they repeat one decision, so their order does
// not matter). Where it has more (a batch that failed, or a leader that
// lost a race, with changed decisions after it), they are written here,
// one call after the other in arrival order, so the history ends as the
// calls arrived; a caller whose request has ended meanwhile is answered
// CodeUnavailable and its record is not written.
func (l *ConsentLedger) alone(ctx context.Context, histories map[historyKey][]*run, pending func(*run) bool) {
	for _, runs := range histories {
		left := slices.DeleteFunc(slices.Clone(runs), func(r *run) bool { return !pending(r) })
		if len(left) == 1 {
			for _, c := range left[0].calls {
				c.retrySolo()
			}
			continue
		}
		for _, r := range left {
			for _, c := range r.calls {
				if err := c.ctx.Err(); err != nil {
					c.finish(appended{}, domain.Unavailable(err, "the request ended before the write"))
					continue
				}
				rec, added, err := l.appendOne(ctx, c.in)
				c.finish(appended{rec: rec, added: added}, err)
			}
		}
	}
}

// history is the history the run's records belong to.
func (r *run) history() historyKey { return historyOf(r.calls[0].in.rec) }

// appendRound runs appendBatchSQL (with its generic plan) for the leaders
// of rs (one per history) and records each leader's outcome in results.
func (l *ConsentLedger) appendRound(ctx context.Context, q batchSender, rs []*run, results map[*run]appended) error {
	n := len(rs)
	var (
		processIDs, userIDs, types, languages, digests, requestIDs, correlationIDs = make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		approved, asServed, served = make([]bool, n), make([]bool, n), make([]bool, n)
		versions                   = make([]int32, n)
		times                      = make([]time.Time, n)
	)
	for i, r := range rs {
		rec := r.calls[0].in.rec
		asServed[i], served[i] = r.calls[0].in.asServed, rec.TextServed
		processIDs[i], userIDs[i], types[i], approved[i] = rec.ProcessID, rec.UserID, rec.ConsentType, rec.Approved
		languages[i], versions[i], digests[i] = rec.Language, int32(rec.TextVersion), rec.TextSHA256
		requestIDs[i], correlationIDs[i], times[i] = rec.RequestID, rec.CorrelationID, rec.RecordedAt
	}
	var (
		ord   int64
		row   ledgerRow
		added bool
	)
	return sendAfter(ctx, q, genericPlanSQL, appendBatchSQL,
		[]any{processIDs, userIDs, types, approved, languages, versions, digests, requestIDs, correlationIDs, times, asServed, served},
		append([]any{&ord}, append(row.dest(), &added)...), func() error {
			if ord < 1 || int(ord) > n {
				return errors.New("consent batch returned an unknown position")
			}
			results[rs[ord-1]] = appended{rec: row.toDomain(), added: added}
			return nil
		})
}

// sameInput reports whether two appends of one history carry the same
// decision on the same text, resolved the same way: the later one then
// repeats the earlier whatever the statement finds.
func sameInput(a, b ledgerAppend) bool {
	return a.rec.Approved == b.rec.Approved && a.asServed == b.asServed && a.rec.Language == b.rec.Language &&
		a.rec.TextVersion == b.rec.TextVersion && a.rec.TextSHA256 == b.rec.TextSHA256 &&
		a.rec.TextServed == b.rec.TextServed
}

// ConsentHistoryEntry is one consent record as the ledger holds it, for an
// operator or a compliance officer: ServedKnown is false for records older
// than migration 009, whose text_served is NULL (Record.TextServed is then
// false, meaning unknown rather than inferred).
type ConsentHistoryEntry struct {
	Record      domain.ConsentRecord
	ServedKnown bool
}

// MaxConsentHistory bounds one ConsentHistory read.
const MaxConsentHistory = 10_000

// ConsentHistory returns the user's consent records, of consentType unless
// it is empty, oldest first (recorded_at, then id: the order LatestConsent
// reads backwards), at most limit (1 to MaxConsentHistory). It reads
// consent_ledger_user_latest_idx; it is not on any request's path.
func (l *ConsentLedger) ConsentHistory(ctx context.Context, userID, consentType string, limit int) ([]ConsentHistoryEntry, error) {
	switch {
	case userID == "":
		return nil, domain.Invalid("userId", "is required")
	case limit < 1 || limit > MaxConsentHistory:
		return nil, domain.Invalid("limit", "must be 1 to %d", MaxConsentHistory)
	}
	var out []ConsentHistoryEntry
	err := l.db.run(ctx, "consent history", func(ctx context.Context) error {
		out = out[:0]
		rows, err := l.db.pool.Query(ctx, `SELECT `+ledgerColumns+` FROM consent_ledger
WHERE user_id = $1 AND ($2 = '' OR consent_type = $2) ORDER BY recorded_at, id LIMIT $3`, userID, consentType, limit)
		if err != nil {
			return err
		}
		var row ledgerRow
		_, err = pgx.ForEachRow(rows, row.dest(), func() error {
			out = append(out, ConsentHistoryEntry{Record: row.toDomain(), ServedKnown: row.TextServed != nil})
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
