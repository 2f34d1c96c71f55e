package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/net/html"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/adapters/postgres"
	redisadapter "github.com/bankkit/onboarding-adapter/adapters/redis"
	"github.com/bankkit/onboarding-adapter/cmd/onboarding-adapter/internal/config"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/consent"
	"github.com/bankkit/onboarding-adapter/domain/policy"
	"github.com/bankkit/onboarding-adapter/ports"
)

// operatorTimeout bounds an operator command that is not a bulk load,
// unless its --timeout says otherwise.
const operatorTimeout = 2 * time.Minute

// timeoutFlag declares --timeout on fs: how long the command may take in
// all (0: no bound but a signal). The chart sets it from its Job's
// activeDeadlineSeconds, so a long migration or purge is bounded by the
// deadline the operator chose, not cut at two minutes.
func timeoutFlag(fs *flag.FlagSet) *time.Duration {
	return fs.Duration("timeout", operatorTimeout, "give up after this long (0: no limit)")
}

// withTimeout bounds ctx by d unless d is 0.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d == 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// env is what every operator subcommand starts from: the validated
// configuration, the policy and a logger.
type env struct {
	cfg    config.Config
	pol    policy.Policy
	logger *slog.Logger
	stdout io.Writer
}

func loadEnv(environ map[string]string, stdout, stderr io.Writer) (env, error) {
	cfg, err := config.Load(environ)
	if err != nil {
		return env{}, err
	}
	pol, err := config.LoadPolicy(cfg.PolicyFile)
	if err != nil {
		return env{}, err
	}
	logger, err := newLogger(cfg, stderr)
	if err != nil {
		return env{}, err
	}
	return env{cfg: cfg, pol: pol, logger: logger, stdout: stdout}, nil
}

// database opens the pool an operator command works on; the commands only
// make sense against the durable store.
func (e env) database(ctx context.Context, command string) (*pgxpool.Pool, error) {
	if e.cfg.DatabaseURL == "" {
		return nil, fmt.Errorf("%s needs ONBOARDING_DATABASE_URL: the in-memory default lives only inside a running service", command)
	}
	return openPool(ctx, e.cfg)
}

// runMigrate is `migrate [up|status]`. With --grant-to ROLE, `up` then
// gives ROLE exactly the service's privileges (postgres.GrantRuntime): the
// Job migrates as the tables' owner and the pods connect as ROLE.
func runMigrate(ctx context.Context, e env, args []string) error {
	const usage = "usage: onboarding-adapter migrate [--timeout 2m] [--grant-to ROLE] [up|status]"
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	timeout := timeoutFlag(fs)
	grantTo := fs.String("grant-to", "", "role the service connects as")
	if err := fs.Parse(args); err != nil || *timeout < 0 {
		return usageError{usage}
	}
	args = fs.Args()
	action := "up"
	if len(args) > 0 {
		action, args = args[0], args[1:]
	}
	if len(args) > 0 || (action != "up" && action != "status") || (*grantTo != "" && action != "up") {
		return usageError{usage}
	}
	ctx, cancel := withTimeout(ctx, *timeout)
	defer cancel()
	pool, err := e.database(ctx, "migrate")
	if err != nil {
		return err
	}
	defer pool.Close()
	if action == "up" {
		if err := postgres.Migrate(ctx, pool, e.logger); err != nil {
			return fmt.Errorf("migrate up: %w", err)
		}
		if *grantTo != "" {
			if err := postgres.GrantRuntime(ctx, pool, *grantTo); err != nil {
				return fmt.Errorf("migrate up: %w", err)
			}
			e.logger.Info("granted the service's privileges", "role", *grantTo)
		}
	}
	current, latest, err := postgres.MigrationStatus(ctx, pool)
	if err != nil {
		return fmt.Errorf("migrate status: %w", err)
	}
	state := "up to date"
	if current < latest {
		state = fmt.Sprintf("%d migration(s) pending", latest-current)
	}
	_, err = fmt.Fprintf(e.stdout, "schema version %d of %d: %s\n", current, latest, state)
	return err
}

