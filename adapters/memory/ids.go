package memory

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"

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

// NewID returns a UUIDv4 in its canonical text form.
func (*RandomIDs) NewID() string {
	var b [16]byte
	// crypto/rand.Read never returns an error: the runtime aborts when the
	// system's random source fails, rather than hand out weak ids.
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}

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
