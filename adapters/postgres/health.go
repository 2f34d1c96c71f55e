package postgres

import (
	"context"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

var _ ports.HealthChecker = (*Health)(nil)

// Health is the readiness check of the database: /readyz fails while the
// pool cannot run a statement (Ping), or while the schema is older than
// this binary's migrations (Schema).
type Health struct {
	db *db
	// schemaCurrent is set once the schema was found at the binary's
	// latest version or newer: schemas are not migrated down, so it is
	// not read again.
	schemaCurrent atomic.Bool
}

// NewHealth returns the health check of pool.
func NewHealth(pool *pgxpool.Pool) *Health { return &Health{db: newDB(pool)} }

// Ping acquires a connection and runs an empty statement under ctx's
// deadline; a failure is CodeUnavailable.
func (h *Health) Ping(ctx context.Context) error {
	return h.db.run(ctx, "database", h.db.pool.Ping)
}

// Schema fails (CodeUnavailable) while the database's schema version is
// below the latest migration embedded in the binary. A pod started before
// its migration ran (hooks skipped, a DBA's pipeline not yet run, a fresh
// database with migrateAtStart off) would otherwise report ready and then
// answer 500 for every statement that needs a new table or column, while
// a rolling update's older pods, which still work, are taken out. A newer
// schema is accepted: migrations stay backward compatible for a release,
// so a rolled-back binary runs on it. Once current it costs nothing more.
func (h *Health) Schema(ctx context.Context) error {
	if h.schemaCurrent.Load() {
		return nil
	}
	current, latest, err := MigrationStatus(ctx, h.db.pool)
	if err != nil {
		return err
	}
	if current < latest {
		return domain.Unavailable(nil, "the database schema is at version %d and this binary needs %d: run `onboarding-adapter migrate` (the chart's migration Job)", current, latest)
	}
	h.schemaCurrent.Store(true)
	return nil
}
