package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/bankkit/onboarding-adapter/cmd/onboarding-adapter/internal/config"
	"github.com/bankkit/onboarding-adapter/domain/policy"
	httptransport "github.com/bankkit/onboarding-adapter/transport/http"
)

// errDraining is the readiness answer once shutdown has begun, so the load
// balancer stops sending before the listener closes.
var errDraining = errors.New("shutting down")

// serve runs the API and admin listeners until ctx ends (SIGTERM/SIGINT),
// then turns readiness false, drains in-flight requests within
// ONBOARDING_SHUTDOWN_TIMEOUT and closes the adapters.
func serve(ctx context.Context, cfg config.Config, pol policy.Policy, logger *slog.Logger) error {
	started := time.Now()
	logger.Info("starting", "config", cfg)
	app, err := build(ctx, cfg, pol, logger)
	if err != nil {
		return err
	}
	defer app.close()

	var draining atomic.Bool
	ready := func(ctx context.Context) error {
		if draining.Load() {
			return errDraining
		}
		return app.ready(ctx)
	}
	api, err := httptransport.NewHandler(app.services, httptransport.Config{
		BasePath:          cfg.BasePath,
		Credentials:       credentials(cfg),
		CorrelationHeader: cfg.CorrelationHeader,
		RequestIDHeader:   cfg.RequestIDHeader,
		RequestTimeout:    cfg.RequestTimeout,
		MaxBodyBytes:      cfg.MaxBodyBytes,
		MaxImageBodyBytes: cfg.MaxImageBodyBytes,
		Logger:            logger,
	})
	if err != nil {
		return fmt.Errorf("building the API handler: %w", err)
	}
	admin := httptransport.NewAdminHandler(httptransport.AdminConfig{Ready: ready, Logger: logger})

	apiLn, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("ONBOARDING_HTTP_ADDR: %w", err)
	}
	adminLn, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		apiLn.Close()
		return fmt.Errorf("ONBOARDING_ADMIN_ADDR: %w", err)
	}
	apiSrv := httptransport.NewServer(cfg.HTTPAddr, api, httptransport.ServerConfig{})
	adminSrv := httptransport.NewServer(cfg.AdminAddr, admin, httptransport.ServerConfig{})
	errc := make(chan error, 2)
	go func() { errc <- apiSrv.Serve(apiLn) }()
	go func() { errc <- adminSrv.Serve(adminLn) }()
	logger.Info("listening", "api_addr", apiLn.Addr().String(), "admin_addr", adminLn.Addr().String(),
		"storage", app.storage, "startup_ms", time.Since(started).Milliseconds())

	var serveErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			serveErr = fmt.Errorf("listener failed: %w", err)
		}
	}
	draining.Store(true)
	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := apiSrv.Shutdown(sctx); err != nil {
		logger.Error("API listener did not drain in time", "err", err)
		serveErr = errors.Join(serveErr, err)
	}
	if err := adminSrv.Shutdown(sctx); err != nil {
		serveErr = errors.Join(serveErr, err)
	}
	logger.Info("stopped")
	return serveErr
}

// credentials lists the accepted Basic Auth pairs: the current one and,
// during a rotation, the next one.
func credentials(cfg config.Config) []httptransport.Credential {
	var cs []httptransport.Credential
	if cfg.BasicAuthUsername != "" {
		cs = append(cs, httptransport.Credential{Username: cfg.BasicAuthUsername, Password: cfg.BasicAuthPassword.Value()})
	}
	if cfg.BasicAuthNextUser != "" {
		cs = append(cs, httptransport.Credential{Username: cfg.BasicAuthNextUser, Password: cfg.BasicAuthNextPass.Value()})
	}
	return cs
}
