// Package memory implements every driven port in process memory. It is the
// service's embedded default (no database, no Redis: `make run` works on a
// laptop, seeded by NewDemo) and the fast test double of the domain tests.
//
// Every type is safe for concurrent use and keeps the semantics documented
// on its port exactly, because the same behavioural suites (ports/porttest)
// run against these adapters and against postgres and redis. Values go in
// and come out as deep copies, so a caller mutating a returned slice or
// pointer can never change stored state.
//
// Nothing here is durable: a restart forgets everything. Production
// deployments use the postgres and redis adapters.
package memory
