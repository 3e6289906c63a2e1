package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

const entrypoint = "docker/entrypoint.sh"

// TestEntrypointArgs: what the container's entry point runs, from its
// arguments and environment (a stand-in binary prints its arguments).
func TestEntrypointArgs(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "remotemedia")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	serve := []string{"serve", "--listen", "0.0.0.0:8080", "--drain-timeout", "30s", "--workers", "1"}
	tests := []struct {
		name   string
		env    []string
		args   []string
		expect []string
	}{
		{name: "no arguments serve", expect: serve},
		{name: "serve", args: []string{"serve"}, expect: serve},
		{name: "flags are serve's, after the environment's",
			env:    []string{"REMOTEMEDIA_TOKEN_FILE=/run/token", "REMOTEMEDIA_ALLOW_HOST=media.example.com", "REMOTEMEDIA_WORKERS=3"},
			args:   []string{"--max-sessions", "50", "--allow-host", "b.example.com"},
			expect: []string{"serve", "--listen", "0.0.0.0:8080", "--drain-timeout", "30s", "--workers", "3", "--token-file", "/run/token", "--allow-host", "media.example.com", "--max-sessions", "50", "--allow-host", "b.example.com"}},
		{name: "environment",
			env:    []string{"REMOTEMEDIA_LISTEN=127.0.0.1:9000", "REMOTEMEDIA_DRAIN_TIMEOUT=1m", "REMOTEMEDIA_ALLOW_ORIGIN=https://a.example", "REMOTEMEDIA_DEFINITIONS=/defs"},
			args:   []string{"serve", "--python", "off"},
			expect: []string{"serve", "--listen", "127.0.0.1:9000", "--drain-timeout", "1m", "--workers", "1", "--allow-origin", "https://a.example", "--definitions", "/defs", "--python", "off"}},
		{name: "another command runs as it is", env: []string{"REMOTEMEDIA_TOKEN_FILE=/run/token"},
			args: []string{"validate", "/defs/a b.yaml"}, expect: []string{"validate", "/defs/a b.yaml"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("sh", append([]string{entrypoint}, tc.args...)...)
			cmd.Env = append(cleanEnv(), append(tc.env, "REMOTEMEDIA_BIN="+fake)...)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%v: %v", tc.args, err)
			}
			if got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"); !slices.Equal(got, tc.expect) {
				t.Errorf("entrypoint %q ran\n  %q\nwant\n  %q", tc.args, got, tc.expect)
			}
		})
	}
}

// TestEntrypointServesAndChecksHealth runs the real binary through the entry
// point: `healthcheck` (the image's HEALTHCHECK) fails before the server is up
// and passes once it is, and SIGTERM reaches the server itself (it execs), which
// exits cleanly.
func TestEntrypointServesAndChecksHealth(t *testing.T) {
	ctx := testContext(t, time.Minute)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	env := append(cleanEnv(), "REMOTEMEDIA_BIN="+serverBinary, "REMOTEMEDIA_LISTEN="+addr, "REMOTEMEDIA_PYTHON="+python(t),
		"XDG_CACHE_HOME="+t.TempDir())
	health := func() error {
		cmd := exec.CommandContext(ctx, "sh", entrypoint, "healthcheck")
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	}
	if err := health(); err == nil || !strings.Contains(err.Error(), "exit status 1") {
		t.Errorf("healthcheck with no server: %v, want exit status 1", err)
	}
	srv := exec.Command("sh", entrypoint, "--python", "off")
	srv.Env, srv.Stdout, srv.Stderr = env, os.Stderr, os.Stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	defer func() { _ = srv.Process.Kill() }()
	waitFor(ctx, t, "healthcheck to pass", func() bool { return health() == nil })
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", srv.Process.Pid)); err == nil && strings.TrimSpace(string(comm)) != "remotemedia" {
		t.Errorf("the entry point's process runs %q, want remotemedia itself (exec), so that it gets SIGTERM", comm)
	}
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after SIGTERM: %v, want exit 0", err)
		}
	case <-ctx.Done():
		t.Fatal("serve did not stop on SIGTERM")
	}
}

// cleanEnv is this process's environment without REMOTEMEDIA_* settings.
func cleanEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "REMOTEMEDIA_") {
			env = append(env, e)
		}
	}
	return env
}

// python is the repository's .venv interpreter, else python3.
func python(t *testing.T) string {
	t.Helper()
	if p, err := filepath.Abs("../.venv/bin/python"); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no Python: the health check runs on it")
	}
	return p
}
