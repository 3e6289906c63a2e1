package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	modules "github.com/remotemedia/hybrid/wasm-modules"
)

func httpGet(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// TestServePythonOff (startServe is in serve_test.go): with --python off,
// /healthz keeps the shape docs/pyproxy.md gives it (no workers), /metrics has
// the proxy's series at 0 beside the Go and process collectors, /readyz says
// "python": "off" and, --modules holding none of the standard modules, that the
// modules did not compile; and the WASM flags the README lists are accepted,
// --modules choosing the modules served.
func TestServePythonOff(t *testing.T) {
	dir := t.TempDir()
	// It replaces gain.wasm, and does not compile (a truncated section).
	mod := []byte("\x00asm\x01\x00\x00\x00\x01\xff")
	if err := os.WriteFile(filepath.Join(dir, "gain.wasm"), mod, 0o644); err != nil {
		t.Fatal(err)
	}
	base := "http://" + startServe(t, "--python", "off", "--modules", dir, "--wasm-memory-pages", "512", "--wasm-call-timeout", "2s")

	resp, body := httpGet(t, base+"/healthz")
	var health struct {
		OK      *bool            `json:"ok"`
		Python  *bool            `json:"python"`
		Workers []map[string]any `json:"workers"`
	}
	if err := json.Unmarshal(body, &health); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %s %s (%v)", resp.Status, body, err)
	}
	if health.OK == nil || !*health.OK || health.Python == nil || *health.Python || health.Workers == nil || len(health.Workers) != 0 {
		t.Fatalf("/healthz = %s, want {\"ok\": true, \"python\": false, \"workers\": []}", body)
	}

	families := scrapeMetrics(t, base, nil)
	for _, name := range []string{"pyproxy_workers_alive", "pyproxy_sessions", "pyproxy_sessions_opened_total", "pyproxy_roundtrip_seconds"} {
		if v := metricValue(t, families, name); v != 0 {
			t.Errorf("%s = %v, want 0", name, v)
		}
	}
	if v := metricValue(t, families, "pyproxy_errors_total", "cause", "node"); v != 0 {
		t.Errorf("pyproxy_errors_total{cause=node} = %v, want 0", v)
	}
	if v := metricValue(t, families, "go_goroutines"); v < 1 {
		t.Errorf("go_goroutines = %v, want the server's goroutines", v)
	}
	if v := metricValue(t, families, "process_resident_memory_bytes"); v < 1<<20 {
		t.Errorf("process_resident_memory_bytes = %v, want the server's", v)
	}

	status, ready := waitCompiled(t, base)
	if status != http.StatusServiceUnavailable || ready.Ready || ready.Checks["python"] != "off" ||
		!strings.HasPrefix(ready.Checks["modules"], "1 of ") || !strings.Contains(ready.Checks["modules"], "have no module that compiles") ||
		strings.Contains(ready.Checks["modules"], dir) {
		t.Errorf("/readyz = %d %+v, want 503, python off, one module failed (without the path)", status, ready)
	}

	_, body = httpGet(t, base+"/modules/index.json")
	var index map[string]string
	if err := json.Unmarshal(body, &index); err != nil || index["gain.wasm"] == "" || index["vad.wasm"] == "" {
		t.Fatalf("/modules/index.json = %s, want gain.wasm of --modules and the binary's others", body)
	}
	if _, got := httpGet(t, base+"/modules/gain.wasm"); !bytes.Equal(got, mod) {
		t.Fatalf("/modules/gain.wasm = %q, want the file of --modules", got)
	}
	builtin, err := fs.ReadFile(modules.FS(), "vad.wasm")
	if _, got := httpGet(t, base+"/modules/vad.wasm"); err != nil || !bytes.Equal(got, builtin) {
		t.Fatalf("/modules/vad.wasm: %d bytes, want the binary's own %d (%v)", len(got), len(builtin), err)
	}
}

// With the modules built into the binary and Python off, serve is ready once
// they have compiled; /metrics needs the token when there is one.
func TestServeReadyPythonOff(t *testing.T) {
	t.Setenv("REMOTEMEDIA_TOKEN", "s3cret")
	base := "http://" + startServe(t, "--python", "off")
	status, ready := waitCompiled(t, base)
	if status != http.StatusOK || !ready.Ready || ready.Checks["modules"] != "ok" || ready.Checks["pipelines"] != "ok" || ready.Checks["python"] != "off" || len(ready.Checks) != 3 {
		t.Errorf("/readyz = %d %+v, want 200 {ready: true, checks: {modules: ok, pipelines: ok, python: off}}", status, ready)
	}
	if resp, body := httpGet(t, base+"/metrics"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/metrics without the token: %s %.200s, want 401", resp.Status, body)
	}
	if v := metricValue(t, scrapeMetrics(t, base, map[string]string{"Authorization": "Bearer s3cret"}), "pyproxy_sessions"); v != 0 {
		t.Errorf("pyproxy_sessions = %v, want 0", v)
	}
}

func TestServeRejectsBadWASMFlags(t *testing.T) {
	for _, tc := range []struct{ args, expectMsg string }{
		{"--modules /nonexistent", "--modules /nonexistent: not a directory of .wasm modules"},
		{"--wasm-memory-pages 70000", "--wasm-memory-pages 70000: want 1 to 65536"},
		{"--wasm-call-timeout 0s", "--wasm-call-timeout 0s: want a positive duration"},
	} {
		args := append([]string{"--listen", "127.0.0.1:0", "--python", "off"}, strings.Fields(tc.args)...)
		err := cmdServe(context.Background(), args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.expectMsg) {
			t.Errorf("%s: error %v, want %q", tc.args, err, tc.expectMsg)
		}
	}
}
