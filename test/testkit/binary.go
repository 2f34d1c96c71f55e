package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// BuildBinary builds cmd/onboarding-adapter into a temporary directory and
// returns its path and a function removing it. moduleRoot is the path of
// the module root relative to the calling test package (".." for test/).
// Test packages call it once from TestMain, so every test runs the same
// binary, exactly what `make build` ships (without the version stamp).
func BuildBinary(moduleRoot string) (string, func(), error) {
	dir, err := os.MkdirTemp("", "onboarding-adapter-bin-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	bin := filepath.Join(dir, "onboarding-adapter")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	build := exec.Command("go", "build", "-o", bin, "./cmd/onboarding-adapter")
	build.Dir = moduleRoot
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("building the binary: %w", err)
	}
	return bin, cleanup, nil
}

// RunMain is the whole TestMain of a black-box package: it builds the
// binary, stores its path in *binary, runs the tests and exits with their
// code.
func RunMain(m interface{ Run() int }, moduleRoot string, binary *string) {
	bin, cleanup, err := BuildBinary(moduleRoot)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*binary = bin
	code := m.Run()
	cleanup()
	os.Exit(code)
}
