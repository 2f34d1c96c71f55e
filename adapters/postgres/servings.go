package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

var _ ports.ConsentServings = (*ConsentServings)(nil)

// ConsentServings remembers the consent text version last served to each
// (process, consent type) in consent_servings, so a stored consent names
// the text the user saw.
type ConsentServings struct {
	db    *db
	clock ports.Clock
}

// NewConsentServings returns the store on pool; clock stamps servings that
// come without ServedAt.
func NewConsentServings(pool *pgxpool.Pool, clock ports.Clock) *ConsentServings {
	return &ConsentServings{db: newDB(pool), clock: clock}
}

// RecordServing stores s, replacing the earlier serving of its process and
// type (one upsert): the user decides about the text shown last.
func (c *ConsentServings) RecordServing(ctx context.Context, s domain.ConsentServing) error {
	at := stamp(s.ServedAt, c.clock)
	return c.db.run(ctx, "consent serving", func(ctx context.Context) error {
		_, err := c.db.pool.Exec(ctx, `INSERT INTO consent_servings (process_id, consent_type, language, version, sha256, served_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (process_id, consent_type) DO UPDATE SET
    language = EXCLUDED.language, version = EXCLUDED.version, sha256 = EXCLUDED.sha256, served_at = EXCLUDED.served_at`,
			s.ProcessID, s.ConsentType, s.Language, int32(s.Version), s.SHA256, at)
		return err
	})
}

// LastServing returns the text last served to the process for consentType.
func (c *ConsentServings) LastServing(ctx context.Context, processID, consentType string) (domain.ConsentServing, error) {
	var (
		s       domain.ConsentServing
		version int32
		at      time.Time
	)
	err := c.db.run(ctx, "consent serving", func(ctx context.Context) error {
		return c.db.pool.QueryRow(ctx, `SELECT process_id, consent_type, language, version, sha256, served_at
FROM consent_servings WHERE process_id = $1 AND consent_type = $2`, processID, consentType).
			Scan(&s.ProcessID, &s.ConsentType, &s.Language, &version, &s.SHA256, &at)
	})
	if domain.IsNotFound(err) {
		return domain.ConsentServing{}, domain.NotFound("consentType", "no consent text was served to this process")
	}
	if err != nil {
		return domain.ConsentServing{}, err
	}
	s.Version, s.ServedAt = int(version), at.UTC()
	return s, nil
}
