package porttest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

// OTPGuardFixture is the OTP dedupe and throttle under test.
type OTPGuardFixture struct {
	Dedupe   ports.OTPDedupe
	Throttle ports.OTPThrottle
	// Wait lets d pass for the guard: a fake clock advances, a real store
	// sleeps. Nil means time.Sleep. The suite waits once, 1.1 s.
	Wait func(d time.Duration)
}

// OTPGuard runs the suite of ports.OTPDedupe and ports.OTPThrottle.
func OTPGuard(t *testing.T, newGuard func(t *testing.T) OTPGuardFixture) {
	ctx := context.Background()
	g := newGuard(t)
	if g.Wait == nil {
		g.Wait = time.Sleep
	}
	const ttl = time.Minute

	t.Run("first claims, later see pending, then the outcome", func(t *testing.T) {
		key := "otp-" + unique()
		claimed, prior, err := g.Dedupe.BeginOTP(ctx, key, ttl)
		must(t, err)
		if !claimed || prior != "" {
			t.Fatalf("first BeginOTP = %v %q, want claimed without a prior outcome", claimed, prior)
		}
		claimed, prior, err = g.Dedupe.BeginOTP(ctx, key, ttl)
		must(t, err)
		if claimed || prior != domain.OTPPending {
			t.Fatalf("BeginOTP during the send = %v %q, want not claimed, pending", claimed, prior)
		}
		must(t, g.Dedupe.FinishOTP(ctx, key, domain.OTPSent, ttl))
		claimed, prior, err = g.Dedupe.BeginOTP(ctx, key, ttl)
		must(t, err)
		if claimed || prior != domain.OTPSent {
			t.Fatalf("BeginOTP after the send = %v %q, want not claimed, sent", claimed, prior)
		}
		claimed, _, err = g.Dedupe.BeginOTP(ctx, "otp-"+unique(), ttl)
		must(t, err)
		if !claimed {
			t.Fatal("another key was not claimed")
		}
	})

	t.Run("a failure outcome is repeated too", func(t *testing.T) {
		key := "otp-" + unique()
		_, _, err := g.Dedupe.BeginOTP(ctx, key, ttl)
		must(t, err)
		must(t, g.Dedupe.FinishOTP(ctx, key, domain.OTPFailedPermanent, ttl))
		claimed, prior, err := g.Dedupe.BeginOTP(ctx, key, ttl)
		must(t, err)
		if claimed || prior != domain.OTPFailedPermanent {
			t.Fatalf("BeginOTP = %v %q, want not claimed, failed_permanent", claimed, prior)
		}
	})

	t.Run("a released claim is claimed again; an outcome is not released", func(t *testing.T) {
		key := "otp-" + unique()
		claimed, _, err := g.Dedupe.BeginOTP(ctx, key, ttl)
		must(t, err)
		if !claimed {
			t.Fatal("first BeginOTP did not claim")
		}
		released, err := g.Dedupe.ReleaseOTP(ctx, key)
		must(t, err)
		if !released {
			t.Fatal("the caller's own claim was not released")
		}
		claimed, prior, err := g.Dedupe.BeginOTP(ctx, key, ttl)
		must(t, err)
		if !claimed || prior != "" {
			t.Fatalf("BeginOTP after the release = %v %q, want claimed", claimed, prior)
		}
		must(t, g.Dedupe.FinishOTP(ctx, key, domain.OTPSent, ttl))
		released, err = g.Dedupe.ReleaseOTP(ctx, key)
		must(t, err)
		if released {
			t.Fatal("a key holding an outcome was released")
		}
		claimed, prior, err = g.Dedupe.BeginOTP(ctx, key, ttl)
		must(t, err)
		if claimed || prior != domain.OTPSent {
			t.Fatalf("BeginOTP after a refused release = %v %q, want not claimed, sent", claimed, prior)
		}
		if _, err := g.Dedupe.ReleaseOTP(ctx, ""); domain.CodeOf(err) != domain.CodeInvalid {
			t.Fatalf("ReleaseOTP of an empty key: %v, want invalid", err)
		}
	})

	t.Run("50 concurrent claims: one sends", func(t *testing.T) {
		key := "otp-" + unique()
		const n = 50
		claimed := make([]bool, n)
		prior := make([]domain.OTPOutcome, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { claimed[i], prior[i], errs[i] = g.Dedupe.BeginOTP(ctx, key, ttl) })
		}
		wg.Wait()
		winners := 0
		for i := range n {
			must(t, errs[i])
			switch {
			case claimed[i]:
				winners++
			case prior[i] != domain.OTPPending:
				t.Fatalf("call %d saw %q, want pending", i, prior[i])
			}
		}
		if winners != 1 {
			t.Fatalf("%d calls claimed the key, want exactly 1", winners)
		}
	})

	t.Run("throttle allows limit sends per window per process", func(t *testing.T) {
		pid := "p-" + unique()
		for i := range 7 {
			ok, err := g.Throttle.AllowOTP(ctx, pid, "s-"+unique(), 5, 15*time.Minute)
			must(t, err)
			if want := i < 5; ok != want {
				t.Fatalf("send %d allowed = %v, want %v", i+1, ok, want)
			}
		}
		ok, err := g.Throttle.AllowOTP(ctx, "p-"+unique(), "s-"+unique(), 5, 15*time.Minute)
		must(t, err)
		if !ok {
			t.Fatal("another process was throttled")
		}
	})

	t.Run("a send id counts once and a refund takes its send back", func(t *testing.T) {
		pid, first, second := "p-"+unique(), "s-"+unique(), "s-"+unique()
		for _, id := range []string{first, first, second} {
			ok, err := g.Throttle.AllowOTP(ctx, pid, id, 2, 15*time.Minute)
			must(t, err)
			if !ok {
				t.Fatalf("send %s of a limit of 2 refused", id)
			}
		}
		if ok, err := g.Throttle.AllowOTP(ctx, pid, "s-"+unique(), 2, 15*time.Minute); err != nil || ok {
			t.Fatalf("a third send of a limit of 2 = %v, %v; want refused", ok, err)
		}
		must(t, g.Throttle.RefundOTP(ctx, pid, first))
		must(t, g.Throttle.RefundOTP(ctx, pid, first))           // again: nothing more
		must(t, g.Throttle.RefundOTP(ctx, pid, "s-"+unique()))   // never counted: nothing
		must(t, g.Throttle.RefundOTP(ctx, "p-"+unique(), first)) // another process: nothing
		ok, err := g.Throttle.AllowOTP(ctx, pid, "s-"+unique(), 2, 15*time.Minute)
		must(t, err)
		if !ok {
			t.Fatal("the send after a refund was refused")
		}
		if ok, err := g.Throttle.AllowOTP(ctx, pid, "s-"+unique(), 2, 15*time.Minute); err != nil || ok {
			t.Fatalf("one refund allowed two more sends: %v, %v", ok, err)
		}
		if _, err := g.Throttle.AllowOTP(ctx, pid, "", 2, 15*time.Minute); domain.CodeOf(err) != domain.CodeInvalid {
			t.Fatalf("AllowOTP without a send id: %v, want invalid", err)
		}
		if err := g.Throttle.RefundOTP(ctx, pid, ""); domain.CodeOf(err) != domain.CodeInvalid {
			t.Fatalf("RefundOTP without a send id: %v, want invalid", err)
		}
	})

	t.Run("entries expire and windows pass", func(t *testing.T) {
		key, pid := "otp-"+unique(), "p-"+unique()
		_, _, err := g.Dedupe.BeginOTP(ctx, key, time.Second)
		must(t, err)
		must(t, g.Dedupe.FinishOTP(ctx, key, domain.OTPSent, time.Second))
		long := "otp-" + unique()
		_, _, err = g.Dedupe.BeginOTP(ctx, long, ttl)
		must(t, err)
		for i := range 3 {
			ok, err := g.Throttle.AllowOTP(ctx, pid, "s-"+unique(), 2, time.Second)
			must(t, err)
			if want := i < 2; ok != want {
				t.Fatalf("send %d allowed = %v, want %v", i+1, ok, want)
			}
		}
		g.Wait(1100 * time.Millisecond)
		claimed, prior, err := g.Dedupe.BeginOTP(ctx, key, ttl)
		must(t, err)
		if !claimed || prior != "" {
			t.Fatalf("BeginOTP after the TTL = %v %q, want claimed as new", claimed, prior)
		}
		claimed, prior, err = g.Dedupe.BeginOTP(ctx, long, ttl)
		must(t, err)
		if claimed || prior != domain.OTPPending {
			t.Fatalf("BeginOTP within the TTL = %v %q, want not claimed, pending", claimed, prior)
		}
		ok, err := g.Throttle.AllowOTP(ctx, pid, "s-"+unique(), 2, time.Second)
		must(t, err)
		if !ok {
			t.Fatal("a send after the window was throttled")
		}
	})
}
