// Package redis implements the Redis-backed driven ports: the consent-text
// cache (ConsentTextCache, an in-process L1 in front of Redis in front of
// the store) and the OTP dedupe and throttle (OTPGuard), plus the client
// factory (NewClient), the circuit breaker every call goes through
// (Breaker) and a readiness probe (Pinger).
//
// Redis is an accelerator and a coordinator here, never a source of truth,
// so every adapter degrades instead of failing: when Redis is slow, down or
// the breaker is open, consent texts are read from the store with no error
// to the caller, and OTP dedupe and throttle fall back to a per-replica
// in-process guard (adapters/memory), logged at a bounded rate and counted,
// never to "unlimited". Each call is bounded by the breaker's call timeout
// (a few hundred milliseconds) inside the service's 4 s request budget, and
// once the breaker is open calls fail at once without touching the network.
// When Redis answers again the adapters use it again without a restart.
//
// Keys are built from a configurable prefix so that several services (and
// parallel test runs) can share one Redis. Caller-supplied parts of a key
// are escaped; OTP keys carry only the keyed hash the domain computes and a
// hash of the process id, never a code.
package redis
