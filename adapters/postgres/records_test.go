package postgres_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

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

	if _, err := s.Decisions.ClaimReviewCase(ctx, "case-audit", "alice", at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Decisions.ClaimReviewCase(ctx, "case-audit", "alice", at.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Decisions.ResolveReviewCase(ctx, ports.ReviewResolution{CaseID: "case-audit", Result: domain.ResultOK,
		Reason: "verified", Reviewer: "alice", SecondReviewer: "bob", At: at.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Decisions.PurgeReviewEvidence(ctx, at.Add(2*time.Hour)); err != nil || n != 1 {
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
		{"PURGE_EVIDENCE", "retention", "", "", ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("audit rows = %v, want %v", got, want)
	}
}
