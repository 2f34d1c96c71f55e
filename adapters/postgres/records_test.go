package postgres_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/adapters/postgres"
	"github.com/bankkit/onboarding-adapter/adapters/postgres/pgtest"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
	"github.com/bankkit/onboarding-adapter/ports/porttest"
)

// storedEvent is a process_events row: the event and the transaction that
// inserted it.
type storedEvent struct {
	e    domain.ProcessEvent
	xmin string
}

// storedEvents reads the events of a process in insertion (id) order.
func storedEvents(t *testing.T, pool *pgxpool.Pool, processID string) []storedEvent {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT type, process_id, process_type, user_id,
    identity_verification_id, data, request_id, correlation_id, received_at, xmin::text
FROM process_events WHERE process_id = $1 ORDER BY id`, processID)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storedEvent, error) {
		var (
			s    storedEvent
			data []byte
		)
		err := r.Scan(&s.e.Type, &s.e.ProcessID, &s.e.ProcessType, &s.e.UserID, &s.e.IdentityVerificationID, &data,
			&s.e.RequestID, &s.e.CorrelationID, &s.e.ReceivedAt, &s.xmin)
		if err == nil && data != nil {
			err = json.Unmarshal(data, &s.e.Data)
		}
		s.e.ReceivedAt = s.e.ReceivedAt.UTC()
		return s, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func eventsFixture(s *postgres.Stores, pool *pgxpool.Pool) porttest.ProcessEventsFixture {
	return porttest.ProcessEventsFixture{
		Recorder: s.Events,
		Events: func(t *testing.T, processID string) []domain.ProcessEvent {
			var out []domain.ProcessEvent
			for _, r := range storedEvents(t, pool, processID) {
				out = append(out, r.e)
			}
			return out
		},
	}
}

// The shared suite of the event recorder, with group commit on (the
// default) and off.
func TestProcessEventsSuite(t *testing.T) {
	t.Parallel()
	s, pool := newStores(t)
	porttest.ProcessEvents(t, func(*testing.T) porttest.ProcessEventsFixture { return eventsFixture(s, pool) })
}

func TestProcessEventsUnbatched(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	s := postgres.New(pool, memory.SystemClock{}, memory.NewRandomIDs(), postgres.WithBatching(postgres.BatchConfig{}))
	porttest.ProcessEvents(t, func(*testing.T) porttest.ProcessEventsFixture { return eventsFixture(s, pool) })
}

// batchEvent is a distinct event with every column set (data on even i).
func batchEvent(processID string, i int) domain.ProcessEvent {
	e := domain.ProcessEvent{Type: fmt.Sprintf("STEP_%d", i), ProcessID: processID, ProcessType: "ONBOARDING",
		UserID: fmt.Sprintf("u-%d", i), IdentityVerificationID: fmt.Sprintf("iv-%d", i),
		RequestID: fmt.Sprintf("req-%d", i), CorrelationID: fmt.Sprintf("corr-%d", i),
		ReceivedAt: time.Date(2025, 3, 1, 12, 0, i, 1000*i, time.UTC)}
	if i%2 == 0 {
		e.Data = map[string]any{"step": float64(i), "device": map[string]any{"model": "Pixel 8"}}
	}
	return e
}

// TestProcessEventGroupCommit: events recorded together are stored by one
// transaction, each with every column as given, and each caller returns
// only once its event can be read.
func TestProcessEventGroupCommit(t *testing.T) {
	t.Parallel()
	s, pool := newBatchedStores(t)
	ctx := context.Background()
	pid := fmt.Sprintf("p-events-%d", time.Now().UnixNano())
	const n = 20
	sent := make([]domain.ProcessEvent, n)
	errs := make([]error, n)
	visible := make([]bool, n)
	var calls []func()
	for i := range n {
		sent[i] = batchEvent(pid, i)
		calls = append(calls, func() {
			errs[i] = s.Events.RecordProcessEvent(ctx, sent[i])
			var found bool
			_ = pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM process_events WHERE process_id = $1 AND type = $2)`,
				pid, sent[i].Type).Scan(&found)
			visible[i] = found
		})
	}
	together(calls...)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if !visible[i] {
			t.Fatalf("event %d: RecordProcessEvent returned before its row was committed", i)
		}
	}
	got := storedEvents(t, pool, pid)
	if len(got) != n {
		t.Fatalf("stored %d events, want %d", len(got), n)
	}
	byType := map[string]domain.ProcessEvent{}
	for _, r := range got {
		if r.xmin != got[0].xmin {
			t.Fatalf("events stored by transactions %s and %s, want one", got[0].xmin, r.xmin)
		}
		byType[r.e.Type] = r.e
	}
	for _, e := range sent {
		if !reflect.DeepEqual(byType[e.Type], e) {
			t.Fatalf("stored %+v, want %+v", byType[e.Type], e)
		}
	}
}

