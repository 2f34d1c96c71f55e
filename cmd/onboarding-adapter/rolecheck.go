package main

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// roleCheckRetry is how long warnIfPrivileged waits before asking again
// when the database did not answer: serve starts without waiting for it.
// roleRecheck is how often it asks again once answered, so the gauge (and
// the alert on it) follows a role the DBA changes without a restart.
const (
	roleCheckRetry = 10 * time.Second
	roleRecheck    = time.Hour
)

// The values of the role check's result other than a count of risks.
const (
	roleUnchecked = math.MinInt64 // not answered yet: no gauge
	roleRefused   = -1            // the database refused the check
)

// warnIfPrivileged warns, once the database answers, when serve connects
// as a role that could disable the append-only triggers keeping the
// consent ledger, the decisions and the review audit whole (the tables'
// owner, a superuser: postgres.RoleRisks). Least privilege is the bank's
// choice, so it only warns; docs/operations.md (Storage) shows how to set
// up the runtime role. It asks again every roleCheckRetry while the
// database does not answer, then every roleRecheck, and logs when the
// answer changes: the risks found, or the database refusing the check (a
// privilege on the catalogs withheld, say). found holds the answer for
// the onboarding.db.role_risks gauge: the number of risks, roleRefused, or
// roleUnchecked before any. check is postgres.RoleRisks on serve's pool;
// retry and recheck are roleCheckRetry and roleRecheck outside tests. stop
// ends the check and waits for it.
func warnIfPrivileged(check func(context.Context) (role string, risks []string, err error), retry, recheck time.Duration,
	logger *slog.Logger, found *atomic.Int64) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTimer(0)
		defer t.Stop()
		last := "" // the answer last logged
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			qctx, qcancel := context.WithTimeout(ctx, 5*time.Second)
			role, risks, err := check(qctx)
			qcancel()
			var pgErr *pgconn.PgError
			var connErr *pgconn.ConnectError
			switch {
			case err == nil:
				found.Store(int64(len(risks)))
				answer := strings.Join(risks, ", ")
				if answer != "" && answer != last {
					logger.Warn("the service's database role could disable the records' append-only triggers: "+
						"connect as a role set up by `migrate --grant-to` (docs/operations.md, Storage)",
						slog.String("db_role", role), slog.String("db_role_risks", answer))
				}
				last = answer
				t.Reset(recheck)
			case errors.As(err, &pgErr) && !errors.As(err, &connErr): // a connection refused is not an answer
				found.Store(roleRefused)
				if answer := "refused " + pgErr.Code; answer != last {
					logger.Info("the database role's privileges could not be checked", slog.String("sqlstate", pgErr.Code))
					last = answer
				}
				t.Reset(recheck)
			case ctx.Err() != nil:
				return
			default:
				logger.Debug("the database role's privileges will be checked when the database answers", slog.Any("error", err))
				t.Reset(retry)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
