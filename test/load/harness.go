package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	modeMemory   = "memory"
	modePostgres = "postgres"

	nameMemory   = "memory"
	namePostgres = "postgres+redis"
	nameL1Off    = "postgres+redis L1 off"
	nameSelect   = "pgbench SELECT"
	nameInsert   = "pgbench INSERT"
	otpHashKey   = "load-harness-otp-hash-key-0123456789abcdef"
	frameJPEG    = 100 << 10
	faceJPEG     = 200 << 10
	maxReadyWait = 30 * time.Second
	// wiremockWarmup is the stub's first warm-up, for the JIT.
	wiremockWarmup = 10 * time.Second
	serviceLogLvl  = "warn"
	// requestTimeout bounds one request of the load generator.
	requestTimeout = 10 * time.Second
)

// contender is one target of a scenario's rounds: an HTTP server (with the
// client and identities its requests use) or a pgbench script.
type contender struct {
	name   string
	srv    *server
	gen    generator
	ids    *identities
	script string // pgbench
}

type harness struct {
	cfg     config
	cleanup cleanups
	start   time.Time

	tmp, root, binary string
	policyFile        string // loadPolicy, written into tmp
	media             *media
	servers           []*server // services in start order, then the ceiling, then the WireMock stub
	ceiling           *server
	wiremock          *server // nil when not measured
	memIDs, pgIDs     *identities
	db                *scratchDB
	pgbenchBin        string

	rep *report
}

func newHarness(cfg config) *harness {
	return &harness{cfg: cfg, start: time.Now()}
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(h.start).Seconds(), fmt.Sprintf(format, args...))
}

// step runs one set-up step and records how long it took.
func (h *harness) step(name string, fn func() error) error {
	t := time.Now()
	h.logf("%s …", name)
	if err := fn(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	d := time.Since(t)
	h.rep.setup = append(h.rep.setup, setupStep{name, d})
	h.logf("%s: done in %s", name, d.Round(time.Millisecond))
	return nil
}

func (h *harness) run(ctx context.Context) (*report, error) {
	h.rep = newReport(h.cfg)
	h.logf("machine: %s; load average %s", h.rep.machine.summary(), h.rep.loadBefore)
	if err := h.setUp(ctx); err != nil {
		return nil, err
	}
	if err := h.measure(ctx); err != nil {
		return nil, err
	}
	for _, s := range h.servers {
		st, err := s.stats()
		if err != nil {
			return nil, err
		}
		h.rep.addServer(s, st)
	}
	h.rep.finish(time.Since(h.start))
	md := h.rep.markdown()
	fmt.Println(md)
	if h.cfg.out != "" {
		if err := os.MkdirAll(filepath.Dir(h.cfg.out), 0o755); err != nil {
			return nil, fmt.Errorf("-out: %w", err)
		}
		if err := os.WriteFile(h.cfg.out, []byte(md), 0o644); err != nil {
			return nil, fmt.Errorf("-out: %w", err)
		}
		h.logf("report written to %s", h.cfg.out)
	}
	return h.rep, nil
}

func (h *harness) has(mode string) bool {
	for _, m := range h.cfg.modes {
		if m == mode {
			return true
		}
	}
	return false
}

func (h *harness) setUp(ctx context.Context) error {
	var err error
	if h.tmp, err = os.MkdirTemp("", "onboarding-load-"); err != nil {
		return err
	}
	h.cleanup.add("temporary directory", func() error { return os.RemoveAll(h.tmp) })
	if err := h.step("build the service", func() error { return h.build(ctx) }); err != nil {
		return err
	}
	h.policyFile = filepath.Join(h.tmp, "policy.yaml")
	if err := os.WriteFile(h.policyFile, []byte(loadPolicy), 0o600); err != nil {
		return err
	}
	if err := h.step("generate JPEGs", func() error {
		h.media, err = newMedia(frameJPEG, faceJPEG)
		if err == nil {
			h.rep.frameRaw, h.rep.faceRaw = h.media.frameRaw, h.media.faceRaw
		}
		return err
	}); err != nil {
		return err
	}
	if h.memIDs, err = newIdentities(demoIdentities()); err != nil {
		return err
	}
	if h.has(modeMemory) {
		srv := h.service(nameMemory)
		if err := h.step("start the in-memory service", func() error { return srv.startMeasured(ctx, h.cfg.readySamples) }); err != nil {
			return err
		}
	}
	if h.has(modePostgres) {
		if err := h.setUpPostgres(ctx); err != nil {
			return err
		}
	}
	responses, err := h.preflight(ctx)
	if err != nil {
		return err
	}
	if err := h.step("start the ceiling", func() error { return h.startCeiling(ctx, responses) }); err != nil {
		return err
	}
	if !h.cfg.wiremock {
		h.rep.wiremockSkipped = "not run (-wiremock=false)"
		return nil
	}
	if err := h.step("start the WireMock stub", func() error { return h.startWireMock(ctx, responses) }); err != nil {
		if ctx.Err() != nil {
			return err
		}
		h.logf("going on without the WireMock stub: %v", err)
		h.rep.wiremockSkipped = "not measured: " + truncate(err.Error(), 200)
	}
	return nil
}

// build compiles the service the way `make build` and the image do
// (static, -trimpath, symbol table and DWARF stripped): the binary's own
// pages are about a third of the service's RSS, so a differently built
// binary would measure a different service.
func (h *harness) build(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return fmt.Errorf("run the harness inside the module (go run ./test/load)")
	}
	h.root = filepath.Dir(gomod)
	h.binary = filepath.Join(h.tmp, "onboarding-adapter")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", h.binary, "./cmd/onboarding-adapter")
	cmd.Dir = h.root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w\n%s", err, out)
	}
	return nil
}

