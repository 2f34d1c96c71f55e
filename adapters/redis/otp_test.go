package redis

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/otp"
	"github.com/bankkit/onboarding-adapter/domain/policy"
	"github.com/bankkit/onboarding-adapter/ports"
	"github.com/bankkit/onboarding-adapter/ports/porttest"
)

func TestOTPGuardPortSuite(t *testing.T) {
	porttest.OTPGuard(t, func(t *testing.T) porttest.OTPGuardFixture {
		rdb := testClient(t)
		g := NewOTPGuard(rdb, testBreaker(t), OTPGuardConfig{KeyPrefix: testPrefix(t, rdb)})
		return porttest.OTPGuardFixture{Dedupe: g, Throttle: g}
	})
}

func newTestGuard(t *testing.T) (*OTPGuard, string) {
	t.Helper()
	rdb := testClient(t)
	prefix := testPrefix(t, rdb)
	return NewOTPGuard(rdb, testBreaker(t), OTPGuardConfig{KeyPrefix: prefix}), prefix
}

func TestOTPGuardTwentyConcurrentClaimsOneWins(t *testing.T) {
	g, _ := newTestGuard(t)
	const n = 20
	var claimed atomic.Int32
	var wg sync.WaitGroup
	errs := make([]error, n)
	priors := make([]domain.OTPOutcome, n)
	for i := range n {
		wg.Go(func() {
			ok, prior, err := g.BeginOTP(context.Background(), "k-20", time.Minute)
			errs[i], priors[i] = err, prior
			if ok {
				claimed.Add(1)
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if c := claimed.Load(); c != 1 {
		t.Fatalf("%d calls claimed the key, want exactly 1", c)
	}
	pending := 0
	for _, p := range priors {
		if p == domain.OTPPending {
			pending++
		}
	}
	if pending != n-1 {
		t.Fatalf("%d losers saw pending, want %d", pending, n-1)
	}
	if s := g.Stats(); s.Fallbacks != 0 {
		t.Fatalf("fallbacks = %d with Redis up, want 0", s.Fallbacks)
	}
}

// countingSender counts SMS and answers sent.
type countingSender struct{ n atomic.Int32 }

func (s *countingSender) SendSMS(context.Context, domain.SMS) (domain.SendResult, error) {
	s.n.Add(1)
	time.Sleep(5 * time.Millisecond) // a gateway takes a moment
	return domain.SendResult{Outcome: domain.OTPSent, MessageID: "m"}, nil
}

// TestOTPServiceOnRedis runs the real OTP service on the Redis guard: a code
// re-sent by 20 concurrent requests goes out once, and the sixth code of a
// process within the window is refused.
func TestOTPServiceOnRedis(t *testing.T) {
	g, _ := newTestGuard(t)
	sender := &countingSender{}
	clients := memory.NewClientRegistry(memory.NewSequenceIDs("u-"), memory.DemoClients(domain.DateOf(time.Now()))...)
	svc := otp.New(clients, g, g, sender, []byte("0123456789abcdef0123"), policy.Default().OTP)
	req := func(pid, code string) ports.OTPRequest {
		return ports.OTPRequest{ProcessID: pid, UserID: "u-1000001", Language: "en", Code: code, Type: domain.OTPActivation}
	}

	t.Run("20 concurrent sends of one code: one SMS", func(t *testing.T) {
		const n = 20
		results := make([]ports.OTPResult, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
				defer cancel()
				results[i], errs[i] = svc.SendOTP(ctx, req("proc-20", "12345678"))
			})
		}
		wg.Wait()
		deduped := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("request %d: %v", i, errs[i])
			}
			if !results[i].Sent {
				t.Fatalf("request %d: %+v, want the first send's outcome (sent)", i, results[i])
			}
			if results[i].Deduped {
				deduped++
			}
		}
		if got := sender.n.Load(); got != 1 {
			t.Fatalf("%d SMS sent, want 1", got)
		}
		if deduped != n-1 {
			t.Fatalf("%d requests deduplicated, want %d", deduped, n-1)
		}
	})

	t.Run("the sixth code in the window is refused", func(t *testing.T) {
		before := sender.n.Load()
		for i := range 6 {
			res, err := svc.SendOTP(context.Background(), req("proc-6", fmt.Sprintf("%08d", i)))
			if err != nil {
				t.Fatal(err)
			}
			if want := i < 5; res.Sent != want {
				t.Fatalf("send %d: %+v, want sent %v", i+1, res, want)
			}
			if i == 5 && res.Outcome != domain.OTPThrottled {
				t.Fatalf("sixth send outcome %q, want throttled", res.Outcome)
			}
		}
		if got := sender.n.Load() - before; got != 5 {
			t.Fatalf("%d SMS sent, want 5", got)
		}
	})
}

func TestOTPGuardFinishKeepsTheClaimsTTL(t *testing.T) {
	ctx := context.Background()
	g, prefix := newTestGuard(t)
	rdb := g.rdb
	key := prefix + "otp:dedupe:k-ttl"
	if ok, _, err := g.BeginOTP(ctx, "k-ttl", 2*time.Second); err != nil || !ok {
		t.Fatalf("BeginOTP = %v, %v", ok, err)
	}
	if err := g.FinishOTP(ctx, "k-ttl", domain.OTPSent, time.Minute); err != nil {
		t.Fatal(err)
	}
	ttl, err := rdb.PTTL(ctx, key).Result()
	if err != nil || ttl <= 0 || ttl > 2*time.Second {
		t.Fatalf("PTTL after FinishOTP = %v, %v; want the claim's 2 s kept", ttl, err)
	}
	if v, _ := rdb.Get(ctx, key).Result(); v != string(domain.OTPSent) {
		t.Fatalf("stored outcome %q, want sent", v)
	}

	// A claim that expired before the outcome came: recorded for ttl.
	if err := g.FinishOTP(ctx, "k-late", domain.OTPFailedTransient, time.Second); err != nil {
		t.Fatal(err)
	}
	ttl, err = rdb.PTTL(ctx, prefix+"otp:dedupe:k-late").Result()
	if err != nil || ttl <= 0 || ttl > time.Second {
		t.Fatalf("PTTL of a late outcome = %v, %v; want within (0, 1s]", ttl, err)
	}
}

