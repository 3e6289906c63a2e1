package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const oneNode = `version: "1"
nodes:
  - id: a
    node_type: %s
`

// runValidate validates a one-node definition of nodeType with Python found at
// python (REMOTEMEDIA_PYTHON) and returns what it printed.
func runValidate(t *testing.T, nodeType, python string) (string, error) {
	t.Helper()
	t.Setenv("REMOTEMEDIA_PYTHON", python)
	path := filepath.Join(t.TempDir(), "def.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(oneNode, "%s", nodeType, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := cmdValidate(ctx, []string{path, "--wasm-cache", filepath.Join(t.TempDir(), "cache")}, &stdout, &stderr)
	return stdout.String() + stderr.String(), err
}

// Issue 10 point 14: a typo in a WASM node type is an unknown type with a
// suggestion, not advice about Python; an unknown type that may be Python says
// why Python is missing, what was tried and REMOTEMEDIA_PYTHON.
func TestUnknownTypeMessages(t *testing.T) {
	out, err := runValidate(t, "resampel", "/nonexistent/python")
	if msg := out + errString(err); !strings.Contains(msg, `unknown node type "resampel" (did you mean "resample"?)`) ||
		strings.Contains(msg, "Python") || strings.Contains(msg, "make deps") {
		t.Errorf("typo of a WASM type: %s, want the unknown type and its suggestion, no Python advice", msg)
	}
	out, err = runValidate(t, "FooBarNode", "/nonexistent/python")
	msg := out + errString(err)
	t.Logf("validate FooBarNode without Python: %s", msg)
	for _, want := range []string{`node type "FooBarNode" is not a WASM node type, and Python nodes are unavailable`, "REMOTEMEDIA_PYTHON", "/nonexistent/python"} {
		if !strings.Contains(msg, want) {
			t.Errorf("unknown type without Python: %s\nwant %q", msg, want)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Issue 10 point 14: bin/remotemedia run from another directory finds
// <repo>/.venv/bin/python beside its own directory.
func TestPythonFoundBesideBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	venvPython, err := filepath.Abs("../../../.venv/bin/python")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(venvPython); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no .venv: scripts/deps.sh installs the Python package")
		}
		t.Skip("no .venv with the Python package (make deps)")
	}
	repo := t.TempDir()
	bin := filepath.Join(repo, "bin", "remotemedia")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../cmd/remotemedia").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// A stand-in venv: its python runs the real one.
	fake := filepath.Join(repo, ".venv", "bin", "python")
	if err := os.MkdirAll(filepath.Dir(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nexec "+venvPython+" \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, "nodes", "--python", "on", "--wasm-cache", filepath.Join(t.TempDir(), "cache"))
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "REMOTEMEDIA_PYTHON=")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "WhisperASR") {
		t.Fatalf("remotemedia nodes --python on from %s: %v\n%s", cmd.Dir, err, out)
	}
}