// loadPolicy is the services' policy: the defaults, but a per-phone OTP
// bound that no run reaches. The in-memory mode sends every OTP to the
// handful of demo users' numbers (and PostgreSQL's 20,000 identities get
// about six each per run), so the default 10 an hour would measure the
// throttled answer instead of a send. The bound's check still runs on every
// send; its 1 ms window keeps each number's log a few sends long, as a
// bank's would be, instead of a run's tens of thousands.
const loadPolicy = "otp:\n  phoneThrottleLimit: 1000000000\n  phoneThrottleWindow: 1ms\n"

// service registers (not yet starts) a service process and its cleanup.
func (h *harness) service(name string, env ...string) *server {
	full := append(baseEnv(), "ONBOARDING_LOG_LEVEL="+serviceLogLvl, "ONBOARDING_LOG_FORMAT=json",
		"ONBOARDING_OTP_HASH_KEY="+otpHashKey, "ONBOARDING_POLICY_FILE="+h.policyFile)
	full = append(full, env...)
	full = append(full, h.cfg.env...)
	s := &server{name: name, binary: h.binary, args: []string{"serve"}, env: full}
	h.servers = append(h.servers, s)
	h.cleanup.add("stop "+name, s.stop)
	return s
}

// command runs a subcommand of the service binary against the scratch
// database.
func (h *harness) command(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, h.binary, args...)
	cmd.Env = append(baseEnv(), "ONBOARDING_DATABASE_URL="+h.db.dsn, "ONBOARDING_LOG_LEVEL="+serviceLogLvl)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("onboarding-adapter %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

func (h *harness) setUpPostgres(ctx context.Context) error {
	var err error
	if h.pgbenchBin, err = findPgbench(h.cfg.pgbench); err != nil {
		return err
	}
	if err := h.step("clear left-over Redis keys", func() error {
		n, err := redisKeys(ctx, h.cfg.redisURL)
		if n > 0 {
			h.logf("deleted %d onboarding:* keys left in %s", n, h.cfg.redisURL)
		}
		return err
	}); err != nil {
		return err
	}
	h.cleanup.add("Redis keys", func() error {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := redisKeys(c, h.cfg.redisURL)
		return err
	})
	if err := h.step("create the scratch database", func() error {
		h.db, err = createScratchDB(ctx, h.cfg.pgURL)
		return err
	}); err != nil {
		return err
	}
	h.rep.database = h.db.name
	if h.cfg.keep {
		h.logf("keeping database %s (-keep)", h.db.name)
	} else {
		h.cleanup.add("drop database "+h.db.name, h.db.drop)
	}
	if err := h.step("migrate", func() error { _, err := h.command(ctx, "migrate"); return err }); err != nil {
		return err
	}
	if err := h.step(fmt.Sprintf("seed the demo data and %d synthetic clients", h.cfg.clients), func() error {
		out, err := h.command(ctx, "seed", "--synthetic-clients", fmt.Sprint(h.cfg.clients))
		h.logf("%s", out)
		return err
	}); err != nil {
		return err
	}
	if err := h.step("VACUUM ANALYZE clients", func() error { return analyze(ctx, h.db.dsn) }); err != nil {
		return err
	}
	if err := h.step(fmt.Sprintf("sample %d identities", h.cfg.identities), func() error {
		ids, err := sampleIdentities(ctx, h.db.dsn, h.cfg.identities)
		if err != nil {
			return err
		}
		h.pgIDs, err = newIdentities(ids)
		return err
	}); err != nil {
		return err
	}
	if plan, err := explain(ctx, h.db.dsn, h.pgIDs.all[0]); err != nil {
		h.logf("EXPLAIN failed: %v", err)
	} else {
		h.rep.explain = plan
	}
	env := []string{"ONBOARDING_DATABASE_URL=" + h.db.dsn, "ONBOARDING_REDIS_URL=" + h.cfg.redisURL}
	pg := h.service(namePostgres, env...)
	if err := h.step("start the PostgreSQL + Redis service", func() error { return pg.startMeasured(ctx, h.cfg.readySamples) }); err != nil {
		return err
	}
	if h.cfg.l1off {
		off := h.service(nameL1Off, append(env, "ONBOARDING_CONSENT_L1_TTL=0s")...)
		if err := h.step("start the PostgreSQL + Redis service with L1 off", func() error { return off.startMeasured(ctx, 1) }); err != nil {
			return err
		}
	}
	return nil
}

// preflight sends requests of every scenario to every service and fails
// unless all answer 2xx. The ceiling repeats, per path, the first service's
// most frequent answer (same shape and size as the real one). It also
// records each scenario's average body size.
func (h *harness) preflight(ctx context.Context) (map[string]string, error) {
	responses := map[string]string{}
	client := newClient(1)
	defer client.CloseIdleConnections()
	for _, sc := range h.selected() {
		g := newGen(rand.Uint64(), h.idsFor(h.servers[0].name), h.media)
		var total int64
		for range 200 {
			total += sc.make(g).len()
		}
		h.rep.bodyBytes[sc.name] = int(total / 200)
		for i, s := range h.servers {
			if s.name == nameL1Off && sc.name != "consent-text" {
				continue
			}
			n := 1
			if i == 0 {
				n = 20
			}
			answers, err := h.probe(ctx, client, s, sc, n)
			if err != nil {
				return nil, err
			}
			if _, ok := responses[sc.path]; !ok {
				responses[sc.path] = modal(sc, answers)
			}
		}
	}
	if err := h.settleConsents(ctx, client); err != nil {
		return nil, err
	}
	// The ceiling answers every route even when only some scenarios run.
	for _, sc := range scenarios() {
		if _, ok := responses[sc.path]; !ok {
			responses[sc.path] = `{}`
		}
	}
	return responses, nil
}

// settleConsents gives every in-memory demo identity an approved consent of
// each type, after the preflight and before anything is measured. The
// preflight's consent storage approves or revokes (10%) a consent of a few
// random demo users; without this, whether a lookup answers REQUIRED (which
// skips reading the text version, so is cheaper) for some of the five users
// was a random draw per run. Now the in-memory lookup always takes the
// NOT_REQUIRED path, the dearer one. PostgreSQL's synthetic clients have no
// consents, and the preflight's few records among 20,000 identities do not
// matter there.
func (h *harness) settleConsents(ctx context.Context, client *http.Client) error {
	for _, s := range h.servers {
		if s.name != nameMemory {
			continue
		}
		g := newGen(rand.Uint64(), h.memIDs, h.media)
		for _, id := range h.memIDs.all {
			for _, typ := range []string{"GDPR", "MARKETING"} {
				b := g.common(make([]byte, 0, 192), &id)
				b = append(b, `,"consentType":"`...)
				b = append(b, typ...)
				b = append(b, `","approved":true}`...)
				status, answer, err := post(ctx, client, s.api+"/consent/storage", body{b})
				if err == nil && status/100 != 2 {
					err = fmt.Errorf("%d %s", status, answer)
				}
				if err != nil {
					return fmt.Errorf("settle the demo users' consents: %w", err)
				}
			}
		}
	}
	return nil
}

// post sends one JSON body to url and returns the status and the answer.
func post(ctx context.Context, client *http.Client, url string, b body) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, &bodyReader{b: b})
	if err != nil {
		return 0, nil, err
	}
	req.ContentLength = b.len()
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	return resp.StatusCode, answer, err
}

