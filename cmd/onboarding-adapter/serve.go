package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	apptelemetry "github.com/bankkit/onboarding-adapter/adapters/telemetry"
	"github.com/bankkit/onboarding-adapter/cmd/onboarding-adapter/internal/config"
	"github.com/bankkit/onboarding-adapter/cmd/onboarding-adapter/internal/gcfloor"
	"github.com/bankkit/onboarding-adapter/cmd/onboarding-adapter/internal/telemetry"
	"github.com/bankkit/onboarding-adapter/domain/policy"
	reviewadmin "github.com/bankkit/onboarding-adapter/transport/admin"
	httptransport "github.com/bankkit/onboarding-adapter/transport/http"
)

// serviceName is service.name unless OTEL_SERVICE_NAME says otherwise.
const serviceName = "onboarding-adapter"

// telemetryFlushTimeout bounds the export of the last spans at exit, after
// the listeners have drained.
const telemetryFlushTimeout = 5 * time.Second

// adapterCloseTimeout bounds closing the adapters at exit (writing the
// queued consent servings and OTP outcomes, closing the pools), after the
// drain and before the telemetry flush. With a database that hangs, a
// background batch waits out its own 30 s and the pool waits for its
// connections, so the kubelet's grace period would end first and the
// spans of the incident would be lost. Every answered request's durable
// write committed before its answer; what is left are hints.
const adapterCloseTimeout = 5 * time.Second

// pprofWriteTimeout lets the admin listener stream a CPU profile or trace
// when ONBOARDING_PPROF_ENABLED is on: pprof refuses a ?seconds= that is
// not below the write timeout, so up to 64 s.
const pprofWriteTimeout = 65 * time.Second

// serve runs the API and admin listeners until ctx ends (SIGTERM/SIGINT),
// then turns readiness false, keeps serving for ONBOARDING_SHUTDOWN_DELAY,
// closes the API listener and drains in-flight requests within
// ONBOARDING_SHUTDOWN_TIMEOUT (the admin listener keeps answering /readyz
// 503 meanwhile), closes the adapters and flushes telemetry.
func serve(ctx context.Context, cfg config.Config, pol policy.Policy, environ map[string]string, logger *slog.Logger) error {
	started := time.Now()
	// The OTEL_* variables are standard and not ONBOARDING_*: read from the
	// process environment, which is what the SDK's own defaults (the
	// batch processor, OTLP certificates) read too.
	tel, err := telemetry.Setup(ctx, telemetry.Config{
		ServiceName: serviceName, Version: version, Environ: environ, Logger: logger,
	})
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	defer func() {
		fctx, cancel := context.WithTimeout(context.Background(), telemetryFlushTimeout)
		defer cancel()
		if err := tel.Shutdown(fctx); err != nil {
			logger.Warn("telemetry not flushed", "error", err)
		}
	}()
	logger.Info("starting", "config", cfg, "telemetry", tel)
	warnTransports(cfg, environ, logger)
	app, err := build(ctx, cfg, pol, logger, tel)
	if err != nil {
		return err
	}
	defer closeWithin(app.close, adapterCloseTimeout, logger)

	readiness := telemetry.NewReadiness(logger, app.deps...)
	if err := tel.ObserveReadiness(readiness); err != nil {
		return err
	}
	api, reviewUI, err := routes(app, cfg, pol, logger, tel)
	if err != nil {
		return err
	}
	// From here on, after the start-up's own allocations, so the idle
	// heap stays what they left.
	floor := gcfloor.Start(uint64(cfg.GCHeapFloor))
	defer floor.Stop()
	extra := map[string]http.Handler{"GET /metrics": tel.MetricsHandler()}
	maps.Copy(extra, reviewUI)
	admin := httptransport.NewAdminHandler(httptransport.AdminConfig{Ready: readiness.Check, Logger: logger, Extra: extra})

	apiLn, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("ONBOARDING_HTTP_ADDR: %w", err)
	}
	adminLn, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		apiLn.Close()
		return fmt.Errorf("ONBOARDING_ADMIN_ADDR: %w", err)
	}
	apiSrv := httptransport.NewServer(cfg.HTTPAddr, api, httptransport.ServerConfig{Logger: logger})
	adminSrvCfg := httptransport.ServerConfig{Logger: logger}
	if cfg.Pprof {
		// A CPU profile or trace streams for ?seconds= (30 by default).
		adminSrvCfg.WriteTimeout = pprofWriteTimeout
	}
	adminSrv := httptransport.NewServer(cfg.AdminAddr, admin, adminSrvCfg)
	// Admin requests end when the process stops: a profile being taken
	// must not hold the shutdown for its 30 s.
	adminCtx, stopAdmin := context.WithCancel(context.Background())
	defer stopAdmin()
	adminSrv.BaseContext = func(net.Listener) context.Context { return adminCtx }
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
	// Readiness turns false first; with a delay the API keeps serving
	// while load balancers see it, and only then does the listener close.
	readiness.Drain()
	if cfg.ShutdownDelay > 0 && serveErr == nil {
		logger.Info("not ready, serving until the shutdown delay ends", "delay", cfg.ShutdownDelay.String())
		time.Sleep(cfg.ShutdownDelay)
	}
	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := apiSrv.Shutdown(sctx); err != nil {
		logger.Error("API listener did not drain in time", "err", err)
		serveErr = errors.Join(serveErr, err)
	}
	stopAdmin()
	if err := adminSrv.Shutdown(sctx); err != nil {
		serveErr = errors.Join(serveErr, err)
	}
	logger.Info("stopped")
	return serveErr
}

