package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/adapters/postgres"
)

// roleCheckRetry is how long warnIfPrivileged waits before asking again
// when the database did not answer: serve starts without waiting for it.
const roleCheckRetry = 10 * time.Second

// warnIfPrivileged logs one warning, once the database answers, when serve
// connects as a role that could disable the append-only triggers keeping
// the consent ledger, the decisions and the review audit whole (the
// tables' owner, a superuser: postgres.RoleRisks). Least privilege is the
// bank's choice, so it only warns; docs/operations.md (Storage) shows how
// to set up the runtime role. While the database does not answer it asks
// again every roleCheckRetry; an error the database itself returns (a
// privilege on the catalogs withheld, say) will not pass with time, so it
// is logged once and the check ends. found gets the number of risks once
// known (the onboarding.db.role_risks gauge reads it). stop ends the check
// and waits for it.
func warnIfPrivileged(pool *pgxpool.Pool, logger *slog.Logger, found *atomic.Int64) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTimer(0)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			qctx, qcancel := context.WithTimeout(ctx, 5*time.Second)
			role, risks, err := postgres.RoleRisks(qctx, pool)
			qcancel()
			var pgErr *pgconn.PgError
			switch {
			case err == nil:
				found.Store(int64(len(risks)))
				if len(risks) > 0 {
					logger.Warn("the service's database role could disable the records' append-only triggers: "+
						"connect as a role set up by `migrate --grant-to` (docs/operations.md, Storage)",
						slog.String("db_role", role), slog.String("db_role_risks", strings.Join(risks, ", ")))
				}
				return
			case errors.As(err, &pgErr):
				logger.Info("the database role's privileges could not be checked", slog.String("sqlstate", pgErr.Code))
				return
			case ctx.Err() != nil:
				return
			}
			logger.Debug("the database role's privileges will be checked when the database answers", slog.Any("error", err))
			t.Reset(roleCheckRetry)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
