package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

var _ ports.ConsentTextStore = (*ConsentTextStore)(nil)

// ConsentTextStore keeps every published version of every consent text in
// consent_texts, which refuses changes: a stored consent names the version
// the user saw, and an auditor must be able to read that exact text.
type ConsentTextStore struct {
	db    *db
	clock ports.Clock
}

// NewConsentTextStore returns the store on pool; clock stamps PublishedAt.
func NewConsentTextStore(pool *pgxpool.Pool, clock ports.Clock) *ConsentTextStore {
	return &ConsentTextStore{db: newDB(pool), clock: clock}
}

const consentTextColumns = `consent_type, language, version, html, sha256, published_at`

// consentTextRow is one row of consent_texts.
type consentTextRow struct {
	Type        string
	Language    string
	Version     int32
	HTML        string
	SHA256      string
	PublishedAt time.Time
}

func (r *consentTextRow) dest() []any {
	return []any{&r.Type, &r.Language, &r.Version, &r.HTML, &r.SHA256, &r.PublishedAt}
}

func (r *consentTextRow) toDomain() domain.ConsentText {
	return domain.ConsentText{
		Type:        r.Type,
		Language:    r.Language,
		Version:     int(r.Version),
		HTML:        r.HTML,
		SHA256:      r.SHA256,
		PublishedAt: r.PublishedAt.UTC(),
	}
}

// LatestConsentText returns the newest version of (consentType, language):
// one backward step of the primary key index.
func (s *ConsentTextStore) LatestConsentText(ctx context.Context, consentType, language string) (domain.ConsentText, error) {
	var row consentTextRow
	err := s.db.run(ctx, "consent text", func(ctx context.Context) error {
		return s.db.pool.QueryRow(ctx, `SELECT `+consentTextColumns+` FROM consent_texts
WHERE consent_type = $1 AND language = $2 ORDER BY version DESC LIMIT 1`, consentType, language).Scan(row.dest()...)
	})
	if domain.IsNotFound(err) {
		return domain.ConsentText{}, domain.NotFound("consentType", "no consent text is published for this type and language")
	}
	if err != nil {
		return domain.ConsentText{}, err
	}
	return row.toDomain(), nil
}

// publishSQL inserts the next version. The caller holds the advisory lock
// of (type, language), so max(version) cannot move under it.
const publishSQL = `INSERT INTO consent_texts (` + consentTextColumns + `)
SELECT $1::text, $2::text, COALESCE(max(version), 0) + 1, $3::text, $4::text, $5::timestamptz FROM consent_texts WHERE consent_type = $1 AND language = $2
RETURNING ` + consentTextColumns

// PublishConsentText stores html as the next version (1 for the first) of
// (consentType, language), with its SHA-256. Publishers of one text are
// serialised by a transaction-scoped advisory lock on (type, language), so
// concurrent publishes get consecutive versions without retries. Size
// limits are policy and are checked by the consent service.
func (s *ConsentTextStore) PublishConsentText(ctx context.Context, consentType, language, html string) (domain.ConsentText, error) {
	switch {
	case strings.TrimSpace(consentType) == "":
		return domain.ConsentText{}, domain.Invalid("consentType", "must not be empty")
	case strings.TrimSpace(language) == "":
		return domain.ConsentText{}, domain.Invalid("language", "must not be empty")
	case strings.TrimSpace(html) == "":
		return domain.ConsentText{}, domain.Invalid("html", "must not be empty")
	}
	sum := sha256.Sum256([]byte(html))
	digest := hex.EncodeToString(sum[:])
	at := stamp(time.Time{}, s.clock)
	var row consentTextRow
	err := s.db.run(ctx, "consent text", func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))`, consentType, language); err != nil {
				return err
			}
			return tx.QueryRow(ctx, publishSQL, consentType, language, html, digest, at).Scan(row.dest()...)
		})
	})
	if err != nil {
		return domain.ConsentText{}, err
	}
	return row.toDomain(), nil
}
