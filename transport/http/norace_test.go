//go:build !race

package httptransport

// raceEnabled: the race detector changes what escapes, so allocations are
// only asserted without it.
const raceEnabled = false