// probe sends n requests of sc to s and returns the answers.
func (h *harness) probe(ctx context.Context, client *http.Client, s *server, sc scenario, n int) ([][]byte, error) {
	g := newGen(rand.Uint64(), h.idsFor(s.name), h.media)
	var answers [][]byte
	for range n {
		b := sc.make(g)
		status, answer, err := post(ctx, client, s.api+sc.path, b)
		if err != nil {
			return nil, fmt.Errorf("preflight %s on %s: %w", sc.name, s.name, err)
		}
		if status/100 != 2 {
			return nil, fmt.Errorf("preflight %s on %s: %d %s\nrequest: %s", sc.name, s.name, status,
				answer, truncate(string(bytes.Join(b[:], nil)), 600))
		}
		answers = append(answers, answer)
	}
	return answers, nil
}

// modal returns the first answer of the most frequent kind (by the
// scenario's classifier), so the ceiling answers what the service mostly
// answers.
func modal(sc scenario, answers [][]byte) string {
	if sc.classify == nil {
		return string(answers[0])
	}
	count := map[string]int{}
	var kinds []string
	for _, a := range answers {
		k := sc.classify(http.StatusOK, a)
		if count[k] == 0 {
			kinds = append(kinds, k)
		}
		count[k]++
	}
	best := kinds[0]
	for _, k := range kinds {
		if count[k] > count[best] {
			best = k
		}
	}
	for _, a := range answers {
		if sc.classify(http.StatusOK, a) == best {
			return string(a)
		}
	}
	return string(answers[0])
}

