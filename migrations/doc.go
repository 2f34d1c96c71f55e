// Package migrations holds the versioned SQL schema of the postgres adapter,
// embedded in the binary so the `migrate` subcommand, the optional
// migrate-at-start and the integration tests all apply the very same files.
//
// Files follow tern's naming (001_name.sql, 002_name.sql, …); each runs in
// its own transaction and is never edited once released: a change is a new
// file. tern evaluates every file as a Go text/template, so a literal "{{"
// must not appear in the SQL.
package migrations

import "embed"

// FS is the migration files, read by adapters/postgres.Migrate.
//
//go:embed *.sql
var FS embed.FS
