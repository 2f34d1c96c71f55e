// Package postgres implements every durable driven port on PostgreSQL with
// pgx (pgxpool, no ORM, no database/sql): the client registry with its
// registered prospects, consent texts, the consent ledger and servings,
// decisions with their review cases, process events, plus the pool, the
// embedded migrations (package migrations, applied with tern) and seeding.
//
// # Errors
//
// Every statement runs under the caller's context, so the request deadline
// bounds it. Driver errors are translated in one place (db.translate in
// errors.go) into the domain's codes: no rows is CodeNotFound; a unique
// violation the adapter did not resolve itself is CodeConflict; a data
// exception or CHECK violation is CodeInvalid; a serialization failure or
// deadlock is retried once and then CodeUnavailable; a read-only server
// (SQLSTATE 25006, what a demoted primary answers after a failover) resets
// the pool, so every connection to the old primary is dropped and new ones
// find the new primary through target_session_attrs=read-write, is retried
// once and is otherwise CodeUnavailable; timeouts, cancellations, connection
// failures and a closed pool are CodeUnavailable; the rest is
// CodeInternal. Messages name what was looked for, never a value.
//
// # Idempotency and append-only guarantees
//
// The database itself enforces what the ports promise, so that two replicas
// racing, or a DBA with psql, cannot break it:
//
//   - consent_ledger, consent_texts, decisions and review_audit refuse
//     UPDATE, DELETE and TRUNCATE in a trigger (SQLSTATE 23001), for the
//     table owner too. A revocation is a new ledger row; a reviewer's
//     resolution lives on the review case and is applied when the decision
//     is read, so the answer first given stays on record.
//   - A ledger row is unique per (process, user, type, seq): concurrent
//     identical consents race for the same seq, one INSERT … ON CONFLICT DO
//     NOTHING wins and the others re-read it. Decisions are unique per
//     (kind, process, identity verification), a prospect per identification
//     fingerprint (a SHA-256, never the raw identification), with the same
//     insert-or-read pattern: every concurrent caller gets the winner.
//   - Writes that belong together (a decision and its review case, a
//     resolution and its audit row) are one statement, so one transaction.
//
// Times are stored as timestamptz with microsecond precision; values come
// back in UTC.
package postgres
