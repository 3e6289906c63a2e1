package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"testing/fstest"

	"github.com/andybalholm/brotli"
	"github.com/vmihailenco/msgpack/v5"
)

// decode undoes a response's Content-Encoding.
func decode(t *testing.T, coding string, b []byte) []byte {
	t.Helper()
	var r io.Reader
	switch coding {
	case "":
		return b
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	default:
		t.Fatalf("unexpected Content-Encoding %q", coding)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decoding %s: %v", coding, err)
	}
	return out
}

func compressed(t *testing.T, raw []byte) (br, gz []byte) {
	var b, g bytes.Buffer
	bw := brotli.NewWriterLevel(&b, brotli.BestSpeed)
	gw := gzip.NewWriter(&g)
	for _, w := range []io.WriteCloser{bw, gw} {
		if _, err := w.Write(raw); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes(), g.Bytes()
}

// get requests path with Accept-Encoding accept ("" for none) and returns the
// response and its body.
func get(t *testing.T, h http.Handler, path, accept string) (*http.Response, []byte) {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	if accept != "" {
		req.Header.Set("Accept-Encoding", accept)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result(), rec.Body.Bytes()
}

// coreBuild is a stand-in core.wasm, and a dist/ holding it with its brotli
// and gzip copies and a .sha256 of sum, or of core.wasm when sum is "".
func coreBuild(t *testing.T, sum string) ([]byte, fstest.MapFS) {
	raw := bytes.Repeat([]byte("\x00asm core.wasm stand-in "), 4096)
	br, gz := compressed(t, raw)
	if sum == "" {
		s := sha256.Sum256(raw)
		sum = hex.EncodeToString(s[:])
	}
	return raw, fstest.MapFS{
		"dist/core.wasm":        {Data: raw},
		"dist/core.wasm.br":     {Data: br},
		"dist/core.wasm.gz":     {Data: gz},
		"dist/core.wasm.sha256": {Data: []byte(sum + "\n")},
	}
}

func TestCoreWasmEncodings(t *testing.T) {
	raw, fresh := coreBuild(t, "")
	_, stale := coreBuild(t, "0123")
	tests := []struct {
		name   string
		given  fs.FS
		accept string
		expect string // Content-Encoding
	}{
		{name: "no Accept-Encoding", given: fresh, expect: ""},
		{name: "browser", given: fresh, accept: "gzip, deflate, br, zstd", expect: "br"},
		{name: "gzip only", given: fresh, accept: "gzip", expect: "gzip"},
		{name: "br refused", given: fresh, accept: "br;q=0, gzip;q=0.5", expect: "gzip"},
		{name: "gzip preferred by weight", given: fresh, accept: "br;q=0.4, gzip", expect: "gzip"},
		{name: "wildcard", given: fresh, accept: "*", expect: "br"},
		{name: "wildcard, br refused", given: fresh, accept: "*, br;q=0", expect: "gzip"},
		{name: "identity only", given: fresh, accept: "identity", expect: ""},
		{name: "upper case", given: fresh, accept: "GZIP", expect: "gzip"},
		{name: "copies of another build are not served", given: stale, accept: "br, gzip", expect: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, http.HandlerFunc(precompressedOf(tt.given, "dist/core.wasm").serve), "/core.wasm", tt.accept)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %s", resp.Status)
			}
			if got := resp.Header.Get("Content-Encoding"); got != tt.expect {
				t.Fatalf("Content-Encoding %q, want %q", got, tt.expect)
			}
			if got := resp.Header.Get("Vary"); got != "Accept-Encoding" {
				t.Errorf("Vary %q, want Accept-Encoding", got)
			}
			if got := resp.Header.Get("Content-Type"); got != "application/wasm" {
				t.Errorf("Content-Type %q, want application/wasm", got)
			}
			if got, want := resp.Header.Get("Content-Length"), len(body); got != itoa(want) {
				t.Errorf("Content-Length %q, body %d bytes", got, want)
			}
			if !bytes.Equal(decode(t, tt.expect, body), raw) {
				t.Fatalf("the decoded body is not core.wasm")
			}
		})
	}
	// The ETag names the representation, so a cache never answers a gzip
	// client's revalidation with the brotli bytes.
	h := http.HandlerFunc(precompressedOf(fresh, "dist/core.wasm").serve)
	r1, _ := get(t, h, "/core.wasm", "br")
	r2, _ := get(t, h, "/core.wasm", "gzip")
	r3, _ := get(t, h, "/core.wasm", "")
	if e1, e2, e3 := r1.Header.Get("ETag"), r2.Header.Get("ETag"), r3.Header.Get("ETag"); e1 == e2 || e2 == e3 || e1 == e3 {
		t.Fatalf("ETags %s %s %s are not distinct", e1, e2, e3)
	}
}