// TestProcessEventBatchKeepsOrder: a batch stores its events in the order
// it holds them (ids ascending), whatever their types or times say.
func TestProcessEventBatchKeepsOrder(t *testing.T) {
	t.Parallel()
	s, pool := newStores(t)
	pid := fmt.Sprintf("p-events-order-%d", time.Now().UnixNano())
	var sent []domain.ProcessEvent
	for _, i := range []int{7, 2, 9, 0, 5, 3, 8, 1, 6, 4} { // neither type nor time order
		sent = append(sent, batchEvent(pid, i))
	}
	if err := s.Events.FlushEvents(context.Background(), sent); err != nil {
		t.Fatal(err)
	}
	got := storedEvents(t, pool, pid)
	if len(got) != len(sent) {
		t.Fatalf("stored %d events, want %d", len(got), len(sent))
	}
	for i, r := range got {
		if !reflect.DeepEqual(r.e, sent[i]) {
			t.Fatalf("event %d by id: %+v, want %+v", i, r.e, sent[i])
		}
	}
}

// TestProcessEventGroupCommitFailingEvent: an event the database refuses
// (a NUL byte) fails only its own caller; the others of its batch are
// stored once each.
func TestProcessEventGroupCommitFailingEvent(t *testing.T) {
	t.Parallel()
	s, pool := newBatchedStores(t)
	ctx := context.Background()
	pid := fmt.Sprintf("p-events-bad-%d", time.Now().UnixNano())
	const n = 10
	errs := make([]error, n)
	var (
		calls  []func()
		badErr error
	)
	for i := range n {
		calls = append(calls, func() { errs[i] = s.Events.RecordProcessEvent(ctx, batchEvent(pid, i)) })
	}
	bad := batchEvent(pid, n)
	bad.CorrelationID = "corr-\x00"
	calls = append(calls, func() { badErr = s.Events.RecordProcessEvent(ctx, bad) })
	together(calls...)
	if domain.CodeOf(badErr) != domain.CodeInvalid {
		t.Fatalf("the refused event: %v, want CodeInvalid", badErr)
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("good event %d failed with the bad one: %v", i, err)
		}
	}
	got := storedEvents(t, pool, pid)
	seen := map[string]int{}
	for _, r := range got {
		seen[r.e.Type]++
	}
	if len(got) != n || len(seen) != n || seen[bad.Type] != 0 {
		t.Fatalf("stored %d events (%d distinct, the refused one %d times), want the %d good ones once each",
			len(got), len(seen), seen[bad.Type], n)
	}
}

