package redis

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Run subscribes to the invalidation channel and applies the announcements
// of every replica (this one included) to this replica's L1, until ctx is
// cancelled; then it returns nil, having closed the subscription and every
// goroutine it started. When the subscription breaks (Redis restarts, the
// network fails) it subscribes again with a growing backoff and drops the
// whole L1 once subscribed, since announcements made in between are lost.
//
// With the L1 disabled there is nothing to invalidate and Run returns nil
// at once. Run may be called once per cache; a second concurrent call
// returns an error.
func (c *ConsentTextCache) Run(ctx context.Context) error {
	if c.l1TTL <= 0 {
		return nil
	}
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("redis: consent text cache subscriber already running")
	}
	defer c.running.Store(false)
	backoff := minResubscribeBackoff
	for {
		subscribed, err := c.subscribe(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if subscribed {
			backoff = minResubscribeBackoff
		}
		c.logger.LogAttrs(ctx, slog.LevelWarn, "consent text invalidation subscription lost, resubscribing",
			slog.String("error", errString(err)), slog.Duration("backoff", backoff))
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, maxResubscribeBackoff)
	}
}

// subscribe runs one subscription until it fails or ctx ends, and reports
// whether it got as far as being subscribed.
func (c *ConsentTextCache) subscribe(ctx context.Context) (subscribed bool, err error) {
	ps := c.rdb.Subscribe(ctx)
	// Receive does not return on cancellation by itself; closing the
	// subscription does.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-ctx.Done():
		case <-stop:
		}
		_ = ps.Close()
	})
	defer func() {
		close(stop)
		wg.Wait()
	}()

	if err := ps.Subscribe(ctx, c.channel); err != nil {
		return false, err
	}
	awaitingPong := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, c.pingEvery)
		if err != nil {
			if ctx.Err() != nil {
				return subscribed, nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !awaitingPong {
				// Quiet for a whole interval: make sure the connection
				// still carries something. No pong by the next interval
				// ends this subscription.
				if err := ps.Ping(ctx); err != nil {
					return subscribed, err
				}
				awaitingPong = true
				continue
			}
			return subscribed, err
		}
		awaitingPong = false
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind == "subscribe" && m.Channel == c.channel {
				subscribed = true
				c.resetL1()
				c.subscriptions.Add(1)
			}
		case *goredis.Message:
			c.applyInvalidation(ctx, m.Payload)
		}
	}
}

// applyInvalidation drops the L1 entry an announcement names.
func (c *ConsentTextCache) applyInvalidation(ctx context.Context, payload string) {
	var inv invalidation
	if err := json.Unmarshal([]byte(payload), &inv); err != nil {
		c.logger.LogAttrs(ctx, slog.LevelWarn, "ignoring malformed consent text invalidation",
			slog.String("error", err.Error()))
		return
	}
	c.invalidations.Add(1)
	c.dropL1(ctx, inv.Type, inv.Language)
}

func errString(err error) string {
	if err == nil {
		return "subscription closed"
	}
	return err.Error()
}