// routes builds what the listeners serve from app: the API handler and the
// review pages and API of the admin listener. check builds them too, on
// in-memory adapters, so it refuses what serve would (reviewer accounts,
// the API's settings).
func routes(app *app, cfg config.Config, pol policy.Policy, logger *slog.Logger, tel *telemetry.Telemetry) (http.Handler, map[string]http.Handler, error) {
	api, err := newAPIHandler(app.services, cfg, logger, tel)
	if err != nil {
		return nil, nil, err
	}
	reviewers, err := configuredReviewers(cfg)
	if err != nil {
		return nil, nil, err
	}
	failures := cfg.AdminLoginFailures
	if failures == 0 {
		failures = -1 // off
	}
	reviewUI, err := reviewRoutes(app.reviews, reviewPolicy(pol.Review, cfg.ReviewRetention, cfg.ReviewRequireClaim, cfg.ReviewFourEyes),
		reviewadmin.Config{Users: reviewers, Profiling: cfg.Pprof, CSRFSecret: csrfSecret(cfg.OTPHashKey.Value()),
			LoginFailures: failures, LoginRefill: cfg.AdminLoginRefill}, logger)
	if err != nil {
		return nil, nil, err
	}
	return api, reviewUI, nil
}

// newAPIHandler is the API as served: the transport with the endpoint
// telemetry middleware, wrapped once in the server middleware of
// adapters/telemetry (otelhttp's conventions at a fraction of its cost),
// which continues the caller's traceparent, names the server span after
// the route and records http.server.request.duration. It must wrap the
// transport's handler directly (see the transport's package doc).
func newAPIHandler(services httptransport.Services, cfg config.Config, logger *slog.Logger, tel *telemetry.Telemetry) (http.Handler, error) {
	endpointMW, err := httptransport.EndpointTelemetry(tel.TracerProvider(), tel.MeterProvider())
	if err != nil {
		return nil, err
	}
	api, err := httptransport.NewHandler(services, httptransport.Config{
		BasePath:             cfg.BasePath,
		Credentials:          credentials(cfg),
		CorrelationHeader:    cfg.CorrelationHeader,
		RequestIDHeader:      cfg.RequestIDHeader,
		RequestTimeout:       cfg.RequestTimeout,
		MaxBodyBytes:         cfg.MaxBodyBytes,
		MaxImageBodyBytes:    cfg.MaxImageBodyBytes,
		MaxInFlight:          cfg.MaxInFlight,
		MaxInFlightBodyBytes: bodyBudget(cfg.MaxInFlightBodyBytes, debug.SetMemoryLimit(-1)),
		Logger:               logger,
		EndpointMiddleware:   endpointMW,
	})
	if err != nil {
		return nil, fmt.Errorf("building the API handler: %w", err)
	}
	server, err := apptelemetry.NewHTTPServer(apptelemetry.HTTPServerConfig{
		TracerProvider: tel.TracerProvider(), MeterProvider: tel.MeterProvider(), Propagator: tel.Propagator(),
	})
	if err != nil {
		return nil, err
	}
	return server(api), nil
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

// closeWithin runs closeAll and returns when it has, or after bound with a
// warning, leaving it to the process's exit.
func closeWithin(closeAll func(), bound time.Duration, logger *slog.Logger) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		closeAll()
	}()
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		logger.Warn("adapters not closed within the bound: exiting without them; queued consent servings and OTP outcomes not yet written are lost",
			"bound", bound.String())
	}
}

// bodyBudget is the configured body budget, or by default half of the Go
// memory limit (memLimit, as debug.SetMemoryLimit(-1) reads it; the chart
// sets GOMEMLIMIT to 90% of the container's) when one is set: bodies then
// cannot take the heap past it, whatever the images' sizes. Without a limit,
// the transport's default.
func bodyBudget(configured, memLimit int64) int64 {
	switch {
	case configured > 0:
		return configured
	case memLimit > 0 && memLimit < math.MaxInt64:
		return max(memLimit/2, 1<<20)
	}
	return httptransport.DefaultMaxInFlightBodyBytes
}
