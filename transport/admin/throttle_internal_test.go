package admin

import (
	"fmt"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
)

// testThrottle is a throttle on a fake clock.
func testThrottle(burst int, refill time.Duration) (*loginThrottle, *memory.FakeClock) {
	clock := memory.NewFakeClock(time.Date(2025, 6, 15, 10, 0, 0, 0, time.UTC))
	return newLoginThrottle(burst, refill, clock.Now), clock
}

// TestLoginThrottleEvicts: past maxKeys the pairs whose failures are all
// forgiven go first, a locked-out pair stays while there is room, and the
// map never grows past the bound however many pairs come.
func TestLoginThrottleEvicts(t *testing.T) {
	th, clock := testThrottle(2, time.Minute)
	th.maxKeys = 10
	locked := loginKey("198.51.100.7", "alice")
	for range 2 {
		th.take(locked)
	}
	if _, ok := th.take(locked); ok {
		t.Fatal("a third failure within the minute was allowed")
	}
	for i := range 9 { // one failure each, then all forgiven: the map is full
		key := loginKey(fmt.Sprintf("203.0.113.%d", i), "bob")
		th.take(key)
	}
	clock.Advance(time.Minute)
	th.take(loginKey("192.0.2.1", "carol")) // the eleventh pair: the forgiven ones go
	if _, kept := th.buckets[locked]; !kept || len(th.buckets) != 2 {
		t.Fatalf("after eviction: %d pairs, the locked-out one kept %v; want 2 and true", len(th.buckets), kept)
	}
	for i := range 100 {
		th.take(loginKey(fmt.Sprintf("2001:db8::%x", i), "x"))
		if len(th.buckets) > th.maxKeys {
			t.Fatalf("%d pairs, past the bound of %d", len(th.buckets), th.maxKeys)
		}
	}
}

// TestLoginThrottleRetryAfter: the wait is the time until one token, also
// after a partial refill.
func TestLoginThrottleRetryAfter(t *testing.T) {
	th, clock := testThrottle(1, 6*time.Second)
	key := loginKey("198.51.100.7", "alice")
	th.take(key)
	clock.Advance(2 * time.Second)
	wait, ok := th.take(key)
	if ok || wait != 4*time.Second || retryAfterSeconds(wait) != 4 {
		t.Fatalf("after 2 s of 6: wait %s, ok %v; want 4s", wait, ok)
	}
	th.refund(key) // a refund never lifts past the burst
	th.refund(key)
	if th.buckets[key].tokens > 1 {
		t.Fatalf("tokens %v past the burst", th.buckets[key].tokens)
	}
}

// TestLoginThrottleKeepsLockoutsWhenFull: a map full of pairs with
// failures left makes room by dropping those with the most tokens, never
// the locked-out pair, so sending new names does not lift a lockout.
func TestLoginThrottleKeepsLockoutsWhenFull(t *testing.T) {
	th, _ := testThrottle(3, time.Hour)
	th.maxKeys = 20
	locked := loginKey("198.51.100.7", "alice")
	for range 3 {
		th.take(locked)
	}
	for i := range 200 { // junk names, one failure each: none is forgiven within the hour
		th.take(loginKey("198.51.100.7", fmt.Sprintf("junk-%d", i)))
		if _, kept := th.buckets[locked]; !kept {
			t.Fatalf("the locked-out pair was evicted after %d junk names", i+1)
		}
	}
	if _, ok := th.take(locked); ok {
		t.Fatal("the lockout was lifted")
	}
}

// TestLoginThrottleWarnsOncePerLockout: the moment to log comes once when
// a pair runs out, not again on the failure after a token comes back, and
// again only after every failure has been forgiven.
func TestLoginThrottleWarnsOncePerLockout(t *testing.T) {
	th, clock := testThrottle(3, time.Minute)
	key := loginKey("198.51.100.7", "alice")
	fail := func() bool {
		if _, ok := th.take(key); !ok {
			return false
		}
		return th.lockedOut(key)
	}
	var got []bool
	for range 3 {
		got = append(got, fail())
	}
	clock.Advance(time.Minute) // one token back
	got = append(got, fail())
	clock.Advance(3 * time.Minute) // every failure forgiven
	for range 3 {
		got = append(got, fail())
	}
	want := []bool{false, false, true, false, false, false, true}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("lockouts %v, want %v", got, want)
	}
	th.refund(key)
	if th.lockedOut(key) {
		t.Fatal("a pair with a token back is not locked out")
	}
}
