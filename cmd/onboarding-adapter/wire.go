package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/extra/redisotel/v9"
	goredis "github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/adapters/postgres"
	redisadapter "github.com/bankkit/onboarding-adapter/adapters/redis"
	"github.com/bankkit/onboarding-adapter/adapters/sms"
	apptelemetry "github.com/bankkit/onboarding-adapter/adapters/telemetry"
	"github.com/bankkit/onboarding-adapter/cmd/onboarding-adapter/internal/config"
	"github.com/bankkit/onboarding-adapter/cmd/onboarding-adapter/internal/telemetry"
	"github.com/bankkit/onboarding-adapter/domain/approval"
	"github.com/bankkit/onboarding-adapter/domain/consent"
	"github.com/bankkit/onboarding-adapter/domain/evaluation"
	"github.com/bankkit/onboarding-adapter/domain/events"
	"github.com/bankkit/onboarding-adapter/domain/lookup"
	"github.com/bankkit/onboarding-adapter/domain/otp"
	"github.com/bankkit/onboarding-adapter/domain/policy"
	"github.com/bankkit/onboarding-adapter/domain/review"
	"github.com/bankkit/onboarding-adapter/ports"
	httptransport "github.com/bankkit/onboarding-adapter/transport/http"
)

// app is the wired service: the driving ports the transport calls, the
// dependencies readiness pings and what must be closed on shutdown.
type app struct {
	services httptransport.Services
	reviews  ports.ReviewService
	deps     []telemetry.Dependency
	closers  []func()
	storage  string
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil // a second close does nothing
}

// adapters are the driven ports one storage choice provides.
type adapters struct {
	registry  ports.ClientRegistry
	texts     ports.ConsentTextReader
	ledger    ports.ConsentLedger
	servings  ports.ConsentServings
	decisions ports.DecisionStore
	reviews   ports.ReviewCases
	dedupe    ports.OTPDedupe
	throttle  ports.OTPThrottle
	events    ports.ProcessEventRecorder
	deps      []telemetry.Dependency
}

