package memory

import (
	"strconv"
	"sync/atomic"

	"github.com/google/uuid"

	"github.com/bankkit/onboarding-adapter/ports"
)

var (
	_ ports.IDGenerator = (*RandomIDs)(nil)
	_ ports.IDGenerator = (*SequenceIDs)(nil)
)

// RandomIDs makes random version 4 UUIDs from crypto/rand: user ids handed
// to the Onboarding Server must not be guessable or enumerable.
type RandomIDs struct{}

// NewRandomIDs returns the production id generator.
func NewRandomIDs() *RandomIDs { return &RandomIDs{} }

// NewID returns a UUIDv4 in its canonical text form. google/uuid reads
// crypto/rand (its pool of random bytes stays off) and panics rather than
// hand out a weak id when the system's random source fails.
func (*RandomIDs) NewID() string { return uuid.NewString() }

// SequenceIDs makes deterministic ids prefix-1, prefix-2, … so tests can
// name the id a service will generate.
type SequenceIDs struct {
	prefix string
	n      atomic.Uint64
}

// NewSequenceIDs returns a generator whose first id is prefix-1.
func NewSequenceIDs(prefix string) *SequenceIDs { return &SequenceIDs{prefix: prefix} }

// NewID returns the next id of the sequence.
func (s *SequenceIDs) NewID() string {
	return s.prefix + "-" + strconv.FormatUint(s.n.Add(1), 10)
}
