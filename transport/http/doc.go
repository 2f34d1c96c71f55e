// Package httptransport is the HTTP contract of the onboarding adapter: the
// seven POST routes the Onboarding Server calls, built on go-kit's
// transport/http and endpoint packages, plus the admin handler (liveness,
// readiness, the OpenAPI document) and the *http.Server settings.
//
// It depends only on the driving ports (ports.LookupService and friends) and
// domain types. Request and response DTOs with json tags live here and only
// here, with explicit converters to and from the ports types.
//
// # Rings
//
// A request passes these rings, outermost first (NewHandler composes them in
// handler.go, in this order):
//
//  0. (outside this package, in cmd) the server telemetry middleware
//     (adapters/telemetry.NewHTTPServer, or otelhttp.NewHandler, which
//     behaves the same here): continues the caller's W3C traceparent, opens
//     the server span and records http.server.request.duration. It must
//     wrap the handler NewHandler returns directly: ring 1 hands the matched
//     route pattern back to the request the middleware holds (r.Pattern),
//     which is how the span gets its route name ("POST /client/approve",
//     with the base path when one is configured) and the metric its
//     http.route label.
//  1. request scope: reads or generates the correlation and request ids,
//     puts them on the server span (attributes onboarding.correlation_id and
//     onboarding.request_id; the decoders add onboarding.process_id),
//     echoes them (and no-store/nosniff headers) on every answer, starts the
//     clock and writes the access-log line of every request (with the
//     status and size its response writer saw). It is outermost so that
//     every answer, even a panic's, carries the ids.
//     1b. in-flight limit: beyond Config.MaxInFlight concurrent requests,
//     503 ERROR_GENERIC with Retry-After at once, before the body is read.
//     Reading an image route's body takes twice its size from
//     Config.MaxInFlightBodyBytes until the answer; a body that does not fit
//     beside the others gets the same 503 before it is read.
//  2. recover: a panic anywhere below becomes 500 ERROR_GENERIC, logged with
//     its stack and the ids.
//  3. basic auth (only when credentials are configured): 401
//     ERROR_UNAUTHORIZED before any routing, so an unauthenticated caller can
//     neither probe routes nor make the service read a large body.
//  4. deadline: Config.RequestTimeout for everything below, as
//     context.WithTimeout would set it, with its timer started only when
//     something waits on the context (lazyDeadline). Ring 1 sets it along
//     with its own context, so the request is copied once, not twice; rings
//     1b to 3 never wait, so they do not see the difference.
//  5. router: Go 1.22 method patterns under the base path; its plain-text
//     404 and 405 replies are rewritten into the JSON error body.
//  6. per route, a go-kit server: body limit (ServerBefore) -> decoder ->
//     endpoint chain -> encodeResponse or encodeError.
//  7. endpoint chain: panic-to-error recovery -> Config.EndpointMiddleware(name)
//     (EndpointTelemetry: the endpoint span and latency metric, applied once
//     per endpoint) -> the endpoint, which calls the service. Panics in
//     decoders are turned into errors the same way, so encodeError answers
//     and logs the 500 they produce.
//
// # Business errors and transport errors
//
// Following go-kit's profilesvc rule, three kinds of outcome are kept apart:
//
//   - A business outcome is a successful answer: NOK with its reason, WAIT,
//     otpSent:false. It is a 200 response built by the endpoint.
//   - A transport error means the request could not be read as the contract
//     says (wrong Content-Type, body too large, malformed JSON, a field of the
//     wrong type, a missing required field). Decoders return it as a
//     requestError carrying 400, 413 or 415, and the service is never called.
//   - A domain error means the service could not answer the request (invalid
//     input, unknown user, dependency down). The endpoint returns it as its
//     error and encodeError maps domain.CodeOf(err) through one table
//     (statusOf) to an HTTP status. Only domain errors' safe messages reach the
//     caller; anything else is a 500 with a generic message, and the detail
//     goes to the log with the correlation id.
//
// Every answer, success or error, is application/json; every error body is
// {"errorCode":"ERROR_GENERIC"|"ERROR_UNAUTHORIZED","message":"..."}.
package httptransport
