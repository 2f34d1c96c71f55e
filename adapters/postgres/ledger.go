package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

var _ ports.ConsentLedger = (*ConsentLedger)(nil)

// ConsentLedger is the append-only consent ledger in consent_ledger. No
// method changes or deletes a record, and the table's trigger refuses it to
// anyone else: a revocation is a new record with Approved false.
type ConsentLedger struct {
	db    *db
	clock ports.Clock
}

// NewConsentLedger returns the ledger on pool; clock stamps records that
// come without RecordedAt.
func NewConsentLedger(pool *pgxpool.Pool, clock ports.Clock) *ConsentLedger {
	return &ConsentLedger{db: newDB(pool), clock: clock}
}

const ledgerColumns = `id, process_id, user_id, consent_type, seq, approved, language, text_version, text_sha256,
    request_id, correlation_id, recorded_at`

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
}

func (r *ledgerRow) dest() []any {
	return []any{&r.ID, &r.ProcessID, &r.UserID, &r.ConsentType, &r.Seq, &r.Approved, &r.Language,
		&r.TextVersion, &r.TextSHA256, &r.RequestID, &r.CorrelationID, &r.RecordedAt}
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
		Seq:           int(r.Seq),
		RequestID:     r.RequestID,
		CorrelationID: r.CorrelationID,
		RecordedAt:    r.RecordedAt.UTC(),
	}
}

// appendSQL is AppendConsent in one statement, so one round trip and one
// commit: it reads the latest record of the history, inserts seq+1 unless
// that record already has the same decision, and returns either the new
// row (added) or the identical latest one (not added).
//
// A concurrent append of the same history takes the same seq; the unique
// key makes one insert win and the other wait for its commit and do
// nothing. The loser's snapshot predates the winner, so it returns no row
// and AppendConsent runs the statement again: the next snapshot sees the
// winner and answers with it (or appends after it, for a changed decision).
const appendSQL = `
WITH latest AS (
    SELECT ` + ledgerColumns + `
    FROM consent_ledger
    WHERE process_id = $1 AND user_id = $2 AND consent_type = $3
    ORDER BY seq DESC
    LIMIT 1
), ins AS (
    INSERT INTO consent_ledger (process_id, user_id, consent_type, seq, approved, language, text_version,
        text_sha256, request_id, correlation_id, recorded_at)
    SELECT $1::text, $2::text, $3::text, COALESCE((SELECT seq FROM latest), 0) + 1, $4::boolean, $5::text, $6::integer,
        $7::text, $8::text, $9::text, $10::timestamptz
    WHERE NOT EXISTS (SELECT 1 FROM latest WHERE approved = $4)
    ON CONFLICT ON CONSTRAINT consent_ledger_history_key DO NOTHING
    RETURNING ` + ledgerColumns + `
)
SELECT ` + ledgerColumns + `, true FROM ins
UNION ALL
SELECT ` + ledgerColumns + `, false FROM latest WHERE approved = $4`

// AppendConsent appends rec unless the latest record of (ProcessID, UserID,
// ConsentType) has the same Approved value, in which case it returns that
// record and false: the caller re-sends storage requests, and a repeat must
// not look like a second decision. The database assigns ID; Seq is 1 for
// the first record of the history, then latest+1, whatever rec says;
// RecordedAt comes from the clock when it is zero. The row is committed
// (synchronous_commit permitting) when AppendConsent returns.
func (l *ConsentLedger) AppendConsent(ctx context.Context, rec domain.ConsentRecord) (domain.ConsentRecord, bool, error) {
	at := stamp(rec.RecordedAt, l.clock)
	for range maxAttempts {
		var (
			row   ledgerRow
			added bool
			found bool
		)
		err := l.db.run(ctx, "consent record", func(ctx context.Context) error {
			err := l.db.pool.QueryRow(ctx, appendSQL, rec.ProcessID, rec.UserID, rec.ConsentType, rec.Approved,
				rec.Language, int32(rec.TextVersion), rec.TextSHA256, rec.RequestID, rec.CorrelationID, at).
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