func (h *harness) startCeiling(ctx context.Context, responses map[string]string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	raw, err := json.Marshal(responses)
	if err != nil {
		return err
	}
	file := filepath.Join(h.tmp, "ceiling-responses.json")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		return err
	}
	h.ceiling = &server{name: ceilingName, binary: self, args: []string{"-responses", file}, env: baseEnv()}
	h.servers = append(h.servers, h.ceiling)
	h.cleanup.add("stop ceiling", h.ceiling.stop)
	return h.ceiling.startMeasured(ctx, 1)
}

func (h *harness) idsFor(name string) *identities {
	if name == nameMemory || h.pgIDs == nil {
		return h.memIDs
	}
	return h.pgIDs
}

func (h *harness) selected() []scenario {
	all := scenarios()
	if len(h.cfg.scenarios) == 0 {
		return all
	}
	var out []scenario
	for _, s := range all {
		for _, n := range h.cfg.scenarios {
			if s.name == n {
				out = append(out, s)
			}
		}
	}
	return out
}

// contenders are the targets of one scenario in their interleaving order:
// the ceiling (every round starts from the reference), the services, the
// WireMock stub on the read endpoints (its target names only those; on the
// writes too it made the run 11 minutes, past issue 10's 10), pgbench where
// it has an equivalent.
func (h *harness) contenders(sc scenario, gens map[string]generator) []contender {
	var cs []contender
	if h.ceiling != nil {
		cs = append(cs, contender{name: ceilingName, srv: h.ceiling, gen: gens[ceilingName], ids: h.idsFor(namePostgres)})
	}
	for _, s := range h.servers {
		if s == h.ceiling || s == h.wiremock || (s.name == nameL1Off && sc.name != "consent-text") {
			continue
		}
		cs = append(cs, contender{name: s.name, srv: s, gen: gens[s.name], ids: h.idsFor(s.name)})
	}
	if h.wiremock != nil && slices.Contains(readScenarios, sc.name) {
		cs = append(cs, contender{name: nameWireMock, srv: h.wiremock, gen: gens[nameWireMock], ids: h.idsFor(namePostgres)})
	}
	if h.db != nil && sc.lookup {
		cs = append(cs, contender{name: nameSelect, script: pgbenchSelect(h.cfg.clients)})
	}
	if h.db != nil && sc.name == "consent-storage" {
		cs = append(cs, contender{name: nameInsert, script: pgbenchInsert})
	}
	return cs
}

