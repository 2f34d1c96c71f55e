package faults

import (
	"encoding/json"
	"io"
	"net/http"
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
	// A loaded CI machine may take more than the default 1 s to open a
	// connection to a fresh database; this test is about the schema.
	env := map[string]string{"ONBOARDING_DATABASE_URL": dsn, "ONBOARDING_DB_CONNECT_TIMEOUT": "10s"}
	svc := testkit.StartServiceListening(t, binary, env)
	readyz := func() (int, string) {
		resp, err := http.Get(svc.Admin + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ Reason string }
		b, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(b, &body)
		return resp.StatusCode, body.Reason
	}
	// Until the pool has its first connection the reason is the database's;
	// then the schema's, and never 200 before the migration.
	var status int
	var reason string
	if !waitFor(t, 30*time.Second, func() bool {
		status, reason = readyz()
		return status != http.StatusServiceUnavailable || strings.Contains(reason, "the database schema is at version 0 and this binary needs")
	}) || status != http.StatusServiceUnavailable {
		t.Fatalf("/readyz before the migration: %d %q, want 503 naming the schema versions", status, reason)
	}
	testkit.RunCommand(t, binary, env, "migrate")
	if !waitFor(t, 30*time.Second, func() bool { status, _ := readyz(); return status == http.StatusOK }) {
		status, reason := readyz()
		t.Fatalf("/readyz after the migration: %d %q, want 200", status, reason)
	}
	r := testkit.Call(t, svc.API+"/consent/storage", map[string]any{"processId": "p-schema", "userId": "u-1000001", "consentType": "GDPR", "approved": true}, nil)
	// No texts are published in this database: the store answers that, not 500.
	if r.Status != http.StatusBadRequest || !strings.Contains(r.Raw, "consentType") {
		t.Fatalf("a consent after the migration: %d %s, want 400 naming consentType", r.Status, r.Raw)
	}
}