// TestBuiltCoreWasm checks the embedded dist/ (after `make browser`): both
// copies decode to core.wasm and the handler serves them.
func TestBuiltCoreWasm(t *testing.T) {
	raw, err := fs.ReadFile(static, "dist/core.wasm")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("dist/core.wasm not built (%v): run `make browser`", err)
		}
		t.Skipf("dist/core.wasm not built (%v): run `make browser`", err)
	}
	h := Handler(nil, nil)
	for _, accept := range []string{"", "gzip", "br, gzip"} {
		resp, body := get(t, h, "/core.wasm", accept)
		want := map[string]string{"": "", "gzip": "gzip", "br, gzip": "br"}[accept]
		if got := resp.Header.Get("Content-Encoding"); got != want {
			t.Fatalf("Accept-Encoding %q: Content-Encoding %q, want %q (run `make browser` to make the copies)", accept, got, want)
		}
		if !bytes.Equal(decode(t, want, body), raw) {
			t.Fatalf("Accept-Encoding %q: the decoded body is not dist/core.wasm", accept)
		}
	}
	resp, body := get(t, h, "/core.wasm.gz", "")
	if resp.StatusCode != http.StatusOK || !bytes.Equal(decode(t, "gzip", body), raw) {
		t.Fatalf("/core.wasm.gz: %s, or it does not inflate to dist/core.wasm", resp.Status)
	}
	if _, js := get(t, h, "/remotemedia.js", ""); !bytes.Contains(js, []byte(`"core.wasm.gz":"`)) {
		t.Errorf("remotemedia.js does not name core.wasm.gz's version")
	}
}