// TestProcessEventGroupCommitCancellation: an event whose caller gave up
// before the flush is not stored, and a retry stores it.
func TestProcessEventGroupCommitCancellation(t *testing.T) {
	t.Parallel()
	s, pool := newBatchedStores(t)
	pid := fmt.Sprintf("p-events-early-%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := s.Events.RecordProcessEvent(ctx, batchEvent(pid, 1)); domain.CodeOf(err) != domain.CodeUnavailable {
		t.Fatalf("record with an ended context: %v, want CodeUnavailable", err)
	}
	s.WaitBatches() // the batch it was in has been settled
	if got := storedEvents(t, pool, pid); len(got) != 0 {
		t.Fatalf("an event whose caller gave up before the flush was stored: %+v", got)
	}
	if err := s.Events.RecordProcessEvent(context.Background(), batchEvent(pid, 1)); err != nil {
		t.Fatal(err)
	}
	if got := storedEvents(t, pool, pid); len(got) != 1 {
		t.Fatalf("retry stored %d events, want 1", len(got))
	}
}

func TestProcessEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool := newStores(t)
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		e    domain.ProcessEvent
		data string // stored jsonb as text, "" for NULL
	}{
		{"with data", domain.ProcessEvent{Type: "FINISHED", ProcessID: "p-ev1", ProcessType: "ONBOARDING", UserID: "u-1",
			IdentityVerificationID: "iv-1", Data: map[string]any{"state": "OK", "steps": []any{"a", 2.0}, "nested": map[string]any{"x": true}},
			RequestID: "req-1", CorrelationID: "corr-1", ReceivedAt: at},
			`{"state": "OK", "steps": ["a", 2], "nested": {"x": true}}`},
		{"without data or time", domain.ProcessEvent{Type: "FINISHED", ProcessID: "p-ev2"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Events.RecordProcessEvent(ctx, tc.e); err != nil {
				t.Fatal(err)
			}
			var (
				typ, processType, user, iv, req, corr string
				data                                  []byte
				received                              time.Time
			)
			err := pool.QueryRow(ctx, `SELECT type, process_type, user_id, identity_verification_id, data, request_id,
    correlation_id, received_at FROM process_events WHERE process_id = $1`, tc.e.ProcessID).
				Scan(&typ, &processType, &user, &iv, &data, &req, &corr, &received)
			if err != nil {
				t.Fatal(err)
			}
			if typ != tc.e.Type || processType != tc.e.ProcessType || user != tc.e.UserID || iv != tc.e.IdentityVerificationID ||
				req != tc.e.RequestID || corr != tc.e.CorrelationID {
				t.Fatalf("stored %s %s %s %s %s %s, want %+v", typ, processType, user, iv, req, corr, tc.e)
			}
			if tc.data == "" {
				if data != nil {
					t.Fatalf("data = %s, want NULL", data)
				}
			} else {
				var got, want any
				_ = json.Unmarshal(data, &got)
				_ = json.Unmarshal([]byte(tc.data), &want)
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("data = %s, want %s", data, tc.data)
				}
			}
			if tc.e.ReceivedAt.IsZero() && time.Since(received) > time.Minute || !tc.e.ReceivedAt.IsZero() && !received.Equal(at) {
				t.Fatalf("received at %v", received)
			}
		})
	}
	t.Run("a NUL byte is refused as invalid, not as an internal error", func(t *testing.T) {
		err := s.Events.RecordProcessEvent(ctx, domain.ProcessEvent{Type: "FINISHED", ProcessID: "p-\x00"})
		if domain.CodeOf(err) != domain.CodeInvalid {
			t.Fatalf("err = %v, want CodeInvalid", err)
		}
	})
}

