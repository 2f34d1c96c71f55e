package porttest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

// ConsentLedger runs the suite of ports.ConsentLedger.
func ConsentLedger(t *testing.T, newLedger func(t *testing.T) ports.ConsentLedger) {
	ctx := context.Background()
	ledger := newLedger(t)
	record := func(approved bool) domain.ConsentRecord {
		s := unique()
		return domain.ConsentRecord{
			ProcessID: "p-" + s, UserID: "u-" + s, ConsentType: "GDPR", Approved: approved,
			Language: "en", TextVersion: 3, TextSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
			RequestID: "req-" + s, CorrelationID: "corr-" + s,
		}
	}

	t.Run("append, repeat, change: approve, revoke, approve", func(t *testing.T) {
		base := record(true)
		first, added, err := ledger.AppendConsent(ctx, base)
		must(t, err)
		if !added || first.Seq != 1 || first.ID <= 0 || first.RecordedAt.IsZero() {
			t.Fatalf("first append = %+v added %v, want added, Seq 1, an id and a time", first, added)
		}
		want := base
		want.ID, want.Seq, want.RecordedAt = first.ID, 1, first.RecordedAt
		same(t, "first record", first, want)
		if first.TextServed {
			t.Fatal("a record given as not served came back served")
		}

		repeat := base
		repeat.RequestID, repeat.CorrelationID = "req-"+unique(), "corr-"+unique()
		got, added, err := ledger.AppendConsent(ctx, repeat)
		must(t, err)
		if added {
			t.Fatal("an identical decision added a second row")
		}
		sameRecord(t, got, first)

		prevID := first.ID
		for i, approved := range []bool{false, true, false} {
			rec := base
			rec.Approved, rec.RequestID = approved, "req-"+unique()
			got, added, err := ledger.AppendConsent(ctx, rec)
			must(t, err)
			if !added || got.Seq != i+2 || got.ID <= prevID || got.Approved != approved || got.RequestID != rec.RequestID {
				t.Fatalf("change %d = %+v added %v, want a new row with Seq %d and a larger id than %d", i+1, got, added, i+2, prevID)
			}
			prevID = got.ID
			latest, err := ledger.LatestConsent(ctx, base.UserID, "GDPR")
			must(t, err)
			sameRecord(t, latest, got)
		}
	})

	t.Run("the same decision on a newer version is a new record; other texts are repeats", func(t *testing.T) {
		base := record(true)
		first, _, err := ledger.AppendConsent(ctx, base)
		must(t, err)
		newVersion := base // a version published since, and shown to the user
		newVersion.TextVersion, newVersion.TextSHA256 = 4, "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
		newVersion.RequestID, newVersion.TextServed = "req-"+unique(), true
		got, added, err := ledger.AppendConsent(ctx, newVersion)
		must(t, err)
		if !added || got.Seq != 2 || got.TextVersion != 4 || got.ID <= first.ID || !got.TextServed {
			t.Fatalf("approval of version 4 = %+v added %v, want a new row, Seq 2, on version 4, served", got, added)
		}
		// A re-send whose serving resolved to another text: the old
		// version, another language's text, the same version again; the
		// repeat answers with the stored record, served as it was stored
		// (base was not).
		otherLanguage := newVersion
		otherLanguage.Language, otherLanguage.TextVersion = "cs", 7
		for _, rec := range []domain.ConsentRecord{base, otherLanguage, newVersion} {
			rec.RequestID = "req-" + unique()
			repeat, added, err := ledger.AppendConsent(ctx, rec)
			must(t, err)
			if added {
				t.Fatalf("%s version %d added a row after version 4 was approved", rec.Language, rec.TextVersion)
			}
			sameRecord(t, repeat, got)
		}
		latest, err := ledger.LatestConsent(ctx, base.UserID, "GDPR")
		must(t, err)
		sameRecord(t, latest, got)
	})

	t.Run("a caller's RecordedAt is kept", func(t *testing.T) {
		rec := record(true)
		rec.RecordedAt = time.Date(2024, 3, 1, 10, 30, 15, 123456000, time.UTC)
		got, _, err := ledger.AppendConsent(ctx, rec)
		must(t, err)
		if !got.RecordedAt.Equal(rec.RecordedAt) {
			t.Fatalf("RecordedAt = %v, want %v", got.RecordedAt, rec.RecordedAt)
		}
	})

	// Replicas stamp RecordedAt with their own clocks: a revocation taken by
	// one whose clock is behind the replica that took the approval must not
	// be recorded before it, or the approval would stay the latest.
	t.Run("a record is never recorded before its history's latest", func(t *testing.T) {
		approve := record(true)
		approve.RecordedAt = time.Date(2024, 3, 1, 10, 30, 15, 0, time.UTC)
		first, _, err := ledger.AppendConsent(ctx, approve)
		must(t, err)
		revoke := approve
		revoke.Approved, revoke.RequestID = false, "req-"+unique()
		revoke.RecordedAt = approve.RecordedAt.Add(-5 * time.Second)
		got, added, err := ledger.AppendConsent(ctx, revoke)
		must(t, err)
		if !added || got.Seq != 2 || !got.RecordedAt.Equal(first.RecordedAt) {
			t.Fatalf("revocation stamped 5 s before the approval = %+v added %v, want Seq 2 recorded at %v", got, added, first.RecordedAt)
		}
		latest, err := ledger.LatestConsent(ctx, approve.UserID, "GDPR")
		must(t, err)
		sameRecord(t, latest, got)
	})

	t.Run("histories are per process and type; latest is across processes", func(t *testing.T) {
		a := record(true)
		a.RecordedAt = now().Add(-time.Hour)
		gotA, _, err := ledger.AppendConsent(ctx, a)
		must(t, err)
		b := a
		b.ProcessID, b.Approved, b.RecordedAt = "p-"+unique(), false, now()
		gotB, added, err := ledger.AppendConsent(ctx, b)
		must(t, err)
		if !added || gotB.Seq != 1 {
			t.Fatalf("first record of another process = %+v added %v, want a new row with Seq 1", gotB, added)
		}
		m := a
		m.ConsentType = "MARKETING"
		gotM, added, err := ledger.AppendConsent(ctx, m)
		must(t, err)
		if !added || gotM.Seq != 1 {
			t.Fatalf("first record of another type = %+v added %v, want a new row with Seq 1", gotM, added)
		}
		latest, err := ledger.LatestConsent(ctx, a.UserID, "GDPR")
		must(t, err)
		sameRecord(t, latest, gotB)
		latest, err = ledger.LatestConsent(ctx, a.UserID, "MARKETING")
		must(t, err)
		sameRecord(t, latest, gotM)
		// A record of process A sent again is still a repeat of A's latest.
		again, added, err := ledger.AppendConsent(ctx, a)
		must(t, err)
		if added {
			t.Fatal("repeating process A's decision added a row")
		}
		sameRecord(t, again, gotA)
	})

	t.Run("latest of several types in one read", func(t *testing.T) {
		a := record(true)
		a.RecordedAt = now().Add(-time.Hour)
		_, _, err := ledger.AppendConsent(ctx, a)
		must(t, err)
		// The same type in a later process, revoked: it is the newest.
		b := a
		b.ProcessID, b.Approved, b.RecordedAt = "p-"+unique(), false, now()
		gotB, _, err := ledger.AppendConsent(ctx, b)
		must(t, err)
		m := a
		m.ConsentType = "MARKETING"
		gotM, _, err := ledger.AppendConsent(ctx, m)
		must(t, err)
		other := record(true) // another user's record of the same types
		_, _, err = ledger.AppendConsent(ctx, other)
		must(t, err)

		got, err := ledger.LatestConsents(ctx, a.UserID, []string{"GDPR", "MARKETING", "NEWSLETTER"})
		must(t, err)
		if len(got) != 2 {
			t.Fatalf("LatestConsents = %d records (%+v), want GDPR and MARKETING only", len(got), got)
		}
		sameRecord(t, got["GDPR"], gotB)
		sameRecord(t, got["MARKETING"], gotM)
		for _, typ := range []string{"GDPR", "MARKETING"} {
			one, err := ledger.LatestConsent(ctx, a.UserID, typ)
			must(t, err)
			sameRecord(t, got[typ], one)
		}

		none, err := ledger.LatestConsents(ctx, "u-"+unique(), []string{"GDPR"})
		must(t, err)
		if len(none) != 0 {
			t.Fatalf("LatestConsents of an unknown user = %+v, want none", none)
		}
		empty, err := ledger.LatestConsents(ctx, a.UserID, nil)
		must(t, err)
		if len(empty) != 0 {
			t.Fatalf("LatestConsents of no types = %+v, want none", empty)
		}
	})

	t.Run("not found", func(t *testing.T) {
		_, err := ledger.LatestConsent(ctx, "u-"+unique(), "GDPR")
		wantCode(t, err, domain.CodeNotFound)
		rec := record(true)
		_, _, err = ledger.AppendConsent(ctx, rec)
		must(t, err)
		_, err = ledger.LatestConsent(ctx, rec.UserID, "MARKETING")
		wantCode(t, err, domain.CodeNotFound)
	})

	t.Run("50 concurrent identical appends add one row", func(t *testing.T) {
		rec := record(true)
		const n = 50
		got := make([]domain.ConsentRecord, n)
		added := make([]bool, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { got[i], added[i], errs[i] = ledger.AppendConsent(ctx, rec) })
		}
		wg.Wait()
		winners := 0
		for i := range n {
			must(t, errs[i])
			if added[i] {
				winners++
			}
			if got[i].ID != got[0].ID || got[i].Seq != 1 {
				t.Fatalf("call %d got record %d seq %d, call 0 got %d seq 1", i, got[i].ID, got[i].Seq, got[0].ID)
			}
		}
		if winners != 1 {
			t.Fatalf("%d calls added a row, want exactly 1", winners)
		}
		// Had a second row slipped in, the change would be Seq 3.
		rec.Approved = false
		change, _, err := ledger.AppendConsent(ctx, rec)
		must(t, err)
		if change.Seq != 2 {
			t.Fatalf("the change after the race has Seq %d, want 2", change.Seq)
		}
	})
}

