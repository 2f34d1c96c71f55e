package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	redisadapter "github.com/bankkit/onboarding-adapter/adapters/redis"
	apptelemetry "github.com/bankkit/onboarding-adapter/adapters/telemetry"
	"github.com/bankkit/onboarding-adapter/cmd/onboarding-adapter/internal/config"
	"github.com/bankkit/onboarding-adapter/cmd/onboarding-adapter/internal/telemetry"
)

// checkFlushTimeout bounds the telemetry shutdown of check: it has
// recorded nothing, so there is nothing to export.
const checkFlushTimeout = time.Second

// runCheck does what serve does with the configuration before it opens a
// connection or a listener, and stops there: the telemetry settings, the
// database and Redis URLs and pool settings, the SMS gateway (its body
// template, headers and URL), the OTP hash key and the reviewer accounts,
// after config.Load and the policy file have been checked by the caller.
// A bank's pipeline (and this project's chart tests) can so refuse values
// that would crash-loop every pod, without a cluster and without the
// database. It prints one line naming the storage and the SMS gateway.
func runCheck(ctx context.Context, cfg config.Config, environ map[string]string, logger *slog.Logger, stdout io.Writer) error {
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
	inst, err := apptelemetry.New(tel.TracerProvider(), tel.MeterProvider())
	if err != nil {
		return err
	}
	storage := "memory"
	if cfg.DatabaseURL != "" {
		// pgxpool connects lazily: this parses the URL and the pool
		// settings, as serve's first step does, and connects to nothing.
		pool, err := openPool(ctx, cfg)
		if err != nil {
			return err
		}
		pool.Close()
		storage = "postgres"
	} else if _, err := memoryAdapters(cfg, memory.SystemClock{}, memory.NewRandomIDs()); err != nil {
		return err
	}
	if cfg.RedisURL != "" {
		rdb, err := redisadapter.NewClient(cfg.RedisURL.Value(), redisadapter.ClientConfig{})
		if err != nil {
			return fmt.Errorf("ONBOARDING_REDIS_URL: %w", err)
		}
		_ = rdb.Close() // never dialled
		storage += "+redis"
	}
	if _, err := smsSender(cfg, logger, tel, inst); err != nil {
		return err
	}
	if _, err := otpHashKey(cfg, logger); err != nil {
		return err
	}
	if _, err := configuredReviewers(cfg); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "configuration valid: storage %s, SMS gateway %s\n", storage, cfg.SMSProvider)
	return err
}