func (h *harness) measure(ctx context.Context) error {
	gens := map[string]generator{}
	for _, s := range h.servers {
		g, err := newGenerator(h.cfg.generator, s.api, h.cfg.conns, requestTimeout)
		if err != nil {
			return err
		}
		gens[s.name] = g
		defer g.close()
	}
	var windows, pgbenches int
	for _, sc := range h.selected() {
		for _, c := range h.contenders(sc, gens) {
			windows++
			if c.script != "" {
				pgbenches++
			}
		}
	}
	// Each HTTP target warms up for -warmup, each pgbench for
	// -pgbench-warmup, and runs on at least one flush step per window.
	estimate := time.Duration(windows)*time.Duration(h.cfg.rounds)*h.cfg.duration +
		time.Duration(windows-pgbenches)*h.cfg.warmup +
		time.Duration(pgbenches)*(h.cfg.pgbenchWarmup+time.Duration(h.cfg.rounds)*pgbenchFlushStep)
	h.logf("measuring: %d scenarios, %d targets × %d rounds × %s (about %s)", len(h.selected()), windows,
		h.cfg.rounds, h.cfg.duration, estimate.Round(time.Second))
	h.rep.loadMeasureStart = loadAvg()
	jitWarm := false
	for _, sc := range h.selected() {
		cs := h.contenders(sc, gens)
		benches, err := h.startPgbenches(ctx, sc, cs)
		if err != nil {
			return err
		}
		err = h.measureScenario(ctx, sc, cs, benches, &jitWarm)
		for _, b := range benches {
			err = errors.Join(err, b.close())
		}
		if err != nil {
			return err
		}
	}
	h.rep.loadMeasureEnd = loadAvg()
	return nil
}

// startPgbenches starts and warms up the pgbench of each of cs that has a
// script, one after the other so each warms up alone.
func (h *harness) startPgbenches(ctx context.Context, sc scenario, cs []contender) (map[string]*pgbenchProc, error) {
	benches := map[string]*pgbenchProc{}
	for _, c := range cs {
		if c.script == "" {
			continue
		}
		// Every target's rounds and warm-ups, the stub's JIT warm-up and
		// pgbench's flush steps (several per window at worst).
		expected := time.Duration(h.cfg.rounds*len(cs))*(h.cfg.duration+time.Second) +
			time.Duration(len(cs))*h.cfg.warmup + wiremockWarmup
		b, err := startPgbench(ctx, h.pgbenchBin, h.db.dsn, c.script, h.tmp, sc.name, h.cfg.conns, h.cfg.pgbenchWarmup, expected)
		if err != nil {
			for _, b := range benches {
				err = errors.Join(err, b.close())
			}
			return nil, fmt.Errorf("%s on %s: %w", sc.name, c.name, err)
		}
		benches[c.name] = b
	}
	return benches, nil
}

// measureScenario warms up cs's services and runs sc's interleaved rounds.
func (h *harness) measureScenario(ctx context.Context, sc scenario, cs []contender, benches map[string]*pgbenchProc, jitWarm *bool) error {
	if h.cfg.warmup > 0 {
		for _, c := range cs {
			if c.srv == nil {
				continue
			}
			d := h.cfg.warmup
			if c.srv == h.wiremock && !*jitWarm {
				// The JVM compiles its hot paths in the first seconds.
				d, *jitWarm = max(d, wiremockWarmup), true
			}
			runWindow(ctx, c.gen, c.srv.api+sc.path, h.cfg.conns, d, h.sources(sc, c), nil)
		}
	}
	res := map[string][]window{}
	for r := range h.cfg.rounds {
		for _, c := range cs {
			if err := ctx.Err(); err != nil {
				return err
			}
			w, err := h.window(ctx, sc, c, benches[c.name])
			if err != nil {
				return fmt.Errorf("%s on %s: %w", sc.name, c.name, err)
			}
			res[c.name] = append(res[c.name], w)
			var errs int64
			for _, v := range w.errs {
				errs += v
			}
			m := merge([]window{w})
			h.logf("%-16s round %d/%d  %-22s %9.0f req/s  p50 %6.2f ms  p99 %7.2f ms  errors %d %s",
				sc.name, r+1, h.cfg.rounds, c.name, w.rps(), ms(m.p50), ms(m.p99), errs, truncate(w.firstErr, 160))
		}
	}
	rss := map[string]int64{}
	for _, c := range cs {
		if c.srv != nil {
			if st, err := c.srv.stats(); err == nil {
				rss[c.name] = st.rssKB
			}
		}
	}
	h.rep.addScenario(sc, cs, res, rss)
	return nil
}

