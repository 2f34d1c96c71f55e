package memory

// DefaultMaxRecords is how many decisions, consent records, consent
// servings and process events each in-memory store keeps before it forgets
// the oldest: enough for a demo or an integration suite (the black-box
// tests write a few hundred), small enough that a load test against `make
// run` stays near issue 10's 80 MB of RSS (68-83 MB peak in the harness;
// 132 MB with 10,000).
const DefaultMaxRecords = 2_000

// fifo remembers keys in the order they were first added, up to limit, so a
// store can forget its oldest entry when a new one arrives. The ring grows
// with use up to limit; a limit below 1 means unbounded and keeps nothing.
type fifo[K comparable] struct {
	limit int
	ring  []K
	next  int // the slot the next key overwrites once the ring is full
}

// push records k and returns the key it displaced, if the ring was full.
func (f *fifo[K]) push(k K) (oldest K, evicted bool) {
	if f.limit < 1 {
		return oldest, false
	}
	if len(f.ring) < f.limit {
		f.ring = append(f.ring, k)
		return oldest, false
	}
	oldest = f.ring[f.next]
	f.ring[f.next] = k
	f.next = (f.next + 1) % f.limit
	return oldest, true
}
