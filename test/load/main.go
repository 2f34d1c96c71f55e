// Command load is the load harness of issue 10: it builds the service,
// starts it on the in-memory default and on PostgreSQL + Redis (a fresh
// scratch database with the demo data and a million synthetic clients),
// starts a bare net/http "ceiling" server (this same program, re-executed)
// and pgbench (one warmed-up process per scenario, stopped between its
// rounds), and measures every endpoint against them in interleaved
// rounds (A B C A B C …) with a closed-loop Go load generator: 32 keep-alive
// HTTP/1.1 connections, realistic bodies (real JPEGs, base64) and varied
// identities, so caches and indexes are exercised honestly.
//
// It prints per endpoint and target req/s, p50, p99, errors, the ratio to
// the ceiling (and to pgbench for the lookup and the durable writes) and the
// service's CPU seconds per 1,000 requests; per service mode the time to
// ready, idle and peak RSS; and which targets of issues 3, 4 and 10 are met.
// -out writes the same as markdown for docs/performance.md.
//
//	go run ./test/load -duration 5s -rounds 3 -out docs/performance-latest.md
//
// Everything it starts (processes, the scratch database, its Redis keys) is
// stopped or removed on exit, on Ctrl-C and on failure.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// config is the harness's command line.
type config struct {
	duration      time.Duration
	rounds        int
	warmup        time.Duration
	pgbenchWarmup time.Duration
	conns         int
	generator     string
	clients       int
	modes         []string
	scenarios     []string
	out           string
	pgURL         string
	redisURL      string
	pgbench       string
	readySamples  int
	l1off         bool
	keep          bool
	timeout       time.Duration
	identities    int
	strict        bool
	env           []string
	wiremock      bool
	wiremockJar   string
	// wiremockConfig is how the stub runs: wiremockShipped or wiremockTuned.
	wiremockConfig string
	// given is every flag set on the command line with its value as
	// parsed, by name, then -env once per value, for the report's Command
	// line.
	given []string

	// Child mode: serve the ceiling and nothing else.
	serveCeiling string
	responses    string
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "length of one measured window")
	fs.IntVar(&c.rounds, "rounds", 3, "interleaved rounds per endpoint and target")
	fs.DurationVar(&c.warmup, "warmup", 500*time.Millisecond, "unmeasured load on each target before an endpoint's first round")
	fs.DurationVar(&c.pgbenchWarmup, "pgbench-warmup", 10*time.Second, "unmeasured run of each pgbench before its first round (its fresh backends run slow until they have touched the shared buffers)")
	fs.IntVar(&c.conns, "conns", 32, "connections (closed-loop workers) of the load generator and pgbench clients")
	fs.StringVar(&c.generator, "generator", genFast, "the load generator's HTTP client: "+genFast+" (its workers do their own I/O) or "+genNetHTTP+" (the generator of the runs before 2026-11-27 23:34 UTC, which spends more CPU per request than the ceiling it drives)")
	fs.IntVar(&c.clients, "clients", 1_000_000, "synthetic clients seeded into the scratch database")
	modes := fs.String("modes", "memory,postgres", "service modes to measure: memory (in-memory default), postgres (PostgreSQL + Redis)")
	scen := fs.String("scenarios", "", "comma-separated scenario names to run (default: all; see -list)")
	list := fs.Bool("list", false, "list the scenarios and exit")
	fs.StringVar(&c.out, "out", "", "also write the report as markdown to this file")
	fs.StringVar(&c.pgURL, "pg", envOr("ONBOARDING_LOAD_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		"PostgreSQL DSN of a database to connect to for CREATE/DROP DATABASE (env ONBOARDING_LOAD_PG_URL)")
	fs.StringVar(&c.redisURL, "redis", envOr("ONBOARDING_LOAD_REDIS_URL", "redis://127.0.0.1:6379/13"),
		"Redis URL for the postgres mode; use a database number nobody else uses: its onboarding:* keys are deleted (env ONBOARDING_LOAD_REDIS_URL)")
	fs.StringVar(&c.pgbench, "pgbench", "", "pgbench binary (default: PATH, then /usr/lib/postgresql/*/bin/pgbench)")
	fs.IntVar(&c.readySamples, "ready-samples", 3, "starts per mode to measure the time to ready (median)")
	fs.BoolVar(&c.l1off, "l1off", true, "also measure /consent/text on PostgreSQL + Redis with the in-process L1 cache off")
	fs.BoolVar(&c.keep, "keep", false, "keep the scratch database (its name is printed)")
	fs.DurationVar(&c.timeout, "timeout", 15*time.Minute, "give up (and clean up) after this long")
	fs.IntVar(&c.identities, "identities", 20_000, "distinct synthetic clients sampled from the database for the requests")
	fs.BoolVar(&c.strict, "strict", false, "exit 1 when a target is not met")
	fs.BoolVar(&c.wiremock, "wiremock", true, "also measure the vendor's WireMock stub (needs java; installs wiremock@"+wiremockVersion+" from npm into the user cache once); skipped with a note when it cannot start")
	fs.StringVar(&c.wiremockJar, "wiremock-jar", "", "a WireMock standalone jar to use instead of the npm package")
	fs.StringVar(&c.wiremockConfig, "wiremock-config", wiremockShipped, "how the stub runs: "+wiremockShipped+
		" (as the vendor ships it: verbose logging, response templating, request journal on) or "+wiremockTuned+
		" (no journal, logging or templating: the fastest WireMock)")
	env := listFlag{}
	fs.Var(&env, "env", "extra KEY=VALUE for the service (repeatable), e.g. -env ONBOARDING_DB_MAX_CONNS=32")
	fs.StringVar(&c.serveCeiling, "serve-ceiling", "", "internal: serve the ceiling on this address")
	fs.StringVar(&c.responses, "responses", "", "internal: the ceiling's fixed answers (JSON: path -> body)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if *list {
		return c, errList
	}
	c.env = env
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "env":
			return // listed once per value below
		case "pg", "redis":
			c.given = append(c.given, "-"+f.Name+"="+shellQuote(redactURL(f.Value.String())))
		default:
			c.given = append(c.given, "-"+f.Name+"="+shellQuote(f.Value.String()))
		}
	})
	for _, e := range env {
		c.given = append(c.given, "-env", shellQuote(e))
	}
	c.modes = splitList(*modes)
	c.scenarios = splitList(*scen)
	switch {
	case c.serveCeiling != "":
		return c, nil
	case c.duration < time.Second:
		return c, errors.New("-duration must be at least 1s")
	case c.pgbenchWarmup <= 0:
		return c, errors.New("-pgbench-warmup must be positive (pgbench connects in it)")
	case c.rounds < 1:
		return c, errors.New("-rounds must be at least 1")
	case c.conns < 1:
		return c, errors.New("-conns must be at least 1")
	case c.clients < 1:
		return c, errors.New("-clients must be at least 1")
	case c.readySamples < 1:
		return c, errors.New("-ready-samples must be at least 1")
	case c.generator != genFast && c.generator != genNetHTTP:
		return c, fmt.Errorf("-generator: unknown %q (%s, %s)", c.generator, genFast, genNetHTTP)
	case c.wiremockConfig != wiremockShipped && c.wiremockConfig != wiremockTuned:
		return c, fmt.Errorf("-wiremock-config: unknown %q (%s, %s)", c.wiremockConfig, wiremockShipped, wiremockTuned)
	}
	for _, m := range c.modes {
		if m != modeMemory && m != modePostgres {
			return c, fmt.Errorf("-modes: unknown mode %q (memory, postgres)", m)
		}
	}
	if len(c.modes) == 0 {
		return c, errors.New("-modes: at least one mode")
	}
	known := map[string]bool{}
	for _, s := range scenarios() {
		known[s.name] = true
	}
	for _, s := range c.scenarios {
		if !known[s] {
			return c, fmt.Errorf("-scenarios: unknown scenario %q (see -list)", s)
		}
	}
	for _, e := range c.env {
		if !strings.Contains(e, "=") {
			return c, fmt.Errorf("-env %q: want KEY=VALUE", e)
		}
	}
	return c, nil
}