func TestLargeModuleGzipped(t *testing.T) {
	big := bytes.Repeat([]byte{0, 'a', 's', 'm', 1, 2, 3}, minCompress)
	mods := fstest.MapFS{"big.wasm": {Data: big}, "small.wasm": {Data: []byte("\x00asm\x01\x00\x00\x00")}}
	h := Handler(mods, nil)
	for _, tc := range []struct{ path, accept, expect string }{
		{"/modules/big.wasm", "gzip, br", "gzip"},
		{"/modules/big.wasm", "", ""},
		{"/modules/small.wasm", "gzip", ""},
	} {
		resp, body := get(t, h, tc.path, tc.accept)
		if got := resp.Header.Get("Content-Encoding"); got != tc.expect {
			t.Fatalf("%s with %q: Content-Encoding %q, want %q", tc.path, tc.accept, got, tc.expect)
		}
		want := mods[tc.path[len("/modules/"):]].Data
		if !bytes.Equal(decode(t, tc.expect, body), want) {
			t.Fatalf("%s with %q: the decoded body differs", tc.path, tc.accept)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestCoreWasmOffTheHeap: the handler keeps core.wasm and its compressed
// copies (16 MB) in the binary's data, not in heap copies the collector would
// count (a server's GOGC headroom grows with them).
func TestCoreWasmOffTheHeap(t *testing.T) {
	st, err := fs.Stat(static, "dist/core.wasm")
	if err != nil {
		t.Skipf("dist/core.wasm not built (%v): run `make browser`", err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	h := Handler(nil, nil)
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(h)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > st.Size()/4 {
		t.Errorf("the handler holds %d bytes of heap; core.wasm is %d bytes: it is held in a copy", grew, st.Size())
	}
}

// TestCoreWasmGzipCopy: /core.wasm.gz is the gzip copy as it is (no
// Content-Encoding: remotemedia.js inflates it), versioned as core.wasm, and a
// 404 with no version when the copies are of another build.
func TestCoreWasmGzipCopy(t *testing.T) {
	raw, fresh := coreBuild(t, "")
	gz := fresh["dist/core.wasm.gz"].Data
	core := precompressedOf(fresh, "dist/core.wasm")
	h, version := http.HandlerFunc(core.serveGzip), core.gzipVersion()
	if version != core.version || version == "" {
		t.Fatalf("version %q, want core.wasm's %q", version, core.version)
	}
	resp, body := get(t, h, "/core.wasm.gz?v="+version, "gzip, br")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s", resp.Status)
	}
	if got := resp.Header.Get("Content-Encoding"); got != "" {
		t.Errorf("Content-Encoding %q, want none (the page inflates it)", got)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/gzip" {
		t.Errorf("Content-Type %q, want application/gzip", got)
	}
	if got := resp.Header.Get("Cache-Control"); got != immutable {
		t.Errorf("Cache-Control %q with its version, want %q", got, immutable)
	}
	if !bytes.Equal(body, gz) || !bytes.Equal(decode(t, "gzip", body), raw) {
		t.Fatalf("the body is not core.wasm.gz")
	}
	if resp, _ := get(t, h, "/core.wasm.gz", ""); resp.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("Cache-Control %q without a version, want no-cache", resp.Header.Get("Cache-Control"))
	}

	stale := fstest.MapFS{"dist/core.wasm": {Data: raw}, "dist/core.wasm.gz": {Data: gz}, "dist/core.wasm.sha256": {Data: []byte("0123\n")}}
	core = precompressedOf(stale, "dist/core.wasm")
	h, version = http.HandlerFunc(core.serveGzip), core.gzipVersion()
	if resp, _ := get(t, h, "/core.wasm.gz", "gzip"); resp.StatusCode != http.StatusNotFound || version != "" {
		t.Errorf("copies of another build: status %s, version %q; want 404 and none", resp.Status, version)
	}
}

// TestModuleBundle: /modules/bundle.msgpack holds every module under
// minCompress bytes, byte for byte, and none of the larger ones; gzipped for a
// client that takes gzip.
func TestModuleBundle(t *testing.T) {
	big := bytes.Repeat([]byte{0, 'a', 's', 'm', 1, 2, 3}, minCompress)
	mods := fstest.MapFS{"big.wasm": {Data: big}, "a.wasm": {Data: []byte("\x00asm\x01\x00\x00\x00a")},
		"b.wasm": {Data: []byte("\x00asm\x01\x00\x00\x00bb")}, "notes.txt": {Data: []byte("not a module")}}
	h := Handler(mods, nil)
	for _, accept := range []string{"gzip", ""} {
		resp, body := get(t, h, "/modules/"+BundleName, accept)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/vnd.msgpack" {
			t.Fatalf("with %q: %d %q", accept, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if got := resp.Header.Get("Content-Encoding"); got != accept {
			t.Fatalf("with %q: Content-Encoding %q", accept, got)
		}
		var got map[string][]byte
		if err := msgpack.Unmarshal(decode(t, accept, body), &got); err != nil {
			t.Fatalf("with %q: %v", accept, err)
		}
		if len(got) != 2 || !bytes.Equal(got["a.wasm"], mods["a.wasm"].Data) || !bytes.Equal(got["b.wasm"], mods["b.wasm"].Data) {
			t.Fatalf("with %q: the bundle holds %d modules %v, want a.wasm and b.wasm as they are", accept, len(got), slices.Sorted(maps.Keys(got)))
		}
	}
	// The bundle stops at maxBundle bytes, smallest modules first.
	many := fstest.MapFS{}
	for i := range 10 {
		many[fmt.Sprintf("m%d.wasm", i)] = &fstest.MapFile{Data: bytes.Repeat([]byte{byte(i)}, maxBundle/8+i)}
	}
	_, body := get(t, Handler(many, nil), "/modules/"+BundleName, "")
	var capped map[string][]byte
	if err := msgpack.Unmarshal(body, &capped); err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(capped)); !slices.Equal(got, []string{"m0.wasm", "m1.wasm", "m2.wasm", "m3.wasm", "m4.wasm", "m5.wasm", "m6.wasm"}) {
		t.Fatalf("bundle of ten modules of about an eighth of the cap: %v, want the seven smallest", got)
	}
	// Without modules the bundle is an empty map, not an error.
	_, body = get(t, Handler(nil, nil), "/modules/"+BundleName, "")
	var none map[string][]byte
	if err := msgpack.Unmarshal(body, &none); err != nil || len(none) != 0 {
		t.Fatalf("no modules: %v, %d in the bundle", err, len(none))
	}
}
