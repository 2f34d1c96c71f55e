package porttest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

// ProcessEventsFixture is a process event recorder under test and a way to
// read back what it stored (the port itself is write-only).
type ProcessEventsFixture struct {
	Recorder ports.ProcessEventRecorder
	// Events returns the stored events of a process in the order recorded.
	Events func(t *testing.T, processID string) []domain.ProcessEvent
}

// ProcessEvents runs the suite of ports.ProcessEventRecorder.
func ProcessEvents(t *testing.T, newRecorder func(t *testing.T) ProcessEventsFixture) {
	ctx := context.Background()
	f := newRecorder(t)

	t.Run("stores the event with its data", func(t *testing.T) {
		s := unique()
		e := domain.ProcessEvent{
			Type: "FINISHED", ProcessID: "p-" + s, ProcessType: "ONBOARDING", UserID: "u-" + s,
			IdentityVerificationID: "iv-" + s,
			// JSON values only, numbers as float64, as a decoder produces them.
			Data: map[string]any{
				"language": "cs", "httpUserAgent": "MyBank/4.2 (Android 14)", "score": 0.93, "rooted": false,
				"device": map[string]any{"model": "Pixel 8", "tags": []any{"a", "b"}},
			},
			RequestID: "req-" + s, CorrelationID: "corr-" + s, ReceivedAt: now(),
		}
		want := e
		want.Data = map[string]any{
			"language": "cs", "httpUserAgent": "MyBank/4.2 (Android 14)", "score": 0.93, "rooted": false,
			"device": map[string]any{"model": "Pixel 8", "tags": []any{"a", "b"}},
		}
		must(t, f.Recorder.RecordProcessEvent(ctx, e))
		e.Data["language"] = "changed after the call"
		got := f.Events(t, e.ProcessID)
		if len(got) != 1 {
			t.Fatalf("stored %d events, want 1", len(got))
		}
		got[0].ReceivedAt, want.ReceivedAt = utc(got[0].ReceivedAt), utc(want.ReceivedAt)
		same(t, "event", got[0], want)
	})

	t.Run("without data", func(t *testing.T) {
		e := domain.ProcessEvent{Type: "FINISHED", ProcessID: "p-" + unique(), ReceivedAt: now()}
		must(t, f.Recorder.RecordProcessEvent(ctx, e))
		got := f.Events(t, e.ProcessID)
		if len(got) != 1 || got[0].Type != "FINISHED" || len(got[0].Data) != 0 {
			t.Fatalf("stored %+v, want one FINISHED event without data", got)
		}
	})

	t.Run("concurrent events are all stored", func(t *testing.T) {
		pid := "p-" + unique()
		const n = 20
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				errs[i] = f.Recorder.RecordProcessEvent(ctx, domain.ProcessEvent{
					Type: fmt.Sprintf("STEP_%d", i), ProcessID: pid, ReceivedAt: now(),
				})
			})
		}
		wg.Wait()
		for _, err := range errs {
			must(t, err)
		}
		got := f.Events(t, pid)
		seen := map[string]bool{}
		for _, e := range got {
			seen[e.Type] = true
		}
		if len(got) != n || len(seen) != n {
			t.Fatalf("stored %d events (%d distinct), want %d", len(got), len(seen), n)
		}
	})
}
