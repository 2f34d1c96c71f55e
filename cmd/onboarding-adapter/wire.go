package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/adapters/postgres"
	redisadapter "github.com/bankkit/onboarding-adapter/adapters/redis"
	"github.com/bankkit/onboarding-adapter/adapters/sms"
	"github.com/bankkit/onboarding-adapter/cmd/onboarding-adapter/internal/config"
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
// readiness check and what must be closed on shutdown.
type app struct {
	services httptransport.Services
	reviews  ports.ReviewService
	ready    func(ctx context.Context) error
	closers  []func()
	storage  string
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
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
	ready     func(ctx context.Context) error
}

// build wires config -> adapters -> domain services, in the fixed order of
// STYLE.md: storage, caches, SMS, services.
func build(ctx context.Context, cfg config.Config, pol policy.Policy, logger *slog.Logger) (*app, error) {
	a := &app{}
	ok := false
	defer func() {
		if !ok {
			a.close()
		}
	}()
	clock := memory.SystemClock{}
	ids := memory.NewRandomIDs()

	var ad adapters
	if cfg.DatabaseURL != "" {
		pool, err := openPool(ctx, cfg)
		if err != nil {
			return nil, err
		}
		a.closers = append(a.closers, pool.Close)
		if cfg.MigrateAtStart {
			if err := postgres.Migrate(ctx, pool, logger); err != nil {
				return nil, fmt.Errorf("migrating at start: %w", err)
			}
		}
		st := postgres.New(pool, clock, ids)
		guard := memory.NewOTPGuard(clock)
		ad = adapters{
			registry: st.Registry, texts: st.ConsentTexts, ledger: st.Ledger, servings: st.Servings,
			decisions: st.Decisions, reviews: st.Decisions, dedupe: guard, throttle: guard, events: st.Events,
			ready: st.Health.Ping,
		}
		a.storage = "postgres"
	} else {
		var err error
		if ad, err = memoryAdapters(cfg, clock, ids); err != nil {
			return nil, err
		}
		a.storage = "memory"
	}
	a.ready = ad.ready

	texts := ad.texts
	if cfg.RedisURL != "" {
		rc, err := openRedis(cfg, ad.texts, clock, logger)
		if err != nil {
			return nil, err
		}
		a.closers = append(a.closers, rc.close)
		texts, ad.dedupe, ad.throttle = rc.texts, rc.guard, rc.guard
		a.storage += "+redis"
	} else if cfg.ConsentL1TTL > 0 {
		texts = memory.NewConsentTextCache(ad.texts, cfg.ConsentL1TTL, cfg.ConsentL1Entries, clock)
	}

	sender, err := smsSender(cfg, logger)
	if err != nil {
		return nil, err
	}
	key, err := otpHashKey(cfg, logger)
	if err != nil {
		return nil, err
	}
	a.services = httptransport.Services{
		Lookup:     lookup.New(ad.registry, ad.ledger, texts, pol.Lookup, pol.Consent),
		Approval:   approval.New(ad.decisions, ad.registry, clock, ids, pol.Decision),
		Evaluation: evaluation.New(ad.decisions, ad.registry, clock, ids, pol.Decision, pol.Evaluation),
		OTP:        otp.New(ad.registry, ad.dedupe, ad.throttle, sender, key, pol.OTP),
		Consent:    consent.New(texts, ad.servings, ad.ledger, clock, pol.Consent),
		Events:     events.New(ad.events, clock),
	}
	a.reviews = review.New(ad.reviews, clock, pol.Review)
	ok = true
	return a, nil
}

