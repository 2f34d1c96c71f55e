package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// The vendor's stub of this API is a WireMock instance; a bank without this
// service would put it (or a Spring Boot adapter) where this service runs.
// The harness measures it as a third HTTP target: WireMock standalone from
// the npm registry (the wiremock package carries the standalone jar), run by
// the machine's Java, answering every route with the same fixed JSON as the
// ceiling.
const (
	nameWireMock    = "WireMock stub"
	wiremockVersion = "3.13.2"
	// npmInstallTimeout bounds the one-time download of the jar (19 MB).
	npmInstallTimeout = 2 * time.Minute
)

// The stub's configurations (-wiremock-config).
const (
	// wiremockShipped runs the stub as the vendor ships it: the adapter
	// mock of wultra/enrollment-server starts WireMock with --verbose,
	// --global-response-templating and --disable-gzip (its Dockerfile and
	// bin/wiremock.sh), the request journal on (WireMock's default), and
	// its lookup answer names the user after the request's client number
	// through a template. Issue 10's figures for the stub (20–30% of the
	// ceiling, p99 16–40 ms) are near such a stub's, far from a tuned one's.
	wiremockShipped = "shipped"
	// wiremockTuned is the fastest stub WireMock makes: no journal, no
	// logging, no templating. The harness measured only this one before
	// 2026-11-27 18:00; it answers faster than the vendor's.
	wiremockTuned = "tuned"
)

// lookupTemplate is the vendor's mock's user id for /user/lookup (its
// body-user-lookup.json), rendered by WireMock's response templating.
const lookupTemplate = "mockuser_{{jsonPath request.body '$.identification.clientNumber'}}"

// wiremockArgs are the stub's flags for config, after the jar.
func wiremockArgs(config, root string) ([]string, error) {
	args := []string{"--bind-address", "127.0.0.1", "--root-dir", root, "--disable-banner"}
	switch config {
	case wiremockShipped:
		return append(args, "--verbose", "--global-response-templating", "--disable-gzip"), nil
	case wiremockTuned:
		return append(args, "--no-request-journal"), nil
	}
	return nil, fmt.Errorf("-wiremock-config: %q is neither %s nor %s", config, wiremockShipped, wiremockTuned)
}

// wiremockAnswers are the stub's answers for config: the ceiling's, and
// for the shipped stub the lookup's userId templated as the vendor's
// mock has it.
func wiremockAnswers(config string, responses map[string]string) (map[string]string, error) {
	out := maps.Clone(responses)
	body, ok := out["/user/lookup"]
	if config != wiremockShipped || !ok {
		return out, nil
	}
	var answer map[string]any
	if err := json.Unmarshal([]byte(body), &answer); err != nil {
		return nil, fmt.Errorf("the ceiling's lookup answer: %w", err)
	}
	answer["userId"] = lookupTemplate
	raw, err := json.Marshal(answer)
	if err != nil {
		return nil, err
	}
	out["/user/lookup"] = string(raw)
	return out, nil
}

// wiremockMapping is one stub mapping: POST path answers body.
type wiremockMapping struct {
	Request  wiremockRequest  `json:"request"`
	Response wiremockResponse `json:"response"`
}

type wiremockRequest struct {
	Method  string `json:"method"`
	URLPath string `json:"urlPath"`
}

type wiremockResponse struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// writeWireMockMappings writes one mapping file per route into
// root/mappings, the layout WireMock's --root-dir reads.
func writeWireMockMappings(root string, responses map[string]string) error {
	dir := filepath.Join(root, "mappings")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	paths := make([]string, 0, len(responses))
	for p := range responses {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for i, p := range paths {
		raw, err := json.MarshalIndent(wiremockMapping{
			Request: wiremockRequest{Method: "POST", URLPath: p},
			Response: wiremockResponse{Status: 200, Headers: map[string]string{"Content-Type": "application/json"},
				Body: responses[p]},
		}, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%02d.json", i)), raw, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// wiremockJar returns the standalone jar: -wiremock-jar when given, else
// the one installed by an earlier run in the user's cache, else it installs
// the npm package there first.
func wiremockJar(ctx context.Context, given string) (string, error) {
	if given != "" {
		if _, err := os.Stat(given); err != nil {
			return "", fmt.Errorf("-wiremock-jar: %w", err)
		}
		return given, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "onboarding-adapter-load", "wiremock-"+wiremockVersion)
	find := func() string {
		jars, _ := filepath.Glob(filepath.Join(dir, "node_modules", "wiremock", "build", "*.jar"))
		if len(jars) == 0 {
			return ""
		}
		return jars[0]
	}
	if jar := find(); jar != "" {
		return jar, nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", errors.New("npm is not installed (it brings the WireMock jar)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Without a registry npm retries for minutes; the stub is optional.
	ctx, cancel := context.WithTimeout(ctx, npmInstallTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--prefix", dir, "wiremock@"+wiremockVersion)
	cmd.WaitDelay = 5 * time.Second // npm's children may hold the output pipe after npm is killed
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm install wiremock@%s: %w\n%s", wiremockVersion, err, truncate(string(out), 600))
	}
	if jar := find(); jar != "" {
		return jar, nil
	}
	return "", fmt.Errorf("npm installed wiremock@%s but no jar under %s", wiremockVersion, dir)
}

// startWireMock starts the stub with the ceiling's answers. It returns an
// error, and the harness goes on without the stub, when Java or the jar
// cannot be had (the target is optional in issue 10).
func (h *harness) startWireMock(ctx context.Context, responses map[string]string) error {
	java, err := exec.LookPath("java")
	if err != nil {
		return errors.New("java is not installed")
	}
	jar, err := wiremockJar(ctx, h.cfg.wiremockJar)
	if err != nil {
		return err
	}
	root := filepath.Join(h.tmp, "wiremock")
	answers, err := wiremockAnswers(h.cfg.wiremockConfig, responses)
	if err != nil {
		return err
	}
	if err := writeWireMockMappings(root, answers); err != nil {
		return err
	}
	args, err := wiremockArgs(h.cfg.wiremockConfig, root)
	if err != nil {
		return err
	}
	s := &server{name: nameWireMock, binary: java, env: baseEnv(), readyPath: "/__admin/health",
		args:     append([]string{"-jar", jar}, args...),
		portArgs: func(port string) []string { return []string{"--port", port} }}
	h.cleanup.add("stop "+nameWireMock, s.stop)
	if err := s.startMeasured(ctx, 1); err != nil {
		return err
	}
	h.wiremock = s
	h.servers = append(h.servers, s)
	h.rep.wiremock = strings.TrimSuffix(filepath.Base(jar), ".jar")
	h.rep.wiremockConfig = h.cfg.wiremockConfig
	return nil
}
