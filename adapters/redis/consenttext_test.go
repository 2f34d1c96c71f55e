package redis

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
	"github.com/bankkit/onboarding-adapter/ports/porttest"
)

func TestConsentTextCachePortSuite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		l1TTL time.Duration
	}{
		{"L1 and Redis", time.Minute},
		{"Redis only", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			porttest.ConsentTextReaderCache(t, func(t *testing.T, next ports.ConsentTextReader) porttest.ConsentTextCache {
				rdb := testClient(t)
				c := NewConsentTextCache(rdb, testBreaker(t), next, ConsentTextCacheConfig{
					KeyPrefix: testPrefix(t, rdb), TTL: time.Minute, L1TTL: tc.l1TTL,
				})
				if tc.l1TTL > 0 {
					runSubscriber(t, c)
				}
				return c
			})
		})
	}
}

// fakeStore is the store behind the cache: it counts reads per (type,
// language) and fails on demand.
type fakeStore struct {
	mu    sync.Mutex
	texts map[[2]string]domain.ConsentText
	reads map[[2]string]int
	err   error
}

func newFakeStore() *fakeStore {
	return &fakeStore{texts: map[[2]string]domain.ConsentText{}, reads: map[[2]string]int{}}
}

func (f *fakeStore) LatestConsentText(_ context.Context, typ, lang string) (domain.ConsentText, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := [2]string{typ, lang}
	f.reads[k]++
	if f.err != nil {
		return domain.ConsentText{}, f.err
	}
	t, ok := f.texts[k]
	if !ok {
		return domain.ConsentText{}, domain.NotFound("consentType", "no consent text")
	}
	return t, nil
}

func (f *fakeStore) publish(typ, lang, html string) domain.ConsentText {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := [2]string{typ, lang}
	sum := sha256.Sum256([]byte(html))
	t := domain.ConsentText{Type: typ, Language: lang, Version: f.texts[k].Version + 1, HTML: html,
		SHA256: hex.EncodeToString(sum[:]), PublishedAt: time.Now().UTC().Truncate(time.Microsecond)}
	f.texts[k] = t
	return t
}

func (f *fakeStore) count(typ, lang string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads[[2]string{typ, lang}]
}

// read reads (typ, lang) through c and fails the test on an error.
func read(t *testing.T, c ports.ConsentTextReader, typ, lang string) domain.ConsentText {
	t.Helper()
	got, err := c.LatestConsentText(context.Background(), typ, lang)
	if err != nil {
		t.Fatalf("LatestConsentText(%s, %s): %v", typ, lang, err)
	}
	return got
}

func sameText(t *testing.T, got, want domain.ConsentText) {
	t.Helper()
	if got.Type != want.Type || got.Language != want.Language || got.Version != want.Version ||
		got.HTML != want.HTML || got.SHA256 != want.SHA256 || !got.PublishedAt.Equal(want.PublishedAt) {
		t.Fatalf("text = %+v\nwant   %+v", got, want)
	}
}

func TestConsentTextCacheCountsHitsPerLevel(t *testing.T) {
	rdb := testClient(t)
	clock := memory.NewFakeClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	store := newFakeStore()
	c := NewConsentTextCache(rdb, testBreaker(t), store, ConsentTextCacheConfig{
		KeyPrefix: testPrefix(t, rdb), L1TTL: 30 * time.Second, Clock: clock,
	})
	v1 := store.publish("GDPR", "en", "<p>one</p>")

	steps := []struct {
		name    string
		advance time.Duration
		want    ConsentTextCacheStats
		reads   int // of the store, in total
	}{
		{"first read misses both levels", 0, ConsentTextCacheStats{L1Misses: 1, L2Misses: 1}, 1},
		{"second read hits the L1", 0, ConsentTextCacheStats{L1Hits: 1, L1Misses: 1, L2Misses: 1}, 1},
		{"within the L1 TTL it still hits", 29 * time.Second, ConsentTextCacheStats{L1Hits: 2, L1Misses: 1, L2Misses: 1}, 1},
		{"after the L1 TTL Redis answers", 2 * time.Second, ConsentTextCacheStats{L1Hits: 2, L1Misses: 2, L2Hits: 1, L2Misses: 1}, 1},
		{"and the L1 has it again", 0, ConsentTextCacheStats{L1Hits: 3, L1Misses: 2, L2Hits: 1, L2Misses: 1}, 1},
	}
	for _, s := range steps {
		clock.Advance(s.advance)
		sameText(t, read(t, c, "GDPR", "en"), v1)
		if got := c.Stats(); got != s.want {
			t.Fatalf("%s: stats = %+v, want %+v", s.name, got, s.want)
		}
		if got := store.count("GDPR", "en"); got != s.reads {
			t.Fatalf("%s: store read %d times, want %d", s.name, got, s.reads)
		}
	}
}

