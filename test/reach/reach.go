// Package reach decides whether a test dependency (PostgreSQL, Redis) is
// up. A dependency that refuses the connection is down at once, so a laptop
// without it skips without waiting. One that times out is tried again while
// the caller's budget lasts: on a loaded two-core CI machine, with every
// test package running at once, one PostgreSQL connection's startup was
// left unanswered for 5 s while a parallel test connected to the same
// server, and the run failed as if PostgreSQL were down.
package reach

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Try calls attempt, each call under a context bounded by per, until it
// succeeds, fails other than by timing out, or ctx ends. The error, if
// any, is the last attempt's, saying how many were made.
func Try(ctx context.Context, per time.Duration, attempt func(context.Context) error) error {
	for n := 1; ; n++ {
		actx, cancel := context.WithTimeout(ctx, per)
		err := attempt(actx)
		cancel()
		if err == nil {
			return nil
		}
		if !Timeout(err) || ctx.Err() != nil {
			if n == 1 {
				return err
			}
			return fmt.Errorf("%d attempts, the last: %w", n, err)
		}
		select { // an attempt that times out at once must not spin
		case <-ctx.Done():
			return fmt.Errorf("%d attempts, the last: %w", n, err)
		case <-time.After(pause):
		}
	}
}

// pause separates attempts.
const pause = 100 * time.Millisecond

// Timeout reports whether err is a time-out (a context deadline or a
// network time-out) rather than a refusal or a protocol error.
func Timeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
