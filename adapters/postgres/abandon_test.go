package postgres

import (
	"context"
	"testing"
	"time"
)

// A read batch is cancelled once every caller has given up, not before.
func TestAbandonWithCancelsWhenEveryCallerIsGone(t *testing.T) {
	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	calls := []*call[int, int]{{ctx: ctx1}, {ctx: ctx2}}
	batch, cancelBatch := context.WithCancel(context.Background())
	defer cancelBatch()
	stop := abandonWith(calls, cancelBatch)
	defer stop()

	cancel1()
	select {
	case <-batch.Done():
		t.Fatal("the batch was cancelled while a caller still waits for it")
	case <-time.After(50 * time.Millisecond):
	}
	cancel2()
	select {
	case <-batch.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the batch was not cancelled after every caller gave up")
	}
}

// Once stopped, the watch no longer cancels the batch.
func TestAbandonWithStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	batch, cancelBatch := context.WithCancel(context.Background())
	defer cancelBatch()
	abandonWith([]*call[int, int]{{ctx: ctx}}, cancelBatch)()
	cancel()
	select {
	case <-batch.Done():
		t.Fatal("a stopped watch cancelled the batch")
	case <-time.After(50 * time.Millisecond):
	}
}