func TestConsentTextCacheRedisTTLExpiry(t *testing.T) {
	rdb := testClient(t)
	store := newFakeStore()
	prefix := testPrefix(t, rdb)
	c := NewConsentTextCache(rdb, testBreaker(t), store, ConsentTextCacheConfig{
		KeyPrefix: prefix, TTL: 300 * time.Millisecond, L1TTL: -1,
	})
	v1 := store.publish("GDPR", "en", "<p>one</p>")
	sameText(t, read(t, c, "GDPR", "en"), v1)
	sameText(t, read(t, c, "GDPR", "en"), v1)
	if n := store.count("GDPR", "en"); n != 1 {
		t.Fatalf("within the TTL the store was read %d times, want 1", n)
	}
	ptr, textPrefix := c.keys("GDPR", "en")
	for _, k := range []string{ptr, textPrefix + "1"} {
		ttl, err := rdb.PTTL(context.Background(), k).Result()
		if err != nil || ttl <= 0 || ttl > 300*time.Millisecond {
			t.Fatalf("PTTL %s = %v, %v; want within (0, 300ms]", k, ttl, err)
		}
	}
	time.Sleep(400 * time.Millisecond)
	sameText(t, read(t, c, "GDPR", "en"), v1)
	if n := store.count("GDPR", "en"); n != 2 {
		t.Fatalf("after the TTL the store was read %d times in all, want 2", n)
	}
	if s := c.Stats(); s.L2Hits != 1 || s.L2Misses != 2 || s.L1Hits != 0 || s.L1Misses != 0 {
		t.Fatalf("stats = %+v, want 1 Redis hit, 2 misses, no L1 counts", s)
	}
}

func TestConsentTextCacheVersionedKeys(t *testing.T) {
	ctx := context.Background()
	rdb := testClient(t)
	store := newFakeStore()
	c := NewConsentTextCache(rdb, testBreaker(t), store, ConsentTextCacheConfig{KeyPrefix: testPrefix(t, rdb), L1TTL: -1})
	v1 := store.publish("GDPR", "cs", "<p>jedna</p>")
	sameText(t, read(t, c, "GDPR", "cs"), v1)
	ptr, textPrefix := c.keys("GDPR", "cs")
	if !strings.Contains(ptr, "GDPR") || !strings.Contains(ptr, "cs") {
		t.Fatalf("pointer key %q does not name the type and language", ptr)
	}
	wantKeys := func(pointer string, present, absent []string) {
		t.Helper()
		if got, err := rdb.Get(ctx, ptr).Result(); err != nil || got != pointer {
			t.Fatalf("pointer = %q, %v; want %q", got, err, pointer)
		}
		for _, v := range present {
			if n, _ := rdb.Exists(ctx, textPrefix+v).Result(); n != 1 {
				t.Fatalf("text key of version %s is missing", v)
			}
		}
		for _, v := range absent {
			if n, _ := rdb.Exists(ctx, textPrefix+v).Result(); n != 0 {
				t.Fatalf("text key of version %s is still there", v)
			}
		}
	}
	wantKeys("1", []string{"1"}, nil)

	v2 := store.publish("GDPR", "cs", "<p>dvě</p>")
	sameText(t, read(t, c, "GDPR", "cs"), v1) // cached until invalidated
	if err := c.InvalidateConsentText(ctx, "GDPR", "cs"); err != nil {
		t.Fatal(err)
	}
	wantKeys("2", []string{"2"}, []string{"1"}) // refilled from the store at once
	sameText(t, read(t, c, "GDPR", "cs"), v2)

	// A replica that read version 1 from the store before the publish and
	// fills only now must not move the pointer back.
	c.fill(ctx, "GDPR", "cs", v1)
	wantKeys("2", []string{"2"}, []string{"1"})
	sameText(t, read(t, c, "GDPR", "cs"), v2)
	if n := store.count("GDPR", "cs"); n != 2 {
		t.Fatalf("store read %d times, want 2 (first miss, refill after the publish)", n)
	}
}