// runSeed is `seed [--synthetic-clients N] [--random-seed S]`: the demo data,
// idempotent, and optionally N generated clients for load tests.
func runSeed(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	synthetic := fs.Int("synthetic-clients", 0, "also generate this many synthetic clients")
	seed := fs.Int64("random-seed", 1, "seed of the synthetic data generator")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *synthetic < 0 {
		return usageError{"usage: onboarding-adapter seed [--synthetic-clients N] [--random-seed S]"}
	}
	pool, err := e.database(ctx, "seed")
	if err != nil {
		return err
	}
	defer pool.Close()
	var texts []postgres.SeedText
	for _, t := range memory.DemoConsentTexts() {
		texts = append(texts, postgres.SeedText{Type: t.Type, Language: t.Language, HTML: t.HTML})
	}
	res, err := postgres.Seed(ctx, pool, postgres.SeedData{
		Clients: memory.DemoClients(domain.DateOf(time.Now())), Texts: texts, Consents: memory.DemoConsents(),
	})
	if err != nil {
		return fmt.Errorf("seeding the demo data: %w", err)
	}
	fmt.Fprintf(e.stdout, "demo data: %d clients, %d consent texts, %d consents added\n", res.Clients, res.Texts, res.Consents)
	if *synthetic > 0 {
		start := time.Now()
		n, err := postgres.SeedSyntheticClients(ctx, pool, *synthetic, *seed)
		if err != nil {
			return fmt.Errorf("seeding synthetic clients: %w", err)
		}
		fmt.Fprintf(e.stdout, "synthetic clients: %d added in %s\n", n, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// consentUsage is the usage of the consent subcommands.
const consentUsage = `usage:
  onboarding-adapter consent publish --type T --language L --file F.html
  onboarding-adapter consent history --user U [--type T] [--limit N] [--json]`

// runConsent is `consent publish` and `consent history`.
func runConsent(ctx context.Context, e env, args []string) error {
	if len(args) > 0 && args[0] == "history" {
		return runConsentHistory(ctx, e, args[1:])
	}
	if len(args) == 0 || args[0] != "publish" {
		return usageError{consentUsage}
	}
	fs := flag.NewFlagSet("consent publish", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	typ := fs.String("type", "", "consent type, e.g. GDPR")
	lang := fs.String("language", "", "ISO 639-1 language, e.g. en")
	file := fs.String("file", "", "HTML file to publish")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 || *typ == "" || *lang == "" || *file == "" {
		return usageError{consentUsage}
	}
	b, err := os.ReadFile(*file)
	if err != nil {
		return fmt.Errorf("--file: %w", err)
	}
	text := string(b)
	if err := consent.ValidateText(*typ, *lang, text, e.pol.Consent); err != nil {
		return err
	}
	if err := wellFormed(text); err != nil {
		return fmt.Errorf("--file %s: %w", *file, err)
	}
	ctx, cancel := context.WithTimeout(ctx, operatorTimeout)
	defer cancel()
	pool, err := e.database(ctx, "consent publish")
	if err != nil {
		return err
	}
	defer pool.Close()
	store := postgres.NewConsentTextStore(pool, memory.SystemClock{})
	var inval ports.ConsentTextInvalidator
	if e.cfg.RedisURL != "" {
		rdb, err := redisadapter.NewClient(e.cfg.RedisURL.Value(), redisadapter.ClientConfig{})
		if err != nil {
			return fmt.Errorf("ONBOARDING_REDIS_URL: %w", err)
		}
		defer rdb.Close()
		br := redisadapter.NewBreaker(redisadapter.BreakerConfig{})
		inval = redisadapter.NewConsentTextCache(rdb, br, store, redisadapter.ConsentTextCacheConfig{
			KeyPrefix: e.cfg.RedisKeyPrefix, TTL: e.cfg.RedisCacheTTL, Logger: e.logger,
		})
	}
	t, err := consent.NewPublisher(store, inval, e.pol.Consent).Publish(ctx, *typ, *lang, text)
	if t.Version > 0 {
		fmt.Fprintf(e.stdout, "published %s/%s version %d (sha256 %s)\n", t.Type, t.Language, t.Version, t.SHA256)
	}
	if err != nil {
		return err
	}
	if inval == nil {
		fmt.Fprintln(e.stdout, "no ONBOARDING_REDIS_URL: running replicas pick the new version up when their in-process cache expires "+
			"(ONBOARDING_CONSENT_L1_TTL) and, if they use Redis, its entry too (ONBOARDING_REDIS_CACHE_TTL); give this command "+
			"the deployment's ONBOARDING_REDIS_URL and ONBOARDING_REDIS_KEY_PREFIX to invalidate both at once")
	}
	return nil
}

// voidElements have no end tag in HTML.
var voidElements = map[string]bool{
	"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true, "img": true,
	"input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true,
}

// wellFormed checks that every element that is opened is closed, in order,
// and that no script or inline handler is embedded: a consent text is shown
// in the mobile app's web view, where such markup has no business.
func wellFormed(s string) error {
	z := html.NewTokenizer(strings.NewReader(s))
	var open []string
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if !errors.Is(z.Err(), io.EOF) {
				return fmt.Errorf("not valid HTML: %w", z.Err())
			}
			if len(open) > 0 {
				return fmt.Errorf("<%s> is never closed", open[len(open)-1])
			}
			return nil
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			if tok.Data == "script" || tok.Data == "iframe" || tok.Data == "object" {
				return fmt.Errorf("<%s> is not allowed in a consent text", tok.Data)
			}
			for _, a := range tok.Attr {
				if strings.HasPrefix(strings.ToLower(a.Key), "on") || strings.HasPrefix(strings.ToLower(strings.TrimSpace(a.Val)), "javascript:") {
					return fmt.Errorf("<%s %s=…> is not allowed in a consent text", tok.Data, a.Key)
				}
			}
			if tt == html.StartTagToken && !voidElements[tok.Data] {
				open = append(open, tok.Data)
			}
		case html.EndTagToken:
			tok := z.Token()
			if len(open) == 0 || open[len(open)-1] != tok.Data {
				return fmt.Errorf("</%s> does not close the element that is open", tok.Data)
			}
			open = open[:len(open)-1]
		}
	}
}

// runHealthcheck is `healthcheck [--path P | --url URL]`: a distroless
// image has no curl, so the Helm test pod and Docker HEALTHCHECK call the
// binary itself. Without --url it asks path (default /readyz) of the admin
// listener that adminAddr (ONBOARDING_ADMIN_ADDR) names, on this host.
func runHealthcheck(ctx context.Context, args []string, adminAddr string, stdout io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	path := fs.String("path", "/readyz", "path on the local admin listener that must answer 200")
	url := fs.String("url", "", "URL that must answer 200, instead of the local admin listener's path")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || !strings.HasPrefix(*path, "/") {
		return usageError{"usage: onboarding-adapter healthcheck [--path /livez|/readyz | --url URL] [--timeout D]"}
	}
	if *url == "" {
		*url = adminURL(adminAddr, *path)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return fmt.Errorf("--url: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d: %s", *url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	_, err = fmt.Fprintf(stdout, "%s: %s\n", *url, strings.TrimSpace(string(body)))
	return err
}

// adminURL is the URL of path on the admin listener at addr (a listen
// address such as ":9090" or "0.0.0.0:9091"), reached on this host; the
// default listener's when addr is empty or not host:port.
func adminURL(addr, path string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return "http://127.0.0.1:9090" + path
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + path
}
