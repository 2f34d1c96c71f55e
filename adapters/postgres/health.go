package postgres

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/ports"
)

var _ ports.HealthChecker = (*Health)(nil)

// Health is the readiness check of the database: /readyz fails while the
// pool cannot run a statement.
type Health struct{ db *db }

// NewHealth returns the health check of pool.
func NewHealth(pool *pgxpool.Pool) *Health { return &Health{db: newDB(pool)} }

// Ping acquires a connection and runs an empty statement under ctx's
// deadline; a failure is CodeUnavailable.
func (h *Health) Ping(ctx context.Context) error {
	return h.db.run(ctx, "database", h.db.pool.Ping)
}
