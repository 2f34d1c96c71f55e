package postgres

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

var _ ports.ProcessEventRecorder = (*ProcessEvents)(nil)

// ProcessEvents stores process events in process_events, for audit and
// fraud analysis. Unlike the memory ring nothing is dropped; retention is
// the DBA's (a partition or a periodic delete by received_at).
type ProcessEvents struct {
	db    *db
	clock ports.Clock
}

// NewProcessEvents returns the recorder on pool; clock stamps events that
// come without ReceivedAt.
func NewProcessEvents(pool *pgxpool.Pool, clock ports.Clock) *ProcessEvents {
	return &ProcessEvents{db: newDB(pool), clock: clock}
}

// RecordProcessEvent stores e, its free-form data as a jsonb object (NULL
// when there is none).
func (p *ProcessEvents) RecordProcessEvent(ctx context.Context, e domain.ProcessEvent) error {
	var data any
	if e.Data != nil {
		b, err := json.Marshal(e.Data)
		if err != nil {
			return domain.Invalid("data", "cannot be stored as JSON")
		}
		data = b
	}
	at := stamp(e.ReceivedAt, p.clock)
	return p.db.run(ctx, "process event", func(ctx context.Context) error {
		_, err := p.db.pool.Exec(ctx, `INSERT INTO process_events (type, process_id, process_type, user_id,
    identity_verification_id, data, request_id, correlation_id, received_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			e.Type, e.ProcessID, e.ProcessType, e.UserID, e.IdentityVerificationID, data,
			e.RequestID, e.CorrelationID, at)
		return err
	})
}
