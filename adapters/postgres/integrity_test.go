package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/bankkit/onboarding-adapter/domain"
)

// The ledger, the consent texts, the decisions and the review audit are
// append-only in the database itself: not even the table owner may change
// or delete a row.
func TestAppendOnlyTables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool := newStores(t)
	rec, _, err := s.Ledger.AppendConsent(ctx, domain.ConsentRecord{ProcessID: "p-ao", UserID: "u-ao", ConsentType: "GDPR",
		Approved: true, Language: "en", TextVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConsentTexts.PublishConsentText(ctx, "GDPR", "en", "<p>text</p>"); err != nil {
		t.Fatal(err)
	}
	d := domain.Decision{Kind: domain.KindApproval, ProcessID: "p-ao", IdentityVerificationID: "iv-ao", Result: domain.ResultWAIT,
		DecidedAt: time.Now()}
	if _, _, err := s.Decisions.SaveDecision(ctx, d, &domain.ReviewCase{ID: "case-ao"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Decisions.ClaimReviewCase(ctx, "case-ao", "alice", "", time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`UPDATE consent_ledger SET approved = NOT approved`,
		`UPDATE consent_ledger SET approved = false WHERE id = 1`,
		`DELETE FROM consent_ledger`,
		`TRUNCATE consent_ledger`,
		`UPDATE consent_texts SET html = '<p>changed</p>'`,
		`DELETE FROM consent_texts`,
		`TRUNCATE consent_texts CASCADE`,
		`UPDATE decisions SET result = 'OK'`,
		`DELETE FROM decisions`,
		`UPDATE review_audit SET actor = 'mallory'`,
		`DELETE FROM review_audit`,
	} {
		t.Run(stmt, func(t *testing.T) {
			_, err := pool.Exec(ctx, stmt)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "23001" {
				t.Fatalf("%s: err = %v, want the append-only refusal (SQLSTATE 23001)", stmt, err)
			}
		})
	}
	got, err := s.Ledger.LatestConsent(ctx, "u-ao", "GDPR")
	if err != nil || got != rec {
		t.Fatalf("the ledger row changed: %+v (err %v), want %+v", got, err, rec)
	}
}

// 50 concurrent identical requests store one row, and every caller gets
// the winner's answer (the porttest suites check the answers; this counts
// the rows in the table).
func TestFiftyConcurrentIdenticalWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool := newStores(t)
	const n = 50
	count := func(t *testing.T, query string, args ...any) int {
		t.Helper()
		var c int
		if err := pool.QueryRow(ctx, query, args...).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}

	t.Run("consent record", func(t *testing.T) {
		rec := domain.ConsentRecord{ProcessID: "p-50", UserID: "u-50", ConsentType: "GDPR", Approved: true, Language: "cs", TextVersion: 2}
		ids := make([]int64, n)
		added := make([]bool, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				r := rec
				r.RequestID = "req-" + string(rune('A'+i%26))
				var got domain.ConsentRecord
				got, added[i], errs[i] = s.Ledger.AppendConsent(ctx, r)
				ids[i] = got.ID
			})
		}
		wg.Wait()
		winners := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("call %d: %v", i, errs[i])
			}
			if ids[i] != ids[0] {
				t.Fatalf("call %d got record %d, call 0 got %d", i, ids[i], ids[0])
			}
			if added[i] {
				winners++
			}
		}
		if rows := count(t, `SELECT count(*) FROM consent_ledger WHERE process_id = 'p-50'`); rows != 1 || winners != 1 {
			t.Fatalf("%d rows, %d callers added one; want 1 and 1", rows, winners)
		}
	})

	t.Run("decision with its review case", func(t *testing.T) {
		base := domain.Decision{Kind: domain.KindEvaluation, ProcessID: "p-50", IdentityVerificationID: "iv-50",
			UserID: "u-50", Result: domain.ResultWAIT, ReasonCode: domain.ReasonNameSimilar, DecidedAt: time.Now()}
		got := make([]domain.Decision, n)
		stored := make([]bool, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				d := base
				d.RequestID = "req-" + string(rune('A'+i%26)) + string(rune('a'+i/26))
				rc := &domain.ReviewCase{ID: "case-50-" + d.RequestID, ReasonCodes: []string{domain.ReasonNameSimilar}}
				got[i], stored[i], errs[i] = s.Decisions.SaveDecision(ctx, d, rc)
			})
		}
		wg.Wait()
		winners := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("call %d: %v", i, errs[i])
			}
			if got[i].RequestID != got[0].RequestID || got[i].ReviewCaseID != got[0].ReviewCaseID {
				t.Fatalf("call %d got %s/%s, call 0 got %s/%s", i, got[i].RequestID, got[i].ReviewCaseID, got[0].RequestID, got[0].ReviewCaseID)
			}
			if stored[i] {
				winners++
			}
		}
		if winners != 1 {
			t.Fatalf("%d callers stored, want 1", winners)
		}
		if rows := count(t, `SELECT count(*) FROM decisions WHERE process_id = 'p-50'`); rows != 1 {
			t.Fatalf("%d decision rows, want 1", rows)
		}
		if rows := count(t, `SELECT count(*) FROM review_cases WHERE process_id = 'p-50' AND id = $1`, got[0].ReviewCaseID); rows != 1 {
			t.Fatalf("the winner's case is stored %d times, want once", rows)
		}
		if rows := count(t, `SELECT count(*) FROM review_cases WHERE process_id = 'p-50'`); rows != 1 {
			t.Fatalf("%d review cases, want 1: a losing save opened a case", rows)
		}
	})

	t.Run("prospect", func(t *testing.T) {
		id := domain.Identification{Scheme: []domain.IdentificationKey{domain.KeyPersonalNumber},
			Values: map[domain.IdentificationKey]string{domain.KeyPersonalNumber: "9999999999"}}
		users := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				c, err := s.Registry.RegisterProspect(ctx, id)
				users[i], errs[i] = c.UserID, err
			})
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil || users[i] != users[0] {
				t.Fatalf("call %d got %q (%v), call 0 got %q", i, users[i], errs[i], users[0])
			}
		}
		if rows := count(t, `SELECT count(*) FROM clients WHERE status = 'PROSPECT' AND personal_number = '9999999999'`); rows != 1 {
			t.Fatalf("%d prospects, want 1", rows)
		}
		var fp string
		if err := pool.QueryRow(ctx, `SELECT identification_fingerprint FROM clients WHERE user_id = $1`, users[0]).Scan(&fp); err != nil {
			t.Fatal(err)
		}
		if len(fp) != 64 || fp == id.Fingerprint() {
			t.Fatalf("stored fingerprint %q, want a SHA-256 hex, never the identification itself", fp)
		}
	})
}

