package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"

	"github.com/bankkit/onboarding-adapter/migrations"
)

// VersionTable is the table where tern records the schema version. It is
// unqualified, like every table of the schema, so both live in the first
// schema of the connection's search_path.
const VersionTable = "schema_version"

// Migrate brings the database schema to the latest version embedded in the
// binary, logging each migration it applies. Each migration runs in its own
// transaction.
//
// It is safe when several pods run it at once: tern holds a session-level
// advisory lock for the whole run, so the others wait, then find the schema
// current and do nothing. A second run is a no-op. A schema newer than this
// binary (a newer release already migrated) is left alone with a warning
// instead of being migrated down; migrations carry no down section, so a
// race with such a release fails rather than drops anything.
//
// Each migration waits at most MigrationLockTimeout for a lock on a table
// (lock_timeout, set for its transaction only), then fails with SQLSTATE
// 55P03 and leaves that migration unapplied: an ALTER TABLE queued behind
// a long statement (the nightly purge, a report) holds every request
// reading that table queued behind it, so the wait must end well inside
// the request deadline. Migrate then tries again, up to
// MigrationLockAttempts times with growing pauses (about a minute in all,
// unless ctx ends first), in which the queued requests go on; migrations
// already applied stay. Waiting for another pod's run (the advisory lock)
// is not bounded by it.
func Migrate(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	return migrateRetrying(ctx, pool, logger, MigrationLockTimeout, migrationRetryPause)
}

// migrateRetrying is Migrate with lockTimeout and the first pause.
func migrateRetrying(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger, lockTimeout, pause time.Duration) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	for attempt := 1; ; attempt++ {
		err := migrateTo(ctx, pool, logger, -1, lockTimeout)
		if !lockNotAvailable(err) || attempt == MigrationLockAttempts {
			return err
		}
		logger.Warn("migration waits: a table stayed locked by other sessions; trying again",
			"attempt", attempt, "of", MigrationLockAttempts, "lock_timeout", lockTimeout.String(), "retry_in", pause.String())
		select {
		case <-ctx.Done():
			return errors.Join(err, fmt.Errorf("migrate: stopped retrying: %w", ctx.Err()))
		case <-time.After(pause):
		}
		pause = min(2*pause, 8*time.Second)
	}
}

// lockNotAvailable reports whether err is a wait for a lock that ended at
// lock_timeout (SQLSTATE 55P03).
func lockNotAvailable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == sqlstateLockNotAvailable
}

// MigrationLockTimeout bounds each migration's wait for a table lock: a
// quarter of the default request deadline (4 s), so a request that queued
// behind a waiting migration is late, not failed.
const MigrationLockTimeout = time.Second

// MigrationLockAttempts is how often Migrate tries a migration whose table
// stayed locked, pausing migrationRetryPause, then twice as long each time
// up to 8 s (0.5 + 1 + 2 + 4 + 8 × 5 s: 47.5 s of pauses, 10 s of waits).
const MigrationLockAttempts = 10

const migrationRetryPause = 500 * time.Millisecond

// migrateTo is Migrate to target (-1: the latest) with lockTimeout.
func migrateTo(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger, target int32, lockTimeout time.Duration) error {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: connecting: %w", err)
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), VersionTable)
	if err != nil {
		return fmt.Errorf("migrate: preparing the version table: %w", err)
	}
	if err := m.LoadMigrations(migrations.FS); err != nil {
		return fmt.Errorf("migrate: loading the embedded migrations: %w", err)
	}
	latest := int32(len(m.Migrations))
	if target >= 0 && target < latest {
		latest = target
	}
	current, err := m.GetCurrentVersion(ctx)
	if err != nil {
		return fmt.Errorf("migrate: reading the schema version: %w", err)
	}
	switch {
	case current > latest:
		logger.Warn("database schema is newer than this binary; not migrating", "version", current, "latest_known", latest)
		return nil
	case current == latest:
		logger.Info("database schema is up to date", "version", current)
		return nil
	}
	var lockErr error
	m.OnStart = func(seq int32, name, direction, _ string) {
		logger.Info("applying migration", "version", seq, "name", name, "direction", direction)
		// tern calls this inside the migration's transaction, after the
		// advisory lock: SET LOCAL ends with the transaction (tern also
		// runs RESET ALL after each migration). A migration run without a
		// transaction (tern's disable-tx, for CREATE INDEX CONCURRENTLY)
		// would get no timeout from this: it must set its own, which
		// TestMigrationFilesBoundTheirLockWaits requires of every file.
		if _, err := conn.Exec(ctx, "SELECT set_config('lock_timeout', $1, true)",
			strconv.FormatInt(lockTimeout.Milliseconds(), 10)+"ms"); err != nil && lockErr == nil {
			lockErr = err
		}
	}
	// MigrateTo re-reads the version under the advisory lock, so a pod that
	// waited for another one's run applies nothing.
	if err := m.MigrateTo(ctx, latest); err != nil {
		if lockErr != nil {
			return fmt.Errorf("migrate: setting the lock timeout: %w", lockErr)
		}
		if lockNotAvailable(err) {
			return fmt.Errorf("migrate: a table stayed locked by other sessions for %s (lock_timeout); nothing of this migration was applied, try again when they finish: %w", lockTimeout, err)
		}
		return fmt.Errorf("migrate: %w", err)
	}
	now, err := m.GetCurrentVersion(ctx)
	if err != nil {
		return fmt.Errorf("migrate: reading the schema version: %w", err)
	}
	logger.Info("database schema migrated", "from_version", current, "version", now)
	return nil
}

// MigrationStatus returns the schema version of the database (0 before the
// first migration) and the latest version embedded in the binary, for
// `migrate status` and for a readiness check that refuses an old schema.
// It reads only: the version table is not created.
func MigrationStatus(ctx context.Context, pool *pgxpool.Pool) (current, latest int32, err error) {
	names, err := migrate.FindMigrations(migrations.FS)
	if err != nil {
		return 0, 0, fmt.Errorf("migrate status: listing the embedded migrations: %w", err)
	}
	latest = int32(len(names))
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, VersionTable).Scan(&exists); err != nil {
		return 0, latest, fmt.Errorf("migrate status: %w", newDB(pool).translate("schema version", err))
	}
	if !exists {
		return 0, latest, nil
	}
	if err := pool.QueryRow(ctx, `SELECT version FROM `+VersionTable).Scan(&current); err != nil {
		return 0, latest, fmt.Errorf("migrate status: %w", newDB(pool).translate("schema version", err))
	}
	return current, latest, nil
}
