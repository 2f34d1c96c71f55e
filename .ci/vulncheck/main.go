// Command vulncheck runs govulncheck against an offline copy of the Go
// vulnerability database and decides what fails the build.
//
// A vulnerability in a module this service requires, reachable from its
// code, fails. One in the standard library of the Go installed on the build
// machine is reported but does not fail: its fix is a newer Go patch
// release, which the container build (deploy/Dockerfile, golang:1.26) takes
// from the registry, not something a commit here can change.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
)

type finding struct {
	OSV          string `json:"osv"`
	FixedVersion string `json:"fixed_version"`
	Trace        []struct {
		Module   string `json:"module"`
		Version  string `json:"version"`
		Package  string `json:"package"`
		Function string `json:"function"`
	} `json:"trace"`
}

type message struct {
	Finding *finding `json:"finding"`
	OSV     *struct {
		ID      string `json:"id"`
		Summary string `json:"summary"`
	} `json:"osv"`
}

func main() {
	db := flag.String("db", "", "directory of the offline vulnerability database")
	bin := flag.String("govulncheck", "govulncheck", "govulncheck binary")
	flag.Parse()
	if err := run(*bin, *db, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "vulncheck:", err)
		os.Exit(1)
	}
}

func run(bin, db string, out io.Writer) error {
	if db == "" {
		return fmt.Errorf("-db is required")
	}
	cmd := exec.Command(bin, "-db", "file://"+db, "-format", "json", "./...")
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("govulncheck: %w", err)
	}
	summaries := map[string]string{}
	called := map[string]finding{}
	dec := json.NewDecoder(&stdout)
	for dec.More() {
		var m message
		if err := dec.Decode(&m); err != nil {
			return fmt.Errorf("reading govulncheck output: %w", err)
		}
		if m.OSV != nil {
			summaries[m.OSV.ID] = m.OSV.Summary
		}
		// A finding is reachable from our code when its trace names a function.
		if f := m.Finding; f != nil && len(f.Trace) > 0 && f.Trace[0].Function != "" {
			called[f.OSV] = *f
		}
	}
	ids := make([]string, 0, len(called))
	for id := range called {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var failing []string
	for _, id := range ids {
		f := called[id]
		mod := f.Trace[0].Module
		line := fmt.Sprintf("%s %s@%s (fixed in %s): %s", id, mod, f.Trace[0].Version, f.FixedVersion, summaries[id])
		if mod == "stdlib" || mod == "toolchain" {
			fmt.Fprintln(out, "warning (Go standard library, fixed by a newer Go patch release):", line)
			continue
		}
		failing = append(failing, line)
	}
	if len(failing) > 0 {
		return fmt.Errorf("vulnerable modules reachable from our code:\n  %s", strings.Join(failing, "\n  "))
	}
	fmt.Fprintf(out, "vulncheck: no vulnerable module is reachable (%d standard-library warnings)\n", len(ids))
	return nil
}