// errList asks run to print the scenarios and exit.
var errList = errors.New("list")

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// redactURL hides the password of a database or Redis URL (a keyword DSN,
// which is no URL, is hidden whole), so the report can be shared.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return "(redacted)"
	}
	return u.Redacted()
}

// shellQuote quotes s for a POSIX shell when it holds anything but
// letters, digits and -_./:=,@%+ so the report's command line can be
// pasted back.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@%+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func main() {
	os.Exit(run(os.Args[1:]))
}

// run returns the exit code; every deferred cleanup has run by then.
func run(args []string) int {
	cfg, err := parseFlags(args)
	if err != nil {
		switch {
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errList):
			for _, s := range scenarios() {
				fmt.Printf("%-16s %-18s %s\n", s.name, s.path, s.body)
			}
			return 0
		}
		fmt.Fprintln(os.Stderr, "load:", err)
		return 2
	}
	if cfg.serveCeiling != "" {
		if err := serveCeiling(cfg.serveCeiling, cfg.responses); err != nil {
			fmt.Fprintln(os.Stderr, "ceiling:", err)
			return 1
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()

	h := newHarness(cfg)
	defer h.cleanup.run(h.logf)
	rep, err := h.run(ctx)
	if err != nil {
		if ctx.Err() != nil {
			h.logf("stopped: %v (cleaning up)", context.Cause(ctx))
		}
		fmt.Fprintln(os.Stderr, "load:", err)
		return 1
	}
	if cfg.strict && rep.failed() > 0 {
		h.logf("%d targets not met (-strict)", rep.failed())
		return 1
	}
	return 0
}