// build wires config -> adapters -> domain services, in the fixed order of
// STYLE.md: storage, caches, SMS, services. Every driven port is wrapped in
// its tracing decorator and every driving port in its metrics decorator;
// pgx, Redis and the SMS client are instrumented at the driver.
func build(ctx context.Context, cfg config.Config, pol policy.Policy, logger *slog.Logger, tel *telemetry.Telemetry) (*app, error) {
	a := &app{}
	ok := false
	defer func() {
		if !ok {
			a.close()
		}
	}()
	inst, err := apptelemetry.New(tel.TracerProvider(), tel.MeterProvider())
	if err != nil {
		return nil, err
	}
	clock := memory.SystemClock{}
	ids := memory.NewRandomIDs()

	var ad adapters
	if cfg.DatabaseURL != "" {
		pool, err := openPoolWith(ctx, cfg, otelpgx.NewTracer(
			otelpgx.WithTracerProvider(tel.TracerProvider()),
			otelpgx.WithMeterProvider(tel.MeterProvider()),
			// Statements are parameterised: their text holds no values,
			// and query parameters (opt-in in otelpgx) stay off.
		))
		if err != nil {
			return nil, err
		}
		a.closers = append(a.closers, pool.Close)
		if err := otelpgx.RecordStats(pool, otelpgx.WithStatsMeterProvider(tel.MeterProvider())); err != nil {
			return nil, fmt.Errorf("recording the database pool metrics: %w", err)
		}
		if cfg.MigrateAtStart {
			if err := postgres.Migrate(ctx, pool, logger); err != nil {
				return nil, fmt.Errorf("migrating at start: %w", err)
			}
		}
		// After migrating: on a fresh database the tables exist only now.
		roleRisks := &atomic.Int64{}
		roleRisks.Store(roleUnchecked)
		a.closers = append(a.closers, warnIfPrivileged(func(ctx context.Context) (string, []string, error) {
			return postgres.RoleRisks(ctx, pool)
		}, roleCheckRetry, roleRecheck, logger, roleRisks))
		if err := inst.ObserveDatabaseRole(func() (int, bool) {
			n := roleRisks.Load()
			return int(n), n != roleUnchecked
		}); err != nil {
			return nil, err
		}
		st := postgres.New(pool, clock, ids,
			postgres.WithBatching(postgres.BatchConfig{Window: cfg.DBBatchWindow, Lanes: cfg.DBBatchLanes}), postgres.WithLogger(logger))
		a.closers = append(a.closers, st.Close) // runs before pool.Close: writes the queued consent servings
		guard := memory.NewOTPGuard(clock)
		if cfg.RedisURL == "" {
			// Replaced below when Redis is configured; without it every
			// replica throttles and deduplicates on its own.
			logger.Warn("OTP throttle and dedupe are per replica without ONBOARDING_REDIS_URL: " +
				"a retried /otp/send reaching another replica sends a second SMS; fine with one replica, else configure Redis")
		}
		ad = adapters{
			registry: st.Registry, texts: st.ConsentTexts, ledger: st.Ledger, servings: st.Servings,
			decisions: st.Decisions, reviews: st.Decisions, dedupe: guard, throttle: guard, events: st.Events,
			deps: []telemetry.Dependency{{Name: "postgres", Required: true, Ping: st.Health.Ping},
				{Name: "postgres_schema", Required: true, Ping: st.Health.Schema}},
		}
		a.storage = "postgres"
	} else {
		var err error
		if ad, err = memoryAdapters(cfg, clock, ids); err != nil {
			return nil, err
		}
		a.storage = "memory"
	}

	texts := ad.texts
	if cfg.RedisURL != "" {
		rc, err := openRedis(cfg, ad.texts, clock, logger, tel, inst)
		if err != nil {
			return nil, err
		}
		a.closers = append(a.closers, rc.close)
		texts, ad.dedupe, ad.throttle = rc.texts, rc.guard, rc.guard
		ad.deps = append(ad.deps, rc.dep)
		a.storage += "+redis"
	} else if cfg.ConsentL1TTL > 0 {
		l1 := memory.NewConsentTextCache(ad.texts, cfg.ConsentL1TTL, cfg.ConsentL1Entries, clock)
		if err := inst.ObserveConsentTextCache(func() apptelemetry.CacheCounts {
			hits, misses := l1.Stats()
			return apptelemetry.CacheCounts{HasL1: true, L1Hits: hits, L1Misses: misses}
		}); err != nil {
			return nil, err
		}
		texts = l1
	}
	a.deps = ad.deps

	sender, err := smsSender(cfg, logger, tel, inst)
	if err != nil {
		return nil, err
	}
	key, err := otpHashKey(cfg, logger)
	if err != nil {
		return nil, err
	}

	// The driven ports, each call a child span of the endpoint's span.
	registry := inst.Registry(ad.registry)
	decisions := inst.Decisions(ad.decisions)
	ledger := inst.Ledger(ad.ledger)
	tracedTexts := inst.ConsentTexts(texts)
	servings := inst.Servings(ad.servings)
	dedupe, throttle := inst.OTPDedupe(ad.dedupe), inst.OTPThrottle(ad.throttle)
	tracedSender := inst.SMSSender(sender)
	recorder := inst.Events(ad.events)

	a.services = httptransport.Services{
		Lookup:     inst.LookupService(lookup.New(registry, ledger, tracedTexts, pol.Lookup, pol.Consent)),
		Approval:   inst.ApprovalService(approval.New(decisions, registry, clock, ids, pol.Decision)),
		Evaluation: inst.EvaluationService(evaluation.New(decisions, registry, clock, ids, pol.Decision, pol.Evaluation)),
		OTP:        inst.OTPService(otp.New(registry, dedupe, throttle, tracedSender, key, pol.OTP)),
		Consent:    inst.ConsentService(consent.New(tracedTexts, servings, ledger, clock, pol.Consent)),
		Events:     events.New(recorder, clock),
	}
	a.reviews = review.New(ad.reviews, ad.decisions, clock, reviewPolicy(pol.Review, cfg.ReviewRetention, cfg.ReviewRequireClaim, cfg.ReviewFourEyes))
	ok = true
	return a, nil
}

