// Package porttest holds the behavioural test suites of the driven ports,
// written once as functions that take a factory of the port under test, so
// the memory, postgres and redis adapters are held to the very same
// contract (DESIGN.md §1). Call a suite from an adapter's _test.go:
//
//	func TestConsentLedger(t *testing.T) {
//		porttest.ConsentLedger(t, func(t *testing.T) ports.ConsentLedger { return newLedger(t) })
//	}
//
// The suites use fresh random identifiers for everything they store and
// never assume the store is empty, so they may run in parallel against one
// shared database. Times they store are truncated to microseconds, the
// precision of a Postgres timestamp.
package porttest