// openPool connects the PostgreSQL pool with the configured limits. It does
// not wait for the database: readiness reports it until it answers.
func openPool(ctx context.Context, cfg config.Config) (*pgxpool.Pool, error) {
	pool, err := postgres.NewPool(ctx, cfg.DatabaseURL.Value(), postgres.PoolConfig{
		MaxConns:        cfg.DBMaxConns,
		MinConns:        cfg.DBMinConns,
		MaxConnLifetime: cfg.DBMaxConnLifetime,
		ConnectTimeout:  cfg.DBConnectTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("ONBOARDING_DATABASE_URL: %w", err)
	}
	return pool, nil
}

// redisCaches are the Redis-backed consent-text cache and OTP guard.
type redisCaches struct {
	texts *redisadapter.ConsentTextCache
	guard *redisadapter.OTPGuard
	close func()
}

// openRedis builds the Redis client, its breaker, the two-level consent
// cache in front of store (with its invalidation subscriber running until
// close) and the OTP guard.
func openRedis(cfg config.Config, store ports.ConsentTextReader, clock ports.Clock, logger *slog.Logger) (*redisCaches, error) {
	rdb, err := redisadapter.NewClient(cfg.RedisURL.Value(), redisadapter.ClientConfig{})
	if err != nil {
		return nil, fmt.Errorf("ONBOARDING_REDIS_URL: %w", err)
	}
	goredis.SetLogger(redisadapter.Logger{L: logger})
	br := redisadapter.NewBreaker(redisadapter.BreakerConfig{
		OnStateChange: func(name string, from, to gobreaker.State) {
			logger.Warn("circuit breaker state changed", "breaker", name, "from", from.String(), "to", to.String())
		},
	})
	l1 := cfg.ConsentL1TTL
	if l1 == 0 {
		l1 = -1
	}
	texts := redisadapter.NewConsentTextCache(rdb, br, store, redisadapter.ConsentTextCacheConfig{
		TTL: cfg.RedisCacheTTL, L1TTL: l1, L1MaxEntries: cfg.ConsentL1Entries, Clock: clock, Logger: logger,
	})
	guard := redisadapter.NewOTPGuard(rdb, br, redisadapter.OTPGuardConfig{Clock: clock, Logger: logger})
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := texts.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
			logger.Error("consent-text invalidation subscriber stopped", "err", err)
		}
	}()
	return &redisCaches{texts: texts, guard: guard, close: func() {
		cancel()
		<-done
		_ = rdb.Close()
	}}, nil
}

// memoryAdapters is the embedded default: everything in process, seeded
// with the demo data unless ONBOARDING_DEMO_DATA=false.
func memoryAdapters(cfg config.Config, clock ports.Clock, ids ports.IDGenerator) (adapters, error) {
	if cfg.DemoData {
		d, err := memory.NewDemo(clock, ids)
		if err != nil {
			return adapters{}, fmt.Errorf("seeding the demo data: %w", err)
		}
		return adapters{
			registry: d.Registry, texts: d.ConsentTexts, ledger: d.Ledger, servings: d.Servings,
			decisions: d.Decisions, reviews: d.Decisions, dedupe: d.OTPGuard, throttle: d.OTPGuard, events: d.Events,
			ready: func(context.Context) error { return nil },
		}, nil
	}
	decisions, guard := memory.NewDecisionStore(), memory.NewOTPGuard(clock)
	return adapters{
		registry: memory.NewClientRegistry(ids), texts: memory.NewConsentTextStore(clock),
		ledger: memory.NewConsentLedger(clock), servings: memory.NewConsentServings(),
		decisions: decisions, reviews: decisions, dedupe: guard, throttle: guard, events: memory.NewProcessEvents(),
		ready: func(context.Context) error { return nil },
	}, nil
}

// smsSender builds the sender ONBOARDING_SMS_PROVIDER names.
func smsSender(cfg config.Config, logger *slog.Logger) (ports.SMSSender, error) {
	sc, err := cfg.SMS()
	if err != nil {
		return nil, err
	}
	sender, err := sms.NewSender(sc, sms.Options{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("ONBOARDING_SMS_PROVIDER=%s: %w", cfg.SMSProvider, err)
	}
	return sender, nil
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