func sameRecord(t *testing.T, got, want domain.ConsentRecord) {
	t.Helper()
	got.RecordedAt, want.RecordedAt = utc(got.RecordedAt), utc(want.RecordedAt)
	same(t, "consent record", got, want)
}

// ConsentServings runs the suite of ports.ConsentServings.
func ConsentServings(t *testing.T, newServings func(t *testing.T) ports.ConsentServings) {
	ctx := context.Background()
	store := newServings(t)
	serving := func(pid, typ string, version int) domain.ConsentServing {
		return domain.ConsentServing{ProcessID: pid, ConsentType: typ, Language: "cs", Version: version,
			SHA256: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", ServedAt: now()}
	}
	check := func(t *testing.T, pid, typ string, want domain.ConsentServing) {
		t.Helper()
		got, err := store.LastServing(ctx, pid, typ)
		must(t, err)
		got.ServedAt, want.ServedAt = utc(got.ServedAt), utc(want.ServedAt)
		same(t, "serving", got, want)
	}

	t.Run("record and replace", func(t *testing.T) {
		pid := "p-" + unique()
		v1 := serving(pid, "GDPR", 1)
		must(t, store.RecordServing(ctx, v1))
		check(t, pid, "GDPR", v1)
		v2 := serving(pid, "GDPR", 2)
		v2.Language = "en"
		must(t, store.RecordServing(ctx, v2))
		check(t, pid, "GDPR", v2)
	})

	t.Run("per process and type", func(t *testing.T) {
		pid := "p-" + unique()
		gdpr, mkt := serving(pid, "GDPR", 4), serving(pid, "MARKETING", 7)
		must(t, store.RecordServing(ctx, gdpr))
		must(t, store.RecordServing(ctx, mkt))
		check(t, pid, "GDPR", gdpr)
		check(t, pid, "MARKETING", mkt)
		_, err := store.LastServing(ctx, "p-"+unique(), "GDPR")
		wantCode(t, err, domain.CodeNotFound)
		_, err = store.LastServing(ctx, pid, "OTHER")
		wantCode(t, err, domain.CodeNotFound)
	})
}