// openPool connects the PostgreSQL pool with the configured limits, for
// the operator subcommands (no tracing). It does not wait for the
// database: readiness reports it until it answers.
func openPool(ctx context.Context, cfg config.Config) (*pgxpool.Pool, error) {
	return openPoolWith(ctx, cfg, nil)
}

// openPoolWith is openPool with a query tracer (otelpgx for serve).
func openPoolWith(ctx context.Context, cfg config.Config, tracer pgx.QueryTracer) (*pgxpool.Pool, error) {
	pool, err := postgres.NewPool(ctx, cfg.DatabaseURL.Value(), poolConfig(cfg, tracer))
	if err != nil {
		return nil, fmt.Errorf("ONBOARDING_DATABASE_URL: %w", err)
	}
	return pool, nil
}

// poolConfig is the pool the configuration asks for.
func poolConfig(cfg config.Config, tracer pgx.QueryTracer) postgres.PoolConfig {
	return postgres.PoolConfig{
		MaxConns:        cfg.DBMaxConns,
		MinConns:        cfg.DBMinConns,
		MaxConnLifetime: cfg.DBMaxConnLifetime,
		ConnectTimeout:  cfg.DBConnectTimeout,
		Tracer:          tracer,
	}
}

// redisCaches are the Redis-backed consent-text cache and OTP guard.
type redisCaches struct {
	texts *redisadapter.ConsentTextCache
	guard *redisadapter.OTPGuard
	dep   telemetry.Dependency
	close func()
}

// redisBreaker labels the Redis breaker in metrics.
const redisBreaker = "redis"