// Claims, resolutions and purges leave an audit row each; a review case id
// already used refuses the whole save.
func TestReviewAuditAndCaseIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool := newStores(t)
	at := time.Date(2025, 2, 1, 9, 0, 0, 0, time.UTC)
	d := domain.Decision{Kind: domain.KindEvaluation, ProcessID: "p-audit", IdentityVerificationID: "iv-1", Result: domain.ResultWAIT, DecidedAt: at}
	if _, _, err := s.Decisions.SaveDecision(ctx, d, &domain.ReviewCase{ID: "case-audit", Evidence: domain.ReviewEvidence{Frame: []byte{1}}}); err != nil {
		t.Fatal(err)
	}
	other := d
	other.IdentityVerificationID = "iv-2"
	_, stored, err := s.Decisions.SaveDecision(ctx, other, &domain.ReviewCase{ID: "case-audit"})
	if domain.CodeOf(err) != domain.CodeConflict || stored {
		t.Fatalf("reusing a case id: stored %v, err %v; want CodeConflict", stored, err)
	}
	if _, err := s.Decisions.Decision(ctx, other.Kind, other.ProcessID, other.IdentityVerificationID); !domain.IsNotFound(err) {
		t.Fatalf("the refused decision was stored: %v", err)
	}

	if _, err := s.Decisions.ClaimReviewCase(ctx, "case-audit", "alice", "", at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Decisions.ClaimReviewCase(ctx, "case-audit", "alice", "", at.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Decisions.ResolveReviewCase(ctx, ports.ReviewResolution{CaseID: "case-audit", Result: domain.ResultOK,
		Reason: "verified", Reviewer: "alice", SecondReviewer: "bob", At: at.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Decisions.PurgeReviewEvidence(ctx, at.Add(2*time.Hour), "retention test"); err != nil || n != 1 {
		t.Fatalf("purged %d, %v; want 1", n, err)
	}
	rows, err := pool.Query(ctx, `SELECT action, actor, reason, coalesce(result, ''), coalesce(second_actor, '')
FROM review_audit WHERE case_id = 'case-audit' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var got [][5]string
	for rows.Next() {
		var r [5]string
		if err := rows.Scan(&r[0], &r[1], &r[2], &r[3], &r[4]); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	want := [][5]string{
		{"CLAIM", "alice", "", "", ""}, // the repeated claim by alice changes nothing and is not audited
		{"RESOLVE", "alice", "verified", "OK", "bob"},
		{"PURGE_EVIDENCE", "retention", "retention test", "", ""}, // the reason the purge was given
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("audit rows = %v, want %v", got, want)
	}
}

// An event the database refuses is logged (the service answers the caller
// 200 all the same), with its process id and the error's class, never the
// refused value.
func TestProcessEventNotStoredIsLogged(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer // written by the caller's goroutine, read after it returned
	s := postgres.New(pgtest.NewPool(t), memory.SystemClock{}, memory.NewRandomIDs(),
		postgres.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	t.Cleanup(s.Close)
	pid := fmt.Sprintf("p-events-logged-%d", time.Now().UnixNano())
	bad := batchEvent(pid, 1)
	bad.CorrelationID = "corr-secret-\x00"
	if err := s.Events.RecordProcessEvent(context.Background(), bad); domain.CodeOf(err) != domain.CodeInvalid {
		t.Fatalf("the refused event: %v, want CodeInvalid", err)
	}
	out := logs.String()
	if !strings.Contains(out, `"msg":"process event not known to be stored"`) || !strings.Contains(out, pid) || !strings.Contains(out, `"code":"invalid"`) {
		t.Errorf("log %q, want a warning naming the process and the code", out)
	}
	if strings.Contains(out, "corr-secret") {
		t.Errorf("the log holds the refused value: %s", out)
	}
}

// A purge goes in batches, each its own statement and commit, until no
// case is left: every case once, with one audit row each.
func TestPurgeInBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool := newStores(t)
	postgres.SetPurgeBatch(s, 2)
	at := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	const cases = 5
	for i := range cases {
		d := domain.Decision{Kind: domain.KindEvaluation, ProcessID: "p-purge", IdentityVerificationID: fmt.Sprintf("iv-%d", i),
			Result: domain.ResultWAIT, DecidedAt: at}
		id := fmt.Sprintf("case-purge-%d", i)
		if _, _, err := s.Decisions.SaveDecision(ctx, d, &domain.ReviewCase{ID: id, Evidence: domain.ReviewEvidence{Frame: []byte{0xff, 0xd8}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Decisions.ResolveReviewCase(ctx, ports.ReviewResolution{CaseID: id, Result: domain.ResultOK,
			Reason: "verified", Reviewer: "alice", At: at.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Decisions.PurgeReviewEvidence(ctx, at.Add(time.Hour), "retention test"); err != nil || n != cases {
		t.Fatalf("purged %d, %v; want %d over three batches", n, err, cases)
	}
	var kept, audited int
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE NOT evidence_purged OR evidence_frame IS NOT NULL),
    (SELECT count(*) FROM review_audit WHERE action = 'PURGE_EVIDENCE' AND case_id LIKE 'case-purge-%')
FROM review_cases WHERE id LIKE 'case-purge-%'`).Scan(&kept, &audited); err != nil {
		t.Fatal(err)
	}
	if kept != 0 || audited != cases {
		t.Fatalf("%d cases kept their evidence, %d purges audited; want 0 and %d", kept, audited, cases)
	}
	if n, err := s.Decisions.PurgeReviewEvidence(ctx, at.Add(time.Hour), "retention test"); err != nil || n != 0 {
		t.Fatalf("a second purge: %d, %v; want 0", n, err)
	}
}

// A review case changes only along its workflow, each step audited, even
// for the tables' owner: a direct UPDATE that resolves a case without an
// audit row, changes a resolved case or rewrites what a case was decided
// on is refused, and so is a DELETE.
func TestReviewCaseTampering(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool := newStores(t)
	at := time.Date(2025, 4, 1, 9, 0, 0, 0, time.UTC)
	for i, id := range []string{"case-open", "case-resolved"} {
		d := domain.Decision{Kind: domain.KindEvaluation, ProcessID: "p-tamper", IdentityVerificationID: fmt.Sprintf("iv-%d", i),
			Result: domain.ResultWAIT, DecidedAt: at}
		if _, _, err := s.Decisions.SaveDecision(ctx, d, &domain.ReviewCase{ID: id, Evidence: domain.ReviewEvidence{Frame: []byte{0xff, 0xd8}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Decisions.ResolveReviewCase(ctx, ports.ReviewResolution{CaseID: "case-resolved", Result: domain.ResultNOK,
		Reason: "forged document", Reviewer: "alice", At: at.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, stmt, want string }{
		{"resolved without an audit row", `UPDATE review_cases SET status = 'RESOLVED', resolution = 'OK', resolution_reason = 'x',
    resolved_by = 'mallory', resolved_at = now() WHERE id = 'case-open'`, "no RESOLVE audit row"},
		{"claimed without an audit row", `UPDATE review_cases SET status = 'CLAIMED', claimed_by = 'mallory', claimed_at = now()
    WHERE id = 'case-open'`, "no CLAIM audit row"},
		{"a resolution changed", `UPDATE review_cases SET resolution = 'OK' WHERE id = 'case-resolved'`, "changes only by the purge"},
		{"a resolved case reopened", `UPDATE review_cases SET status = 'OPEN', resolution = NULL, resolution_reason = NULL,
    resolved_by = NULL, resolved_at = NULL WHERE id = 'case-resolved'`, "cannot become OPEN"},
		{"the answer rewritten", `UPDATE review_cases SET answered = 'OK' WHERE id = 'case-open'`, "decided on never changes"},
		{"evidence purged before resolution", `UPDATE review_cases SET evidence = NULL, evidence_frame = NULL, evidence_purged = true
    WHERE id = 'case-open'`, "only a resolved case"},
		{"deleted", `DELETE FROM review_cases WHERE id = 'case-open'`, "append-only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pool.Exec(ctx, tc.stmt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: %v, want refused (%q)", tc.name, err, tc.want)
			}
		})
	}
	// The workflow itself still goes through: the purge of the resolved
	// case, with its audit row.
	if n, err := s.Decisions.PurgeReviewEvidence(ctx, at.Add(2*time.Hour), "retention test"); err != nil || n != 1 {
		t.Fatalf("purge: %d, %v; want 1", n, err)
	}
}
