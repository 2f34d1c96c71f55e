//go:build race

package memory

// raceEnabled: the race detector changes allocation sizes, so memory per
// entry is only asserted without it.
const raceEnabled = true
