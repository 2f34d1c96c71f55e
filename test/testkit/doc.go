// Package testkit is what the black-box test packages share: building the
// service binary once, running it with an environment and fresh ports,
// calling it as the Onboarding Server does, reading its logs and metrics,
// the test's PostgreSQL and Redis, a fake SMS gateway, and a TCP proxy that
// injects faults (latency, hangs, refused and cut connections) between the
// service and any of them.
//
// It is test support, imported only by test/ and its subpackages: nothing
// in the service imports it.
package testkit
