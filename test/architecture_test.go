// Package test holds the black-box tests of the service: the architecture
// rules, the built binary called over HTTP the way the Onboarding Server
// calls it, and (in subpackages) fault and load tests.
package test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/bankkit/onboarding-adapter"

type goPackage struct {
	ImportPath string
	Imports    []string
}

// listPackages asks the go tool for every package and its direct
// (non-test) imports.
func listPackages(t *testing.T) []goPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", module+"/...")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p goPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func isStd(path string) bool { return !strings.Contains(strings.Split(path, "/")[0], ".") }

func local(path string) (string, bool) {
	if path == module {
		return "", true
	}
	rest, ok := strings.CutPrefix(path, module+"/")
	return rest, ok
}

// TestImportDirection keeps the hexagon's one-way dependency rule of
// DESIGN.md §1: domain <- ports <- domain/<service> <- transport, adapters <- cmd.
func TestImportDirection(t *testing.T) {
	for _, p := range listPackages(t) {
		self, _ := local(p.ImportPath)
		for _, imp := range p.Imports {
			if why := forbidden(self, imp); why != "" {
				t.Errorf("%s imports %s: %s", p.ImportPath, imp, why)
			}
		}
	}
}

// forbidden returns why package self (relative to the module) may not
// import imp, or "".
func forbidden(self, imp string) string {
	target, isLocal := local(imp)
	switch {
	case self == "domain":
		if !isStd(imp) {
			return "the root domain package imports only the standard library"
		}
	case self == "domain/policy":
		if !isStd(imp) && !(isLocal && target == "domain") {
			return "domain/policy imports only the standard library and domain"
		}
	case self == "ports":
		if !isStd(imp) && !(isLocal && target == "domain") {
			return "ports imports only the standard library and domain"
		}
	case strings.HasPrefix(self, "domain/"):
		switch {
		case isStd(imp) && imp != "net/http" && !strings.HasPrefix(imp, "database/"):
		case isLocal && (target == "domain" || target == "ports" || strings.HasPrefix(target, "domain/")):
		case strings.HasPrefix(imp, "golang.org/x/text/"):
		default:
			return "domain services import only the standard library (no net/http, no database/sql), ports, domain and golang.org/x/text"
		}
	case strings.HasPrefix(self, "transport/"):
		if isLocal && (strings.HasPrefix(target, "adapters/") || strings.HasPrefix(target, "cmd/") ||
			(strings.HasPrefix(target, "domain/") && target != "domain/policy" && target != "domain/names")) {
			return "the transport depends on ports, domain types, the policy and name folding only, never on services, adapters or cmd"
		}
	case strings.HasPrefix(self, "adapters/"):
		if isLocal && (strings.HasPrefix(target, "transport/") || strings.HasPrefix(target, "cmd/")) {
			return "adapters never import the transport or cmd"
		}
	}
	if isLocal && strings.HasPrefix(target, "cmd/") && !strings.HasPrefix(self, "cmd/") {
		return "nothing outside cmd imports cmd"
	}
	return ""
}

// TestForbiddenCatchesViolations proves the rule above can fail.
func TestForbiddenCatchesViolations(t *testing.T) {
	bad := []struct{ self, imp string }{
		{"domain", module + "/ports"},
		{"domain", "github.com/jackc/pgx/v5"},
		{"domain/policy", "go.yaml.in/yaml/v3"},
		{"ports", module + "/domain/lookup"},
		{"domain/lookup", "net/http"},
		{"domain/lookup", "github.com/redis/go-redis/v9"},
		{"domain/lookup", "github.com/go-kit/kit/endpoint"},
		{"domain/lookup", "go.opentelemetry.io/otel/sdk/trace"},
		{"domain/lookup", module + "/adapters/memory"},
		{"transport/http", module + "/adapters/memory"},
		{"transport/http", module + "/domain/lookup"},
		{"adapters/postgres", module + "/transport/http"},
		{"test", module + "/cmd/onboarding-adapter/internal/config"},
	}
	for _, b := range bad {
		if forbidden(b.self, b.imp) == "" {
			t.Errorf("forbidden(%q, %q) allowed a violation", b.self, b.imp)
		}
	}
	good := []struct{ self, imp string }{
		{"domain", "time"},
		{"domain/policy", module + "/domain"},
		{"ports", module + "/domain"},
		{"domain/evaluation", "golang.org/x/text/unicode/norm"},
		{"domain/approval", module + "/domain/decision"},
		{"transport/http", module + "/ports"},
		{"transport/admin", module + "/domain/names"},
		{"adapters/postgres", module + "/ports"},
		{"cmd/onboarding-adapter", module + "/adapters/memory"},
	}
	for _, g := range good {
		if why := forbidden(g.self, g.imp); why != "" {
			t.Errorf("forbidden(%q, %q) refused an allowed import: %s", g.self, g.imp, why)
		}
	}
}