// window runs one measured window of c (of its pgbench when bench is not
// nil), and counts what the data stores and the whole machine spent
// meanwhile.
func (h *harness) window(ctx context.Context, sc scenario, c contender, bench *pgbenchProc) (window, error) {
	if bench != nil {
		return bench.window(ctx, h.cfg.duration)
	}
	c0 := readCounters()
	w, err := h.measureWindow(ctx, sc, c)
	if err != nil {
		return w, err
	}
	w.setCounters(c0, readCounters())
	return w, nil
}

// counters are the machine-wide CPU counters a window reads at its start
// and end.
type counters struct {
	stores      time.Duration
	storesErr   error
	busy, total time.Duration
	busyErr     error
}

// readCounters reads the counters; a reading that fails is marked so and
// leaves its fields of the window unknown.
func readCounters() counters {
	var c counters
	c.stores, c.storesErr = storesCPU()
	c.busy, c.total, c.busyErr = machineCPU()
	return c
}

// setCounters sets what the data stores and the machine spent between c0
// and c1, where both readings succeeded.
func (w *window) setCounters(c0, c1 counters) {
	if c0.storesErr == nil && c1.storesErr == nil {
		w.storesCPU = c1.stores - c0.stores
	}
	if c0.busyErr == nil && c1.busyErr == nil {
		w.busy, w.total = c1.busy-c0.busy, c1.total-c0.total
	}
}

// measureWindow runs the load generator against c's service for one
// window, with the service's CPU and queries counted.
func (h *harness) measureWindow(ctx context.Context, sc scenario, c contender) (window, error) {
	before, err := c.srv.stats()
	if err != nil {
		return window{}, err
	}
	genBefore, genErr := readProcStats(os.Getpid())
	q0, b0, qErr := dbOps(ctx, c.srv.admin)
	w := runWindow(ctx, c.gen, c.srv.api+sc.path, h.cfg.conns, h.cfg.duration, h.sources(sc, c), sc.classify)
	after, err := c.srv.stats()
	if err != nil {
		return window{}, err
	}
	w.cpu = after.cpu - before.cpu
	if genAfter, err := readProcStats(os.Getpid()); err == nil && genErr == nil {
		w.genCPU = genAfter.cpu - genBefore.cpu
	}
	if q1, b1, err := dbOps(ctx, c.srv.admin); err == nil && qErr == nil {
		w.queries, w.batches = q1-q0, b1-b0
	}
	return w, nil
}

// sources gives each worker its own body generator with a fresh random
// seed, so no process id repeats across workers, rounds or targets.
func (h *harness) sources(sc scenario, c contender) func(int) bodySource {
	return func(int) bodySource {
		g := newGen(rand.Uint64(), c.ids, h.media)
		return func() body { return sc.make(g) }
	}
}

// dbOps reads the counts of database queries and batches (pgx pipelines)
// from the service's Prometheus metrics (the pgx instrumentation's
// operation histogram); an error when the process exposes none (the
// ceiling, the in-memory mode).
func dbOps(ctx context.Context, admin string) (queries, batches float64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, admin+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, err
	}
	return parseOpCounts(raw)
}

// parseOpCounts finds db_client_operation_duration_seconds_count with
// pgx_operation_type "query" and "batch" in a Prometheus exposition. A
// service without the query count is an error; one that has sent no batch
// yet has none.
func parseOpCounts(exposition []byte) (queries, batches float64, err error) {
	found := false
	for _, line := range strings.Split(string(exposition), "\n") {
		if !strings.HasPrefix(line, "db_client_operation_duration_seconds_count{") {
			continue
		}
		var dst *float64
		switch {
		case strings.Contains(line, `pgx_operation_type="query"`):
			dst, found = &queries, true
		case strings.Contains(line, `pgx_operation_type="batch"`):
			dst = &batches
		default:
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if *dst, err = strconv.ParseFloat(line[i+1:], 64); err != nil {
			return 0, 0, err
		}
	}
	if !found {
		return 0, 0, errors.New("no database query metric")
	}
	return queries, batches, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
