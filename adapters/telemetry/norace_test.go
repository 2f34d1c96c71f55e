//go:build !race

package telemetry

// raceEnabled: the race detector changes what escapes, so allocation
// counts are only asserted without it.
const raceEnabled = false
