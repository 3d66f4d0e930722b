// Package testbin builds the tallyfy-mcp binary once for a test package's TestMain, for the
// tests that drive the real binary over its pipes or ports.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Main builds the main package at mainDir into a temporary directory, stores the binary's
// path in *bin, runs the tests and exits with their code.
func Main(m *testing.M, mainDir string, bin *string) {
	dir, err := os.MkdirTemp("", "tallyfy-mcp-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testbin:", err)
		os.Exit(1)
	}
	*bin = filepath.Join(dir, "tallyfy-mcp")
	build := exec.Command("go", "build", "-o", *bin, mainDir)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "testbin: building tallyfy-mcp:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}