// openRedis builds the Redis client (traced without command text, with
// pool metrics), its breaker (state gauge and transition counter), the
// two-level consent cache in front of store (with its invalidation
// subscriber running until close; hit/miss/error counters) and the OTP
// guard (fallback counter). Redis is an optional dependency of readiness.
func openRedis(cfg config.Config, store ports.ConsentTextReader, clock ports.Clock, logger *slog.Logger,
	tel *telemetry.Telemetry, inst *apptelemetry.Instruments) (*redisCaches, error) {
	rdb, err := redisadapter.NewClient(cfg.RedisURL.Value(), redisadapter.ClientConfig{})
	if err != nil {
		return nil, fmt.Errorf("ONBOARDING_REDIS_URL: %w", err)
	}
	// Commands carry keys and values (cached texts, OTP hashes): never in
	// spans.
	// No caller attributes either: a stack walk per command for a file
	// path nobody queries. When spans are not recorded (no exporter) the
	// hook is left out: it builds its options before asking the tracer,
	// and Redis carries no trace context anyway.
	if tel.Recording() {
		if err := redisotel.InstrumentTracing(rdb, redisotel.WithTracerProvider(tel.TracerProvider()),
			redisotel.WithDBStatement(false), redisotel.WithCallerEnabled(false)); err != nil {
			_ = rdb.Close()
			return nil, fmt.Errorf("tracing Redis: %w", err)
		}
	}
	if err := redisotel.InstrumentMetrics(rdb, redisotel.WithMeterProvider(tel.MeterProvider()), redisotel.WithSemConvCompliantMetrics(true)); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("measuring Redis: %w", err)
	}
	goredis.SetLogger(redisadapter.Logger{L: logger})
	br := redisadapter.NewBreaker(redisadapter.BreakerConfig{
		Name: redisBreaker,
		OnStateChange: func(name string, from, to gobreaker.State) {
			logger.Warn("circuit breaker state changed", "breaker", name, "from", from.String(), "to", to.String())
			inst.BreakerChanged(name, to)
		},
	})
	inst.ObserveBreaker(redisBreaker, br.State)
	inst.DeclareRedisFallbacks("consent_text_cache", redisadapter.ConsentTextCacheFallbackOps()...)
	inst.DeclareRedisFallbacks("otp_guard", redisadapter.OTPGuardFallbackOps()...)
	l1 := cfg.ConsentL1TTL
	if l1 == 0 {
		l1 = -1
	}
	var readErrors atomic.Uint64
	co := redisadapter.NewCoalescer(rdb, cfg.RedisLanes)
	// One prefix for the cache, its channel and the OTP guard: it is what
	// keeps deployments sharing a Redis apart and the replicas of one
	// together.
	texts := redisadapter.NewConsentTextCache(rdb, br, store, redisadapter.ConsentTextCacheConfig{
		KeyPrefix: cfg.RedisKeyPrefix, Coalescer: co, TTL: cfg.RedisCacheTTL, L1TTL: l1, L1MaxEntries: cfg.ConsentL1Entries, Clock: clock, Logger: logger,
		OnFallback: func(op string, _ error) {
			if op == "read" {
				readErrors.Add(1)
			}
			inst.RedisFallback("consent_text_cache", op)
		},
	})
	if err := inst.ObserveConsentTextCache(func() apptelemetry.CacheCounts {
		s := texts.Stats()
		return apptelemetry.CacheCounts{
			HasL1: l1 > 0, L1Hits: s.L1Hits, L1Misses: s.L1Misses,
			HasL2: true, L2Hits: s.L2Hits, L2Misses: s.L2Misses, L2Errors: readErrors.Load(),
			L2Tampered: s.Rejected.Tampered, L2Unreadable: s.Rejected.Unreadable,
		}
	}); err != nil {
		_ = rdb.Close()
		return nil, err
	}
	if err := inst.ObserveRedisCoalescer(func() apptelemetry.CoalescerCounts {
		s := co.Stats()
		return apptelemetry.CoalescerCounts{RoundTrips: s.RoundTrips, Commands: s.Commands, Waiting: s.Waiting}
	}); err != nil {
		_ = rdb.Close()
		return nil, err
	}
	guard := redisadapter.NewOTPGuard(rdb, br, redisadapter.OTPGuardConfig{
		KeyPrefix: cfg.RedisKeyPrefix, Coalescer: co, Clock: clock, Logger: logger,
		OnFallback: func(op string, _ error) { inst.RedisFallback("otp_guard", op) },
	})
	if err := inst.ObserveOTPOwedOutcomes(func() int64 { return guard.Stats().Owed }); err != nil {
		_ = rdb.Close()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done, settled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		if err := texts.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
			logger.Error("consent-text invalidation subscriber stopped", "err", err)
		}
	}()
	go func() {
		defer close(settled)
		_ = guard.Run(runCtx) // writes OTP outcomes owed to Redis; returns nil when runCtx ends
	}()
	return &redisCaches{
		texts: texts, guard: guard,
		dep: telemetry.Dependency{Name: "redis", Ping: redisadapter.NewPinger(rdb, br).Ping},
		close: func() {
			cancel()
			<-done
			<-settled
			_ = rdb.Close()
		},
	}, nil
}