func TestOTPGuardKeysHoldNoClearValues(t *testing.T) {
	ctx := context.Background()
	g, prefix := newTestGuard(t)
	const processID = "process-visible-42"
	if _, _, err := g.BeginOTP(ctx, "5f2a9c", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := g.AllowOTP(ctx, processID, rand.Text(), 5, time.Minute); err != nil {
		t.Fatal(err)
	}
	keys, err := g.rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("keys = %v, want a dedupe and a throttle key", keys)
	}
	for _, k := range keys {
		if strings.Contains(k, processID) {
			t.Fatalf("key %q carries the process id in clear", k)
		}
	}
	if n, _ := g.rdb.Exists(ctx, prefix+"otp:dedupe:5f2a9c").Result(); n != 1 {
		t.Fatal("dedupe key is not <prefix>otp:dedupe:<key>")
	}
}

// TestOTPGuardSlidingWindow: a window of 4 s, so that a stall of a loaded
// machine (up to 1.6 s between the first two sends, 2 s after the second)
// does not move a send across its edge.
func TestOTPGuardSlidingWindow(t *testing.T) {
	ctx := context.Background()
	g, _ := newTestGuard(t)
	const window = 4 * time.Second
	allow := func(step string, want bool) {
		t.Helper()
		ok, err := g.AllowOTP(ctx, "p-sliding", rand.Text(), 2, window)
		if err != nil {
			t.Fatal(err)
		}
		if ok != want {
			t.Fatalf("%s: allowed = %v, want %v", step, ok, want)
		}
	}
	allow("first", true)
	time.Sleep(window * 6 / 10)
	allow("second, 2.4 s later", true)
	allow("third, over the limit", false)
	time.Sleep(window / 2) // the first send left the window, the second did not
	allow("after the first left the window", true)
	allow("the second and the new one fill the window", false)
}

func TestOTPGuardRejectsInvalidArguments(t *testing.T) {
	ctx := context.Background()
	g, _ := newTestGuard(t)
	for _, tc := range []struct {
		name, field string
		call        func() error
	}{
		{"begin without key", "key", func() error { _, _, err := g.BeginOTP(ctx, "", time.Minute); return err }},
		{"begin with zero ttl", "ttl", func() error { _, _, err := g.BeginOTP(ctx, "k", 0); return err }},
		{"finish without key", "key", func() error { return g.FinishOTP(ctx, "", domain.OTPSent, time.Minute) }},
		{"finish without outcome", "outcome", func() error { return g.FinishOTP(ctx, "k", "", time.Minute) }},
		{"finish with negative ttl", "ttl", func() error { return g.FinishOTP(ctx, "k", domain.OTPSent, -time.Second) }},
		{"allow with zero limit", "limit", func() error { _, err := g.AllowOTP(ctx, "p", rand.Text(), 0, time.Minute); return err }},
		{"allow with zero window", "window", func() error { _, err := g.AllowOTP(ctx, "p", rand.Text(), 5, 0); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			de, ok := domain.AsError(err)
			if !ok || de.Code != domain.CodeInvalid || de.Field != tc.field {
				t.Fatalf("error %v, want invalid %s", err, tc.field)
			}
		})
	}
	if s := g.Stats(); s.Fallbacks != 0 {
		t.Fatalf("invalid arguments counted %d fallbacks", s.Fallbacks)
	}
}

