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
// # Round trips and group commit
//
// Each read a request needs is one statement: a decision reads both kinds'
// decisions of its identity verification at once
// (DecisionStore.VerificationDecisions), the lookup the latest consent of
// every required type at once (ConsentLedger.LatestConsents). Consent
// storage reads nothing first: ConsentLedger.AppendServedConsent looks the
// serving up in the append's own statement (or in this replica's queue of
// servings), so a consent is one batched statement.
//
// Durable writes are grouped (BatchConfig, ONBOARDING_DB_BATCH_WINDOW):
// consent ledger appends, decisions with their review cases, and process
// events that arrive together are written by one statement in one
// transaction, so one commit
// (one WAL flush) serves them all, and each caller is answered only after
// that commit. A write to an idle store is not delayed (a batch of one is
// its single-row statement, run by the batch's flusher so the store counts
// as busy while it runs); under load a batch gathers while the store's
// lane is busy (BatchConfig.Lanes, ONBOARDING_DB_BATCH_LANES: one batch of
// a store being written at a time by default) and goes the moment it
// frees, or when the window (1 ms by default) has passed; with no lanes it
// waits out the window. The batch keeps
// every promise of the single write: appends of one history apply in
// arrival order (a run of identical decisions adds one row, a changed one
// the next seq), a decision key stored concurrently is answered with the
// winner, rows are inserted in key order (a batch of one statement cannot
// deadlock another; one whose history changed its decision within the
// window takes two, and a deadlock is retried once), and a batch is atomic.
// When a batch fails on an unreachable database its callers get
// CodeUnavailable (a retry is idempotent, except a process event's, which
// has no key and may then be stored twice, as after a single insert whose
// commit was not acknowledged); on any other error each write
// of a batch of several is done again alone, so a record the database refuses fails only
// its own caller, and the appends of one history keep their arrival order
// then too, as when an append loses a race to another replica's. A caller whose context ends
// first gets CodeUnavailable at once; its write is left out if its batch
// was not yet sent, else it commits (or not) with the batch, and a retry
// answers with it: a batch of one included, whose statement is no longer
// cancelled with its caller (a process event's retry stores it again).
//
// Consent servings are hints, not records (consent storage falls back to
// the current text version): they are written without waiting for the WAL
// flush (synchronous_commit off for their own transaction only) and, with
// batching on, in the background: RecordServing returns at once, this
// replica answers LastServing from its queue until the batch is written,
// and Stores.Close writes what is queued; their batch window is at least
// 20 ms, as nobody waits for them. A crash loses the latest
// servings: those of this process's last batch window, or, for a crash of
// PostgreSQL, up to three times its wal_writer_delay (600 ms by default)
// of asynchronously committed ones; a consent stored meanwhile names the current
// text version, which is the one served unless a new version was
// published in between.
//
// Times are stored as timestamptz with microsecond precision; values come
// back in UTC.
package postgres
