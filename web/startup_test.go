package web

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

// TestCoreWasmVersion: precompressedOf's version is the first half of core.wasm's
// sha256; core.wasm?v=VERSION is cacheable for good (immutable), any other
// request for it (no version, an old one) is revalidated (no-cache).
func TestCoreWasmVersion(t *testing.T) {
	raw := []byte("\x00asm a core.wasm")
	sum := sha256.Sum256(raw)
	core := precompressedOf(fstest.MapFS{"dist/core.wasm": {Data: raw}}, "dist/core.wasm")
	h, version := http.HandlerFunc(core.serve), core.version
	if want := hex.EncodeToString(sum[:16]); version != want {
		t.Fatalf("version %q, want %q", version, want)
	}
	tests := []struct {
		name, given, expect string
	}{
		{name: "versioned", given: "/core.wasm?v=" + version, expect: immutable},
		{name: "unversioned", given: "/core.wasm", expect: "no-cache"},
		{name: "another build's version", given: "/core.wasm?v=0123", expect: "no-cache"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, h, tt.given, "")
			if resp.StatusCode != http.StatusOK || string(body) != string(raw) {
				t.Fatalf("%s: %d %q", tt.given, resp.StatusCode, body)
			}
			if got := resp.Header.Get("Cache-Control"); got != tt.expect {
				t.Errorf("Cache-Control %q, want %q", got, tt.expect)
			}
		})
	}
	if v := precompressedOf(fstest.MapFS{}, "dist/core.wasm").version; v != "" {
		t.Errorf("version of a missing core.wasm: %q, want none", v)
	}
}

// TestScriptsNameCoreVersion: remotemedia.js and remotemedia.mjs, as served,
// carry the versions of core.wasm, wasm_exec.js and wasi-shim.js served beside
// them, each of which answers its ?v= with immutable, and the demo page is
// cross-origin isolated (its clock then ticks in 5 µs, not 100 µs).
func TestScriptsNameCoreVersion(t *testing.T) {
	srv := httptest.NewServer(Handler(nil, nil))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/core.wasm")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Skipf("core.wasm is not built into this package (%s): make browser", resp.Status)
	}
	etag := strings.Trim(resp.Header.Get("ETag"), `"`)
	version, _, _ := strings.Cut(etag, "-")
	re := regexp.MustCompile(`const VERSIONS = (\{.*\});`)
	for _, name := range []string{"remotemedia.js", "remotemedia.mjs"} {
		resp, err := http.Get(srv.URL + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := re.FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s: no VERSIONS line", name)
		}
		var versions map[string]string
		if err := json.Unmarshal(m[1], &versions); err != nil {
			t.Fatalf("%s: VERSIONS %s: %v", name, m[1], err)
		}
		if versions["core.wasm"] != version || len(version) != 32 {
			t.Errorf("%s: VERSIONS %s, want core.wasm's version %q", name, m[1], version)
		}
		// Each version is the one its file answers to with immutable.
		for file, v := range versions {
			resp, err := http.Get(srv.URL + "/" + file + "?v=" + v)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("Cache-Control"); resp.StatusCode != 200 || got != immutable {
				t.Errorf("%s?v=%s: %s, Cache-Control %q, want %q", file, v, resp.Status, got, immutable)
			}
		}
		if len(versions) != 4 || versions["core.wasm.gz"] != version {
			t.Errorf("%s: VERSIONS %s, want core.wasm, core.wasm.gz (the same version), wasm_exec.js and wasi-shim.js", name, m[1])
		}
	}
	resp, err = http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Cross-Origin-Opener-Policy") != "same-origin" || resp.Header.Get("Cross-Origin-Embedder-Policy") != "require-corp" {
		t.Errorf("the demo page's COOP %q, COEP %q: want same-origin and require-corp",
			resp.Header.Get("Cross-Origin-Opener-Policy"), resp.Header.Get("Cross-Origin-Embedder-Policy"))
	}
}
