package redis

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
)

// TestKeyPrefixesKeepDeploymentsApart: two deployments sharing one Redis
// with their own prefixes (ONBOARDING_REDIS_KEY_PREFIX), say production and
// staging, each with its own database. Neither is served the other's
// cached consent text, a publish in one reaches neither the other's Redis
// entry nor its replicas' L1, and neither sees the other's OTP claims or
// sends. (Replicas of one deployment share a prefix and do see each other:
// TestConsentTextCacheInvalidationReachesOtherReplica.)
func TestKeyPrefixesKeepDeploymentsApart(t *testing.T) {
	rdb := testClient(t)
	prodPrefix, stagingPrefix := testPrefix(t, rdb), testPrefix(t, rdb)
	ctx := context.Background()

	t.Run("consent texts", func(t *testing.T) {
		prodStore, stagingStore := newFakeStore(), newFakeStore()
		// Staging's L1 is on, so it subscribes to its channel and counts
		// every invalidation it receives.
		prod := NewConsentTextCache(rdb, testBreaker(t), prodStore, ConsentTextCacheConfig{KeyPrefix: prodPrefix, L1TTL: -1})
		staging := NewConsentTextCache(patientClientAt(t, testRedisURL()), testBreaker(t), stagingStore,
			ConsentTextCacheConfig{KeyPrefix: stagingPrefix, L1TTL: time.Hour})
		runSubscriber(t, staging)

		prodV1 := prodStore.publish("GDPR", "en", "<p>production one</p>")
		stagingStore.publish("GDPR", "en", "<p>staging one</p>")
		stagingV2 := stagingStore.publish("GDPR", "en", "<p>staging two</p>")

		// Production fills its entry first; staging, same (type, language)
		// and a newer version in its own store, still reads its own.
		sameText(t, read(t, prod, "GDPR", "en"), prodV1)
		sameText(t, read(t, staging, "GDPR", "en"), stagingV2)
		if n := stagingStore.count("GDPR", "en"); n != 1 {
			t.Fatalf("staging's store read %d times, want 1 (a miss in its own Redis entry)", n)
		}
		// Production's entry was not moved to staging's newer version.
		sameText(t, read(t, prod, "GDPR", "en"), prodV1)
		if s := prod.Stats(); s.L2Hits != 1 || s.L2Misses != 1 {
			t.Fatalf("production's Redis: %d hits, %d misses; want 1 and 1", s.L2Hits, s.L2Misses)
		}

		// A publish in production moves its pointer and announces it on its
		// own channel only.
		prodV2 := prodStore.publish("GDPR", "en", "<p>production two</p>")
		if err := prod.InvalidateConsentText(ctx, "GDPR", "en"); err != nil {
			t.Fatal(err)
		}
		sameText(t, read(t, prod, "GDPR", "en"), prodV2)
		// Replicas of one prefix get the message within milliseconds
		// (TestConsentTextCacheInvalidationReachesOtherReplica): a stray
		// one would have arrived by now.
		time.Sleep(200 * time.Millisecond)
		if n := staging.Stats().Invalidations; n != 0 {
			t.Fatalf("staging received %d invalidations of production's publish", n)
		}
		sameText(t, read(t, staging, "GDPR", "en"), stagingV2)
		for _, p := range []string{prodPrefix, stagingPrefix} {
			if n := rdb.Exists(ctx, p+"consent-text:{GDPR|en}:latest").Val(); n != 1 {
				t.Fatalf("%s has no pointer of its own", p)
			}
		}
		if got := rdb.Get(ctx, stagingPrefix+"consent-text:{GDPR|en}:latest").Val(); got != "2" {
			t.Fatalf("staging's pointer = %q, want its own version 2", got)
		}
	})

	t.Run("OTP claims and sends", func(t *testing.T) {
		prod := NewOTPGuard(rdb, testBreaker(t), OTPGuardConfig{KeyPrefix: prodPrefix})
		staging := NewOTPGuard(rdb, testBreaker(t), OTPGuardConfig{KeyPrefix: stagingPrefix})

		// The same dedupe key (same code, process and hash key in both):
		// each deployment claims it for itself.
		const key = "same-keyed-hash-in-both"
		for _, g := range []*OTPGuard{prod, staging} {
			ok, prior, err := g.BeginOTP(ctx, key, time.Minute)
			if err != nil || !ok {
				t.Fatalf("first claim in its own deployment: claimed %v, prior %q, %v", ok, prior, err)
			}
		}
		if err := prod.FinishOTP(ctx, key, domain.OTPSent, time.Minute); err != nil {
			t.Fatal(err)
		}
		// Within each deployment the claim holds: production sees its sent
		// code, staging its own pending one.
		if ok, prior, err := prod.BeginOTP(ctx, key, time.Minute); err != nil || ok || prior != domain.OTPSent {
			t.Fatalf("production's repeat: claimed %v, prior %q, %v; want the sent outcome", ok, prior, err)
		}
		if ok, prior, err := staging.BeginOTP(ctx, key, time.Minute); err != nil || ok || prior != domain.OTPPending {
			t.Fatalf("staging's repeat: claimed %v, prior %q, %v; want its own pending claim", ok, prior, err)
		}

		// Production uses up the process's sends; staging's are untouched.
		const limit = 2
		for i := range limit + 1 {
			ok, err := prod.AllowOTP(ctx, "p-shared", rand.Text(), limit, time.Minute)
			if err != nil || ok != (i < limit) {
				t.Fatalf("production send %d: allowed %v, %v", i+1, ok, err)
			}
		}
		if ok, err := staging.AllowOTP(ctx, "p-shared", rand.Text(), limit, time.Minute); err != nil || !ok {
			t.Fatalf("staging's first send of the process: allowed %v, %v; production's sends counted", ok, err)
		}
		for _, g := range []*OTPGuard{prod, staging} {
			if s := g.Stats(); s.Fallbacks != 0 {
				t.Fatalf("fallbacks = %d with Redis up, want 0", s.Fallbacks)
			}
		}
	})
}
