package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/postgres"
	redisadapter "github.com/bankkit/onboarding-adapter/adapters/redis"
	"github.com/bankkit/onboarding-adapter/cmd/onboarding-adapter/internal/config"
	"github.com/bankkit/onboarding-adapter/cmd/onboarding-adapter/internal/telemetry"
	"github.com/bankkit/onboarding-adapter/domain/policy"
)

// checkFlushTimeout bounds the telemetry shutdown of check: it has
// recorded nothing, so there is nothing to export.
const checkFlushTimeout = time.Second

// runCheck does what serve does with the configuration before it listens,
// without a connection: the telemetry settings; the database and Redis
// URLs and pool settings, parsed only (no pool is opened, so nothing dials
// even in the background); then the same wiring and routes as serve, on
// in-memory adapters in place of PostgreSQL and Redis: the SMS gateway
// (its body template, headers and URL), the OTP hash key, the API's
// settings and the reviewer accounts. config.Load and the policy file were
// checked by the caller. A bank's pipeline (and this project's chart tests)
// can so refuse values that would crash-loop every pod, without a cluster
// and without the database. It prints one line naming the storage and the
// SMS gateway.
func runCheck(ctx context.Context, cfg config.Config, pol policy.Policy, environ map[string]string, logger *slog.Logger, stdout io.Writer) error {
	tel, err := telemetry.Setup(ctx, telemetry.Config{
		ServiceName: serviceName, Version: version, Environ: environ, Logger: logger,
	})
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	defer func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), checkFlushTimeout)
		defer cancel()
		_ = tel.Shutdown(fctx) // nothing was recorded: nothing to lose
	}()
	storage := "memory"
	if cfg.DatabaseURL != "" {
		if _, err := postgres.ParsePoolConfig(cfg.DatabaseURL.Value(), poolConfig(cfg, nil)); err != nil {
			return fmt.Errorf("ONBOARDING_DATABASE_URL: %w", err)
		}
		storage = "postgres"
	}
	if cfg.RedisURL != "" {
		rdb, err := redisadapter.NewClient(cfg.RedisURL.Value(), redisadapter.ClientConfig{})
		if err != nil {
			return fmt.Errorf("ONBOARDING_REDIS_URL: %w", err)
		}
		_ = rdb.Close() // go-redis dials on the first command: never here
		storage += "+redis"
	}
	warnTransports(cfg, environ, logger)
	inMemory := cfg
	inMemory.DatabaseURL, inMemory.RedisURL = "", ""
	app, err := build(ctx, inMemory, pol, logger, tel)
	if err != nil {
		return err
	}
	defer app.close()
	if _, _, err := routes(app, cfg, pol, logger, tel); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "configuration valid: storage %s, SMS gateway %s\n", storage, cfg.SMSProvider)
	return err
}

// warnTransports logs, once at start, each connection to another host the
// configuration leaves without verified TLS (config.TransportWarnings),
// naming the variable and never its value.
func warnTransports(cfg config.Config, environ map[string]string, logger *slog.Logger) {
	for _, w := range cfg.TransportWarnings(environ["PGSSLMODE"], environ["PGHOST"]) {
		logger.Warn("connection without verified TLS", "variable", w.Variable, "problem", w.Problem)
	}
}