// memoryAdapters is the embedded default: everything in process, seeded
// with the demo data unless ONBOARDING_DEMO_DATA=false. Nothing to ping.
func memoryAdapters(cfg config.Config, clock ports.Clock, ids ports.IDGenerator) (adapters, error) {
	if cfg.DemoData {
		d, err := memory.NewDemo(clock, ids, cfg.MemoryMaxRecords)
		if err != nil {
			return adapters{}, fmt.Errorf("seeding the demo data: %w", err)
		}
		return adapters{
			registry: d.Registry, texts: d.ConsentTexts, ledger: d.Ledger, servings: d.Servings,
			decisions: d.Decisions, reviews: d.Decisions, dedupe: d.OTPGuard, throttle: d.OTPGuard, events: d.Events,
		}, nil
	}
	decisions, guard := memory.NewDecisionStoreLimit(cfg.MemoryMaxRecords), memory.NewOTPGuard(clock)
	return adapters{
		registry: memory.NewClientRegistry(ids), texts: memory.NewConsentTextStore(clock),
		ledger: memory.NewConsentLedgerLimit(clock, cfg.MemoryMaxRecords), servings: memory.NewConsentServingsLimit(cfg.MemoryMaxRecords),
		decisions: decisions, reviews: decisions, dedupe: guard, throttle: guard, events: memory.NewProcessEventsLimit(cfg.MemoryMaxRecords),
	}, nil
}

// smsBreaker labels the SMS gateway's breaker in metrics, whichever
// gateway is configured.
const smsBreaker = "sms"

// smsSender builds the sender ONBOARDING_SMS_PROVIDER names. A real
// gateway's HTTP client is traced and measured (otelhttp: client spans and
// http.client.request.duration) and propagates only the W3C trace context,
// never baggage, to the gateway; its breaker feeds the state gauge.
func smsSender(cfg config.Config, logger *slog.Logger, tel *telemetry.Telemetry, inst *apptelemetry.Instruments) (ports.SMSSender, error) {
	sc, err := cfg.SMS()
	if err != nil {
		return nil, err
	}
	sender, err := sms.NewSender(sc, sms.Options{
		Logger: logger,
		Client: smsHTTPClient(sc.Resilience.MaxConcurrency, tel),
		OnStateChange: func(_ string, _, to gobreaker.State) {
			inst.BreakerChanged(smsBreaker, to)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("ONBOARDING_SMS_PROVIDER=%s: %w", cfg.SMSProvider, err)
	}
	if r, ok := sender.(*sms.Resilient); ok {
		inst.ObserveBreaker(smsBreaker, r.State)
	}
	return sender, nil
}

// smsHTTPClient is the gateways' client: a transport sized like the
// sender's own default (idle connections for every concurrent send),
// wrapped in otelhttp. Timeouts are the sender's, per attempt.
func smsHTTPClient(maxConns int, tel *telemetry.Telemetry) *http.Client {
	if maxConns <= 0 {
		maxConns = sms.DefaultMaxConcurrency
	}
	var base *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		base = dt.Clone()
	} else {
		base = &http.Transport{Proxy: http.ProxyFromEnvironment}
	}
	base.MaxIdleConnsPerHost = max(maxConns, 2)
	base.IdleConnTimeout = 90 * time.Second
	// The instrumentation sees the URL with its query values redacted: a
	// webhook URL may carry an API key there.
	return &http.Client{Transport: apptelemetry.HideURLQuery(base, func(next http.RoundTripper) http.RoundTripper {
		return otelhttp.NewTransport(next,
			otelhttp.WithTracerProvider(tel.TracerProvider()),
			otelhttp.WithMeterProvider(tel.MeterProvider()),
			otelhttp.WithPropagators(propagation.TraceContext{}),
		)
	})}
}

// otpHashKey is the HMAC key of the OTP dedupe hash. Without
// ONBOARDING_OTP_HASH_KEY a random key per process is used: fine for one
// replica, but replicas sharing Redis need the same key to dedupe a retry
// that lands on another pod.
func otpHashKey(cfg config.Config, logger *slog.Logger) ([]byte, error) {
	if cfg.OTPHashKey != "" {
		return []byte(cfg.OTPHashKey.Value()), nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generating the OTP hash key: %w", err)
	}
	if cfg.RedisURL != "" {
		logger.Warn("ONBOARDING_OTP_HASH_KEY is not set: each replica hashes OTP codes with its own random key, so a re-sent code that reaches another replica is not deduplicated")
	}
	return key, nil
}