func TestConsentTextCacheNotFound(t *testing.T) {
	for _, tc := range []struct {
		name        string
		negativeTTL time.Duration
		wantReads   []int // store reads after each of three reads, the third after the negative TTL
	}{
		{"remembered briefly", 300 * time.Millisecond, []int{1, 1, 2}},
		{"negative caching off", -1, []int{1, 2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rdb := testClient(t)
			store := newFakeStore()
			c := NewConsentTextCache(rdb, testBreaker(t), store, ConsentTextCacheConfig{
				KeyPrefix: testPrefix(t, rdb), L1TTL: -1, NegativeTTL: tc.negativeTTL,
			})
			for i, want := range tc.wantReads {
				if i == 2 {
					time.Sleep(400 * time.Millisecond)
				}
				_, err := c.LatestConsentText(context.Background(), "GDPR", "de")
				if !domain.IsNotFound(err) {
					t.Fatalf("read %d: error %v, want not found", i+1, err)
				}
				if got := store.count("GDPR", "de"); got != want {
					t.Fatalf("read %d: store read %d times, want %d", i+1, got, want)
				}
			}
		})
	}
}

func TestConsentTextCacheNotFoundClearedByPublish(t *testing.T) {
	rdb := testClient(t)
	store := newFakeStore()
	c := NewConsentTextCache(rdb, testBreaker(t), store, ConsentTextCacheConfig{KeyPrefix: testPrefix(t, rdb), L1TTL: -1})
	if _, err := c.LatestConsentText(context.Background(), "GDPR", "de"); !domain.IsNotFound(err) {
		t.Fatalf("error %v, want not found", err)
	}
	v1 := store.publish("GDPR", "de", "<p>eins</p>")
	if err := c.InvalidateConsentText(context.Background(), "GDPR", "de"); err != nil {
		t.Fatal(err)
	}
	sameText(t, read(t, c, "GDPR", "de"), v1)
}

