package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// TestServePythonOff (startServe is in serve_test.go): with --python off, /healthz and /metrics keep the shape
// docs/pyproxy.md gives them (no workers, every series at 0), and the WASM
// flags the README lists are accepted, --modules choosing the modules served.
func TestServePythonOff(t *testing.T) {
	dir := t.TempDir()
	mod := []byte("\x00asm\x01\x00\x00\x00")
	if err := os.WriteFile(filepath.Join(dir, "mine.wasm"), mod, 0o644); err != nil {
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

	resp, body = httpGet(t, base+"/metrics")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"pyproxy_workers_alive 0\n", "pyproxy_sessions 0\n", "pyproxy_sessions_opened_total 0\n",
		"# TYPE pyproxy_errors_total counter\n", "pyproxy_roundtrip_seconds_count 0\n"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}

	_, body = httpGet(t, base+"/modules/index.json")
	var index map[string]string
	if err := json.Unmarshal(body, &index); err != nil || len(index) != 1 || index["mine.wasm"] == "" {
		t.Fatalf("/modules/index.json = %s, want the one module of --modules", body)
	}
	if _, got := httpGet(t, base+"/modules/mine.wasm"); !bytes.Equal(got, mod) {
		t.Fatalf("/modules/mine.wasm = %q, want the file of --modules", got)
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
