// Package telemetry instruments the service without the domain knowing:
// the HTTP server middleware (server span and http.server.request.duration),
// decorators that wrap the driving ports (business metrics and span
// attributes: decisions, OTP outcomes) and the driven ports (one span per
// call to the registry, decision store, ledger, consent texts, OTP guard,
// SMS sender...), observable metrics over adapter statistics (consent-text
// cache, circuit breakers, Redis fallbacks), and the slog handler that adds
// trace and span ids to every log line and redacts personal data by type and
// by key.
//
// It depends on the OpenTelemetry API only: the SDK, exporters and the
// Prometheus registry are set up in cmd, which passes the providers in.
//
// It is on the path of every request, so it is built to cost little there
// (docs/performance.md measures it): under a span that is not recording
// (no exporter, an unsampled request) a decorator opens no span and builds
// no attribute; metric attribute sets are built once per label combination
// and reused; the log handler passes a record with nothing to redact on
// without copying it.
//
// What never goes into a span attribute, a metric label or (through this
// package's handler) a log line: OTP codes, SMS texts, phone numbers,
// personal numbers, names, birth dates, images and secrets. Metric labels
// are closed, small sets (endpoint, kind, result, reason code, outcome,
// level); user ids, process ids and phone numbers are never labels.
package telemetry