func TestConsentTextCacheUnreadableEntryIsAMiss(t *testing.T) {
	ctx := context.Background()
	rdb := testClient(t)
	store := newFakeStore()
	c := NewConsentTextCache(rdb, testBreaker(t), store, ConsentTextCacheConfig{KeyPrefix: testPrefix(t, rdb), L1TTL: -1})
	v1 := store.publish("GDPR", "en", "<p>one</p>")
	ptr, textPrefix := c.keys("GDPR", "en")
	for _, tc := range []struct {
		name      string
		text      string // "" leaves the text key absent
		wantReads int
		rejected  RejectedEntries // in all
	}{
		{"garbage text", "not an encoded text", 1, RejectedEntries{Unreadable: 1}},
		{"text of another version", encodeText(domain.ConsentText{Version: 7, HTML: "<p>x</p>"}), 2, RejectedEntries{Unreadable: 2}},
		{"text key expired before the pointer", "", 3, RejectedEntries{Unreadable: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := rdb.Set(ctx, ptr, "1", time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			_ = rdb.Del(ctx, textPrefix+"1")
			if tc.text != "" {
				if err := rdb.Set(ctx, textPrefix+"1", tc.text, time.Minute).Err(); err != nil {
					t.Fatal(err)
				}
			}
			sameText(t, read(t, c, "GDPR", "en"), v1)
			if got := store.count("GDPR", "en"); got != tc.wantReads {
				t.Fatalf("store read %d times in all, want %d", got, tc.wantReads)
			}
			sameText(t, read(t, c, "GDPR", "en"), v1) // refilled: a hit now
			if got := store.count("GDPR", "en"); got != tc.wantReads {
				t.Fatalf("after the refill the store was read again (%d times)", got)
			}
			// The refill rewrote the pointer too, with the cache's TTL (the
			// test set it with a minute).
			if ttl, err := rdb.PTTL(ctx, ptr).Result(); err != nil || ttl <= time.Minute {
				t.Fatalf("pointer TTL %v (%v) after the refill, want about %v: the pointer was not rewritten", ttl, err, DefaultConsentTextTTL)
			}
			if got := c.Stats().Rejected; got != tc.rejected {
				t.Fatalf("rejected = %+v, want %+v", got, tc.rejected)
			}
		})
	}
}

// TestConsentTextCacheRefusesATextChangedInRedis: the SHA-256 the cache
// serves with a text is what the consent ledger records as the text the
// user saw, so a text changed or cut short in Redis, under its original
// header, must be refused, answered from the store, counted, logged
// without its content, and replaced by the store's.
func TestConsentTextCacheRefusesATextChangedInRedis(t *testing.T) {
	ctx := context.Background()
	rdb := testClient(t)
	store := newFakeStore()
	var logs bytes.Buffer
	c := NewConsentTextCache(rdb, testBreaker(t), store, ConsentTextCacheConfig{
		KeyPrefix: testPrefix(t, rdb), L1TTL: -1, Logger: slog.New(slog.NewJSONHandler(&logs, nil)).With("version", "v1.8.0"),
	})
	v1 := store.publish("GDPR", "en", "<p>We keep your data for five years.</p>")
	sameText(t, read(t, c, "GDPR", "en"), v1) // fills Redis
	_, textPrefix := c.keys("GDPR", "en")
	changed := v1
	changed.HTML = "<p>We sell your data.</p>"
	cut := encodeText(v1)
	for i, value := range []string{encodeText(changed), cut[:len(cut)-10]} {
		if err := rdb.Set(ctx, textPrefix+"1", value, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		sameText(t, read(t, c, "GDPR", "en"), v1)
		if got, want := store.count("GDPR", "en"), 2+i; got != want {
			t.Fatalf("value %d: the store was read %d times, want %d (the changed text refused)", i, got, want)
		}
		if got := c.Stats().Rejected; got != (RejectedEntries{Tampered: uint64(i + 1)}) {
			t.Fatalf("value %d: rejected = %+v, want %d tampered", i, got, i+1)
		}
		if got, err := rdb.Get(ctx, textPrefix+"1").Result(); err != nil || got != encodeText(v1) {
			t.Fatalf("value %d: Redis holds %q (%v) after the refill, want the store's text", i, got, err)
		}
		sameText(t, read(t, c, "GDPR", "en"), v1)
		if got, want := store.count("GDPR", "en"), 2+i; got != want {
			t.Fatalf("value %d: the refilled text was not served from Redis (store read %d times, want %d)", i, got, want)
		}
	}
	out := logs.String()
	if n := strings.Count(out, "does not match its SHA-256"); n != 1 {
		t.Fatalf("%d log lines for two refused texts within the log interval, want 1:\n%s", n, out)
	}
	for _, want := range []string{`"consent_type":"GDPR"`, `"language":"en"`, `"text_version":1`, `"version":"v1.8.0"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the log line lacks %s (it names the text by type, language and version, beside the service's version): %s", want, out)
		}
	}
	if strings.Contains(out, "sell") || strings.Contains(out, "five years") {
		t.Fatalf("the log line quotes the text: %s", out)
	}
}

func TestConsentTextCacheInvalidationReachesOtherReplica(t *testing.T) {
	rdb := testClient(t)
	prefix := testPrefix(t, rdb)
	store := newFakeStore()
	cfg := ConsentTextCacheConfig{KeyPrefix: prefix, L1TTL: time.Hour}
	a := NewConsentTextCache(rdb, testBreaker(t), store, cfg)
	// The second replica has its own client, breaker and L1.
	b := NewConsentTextCache(patientClientAt(t, testRedisURL()), testBreaker(t), store, cfg)
	runSubscriber(t, a)
	runSubscriber(t, b)

	v1 := store.publish("GDPR", "en", "<p>one</p>")
	sameText(t, read(t, a, "GDPR", "en"), v1)
	sameText(t, read(t, b, "GDPR", "en"), v1)
	v2 := store.publish("GDPR", "en", "<p>two</p>")
	sameText(t, read(t, b, "GDPR", "en"), v1) // b's L1 holds v1 for an hour

	if err := a.InvalidateConsentText(context.Background(), "GDPR", "en"); err != nil {
		t.Fatal(err)
	}
	sameText(t, read(t, a, "GDPR", "en"), v2)
	eventually(t, 2*time.Second, "second replica sees the new version", func() bool {
		return read(t, b, "GDPR", "en").Version == 2
	})
	sameText(t, read(t, b, "GDPR", "en"), v2)
	if n := b.Stats().Invalidations; n < 1 {
		t.Fatalf("second replica counted %d invalidations, want at least 1", n)
	}
}

func TestConsentTextCacheResubscribesAndFlushesL1(t *testing.T) {
	rdb := testClient(t)
	prefix := testPrefix(t, rdb)
	store := newFakeStore()
	cfg := ConsentTextCacheConfig{KeyPrefix: prefix, L1TTL: time.Hour}
	a := NewConsentTextCache(rdb, testBreaker(t), store, cfg)
	proxy := newProxy(t, mustAddr(t))
	b := NewConsentTextCache(patientClientAt(t, viaAddr(t, proxy.addr)), testBreaker(t), store, cfg)
	runSubscriber(t, b)

	v1 := store.publish("GDPR", "en", "<p>one</p>")
	sameText(t, read(t, b, "GDPR", "en"), v1)

	proxy.stop() // b loses Redis, and with it the announcement below
	v2 := store.publish("GDPR", "en", "<p>two</p>")
	if err := a.InvalidateConsentText(context.Background(), "GDPR", "en"); err != nil {
		t.Fatal(err)
	}
	sameText(t, read(t, b, "GDPR", "en"), v1) // still in b's L1
	proxy.start()

	eventually(t, 5*time.Second, "resubscribed", func() bool { return b.Stats().Subscriptions >= 2 })
	sameText(t, read(t, b, "GDPR", "en"), v2)
}

func TestConsentTextCacheRun(t *testing.T) {
	rdb := testClient(t)
	store := newFakeStore()

	t.Run("L1 disabled: nothing to subscribe", func(t *testing.T) {
		c := NewConsentTextCache(rdb, testBreaker(t), store, ConsentTextCacheConfig{KeyPrefix: testPrefix(t, rdb), L1TTL: -1})
		if err := c.Run(context.Background()); err != nil {
			t.Fatalf("Run = %v, want nil at once", err)
		}
	})

	t.Run("one subscriber per cache, stopped by its context", func(t *testing.T) {
		c := NewConsentTextCache(rdb, testBreaker(t), store, ConsentTextCacheConfig{KeyPrefix: testPrefix(t, rdb)})
		runSubscriber(t, c)
		if err := c.Run(context.Background()); err == nil {
			t.Fatal("a second Run was accepted")
		}
	})

	t.Run("malformed announcements are ignored", func(t *testing.T) {
		prefix := testPrefix(t, rdb)
		c := NewConsentTextCache(rdb, testBreaker(t), store, ConsentTextCacheConfig{KeyPrefix: prefix})
		runSubscriber(t, c)
		if err := rdb.Publish(context.Background(), prefix+"consent-text:invalidate", "{not json").Err(); err != nil {
			t.Fatal(err)
		}
		v := store.publish("T_run", "en", "<p>x</p>")
		if err := c.InvalidateConsentText(context.Background(), "T_run", "en"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 2*time.Second, "the valid announcement counted", func() bool { return c.Stats().Invalidations == 1 })
		sameText(t, read(t, c, "T_run", "en"), v)
	})

	t.Run("a silent subscription is pinged and kept", func(t *testing.T) {
		// An interval a loaded machine's pong is sure to come back within:
		// one later than the interval ends the subscription, as it should.
		const interval = time.Second
		c := NewConsentTextCache(rdb, testBreaker(t), store, ConsentTextCacheConfig{
			KeyPrefix: testPrefix(t, rdb), PubSubPingInterval: interval,
		})
		runSubscriber(t, c)
		time.Sleep(3*interval + interval/2) // several quiet intervals, each ending in a ping
		if n := c.Stats().Subscriptions; n != 1 {
			t.Fatalf("subscribed %d times, want the first subscription kept", n)
		}
	})
}

// mustAddr is the host:port of the test Redis.
func mustAddr(t testing.TB) string {
	t.Helper()
	opt, err := goredis.ParseURL(testRedisURL())
	if err != nil {
		t.Fatal(err)
	}
	return opt.Addr
}

// roundTrips counts the commands and pipelines a client sends: one each is
// one round trip to Redis.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (r *roundTrips) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error { r.n.Add(1); return next(ctx, cmd) }
}
func (r *roundTrips) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error { r.n.Add(1); return next(ctx, cmds) }
}

// With the L1 off, a language without a text of its own is answered with
// the fallback language's text in one round trip once Redis has both; a
// language with its own text is answered with it; Redis failing, or having
// lost its scripts, still answers.
func TestConsentTextCacheFallbackLanguage(t *testing.T) {
	ctx := context.Background()
	rdb := testClient(t)
	trips := &roundTrips{}
	rdb.AddHook(trips)
	store := newFakeStore()
	c := NewConsentTextCache(rdb, testBreaker(t), store, ConsentTextCacheConfig{
		KeyPrefix: testPrefix(t, rdb), TTL: time.Minute, L1TTL: -1,
	})
	en := store.publish("GDPR", "en", "<p>consent</p>")
	cs := store.publish("GDPR", "cs", "<p>souhlas</p>")

	readOr := func(typ, lang string) (domain.ConsentText, error) {
		t.Helper()
		return c.LatestConsentTextOr(ctx, typ, lang, "en")
	}
	for _, lang := range []string{"de", "cs", "en"} { // fills Redis
		if _, err := readOr("GDPR", lang); err != nil {
			t.Fatalf("%s: %v", lang, err)
		}
	}
	storeReads := store.count("GDPR", "de") + store.count("GDPR", "en") + store.count("GDPR", "cs")

	for _, tc := range []struct {
		lang  string
		want  domain.ConsentText
		trips int64
	}{
		{"de", en, 1}, // de cached as NotFound, en cached: one pipeline
		{"cs", cs, 1},
		{"en", en, 1}, // the fallback itself: a plain read
	} {
		before := trips.n.Load()
		got, err := readOr("GDPR", tc.lang)
		if err != nil {
			t.Fatalf("%s: %v", tc.lang, err)
		}
		sameText(t, got, tc.want)
		if n := trips.n.Load() - before; n != tc.trips {
			t.Errorf("%s: %d round trips to Redis, want %d", tc.lang, n, tc.trips)
		}
	}
	if n := store.count("GDPR", "de") + store.count("GDPR", "en") + store.count("GDPR", "cs"); n != storeReads {
		t.Fatalf("the store was read %d more times once Redis had every language", n-storeReads)
	}

	if _, err := readOr("MISSING", "de"); !domain.IsNotFound(err) {
		t.Fatalf("a type published in neither language: err %v, want not found", err)
	}

	// Redis lost its scripts (a restart, SCRIPT FLUSH): loaded again, and
	// still answered from Redis.
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	got, err := readOr("GDPR", "de")
	if err != nil {
		t.Fatalf("after SCRIPT FLUSH: %v", err)
	}
	sameText(t, got, en)
	if n := store.count("GDPR", "de") + store.count("GDPR", "en") + store.count("GDPR", "cs"); n != storeReads {
		t.Fatal("after SCRIPT FLUSH the store answered, not Redis")
	}

	// Redis unreachable: both languages from the store, no error.
	down := NewConsentTextCache(clientAt(t, "redis://"+closedAddr(t)), testBreaker(t), store, ConsentTextCacheConfig{L1TTL: -1})
	got, err = down.LatestConsentTextOr(ctx, "GDPR", "de", "en")
	if err != nil {
		t.Fatalf("Redis down: %v", err)
	}
	sameText(t, got, en)
	if down.Stats().Fallbacks == 0 {
		t.Fatal("Redis down: no fallback counted")
	}
}

// TestConsentTextPublishMovesThePointerInOneStep: publishing no longer
// deletes the cached keys and refills them after (a replica filling from
// an older store read could slip into that gap and cache the old version
// for the Redis TTL, and a failed refill still reported success). The
// pointer goes from the old version to the new one in one script; when the
// store cannot be read the publisher is told (CodeUnavailable) and the
// pointer stays; and a withdrawn text (NotFound) is forgotten. From a
// review.
func TestConsentTextPublishMovesThePointerInOneStep(t *testing.T) {
	ctx := context.Background()
	rdb := testClient(t)
	store := newFakeStore()
	c := NewConsentTextCache(rdb, testBreaker(t), store, ConsentTextCacheConfig{KeyPrefix: testPrefix(t, rdb), L1TTL: -1})
	ptr, _ := c.keys("GDPR", "en")
	v1 := store.publish("GDPR", "en", "<p>one</p>")
	sameText(t, read(t, c, "GDPR", "en"), v1)

	store.publish("GDPR", "en", "<p>two</p>")
	store.mu.Lock()
	store.err = domain.Unavailable(nil, "database down")
	store.mu.Unlock()
	if err := c.InvalidateConsentText(ctx, "GDPR", "en"); domain.CodeOf(err) != domain.CodeUnavailable {
		t.Fatalf("publish with the store unreadable: %v, want CodeUnavailable (the publisher retries)", err)
	}
	if got, _ := rdb.Get(ctx, ptr).Result(); got != "1" {
		t.Fatalf("pointer after a failed publish = %q, want 1 still (nothing better is known)", got)
	}
	store.mu.Lock()
	store.err = nil
	store.mu.Unlock()
	if err := c.InvalidateConsentText(ctx, "GDPR", "en"); err != nil {
		t.Fatal(err)
	}
	if got, _ := rdb.Get(ctx, ptr).Result(); got != "2" {
		t.Fatalf("pointer after the publish = %q, want 2", got)
	}
	c.fill(ctx, "GDPR", "en", v1) // a replica's late fill from an older read
	if got, _ := rdb.Get(ctx, ptr).Result(); got != "2" {
		t.Fatalf("a late fill of version 1 moved the pointer to %q", got)
	}

	store.mu.Lock()
	delete(store.texts, [2]string{"GDPR", "en"})
	store.mu.Unlock()
	if err := c.InvalidateConsentText(ctx, "GDPR", "en"); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.Exists(ctx, ptr).Result(); n != 0 {
		t.Fatal("the pointer of a withdrawn text is still cached")
	}
}