// A statement blocked in the database returns when the caller's deadline
// passes, as CodeUnavailable.
func TestCallerDeadline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool := newStores(t)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// An uncommitted row takes the key the append below wants.
	if _, err := tx.Exec(ctx, `INSERT INTO consent_ledger (process_id, user_id, consent_type, seq, approved, text_version, recorded_at)
VALUES ('p-dl', 'u-dl', 'GDPR', 1, true, 1, now())`); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	started := time.Now()
	_, _, err = s.Ledger.AppendConsent(short, domain.ConsentRecord{ProcessID: "p-dl", UserID: "u-dl", ConsentType: "GDPR", Approved: true})
	if domain.CodeOf(err) != domain.CodeUnavailable {
		t.Fatalf("append blocked past its deadline = %v, want CodeUnavailable", err)
	}
	if took := time.Since(started); took > 3*time.Second {
		t.Fatalf("the append returned after %v, want about the 300ms deadline", took)
	}
	// The statement was cancelled on the server too (pgx closes the
	// connection at the deadline and sends a cancel request), rather than
	// left waiting for the lock with nobody to answer to, so when the
	// blocking transaction goes away the timed-out append cannot commit
	// behind the caller's back. The cancel request needs a connection of
	// its own, which a loaded machine may take seconds to open.
	waiting := -1
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline) && waiting != 0; time.Sleep(20 * time.Millisecond) {
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
	if waiting != 0 {
		t.Fatalf("%d statements still wait for the lock after the caller's deadline", waiting)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	var rows int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM consent_ledger WHERE process_id = 'p-dl'`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("%d rows (err %v) after the timed-out append, want 0", rows, err)
	}

	expired, cancel2 := context.WithTimeout(ctx, -time.Second)
	defer cancel2()
	_, err = s.Registry.ClientByUserID(expired, "u-1")
	if domain.CodeOf(err) != domain.CodeUnavailable {
		t.Fatalf("lookup with an expired deadline = %v, want CodeUnavailable", err)
	}
}