func TestOTPGuardCallerGone(t *testing.T) {
	g, _ := newTestGuard(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := g.BeginOTP(ctx, "k", time.Minute); domain.CodeOf(err) != domain.CodeUnavailable {
		t.Fatalf("BeginOTP with a cancelled context: %v, want unavailable", err)
	}
	if _, err := g.AllowOTP(ctx, "p", rand.Text(), 5, time.Minute); domain.CodeOf(err) != domain.CodeUnavailable {
		t.Fatalf("AllowOTP with a cancelled context: %v, want unavailable", err)
	}
	if s := g.Stats(); s.Fallbacks != 0 {
		t.Fatalf("a cancelled caller counted %d fallbacks, want 0", s.Fallbacks)
	}
	if st := g.breaker.State().String(); st != "closed" {
		t.Fatalf("breaker %s after cancelled calls, want closed", st)
	}
}

// TestOTPGuardLateFinishKeepsALaterClaim: a send whose claim ended before
// it finished (its window passed, or Redis lost its keys in a restart)
// while a retry claimed the code again must not overwrite that retry's
// claim, on another replica, nor its outcome; the retry's own finish is
// what Redis keeps. On one replica, where FinishOTP cannot tell the two
// sends apart, both finishes still land (the later one wins), and neither
// is refused.
func TestOTPGuardLateFinishKeepsALaterClaim(t *testing.T) {
	ctx := context.Background()
	g, prefix := newTestGuard(t)
	other := NewOTPGuard(g.rdb, testBreaker(t), OTPGuardConfig{KeyPrefix: prefix}) // another replica
	held := func(key string) string { v, _ := g.rdb.Get(ctx, g.dedupeKey(key)).Result(); return v }
	claimAfterExpiry := func(first, second *OTPGuard, key string) {
		t.Helper()
		if claimed, _, err := first.BeginOTP(ctx, key, 100*time.Millisecond); err != nil || !claimed {
			t.Fatalf("first claim of %s: %v, %v", key, claimed, err)
		}
		eventually(t, 3*time.Second, "the first claim expired", func() bool { return held(key) == "" })
		if claimed, _, err := second.BeginOTP(ctx, key, time.Minute); err != nil || !claimed {
			t.Fatalf("the retry's claim of %s: %v, %v", key, claimed, err)
		}
	}

	claimAfterExpiry(g, other, "k-late")
	if err := g.FinishOTP(ctx, "k-late", domain.OTPSent, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if v := held("k-late"); !strings.HasPrefix(v, string(domain.OTPPending)+"|") {
		t.Fatalf("the late finish replaced the retry's claim with %q", v)
	}
	if claimed, prior, err := other.BeginOTP(ctx, "k-late", time.Minute); err != nil || claimed || prior != domain.OTPPending {
		t.Fatalf("a third call: claimed %v, prior %q, %v; want the retry in flight", claimed, prior, err)
	}
	if err := other.FinishOTP(ctx, "k-late", domain.OTPFailedTransient, time.Minute); err != nil {
		t.Fatal(err)
	}
	if v := held("k-late"); v != string(domain.OTPFailedTransient) {
		t.Fatalf("Redis holds %q, want the retry's outcome", v)
	}

	claimAfterExpiry(g, g, "k-same")
	if err := g.FinishOTP(ctx, "k-same", domain.OTPSent, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := g.FinishOTP(ctx, "k-same", domain.OTPFailedTransient, time.Minute); err != nil {
		t.Fatal(err)
	}
	if v := held("k-same"); v != string(domain.OTPFailedTransient) {
		t.Fatalf("one replica's two finishes of a key claimed twice: Redis holds %q, want the later", v)
	}
	if n := len(g.finishes.claims); n != 0 {
		t.Fatalf("claims remembered after every finish: %d", n)
	}
}

// TestOTPGuardReleasesOnlyItsOwnClaim: ReleaseOTP frees the key and the
// fallback's mirror of the claim when Redis holds this replica's claim;
// another replica's later claim, a claim made through the fallback during
// an outage, and any claim while Redis cannot be asked are not released,
// and the caller's finish then owes Redis the outcome as before.
func TestOTPGuardReleasesOnlyItsOwnClaim(t *testing.T) {
	ctx := context.Background()
	direct, prefix, proxy, rdb := proxied(t)
	b := NewBreaker(BreakerConfig{FailureThreshold: 1, OpenTimeout: 100 * time.Millisecond, CallTimeout: patientCallTimeout})
	g := NewOTPGuard(rdb, b, OTPGuardConfig{KeyPrefix: prefix})
	other := NewOTPGuard(direct, NewBreaker(BreakerConfig{}), OTPGuardConfig{KeyPrefix: prefix}) // another replica
	held := func(key string) string { v, _ := direct.Get(ctx, g.dedupeKey(key)).Result(); return v }
	claim := func(g *OTPGuard, key string, ttl time.Duration) {
		t.Helper()
		if claimed, _, err := g.BeginOTP(ctx, key, ttl); err != nil || !claimed {
			t.Fatalf("claim of %s: %v, %v", key, claimed, err)
		}
	}

	claim(g, "k-own", time.Minute)
	if released, err := g.ReleaseOTP(ctx, "k-own"); err != nil || !released {
		t.Fatalf("release of the replica's own claim: %v, %v", released, err)
	}
	if v := held("k-own"); v != "" {
		t.Fatalf("Redis still holds %q after the release", v)
	}
	if claimed, _, err := g.fallback.BeginOTP(ctx, "k-own", time.Minute); err != nil || !claimed {
		t.Fatalf("the fallback's mirror still holds the released claim: claimed %v, %v", claimed, err)
	}
	claim(other, "k-own", time.Minute) // the caller's retry, on another replica
	if n := len(g.finishes.claims); n != 0 {
		t.Fatalf("claims kept after the release: %d", n)
	}

	claim(g, "k-later", 100*time.Millisecond)
	eventually(t, 3*time.Second, "the first claim expired", func() bool { return held("k-later") == "" })
	claim(other, "k-later", time.Minute)
	if released, err := g.ReleaseOTP(ctx, "k-later"); err != nil || released {
		t.Fatalf("release over another replica's claim: %v, %v; want refused", released, err)
	}
	if v := held("k-later"); !strings.HasPrefix(v, string(domain.OTPPending)+"|") {
		t.Fatalf("the other replica's claim was replaced by %q", v)
	}

	// Claimed twice on this replica (the first claim expired): neither
	// send can be told from the other, so neither is released.
	claim(g, "k-twice", 100*time.Millisecond)
	eventually(t, 3*time.Second, "the first claim expired", func() bool { return held("k-twice") == "" })
	claim(g, "k-twice", time.Minute)
	if released, err := g.ReleaseOTP(ctx, "k-twice"); err != nil || released {
		t.Fatalf("release of a key claimed twice here: %v, %v; want refused", released, err)
	}
	if v := held("k-twice"); !strings.HasPrefix(v, string(domain.OTPPending)+"|") {
		t.Fatalf("the later claim was replaced by %q", v)
	}

	claim(g, "k-away", time.Minute)
	proxy.stop()
	if released, err := g.ReleaseOTP(ctx, "k-away"); err != nil || released {
		t.Fatalf("release with Redis away: %v, %v; want refused", released, err)
	}
	if err := g.FinishOTP(ctx, "k-away", domain.OTPFailedTransient, time.Minute); err != nil {
		t.Fatal(err)
	}
	if s := g.Stats(); s.Owed != 1 {
		t.Fatalf("owed after a refused release and its finish: %d, want 1", s.Owed)
	}
	claim(g, "k-fallback", time.Minute) // answered by the fallback: Redis never saw it
	proxy.start()
	eventually(t, 5*time.Second, "Redis answers the replica again", func() bool {
		claimed, _, err := g.BeginOTP(ctx, "k-probe-"+callToken(), time.Minute)
		return err == nil && claimed && g.Stats().Owed == 0 // the owed outcome written: Redis answered
	})
	if released, err := g.ReleaseOTP(ctx, "k-fallback"); err != nil || released {
		t.Fatalf("release of a claim made through the fallback: %v, %v; want refused", released, err)
	}
	if claimed, prior, err := g.fallback.BeginOTP(ctx, "k-fallback", time.Minute); err != nil || claimed || prior != domain.OTPPending {
		t.Fatalf("the fallback's claim after a refused release: claimed %v, prior %q, %v; want it kept", claimed, prior, err)
	}
}

// evalScript runs s with its source (EVAL) on g's client, by itself.
func evalScript(ctx context.Context, g *OTPGuard, s *luaScript, keys []string, args ...any) *goredis.Cmd {
	cmd := s.cmd(ctx, true, keys, args...)
	_ = g.rdb.Process(ctx, cmd) // the error is the command's
	return cmd
}

// TestOTPScriptsSafeToRunTwice: go-redis sends a command again when its
// reply is late (past the read timeout), after the first run may have
// changed Redis. A claim's second run must answer "claimed" (not "pending"
// for the caller's own claim, which nobody would ever finish), and an
// allowed send's second run must not count it twice. Found by a review.
func TestOTPScriptsSafeToRunTwice(t *testing.T) {
	ctx := context.Background()
	g, _ := newTestGuard(t)
	key := g.dedupeKey("k-twice")
	claim := string(domain.OTPPending) + "|" + callToken()
	for run := range 2 {
		reply, err := evalScript(ctx, g, beginScript, []string{key}, claim, 60_000).Slice()
		if err != nil {
			t.Fatal(err)
		}
		if claimed, _, err := parseBegin(reply); err != nil || !claimed {
			t.Fatalf("run %d of one claim: claimed %v, %v; want claimed", run+1, claimed, err)
		}
	}
	other := string(domain.OTPPending) + "|" + callToken()
	reply, err := evalScript(ctx, g, beginScript, []string{key}, other, 60_000).Slice()
	if err != nil {
		t.Fatal(err)
	}
	if claimed, prior, err := parseBegin(reply); err != nil || claimed || prior != domain.OTPPending {
		t.Fatalf("another call's claim: claimed %v, prior %q, %v; want pending, without the token", claimed, prior, err)
	}
	// The claim's finish, run twice, sets its outcome; another claim's
	// finish then finds an outcome that is not its own and leaves it.
	for run := range 2 {
		if n, err := evalScript(ctx, g, finishScript, []string{key}, string(domain.OTPSent), 60_000, claim).Int64(); err != nil || n != 1 {
			t.Fatalf("run %d of one finish: %d, %v; want set", run+1, n, err)
		}
	}
	if n, err := evalScript(ctx, g, finishScript, []string{key}, string(domain.OTPFailedTransient), 60_000, other).Int64(); err != nil || n != 0 {
		t.Fatalf("another claim's finish: %d, %v; want refused", n, err)
	}
	if v, _ := g.rdb.Get(ctx, key).Result(); v != string(domain.OTPSent) {
		t.Fatalf("the key holds %q after another claim's finish, want the first claim's outcome", v)
	}
	// A release leaves an outcome; of its own claim, run twice, it deletes
	// the key and then finds it gone.
	if n, err := evalScript(ctx, g, releaseScript, []string{key}, claim).Int64(); err != nil || n != 0 {
		t.Fatalf("release of a key holding an outcome: %d, %v; want refused", n, err)
	}
	released := g.dedupeKey("k-release-twice")
	if reply, err := evalScript(ctx, g, beginScript, []string{released}, claim, 60_000).Slice(); err != nil || len(reply) == 0 {
		t.Fatalf("claim: %v, %v", reply, err)
	}
	for run := range 2 {
		if n, err := evalScript(ctx, g, releaseScript, []string{released}, claim).Int64(); err != nil || n != 1 {
			t.Fatalf("run %d of one release: %d, %v; want released", run+1, n, err)
		}
	}
	if n, _ := g.rdb.Exists(ctx, released).Result(); n != 0 {
		t.Fatal("the released key still exists")
	}

	sends := g.sendsKey("p-twice")
	token := callToken()
	for run := range 2 {
		n, err := evalScript(ctx, g, allowScript, []string{sends}, 60_000, 2, token).Int64()
		if err != nil || n != 1 {
			t.Fatalf("run %d of one send: %d, %v; want allowed", run+1, n, err)
		}
	}
	if n, _ := g.rdb.ZCard(ctx, sends).Result(); n != 1 {
		t.Fatalf("one send run twice is logged %d times, want once", n)
	}
	if n, _ := evalScript(ctx, g, allowScript, []string{sends}, 60_000, 2, callToken()).Int64(); n != 1 {
		t.Fatal("the second send of a limit of 2 was refused")
	}
	if n, _ := evalScript(ctx, g, allowScript, []string{sends}, 60_000, 2, callToken()).Int64(); n != 0 {
		t.Fatal("a third send past a limit of 2 was allowed")
	}
}

// TestOTPGuardRespectsTheMirror: what the in-process fallback allowed while
// Redis failed, Redis never saw. When Redis answers again, a code claimed
// by the fallback is a repeat (in flight, or with its outcome, which then
// reaches Redis), and the fallback's sends count against the limit: a
// refused send is taken off Redis's log. Found by a review: a client's
// retry of a code whose first send went through the fallback was sent
// again. Only what the fallback answered for is consulted: a mirror entry
// that outlived Redis's key in normal operation (the mirror's window runs
// from the outcome, Redis's from the claim) does not make a resend just
// past the window a repeat, as a first version of this did.
func TestOTPGuardRespectsTheMirror(t *testing.T) {
	ctx := context.Background()
	direct, prefix, proxy, rdb := proxied(t)
	mirror := memory.NewOTPGuard(memory.SystemClock{})
	b := NewBreaker(BreakerConfig{FailureThreshold: 1, OpenTimeout: 100 * time.Millisecond, CallTimeout: patientCallTimeout})
	g := NewOTPGuard(rdb, b, OTPGuardConfig{KeyPrefix: prefix, Fallback: mirror})

	// Normal operation: a mirror entry Redis no longer has is not a repeat.
	if _, _, err := mirror.BeginOTP(ctx, "k-outlived", time.Minute); err != nil {
		t.Fatal(err)
	}
	if claimed, _, err := g.BeginOTP(ctx, "k-outlived", time.Minute); err != nil || !claimed {
		t.Fatalf("a code only the mirror still holds, no outage: claimed %v, %v; want claimed", claimed, err)
	}
	for range 5 {
		if ok, _ := mirror.AllowOTP(ctx, "p-outlived", rand.Text(), 5, 15*time.Minute); !ok {
			t.Fatal("mirror send refused")
		}
	}
	if ok, err := g.AllowOTP(ctx, "p-outlived", rand.Text(), 5, 15*time.Minute); err != nil || !ok {
		t.Fatalf("a process only the mirror counts, no outage: %v, %v; want allowed", ok, err)
	}

	// The outage: the fallback claims two codes (one sent) and allows five
	// sends of a process.
	proxy.stop()
	if claimed, _, err := g.BeginOTP(ctx, "k-inflight", time.Minute); err != nil || !claimed {
		t.Fatalf("claim during the outage: %v, %v", claimed, err)
	}
	if claimed, _, err := g.BeginOTP(ctx, "k-done", time.Minute); err != nil || !claimed {
		t.Fatalf("claim during the outage: %v, %v", claimed, err)
	}
	if err := g.FinishOTP(ctx, "k-done", domain.OTPSent, time.Minute); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if ok, err := g.AllowOTP(ctx, "p-outage", rand.Text(), 5, 15*time.Minute); err != nil || !ok {
			t.Fatal("send during the outage", ok, err)
		}
	}
	if s := g.Stats(); s.Fallbacks == 0 {
		t.Fatal("the outage was not served by the fallback")
	}
	proxy.start()
	eventually(t, 3*time.Second, "Redis used again", func() bool {
		n := g.Stats().Fallbacks
		claimed, _, err := g.BeginOTP(ctx, fmt.Sprintf("k-probe-%d", time.Now().UnixNano()), time.Minute)
		return err == nil && claimed && g.Stats().Fallbacks == n
	})
	before := g.Stats().Fallbacks

	if claimed, prior, err := g.BeginOTP(ctx, "k-inflight", time.Minute); err != nil || claimed || prior != domain.OTPPending {
		t.Fatalf("repeat of a code the fallback claimed: claimed %v, prior %q, %v; want pending", claimed, prior, err)
	}
	if claimed, prior, err := g.BeginOTP(ctx, "k-done", time.Minute); err != nil || claimed || prior != domain.OTPSent {
		t.Fatalf("repeat of a code the fallback sent: claimed %v, prior %q, %v; want sent", claimed, prior, err)
	}
	if v, _ := direct.Get(ctx, g.dedupeKey("k-done")).Result(); v != string(domain.OTPSent) {
		t.Fatalf("Redis holds %q for the code the fallback sent, want sent", v)
	}
	if claimed, _, err := g.BeginOTP(ctx, "k-fresh", time.Minute); err != nil || !claimed {
		t.Fatalf("a fresh code: claimed %v, %v", claimed, err)
	}
	if ok, err := g.AllowOTP(ctx, "p-outage", rand.Text(), 5, 15*time.Minute); err != nil || ok {
		t.Fatalf("sixth send after five through the fallback: %v, %v; want refused", ok, err)
	}
	if n, _ := direct.ZCard(ctx, g.sendsKey("p-outage")).Result(); n != 0 {
		t.Fatalf("the refused send stays in Redis's log (%d entries)", n)
	}
	if ok, err := g.AllowOTP(ctx, "p-other", rand.Text(), 5, 15*time.Minute); err != nil || !ok {
		t.Fatalf("another process: %v, %v; want allowed", ok, err)
	}
	if after := g.Stats().Fallbacks; after != before {
		t.Fatalf("Redis answered %d calls through the fallback after it was back", after-before)
	}
}

// TestOTPGuardOwesRedisTheOutcome: a send claimed in Redis that finishes
// while Redis cannot be written leaves the claim "pending" in Redis. Before
// this was mended, a retry of the code after Redis came back waited out its
// poll and answered otpSent false although the SMS went out (left alone in
// stops 27–32). Now the replica keeps the outcome and writes it when Redis
// next answers it: a retry on this replica gets it at once, and another
// replica after this one has talked to Redis. An owed outcome replaces only
// its own claim: a later claim of the key, made once the first expired, is
// left alone. The guard's clock stands still, so it still holds the first
// claim of k-expires as live and sends its outcome: Redis's script must be
// what refuses it.
func TestOTPGuardOwesRedisTheOutcome(t *testing.T) {
	ctx := context.Background()
	direct, prefix, proxy, rdb := proxied(t)
	b := NewBreaker(BreakerConfig{FailureThreshold: 1, OpenTimeout: 100 * time.Millisecond, CallTimeout: patientCallTimeout})
	g := NewOTPGuard(rdb, b, OTPGuardConfig{KeyPrefix: prefix, Clock: memory.NewFakeClock(time.Now())})
	other := NewOTPGuard(direct, NewBreaker(BreakerConfig{}), OTPGuardConfig{KeyPrefix: prefix}) // another replica

	for _, k := range []string{"k-here", "k-there"} {
		if claimed, _, err := g.BeginOTP(ctx, k, time.Minute); err != nil || !claimed {
			t.Fatalf("claim %s before the outage: %v, %v", k, claimed, err)
		}
	}
	if claimed, _, err := g.BeginOTP(ctx, "k-expires", 300*time.Millisecond); err != nil || !claimed {
		t.Fatalf("claim before the outage: %v, %v", claimed, err)
	}
	proxy.stop()
	for _, k := range []string{"k-here", "k-there"} {
		if err := g.FinishOTP(ctx, k, domain.OTPSent, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.FinishOTP(ctx, "k-expires", domain.OTPFailedPermanent, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if s := g.Stats(); s.Owed != 3 {
		t.Fatalf("outcomes owed to Redis = %d, want 3", s.Owed)
	}
	// While Redis is away, the other replica sees the claim, as it must.
	if claimed, prior, err := other.BeginOTP(ctx, "k-there", time.Minute); err != nil || claimed || prior != domain.OTPPending {
		t.Fatalf("the other replica during the outage: claimed %v, prior %q, %v; want pending", claimed, prior, err)
	}
	// The first claim of k-expires ends; the other replica claims it anew.
	eventually(t, 3*time.Second, "the short claim expired", func() bool {
		n, _ := direct.Exists(ctx, g.dedupeKey("k-expires")).Result()
		return n == 0
	})
	if claimed, _, err := other.BeginOTP(ctx, "k-expires", time.Minute); err != nil || !claimed {
		t.Fatalf("the other replica's later claim: %v, %v", claimed, err)
	}

	proxy.start()
	// A retry on this replica is the first call Redis answers: Redis says
	// pending, and the owed outcome answers it (the fallback, which also
	// knows it, must not be what answered).
	eventually(t, 3*time.Second, "the retry answered by Redis with the outcome", func() bool {
		n := g.Stats().Fallbacks
		claimed, prior, err := g.BeginOTP(ctx, "k-here", time.Minute)
		if err != nil || claimed || prior != domain.OTPSent {
			t.Fatalf("retry after recovery: claimed %v, prior %q, %v; want sent", claimed, prior, err)
		}
		return g.Stats().Fallbacks == n
	})
	for _, k := range []string{"k-here", "k-there"} {
		if v, _ := direct.Get(ctx, g.dedupeKey(k)).Result(); v != string(domain.OTPSent) {
			t.Fatalf("Redis holds %q for %s, want sent", v, k)
		}
		if ttl, _ := direct.PTTL(ctx, g.dedupeKey(k)).Result(); ttl <= 0 || ttl > time.Minute {
			t.Fatalf("%s's TTL after the owed outcome = %v, want the claim's", k, ttl)
		}
	}
	if claimed, prior, err := other.BeginOTP(ctx, "k-there", time.Minute); err != nil || claimed || prior != domain.OTPSent {
		t.Fatalf("the other replica after recovery: claimed %v, prior %q, %v; want sent", claimed, prior, err)
	}
	if v, _ := direct.Get(ctx, g.dedupeKey("k-expires")).Result(); !strings.HasPrefix(v, string(domain.OTPPending)+"|") {
		t.Fatalf("the other replica's later claim was replaced by %q", v)
	}
	if s := g.Stats(); s.Owed != 0 {
		t.Fatalf("outcomes still owed after Redis took them = %d", s.Owed)
	}
	if len(g.finishes.claims) != 0 {
		t.Fatalf("claims still remembered after their finish: %d", len(g.finishes.claims))
	}
}

// TestOTPGuardRunWritesWhatIsOwed: a replica that serves no more sends
// once Redis is back still writes its owed outcomes (Run, every
// SettleEvery: all of them, more than one round trip's batch), and a
// replica that stops writes them on its way out (Run's last round, when its
// context ends), even while its breaker is still open after Redis came
// back. Found by reviews: the first version wrote them only with the
// replica's next send, the second one batch a tick and not past an open
// breaker. A replica stopping while Redis is still away gives up after
// settleAtStop and says how many outcomes it could not write.
func TestOTPGuardRunWritesWhatIsOwed(t *testing.T) {
	const lostLine = "OTP send outcomes not written to Redis at stop"
	for _, tc := range []struct {
		name        string
		every, open time.Duration
		stop, away  bool
	}{
		{"while running", 20 * time.Millisecond, 50 * time.Millisecond, false, false},
		{"when stopping, the breaker still open", time.Hour, time.Hour, true, false},
		{"when stopping, Redis still away", time.Hour, time.Hour, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			direct, prefix, proxy, rdb := proxied(t)
			b := NewBreaker(BreakerConfig{FailureThreshold: 1, OpenTimeout: tc.open, CallTimeout: patientCallTimeout})
			var logs bytes.Buffer
			g := NewOTPGuard(rdb, b, OTPGuardConfig{KeyPrefix: prefix, SettleEvery: tc.every,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			keys := make([]string, resyncBatch+36)
			for i := range keys {
				keys[i] = fmt.Sprintf("k-quiet-%d", i)
				if claimed, _, err := g.BeginOTP(ctx, keys[i], time.Minute); err != nil || !claimed {
					t.Fatalf("claim: %v, %v", claimed, err)
				}
			}
			proxy.stop()
			for _, k := range keys {
				if err := g.FinishOTP(ctx, k, domain.OTPSent, time.Minute); err != nil {
					t.Fatal(err)
				}
			}
			if n := g.finishes.n.Load(); n != int64(len(keys)) {
				t.Fatalf("owed = %d, want %d", n, len(keys))
			}
			if !tc.away {
				proxy.start()
			}
			runCtx, stop := context.WithCancel(ctx)
			defer stop()
			ran := make(chan error, 1)
			go func() { ran <- g.Run(runCtx) }()
			if tc.stop {
				stop()
				start := time.Now()
				if err := <-ran; err != nil {
					t.Fatalf("Run = %v, want nil", err)
				}
				if took := time.Since(start); took > settleAtStop+time.Second {
					t.Fatalf("the stop took %s, want it bounded by about %s", took, settleAtStop)
				}
			}
			if tc.away {
				want := fmt.Sprintf("outcomes=%d", len(keys))
				if n := g.finishes.n.Load(); n != int64(len(keys)) || !strings.Contains(logs.String(), lostLine) ||
					!strings.Contains(logs.String(), want) {
					t.Fatalf("stopped with Redis away: %d owed, logs %q; want %d and a warning with %s", n, logs.String(), len(keys), want)
				}
				return
			}
			eventually(t, 3*time.Second, "the owed outcomes written", func() bool {
				for _, k := range keys {
					if v, _ := direct.Get(ctx, g.dedupeKey(k)).Result(); v != string(domain.OTPSent) {
						return false
					}
				}
				return true
			})
			stop()
			if !tc.stop {
				if err := <-ran; err != nil {
					t.Fatalf("Run = %v, want nil", err)
				}
			}
			if n := g.finishes.n.Load(); n != 0 {
				t.Fatalf("still owed after Run: %d", n)
			}
			if strings.Contains(logs.String(), lostLine) {
				t.Fatalf("a stop that wrote every outcome warned of lost ones: %s", logs.String())
			}
		})
	}
}

// TestOTPGuardRefundsRedisAndTheMirror: a refund takes the send off
// Redis's log and off the fallback's mirror of it; while Redis is away it
// refunds what the fallback counted, and what Redis counted stays counted
// there (the user may be throttled sooner, never allowed more), reported
// as a "refund" fallback.
func TestOTPGuardRefundsRedisAndTheMirror(t *testing.T) {
	ctx := context.Background()
	direct, prefix, proxy, rdb := proxied(t)
	mirror := memory.NewOTPGuard(memory.SystemClock{})
	var ops opLog
	b := NewBreaker(BreakerConfig{FailureThreshold: 1, OpenTimeout: time.Minute, CallTimeout: patientCallTimeout})
	g := NewOTPGuard(rdb, b, OTPGuardConfig{KeyPrefix: prefix, Fallback: mirror, OnFallback: ops.record})
	const w = 15 * time.Minute

	if ok, err := g.AllowOTP(ctx, "p-refund", "s-1", 1, w); err != nil || !ok {
		t.Fatalf("first send: %v, %v", ok, err)
	}
	if err := g.RefundOTP(ctx, "p-refund", "s-1"); err != nil {
		t.Fatal(err)
	}
	if n, _ := direct.ZCard(ctx, g.sendsKey("p-refund")).Result(); n != 0 {
		t.Fatalf("Redis still logs %d sends after the refund", n)
	}
	if ok, _ := mirror.AllowOTP(ctx, "p-refund", "probe", 1, w); !ok {
		t.Fatal("the mirror still counts the refunded send")
	}
	if err := mirror.RefundOTP(ctx, "p-refund", "probe"); err != nil {
		t.Fatal(err)
	}

	if ok, err := g.AllowOTP(ctx, "p-counted", "s-2", 5, w); err != nil || !ok {
		t.Fatalf("send before the outage: %v, %v", ok, err)
	}
	proxy.stop()
	if err := g.RefundOTP(ctx, "p-counted", "s-2"); err != nil {
		t.Fatal(err)
	}
	if _, err := direct.ZScore(ctx, g.sendsKey("p-counted"), "s-2").Result(); err != nil {
		t.Fatalf("the send Redis counted is gone although Redis could not be written: %v", err)
	}
	if ops.count(opRefund) != 1 {
		t.Fatalf("refund fallbacks reported = %d, want 1", ops.count(opRefund))
	}
	// During the outage the fallback counts, and a refund gives its budget back.
	if ok, err := g.AllowOTP(ctx, "p-outage", "s-3", 1, w); err != nil || !ok {
		t.Fatalf("send during the outage: %v, %v", ok, err)
	}
	if ok, _ := g.AllowOTP(ctx, "p-outage", "s-4", 1, w); ok {
		t.Fatal("a second send of a limit of 1 was allowed during the outage")
	}
	if err := g.RefundOTP(ctx, "p-outage", "s-3"); err != nil {
		t.Fatal(err)
	}
	if ok, err := g.AllowOTP(ctx, "p-outage", "s-5", 1, w); err != nil || !ok {
		t.Fatalf("the send after a refund during the outage: %v, %v; want allowed", ok, err)
	}
}

// TestOTPGuardSharesRoundTrips: the guard's scripts go through its
// Coalescer, so the claims, throttle checks and outcomes that concurrent
// sends issue while the lane is busy share one round trip, each with its
// own answer from Redis (none from the fallback): every process is allowed
// its send and logged once, every fresh key claimed, a finished key answers
// its outcome, and of two claims of one key in the same round trip exactly
// one wins.
func TestOTPGuardSharesRoundTrips(t *testing.T) {
	c, rdb, prefix, hook := newTestCoalescer(t, 1)
	// Calls wait for the lane longer than the default call timeout would let them.
	b := NewBreaker(BreakerConfig{Name: t.Name(), CallTimeout: 10 * time.Second})
	g := NewOTPGuard(rdb, b, OTPGuardConfig{KeyPrefix: prefix, Coalescer: c})
	if err := g.FinishOTP(context.Background(), "k-done", domain.OTPSent, time.Minute); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Redis learns the scripts first (EVAL after NOSCRIPT), so the round
	// trip below is the only one.
	if _, err := g.AllowOTP(ctx, "p-warm", rand.Text(), 5, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.BeginOTP(ctx, "k-warm", time.Minute); err != nil {
		t.Fatal(err)
	}
	_, before, _ := hook.counts()
	fallbacks := g.Stats().Fallbacks

	takeLane(c)
	const sends = 10
	var (
		wg      sync.WaitGroup
		allowed = make([]bool, sends)
		claimed = make([]bool, sends)
		sameKey [2]bool
		errs    = make(chan error, 2*sends+2)
		record  = func(err error) {
			if err != nil {
				errs <- err
			}
		}
	)
	for i := range sends {
		wg.Go(func() {
			ok, err := g.AllowOTP(ctx, fmt.Sprintf("p-%d", i), rand.Text(), 5, time.Minute)
			allowed[i] = ok
			record(err)
		})
		wg.Go(func() {
			ok, _, err := g.BeginOTP(ctx, fmt.Sprintf("k-%d", i), time.Minute)
			claimed[i] = ok
			record(err)
		})
	}
	for i := range sameKey {
		wg.Go(func() {
			ok, _, err := g.BeginOTP(ctx, "k-same", time.Minute)
			sameKey[i] = ok
			record(err)
		})
	}
	var done domain.OTPOutcome
	wg.Go(func() { // a key finished before: its outcome
		ok, prior, err := g.BeginOTP(ctx, "k-done", time.Minute)
		if ok {
			err = errors.New("a finished key was claimed again")
		}
		done = prior
		record(err)
	})
	wg.Go(func() { record(g.FinishOTP(ctx, "k-finish", domain.OTPFailedPermanent, time.Minute)) })
	const commands = 2*sends + 4
	eventually(t, 2*time.Second, "every script queued behind the busy lane", func() bool { return c.queued() == commands })
	freeLane(c)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range sends {
		if !allowed[i] || !claimed[i] {
			t.Fatalf("send %d: allowed %v, claimed %v; want both", i, allowed[i], claimed[i])
		}
	}
	if sameKey[0] == sameKey[1] {
		t.Fatalf("two claims of one key in one round trip: %v, want exactly one", sameKey)
	}
	if done != domain.OTPSent {
		t.Fatalf("a claim of a finished key answered %q, want its outcome %q", done, domain.OTPSent)
	}
	// The answers are Redis's, not the fallback's, and Redis holds them.
	if n := g.Stats().Fallbacks; n != fallbacks {
		t.Fatalf("%d operations fell back, want none", n-fallbacks)
	}
	for i := range sends {
		if n, err := rdb.ZCard(ctx, g.sendsKey(fmt.Sprintf("p-%d", i))).Result(); err != nil || n != 1 {
			t.Fatalf("process %d's send log in Redis: %d (%v), want 1", i, n, err)
		}
		if v, err := rdb.Get(ctx, g.dedupeKey(fmt.Sprintf("k-%d", i))).Result(); err != nil ||
			!strings.HasPrefix(v, string(domain.OTPPending)+"|") {
			t.Fatalf("key %d in Redis: %q (%v), want a pending claim", i, v, err)
		}
	}
	if v, err := rdb.Get(ctx, g.dedupeKey("k-finish")).Result(); err != nil || v != string(domain.OTPFailedPermanent) {
		t.Fatalf("the finished key in Redis: %q (%v), want %q", v, err, domain.OTPFailedPermanent)
	}
	if _, pipelines, _ := hook.counts(); len(pipelines) != len(before)+1 || pipelines[len(before)] != commands {
		t.Fatalf("pipelines %v after %v, want one round trip of the %d scripts", pipelines[len(before):], before, commands)
	}
}
