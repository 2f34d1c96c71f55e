package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/domain"
)

// SeedText is a consent text to publish when the store does not already
// have it as its latest version.
type SeedText struct {
	Type     string
	Language string
	HTML     string
}

// SeedData is what `onboarding-adapter seed` loads: the demo registry, the
// demo consent texts and the consents the demo users already gave (the
// memory adapter's DemoClients, DemoConsentTexts and DemoConsents).
type SeedData struct {
	Clients  []domain.Client
	Texts    []SeedText
	Consents []domain.ConsentRecord
}

// SeedResult counts what a Seed call added; zeros on a second run.
type SeedResult struct {
	Clients  int
	Texts    int
	Consents int
}

// Seed loads data idempotently: a client whose user id or client number is
// already stored is left as it is (INSERT … ON CONFLICT DO NOTHING); a text
// is published as a new version only when it differs from the latest
// version of its type and language; a consent is appended with the
// ledger's own rule, so repeating it adds nothing. Clients are inserted in
// one transaction.
func Seed(ctx context.Context, pool *pgxpool.Pool, data SeedData) (SeedResult, error) {
	var res SeedResult
	d := newDB(pool)
	for i, c := range data.Clients {
		if c.UserID == "" {
			return res, domain.Invalid("clients["+strconv.Itoa(i)+"].userId", "must not be empty")
		}
	}
	if len(data.Clients) > 0 {
		err := d.run(ctx, "client", func(ctx context.Context) error {
			res.Clients = 0
			return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				b := &pgx.Batch{}
				for _, c := range data.Clients {
					b.Queue(`INSERT INTO clients (`+clientColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT DO NOTHING`, clientValues(c)...).Exec(func(tag pgconn.CommandTag) error {
						res.Clients += int(tag.RowsAffected())
						return nil
					})
				}
				return tx.SendBatch(ctx, b).Close()
			})
		})
		if err != nil {
			return res, fmt.Errorf("seeding clients: %w", err)
		}
	}

	texts := &ConsentTextStore{db: d, clock: systemClock{}}
	for _, t := range data.Texts {
		latest, err := texts.LatestConsentText(ctx, t.Type, t.Language)
		switch {
		case err == nil && latest.SHA256 == sha256Hex(t.HTML):
			continue
		case err != nil && !domain.IsNotFound(err):
			return res, fmt.Errorf("seeding consent text %s/%s: %w", t.Type, t.Language, err)
		}
		if _, err := texts.PublishConsentText(ctx, t.Type, t.Language, t.HTML); err != nil {
			return res, fmt.Errorf("seeding consent text %s/%s: %w", t.Type, t.Language, err)
		}
		res.Texts++
	}

	ledger := &ConsentLedger{db: d, clock: systemClock{}}
	for _, r := range data.Consents {
		_, added, err := ledger.AppendConsent(ctx, r)
		if err != nil {
			return res, fmt.Errorf("seeding consents: %w", err)
		}
		if added {
			res.Consents++
		}
	}
	return res, nil
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
