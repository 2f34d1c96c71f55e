// Command onboarding-adapter serves the External Onboarding Services that
// the Onboarding Server calls, and carries the operator subcommands
// (check, migrate, seed, consent publish and history, review, purge, healthcheck,
// policy, version).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	// The zone database in the binary: the container image has none, and
	// the policy's evaluation.timeZone names one (Europe/Prague).
	_ "time/tzdata"

	apptelemetry "github.com/bankkit/onboarding-adapter/adapters/telemetry"
	"github.com/bankkit/onboarding-adapter/cmd/onboarding-adapter/internal/config"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `usage: onboarding-adapter [command]

commands:
  serve                 run the API and admin listeners (the default)
  check                 validate the configuration and the policy as serve would, connecting to nothing
  migrate [--timeout 2m] [--grant-to ROLE] [up|status]
                        apply the embedded database migrations (safe to run from several pods at once);
                        --grant-to gives ROLE, the role serve connects as, exactly the service's privileges
  seed [--synthetic-clients N] [--random-seed S]
                        load the demo data into PostgreSQL (idempotent), optionally N generated clients
  consent publish --type T --language L --file F.html
                        publish a new consent text version and invalidate the caches
  consent history --user U [--type T] [--limit N] [--json]
                        a user's consent records, oldest first, with the text each names and how it was chosen
  review list|show|claim|resolve ...
                        work the review queue in PostgreSQL without a browser (review help for the flags)
  purge [--retention D] [--timeout 2m]
                        drop the evidence of review cases resolved longer ago than the retention (a CronJob)
  healthcheck [--path /readyz | --url U] [--timeout D]
                        exit 0 when the local admin path (default /readyz) or the URL answers 200
  policy                print the default policy as YAML, a starting point for ONBOARDING_POLICY_FILE
  version               print the version
  help                  print this text

Configuration comes from ONBOARDING_* environment variables (see README.md).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:], config.Environ(os.Environ()), os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprint(os.Stderr, usage)
		}
		fmt.Fprintln(os.Stderr, "onboarding-adapter:", err)
		os.Exit(1)
	}
}

// usageError marks a command line the program does not understand.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// run dispatches the subcommand; everything it needs comes in as arguments
// so tests can drive it without touching process state.
func run(ctx context.Context, args []string, environ map[string]string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		if len(args) > 0 {
			return usageError{fmt.Sprintf("serve takes no arguments, got %q", args)}
		}
		e, err := loadEnv(environ, stdout, stderr)
		if err != nil {
			return err
		}
		return serve(ctx, e.cfg, e.pol, environ, e.logger)
	case "check":
		if len(args) > 0 {
			return usageError{fmt.Sprintf("check takes no arguments, got %q", args)}
		}
		e, err := loadEnv(environ, stdout, stderr)
		if err != nil {
			return err
		}
		return runCheck(ctx, e.cfg, e.pol, environ, e.logger, stdout)
	case "migrate", "seed", "consent", "review", "purge":
		e, err := loadEnv(environ, stdout, stderr)
		if err != nil {
			return err
		}
		switch cmd {
		case "migrate":
			return runMigrate(ctx, e, args)
		case "seed":
			return runSeed(ctx, e, args)
		case "review":
			return runReview(ctx, e, args, reviewPolicy(e.pol.Review, e.cfg.ReviewRetention, e.cfg.ReviewRequireClaim, e.cfg.ReviewFourEyes))
		case "purge":
			return runPurge(ctx, e, args, reviewPolicy(e.pol.Review, e.cfg.ReviewRetention, e.cfg.ReviewRequireClaim, e.cfg.ReviewFourEyes))
		default:
			return runConsent(ctx, e, args)
		}
	case "healthcheck":
		return runHealthcheck(ctx, args, environ["ONBOARDING_ADMIN_ADDR"], stdout)
	case "policy":
		b, err := config.DefaultPolicyYAML()
		if err != nil {
			return err
		}
		_, err = stdout.Write(b)
		return err
	case "version":
		_, err := fmt.Fprintln(stdout, "onboarding-adapter", version)
		return err
	case "help", "-h", "--help":
		_, err := fmt.Fprint(stdout, usage)
		return err
	}
	return usageError{fmt.Sprintf("unknown command %q", cmd)}
}

// newLogger builds the process logger: JSON (or text for a terminal) on
// stderr at the configured level, with trace ids added and personal data
// redacted by key for every command.
func newLogger(cfg config.Config, w io.Writer) (*slog.Logger, error) {
	level, err := cfg.SlogLevel()
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if cfg.LogFormat == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(apptelemetry.NewLogHandler(h)).With("service", "onboarding-adapter", "version", version), nil
}
