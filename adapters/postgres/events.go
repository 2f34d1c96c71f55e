package postgres

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

var _ ports.ProcessEventRecorder = (*ProcessEvents)(nil)

// ProcessEvents stores process events in process_events, for audit and
// fraud analysis. Unlike the memory ring nothing is dropped; retention is
// the DBA's (a partition or a periodic delete by received_at).
//
// With group commit on (see BatchConfig), events that arrive together are
// inserted by one statement in one commit, in arrival order, and each
// caller returns after that commit: an event is as durable as a consent
// record, and under load costs a share of a WAL flush instead of one.
type ProcessEvents struct {
	db    *db
	clock ports.Clock
	batch *group[eventRow, struct{}] // nil: every event alone
}

// NewProcessEvents returns the recorder on pool, with group commit as
// DefaultBatchConfig sets it; clock stamps events that come without
// ReceivedAt.
func NewProcessEvents(pool *pgxpool.Pool, clock ports.Clock) *ProcessEvents {
	return newProcessEvents(newDB(pool), clock, DefaultBatchConfig())
}

func newProcessEvents(d *db, clock ports.Clock, bc BatchConfig) *ProcessEvents {
	p := &ProcessEvents{db: d, clock: clock}
	if bc.enabled() {
		p.batch = newGroup(bc, p.flush, p.insertLone)
	}
	return p
}

// eventRow is one event as its columns: data is the jsonb text, nil for
// NULL, and receivedAt is stamped.
type eventRow struct {
	e          domain.ProcessEvent
	data       *string
	receivedAt time.Time
}

const insertEventSQL = `INSERT INTO process_events (type, process_id, process_type, user_id,
    identity_verification_id, data, request_id, correlation_id, received_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`

// insertEventsBatchSQL inserts the events of a batch ($1..$9 arrays, one
// element per event); rows take their ids in the arrays' order, which is
// the order the events arrived in.
const insertEventsBatchSQL = `INSERT INTO process_events (type, process_id, process_type, user_id,
    identity_verification_id, data, request_id, correlation_id, received_at)
SELECT i.type, i.process_id, i.process_type, i.user_id, i.identity_verification_id, i.data, i.request_id,
    i.correlation_id, i.received_at
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::text[], $8::text[],
    $9::timestamptz[]) WITH ORDINALITY
    AS i(type, process_id, process_type, user_id, identity_verification_id, data, request_id, correlation_id,
        received_at, n)
ORDER BY i.n`

// RecordProcessEvent stores e, its free-form data as a jsonb object (NULL
// when there is none). With group commit on it joins the batch of events
// arriving together and returns once that batch has committed. A batch
// the database refuses for a reason other than being unreachable is
// written again one event at a time, concurrently, so an event the
// database refuses (a NUL byte, say) fails only its own caller, and those
// events' ids no longer follow their arrival (received_at still does). A
// caller whose ctx ends first gets CodeUnavailable; its event is then
// stored with its batch or not at all, as a single statement cut short
// would be, and a retry stores it again: events have no key.
func (p *ProcessEvents) RecordProcessEvent(ctx context.Context, e domain.ProcessEvent) error {
	row, err := p.rowOf(e)
	if err != nil {
		return err
	}
	if _, err = doOrAlone(ctx, p.batch, row, p.insertLone); err != nil {
		// The service answers the caller 200 whatever happens here (the
		// caller ignores the answer): this line and the telemetry
		// decorator's counter are where a lost event shows. No value of
		// the event is logged: its process id and SQLSTATE-only errors.
		p.db.logger.LogAttrs(ctx, slog.LevelWarn, "process event not known to be stored",
			slog.String("process_id", e.ProcessID), slog.String("code", string(domain.CodeOf(err))), slog.Any("err", err))
	}
	return err
}

// rowOf stamps e and encodes its data.
func (p *ProcessEvents) rowOf(e domain.ProcessEvent) (eventRow, error) {
	row := eventRow{e: e, receivedAt: stamp(e.ReceivedAt, p.clock)}
	if e.Data != nil {
		b, err := json.Marshal(e.Data)
		if err != nil {
			return eventRow{}, domain.Invalid("data", "cannot be stored as JSON")
		}
		row.data = jsonText(b)
	}
	return row, nil
}

// insertLone inserts one event in a statement of its own.
func (p *ProcessEvents) insertLone(ctx context.Context, r eventRow) (struct{}, error) {
	return struct{}{}, p.db.run(ctx, "process event", func(ctx context.Context) error {
		_, err := p.db.pool.Exec(ctx, insertEventSQL, r.e.Type, r.e.ProcessID, r.e.ProcessType, r.e.UserID,
			r.e.IdentityVerificationID, r.data, r.e.RequestID, r.e.CorrelationID, r.receivedAt)
		return err
	})
}

// flush inserts a batch of events in one statement and one commit.
func (p *ProcessEvents) flush(ctx context.Context, calls []*call[eventRow, struct{}]) {
	n := len(calls)
	var (
		types, processIDs, processTypes, userIDs, ivIDs, requestIDs, correlationIDs = make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n),
			make([]string, n)
		data  = make([]*string, n)
		times = make([]time.Time, n)
	)
	for i, c := range calls {
		e := c.in.e
		types[i], processIDs[i], processTypes[i], userIDs[i] = e.Type, e.ProcessID, e.ProcessType, e.UserID
		ivIDs[i], requestIDs[i], correlationIDs[i] = e.IdentityVerificationID, e.RequestID, e.CorrelationID
		data[i], times[i] = c.in.data, c.in.receivedAt
	}
	args := []any{types, processIDs, processTypes, userIDs, ivIDs, data, requestIDs, correlationIDs, times}
	err := p.db.run(ctx, "process event", func(ctx context.Context) error {
		return sendAfter(ctx, p.db.pool, genericPlanSQL, insertEventsBatchSQL, args, nil, nil)
	})
	if err != nil {
		settle(calls, err)
		return
	}
	for _, c := range calls {
		c.finish(struct{}{}, nil)
	}
}
