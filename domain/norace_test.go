//go:build !race

package domain_test

// raceEnabled: the race detector changes what escapes, so allocations are
// only asserted without it (make unit runs this package once more without).
const raceEnabled = false
