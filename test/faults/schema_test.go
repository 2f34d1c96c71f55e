package faults

import (
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/postgres/pgtest"
	"github.com/bankkit/onboarding-adapter/test/testkit"
)

// TestNotReadyUntilMigrated: a replica started on a database its migration
// has not reached (hooks skipped, a DBA's pipeline not yet run, a fresh
// database with ONBOARDING_MIGRATE_AT_START off) stays out of the Service
// with /readyz 503 saying why, instead of answering 500 for every
// statement that needs the new schema; the migration makes it ready
// without a restart.
func TestNotReadyUntilMigrated(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewEmptyDatabase(t)
	env := map[string]string{"ONBOARDING_DATABASE_URL": dsn}
	migrated := make(chan error, 1)
	go func() {
		// Long enough for the replica to be up and probed first.
		time.Sleep(2 * time.Second)
		cmd := exec.Command(binary, "migrate")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "ONBOARDING_DATABASE_URL=" + dsn}
		out, err := cmd.CombinedOutput()
		if err != nil {
			err = &exec.ExitError{Stderr: out}
		}
		migrated <- err
	}()
	started := time.Now()
	svc := startService(t, env) // waits for /readyz 200
	if err := <-migrated; err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if waited := time.Since(started); waited < 2*time.Second {
		t.Fatalf("ready after %s, before the migration ran", waited)
	}
	if logs := svc.Logs.String(); !strings.Contains(logs, "the database schema is at version 0 and this binary needs") {
		t.Fatalf("no readiness failure naming the schema versions in the logs:\n%s", logs)
	}
	if st := testkit.Get(svc.Admin + "/readyz"); st != http.StatusOK {
		t.Fatalf("/readyz after the migration: %d", st)
	}
	r := testkit.Call(t, svc.API+"/consent/storage", map[string]any{"processId": "p-schema", "userId": "u-1000001", "consentType": "GDPR", "approved": true}, nil)
	// No texts are published in this database: the store answers that, not 500.
	if r.Status != http.StatusBadRequest || !strings.Contains(r.Raw, "consentType") {
		t.Fatalf("a consent after the migration: %d %s, want 400 naming consentType", r.Status, r.Raw)
	}
}
