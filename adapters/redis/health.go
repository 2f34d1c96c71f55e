package redis

import (
	"context"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bankkit/onboarding-adapter/ports"
)

var _ ports.HealthChecker = (*Pinger)(nil)

// Pinger is the readiness signal of Redis. Readiness treats Redis as
// degraded but ready (the adapters fall back without it), so its error is
// a detail to report and alert on, not a reason to take the replica out.
type Pinger struct {
	rdb     goredis.UniversalClient
	breaker *Breaker
}

// NewPinger returns a Pinger using the adapters' client and breaker: while
// the breaker is open Ping fails at once, and its probe counts like any
// other call, so a readiness loop also helps the breaker notice recovery.
func NewPinger(rdb goredis.UniversalClient, b *Breaker) *Pinger {
	return &Pinger{rdb: rdb, breaker: b}
}

// Ping returns nil when Redis answers PING within the call timeout.
// Errors: CodeUnavailable.
func (p *Pinger) Ping(ctx context.Context) error {
	err := p.breaker.Do(ctx, func(ctx context.Context) error {
		return p.rdb.Ping(ctx).Err()
	})
	if err != nil {
		return unavailable(err, "ping")
	}
	return nil
}
