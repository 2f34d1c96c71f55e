package memory

import (
	"context"
	"maps"
	"sync"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

var _ ports.ProcessEventRecorder = (*ProcessEvents)(nil)

// DefaultProcessEvents is how many events NewProcessEvents keeps.
const DefaultProcessEvents = 10000

// ProcessEvents keeps the most recent process events in a ring: the embedded
// service has no audit store, and a caller sending events forever must not
// grow memory without bound. The oldest event is dropped first.
type ProcessEvents struct {
	mu      sync.RWMutex
	limit   int
	ring    []domain.ProcessEvent // grows with use up to limit
	next    int                   // where the next event goes once the ring is full
	dropped uint64
}

// NewProcessEvents keeps the last DefaultProcessEvents events.
func NewProcessEvents() *ProcessEvents { return NewProcessEventsLimit(DefaultProcessEvents) }

// NewProcessEventsLimit keeps the last limit events; below 1 it keeps the
// last DefaultProcessEvents (a ring has a size: unlike the other stores,
// the events are never unbounded).
func NewProcessEventsLimit(limit int) *ProcessEvents {
	if limit < 1 {
		limit = DefaultProcessEvents
	}
	return &ProcessEvents{limit: limit}
}

// RecordProcessEvent stores a copy of e, dropping the oldest event when full.
func (p *ProcessEvents) RecordProcessEvent(_ context.Context, e domain.ProcessEvent) error {
	e.Data = cloneData(e.Data)
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ring) < p.limit {
		// The ring grows as events come, so a large limit costs nothing
		// until it is used (ONBOARDING_MEMORY_MAX_RECORDS goes up to ten
		// million).
		p.ring = append(p.ring, e)
		return nil
	}
	p.dropped++
	p.ring[p.next] = e
	p.next = (p.next + 1) % p.limit
	return nil
}

// Events returns copies of the kept events, oldest first.
func (p *ProcessEvents) Events() []domain.ProcessEvent {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]domain.ProcessEvent, 0, len(p.ring))
	out = append(out, p.ring[p.next:]...)
	out = append(out, p.ring[:p.next]...)
	for i := range out {
		out[i].Data = cloneData(out[i].Data)
	}
	return out
}

// Dropped returns how many events were dropped to keep the bound.
func (p *ProcessEvents) Dropped() uint64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.dropped
}

// cloneData deep-copies free-form JSON data (objects and arrays nest), so
// neither the caller nor a reader can change a stored event.
func cloneData(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := maps.Clone(m)
	for k, v := range out {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return cloneData(x)
	case []any:
		c := make([]any, len(x))
		for i, e := range x {
			c[i] = cloneValue(e)
		}
		return c
	}
	return v
}
