// Package web serves the browser side of RemoteMedia: remotemedia.js (the
// script-tag API) and remotemedia.mjs (the same API as an ES module, made from
// remotemedia.js: esmodule.go), the WASI shim for node modules, core.wasm and wasm_exec.js
// (generated into dist/ by `make browser`), the demo page, the standard modules
// with their sha256 index, and the example definitions (docs/browser.md).
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

//go:embed index.html demo.js demo.css remotemedia.js wasi-shim.js inspector.html inspector.js dist
var static embed.FS

// Handler serves the web files, the modules of modules (NAME.wasm at its root)
// under /modules/ with /modules/index.json (file name -> sha256 hex), and the
// definitions of examples (NAME.yaml at its root) under /examples/. Either FS
// may be nil.
func Handler(modules fs.FS, examples fs.FS) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", isolated(file(static, "index.html")))
	mux.HandleFunc("GET /inspector.html", file(static, "inspector.html"))
	for _, name := range []string{"wasi-shim.js", "demo.js", "demo.css", "inspector.js"} {
		mux.HandleFunc("GET /"+name, file(static, name))
	}
	core := precompressedOf(static, "dist/core.wasm")
	mux.HandleFunc("GET /core.wasm", core.serve)
	mux.HandleFunc("GET /core.wasm.gz", core.serveGzip)
	mux.HandleFunc("GET /wasm_exec.js", file(static, "dist/wasm_exec.js"))
	// What remotemedia.js loads at start-up, by version (withVersions).
	versions := map[string]string{"core.wasm": core.version, "core.wasm.gz": core.gzipVersion(),
		"wasm_exec.js": versionOf(static, "dist/wasm_exec.js"), "wasi-shim.js": versionOf(static, "wasi-shim.js")}
	classic, err := fs.ReadFile(static, "remotemedia.js")
	mux.HandleFunc("GET /remotemedia.js", bytesFile("remotemedia.js", withVersions(classic, versions), err))
	mjs, err := esModuleOf(static)
	mux.HandleFunc("GET /remotemedia.mjs", bytesFile("remotemedia.mjs", withVersions(mjs, versions), err))

	index, wasm := moduleIndex(modules)
	gzipped := map[string]func() []byte{}
	for name, b := range wasm {
		if len(b) >= minCompress {
			gzipped[name] = sync.OnceValue(func() []byte { return gzipBytes(b) })
		}
	}
	mux.HandleFunc("GET /modules/index.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(index)
	})
	// The small modules in one response, for a tab's first visit
	// (target/browser: init fetches it when its IndexedDB holds no module),
	// where a request per module waited 40-70 ms on the way to the first frame.
	bundle := moduleBundle(wasm)
	bundleGz := sync.OnceValue(func() []byte { return gzipBytes(bundle) })
	mux.HandleFunc("GET /modules/"+BundleName, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.msgpack")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Add("Vary", "Accept-Encoding")
		coding, b := "", bundle
		if qvalue(r.Header.Get("Accept-Encoding"), "gzip") > 0 {
			coding, b = "gzip", bundleGz()
		}
		serveEncoded(w, r, coding, bytes.NewReader(b), int64(len(b)))
	})
	mux.HandleFunc("GET /modules/{name}", func(w http.ResponseWriter, r *http.Request) {
		b, ok := wasm[r.PathValue("name")]
		if !ok {
			http.Error(w, "no such module", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/wasm")
		w.Header().Set("Cache-Control", "no-cache")
		if len(b) < minCompress {
			_, _ = w.Write(b)
			return
		}
		// A large module (the Go chunker is 2 MB) goes out gzipped to a client
		// that accepts it, compressed once on the first request.
		w.Header().Add("Vary", "Accept-Encoding")
		coding := ""
		if qvalue(r.Header.Get("Accept-Encoding"), "gzip") > 0 {
			coding, b = "gzip", gzipped[r.PathValue("name")]()
		}
		serveEncoded(w, r, coding, bytes.NewReader(b), int64(len(b)))
	})
	mux.HandleFunc("GET /examples/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if examples == nil || !strings.HasSuffix(name, ".yaml") || !fs.ValidPath(name) {
			http.NotFound(w, r)
			return
		}
		b, err := fs.ReadFile(examples, name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/yaml; charset=utf-8")
		_, _ = w.Write(b)
	})
	return mux
}

// isolated serves the demo page cross-origin isolated (COOP same-origin, COEP
// require-corp): there performance.now(), the clock of the tab's per-node
// latencies, ticks every 5 µs instead of every 100 µs. Everything the page loads
// comes from its own origin, so the policies take nothing from it.
func isolated(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cross-Origin-Opener-Policy", "same-origin")
		w.Header().Set("Cross-Origin-Embedder-Policy", "require-corp")
		next(w, r)
	}
}

// BundleName is the file under /modules/ that holds the small modules as one
// msgpack map of file name to bytes: each under minCompress bytes, smallest
// first, up to maxBundle bytes in all (the standard C modules and dc_block:
// about 130 KB, 45 KB gzipped).
const BundleName = "bundle.msgpack"

// maxBundle bounds the bundle, which every first visit fetches, whatever
// `serve --modules DIR` adds.
const maxBundle = 256 << 10

// moduleBundle is the body of /modules/bundle.msgpack.
func moduleBundle(wasm map[string][]byte) []byte {
	names := slices.Sorted(maps.Keys(wasm))
	slices.SortStableFunc(names, func(a, b string) int { return len(wasm[a]) - len(wasm[b]) })
	small, total := map[string][]byte{}, 0
	for _, name := range names {
		b := wasm[name]
		if len(b) >= minCompress || total+len(b) > maxBundle {
			break
		}
		small[name], total = b, total+len(b)
	}
	enc := msgpack.GetEncoder()
	defer msgpack.PutEncoder(enc)
	var buf bytes.Buffer
	enc.Reset(&buf)
	enc.SetSortMapKeys(true)
	if err := enc.Encode(small); err != nil {
		return nil // a map of byte slices always encodes
	}
	return buf.Bytes()
}

// moduleIndex reads the top-level .wasm files of modules once.
func moduleIndex(modules fs.FS) ([]byte, map[string][]byte) {
	wasm := map[string][]byte{}
	hashes := map[string]string{}
	if modules != nil {
		entries, _ := fs.ReadDir(modules, ".")
		for _, e := range entries {
			if e.IsDir() || path.Ext(e.Name()) != ".wasm" {
				continue
			}
			b, err := fs.ReadFile(modules, e.Name())
			if err != nil {
				continue
			}
			sum := sha256.Sum256(b)
			wasm[e.Name()], hashes[e.Name()] = b, hex.EncodeToString(sum[:])
		}
	}
	index, _ := json.Marshal(hashes) // map keys are marshalled sorted
	return index, wasm
}

// file serves one embedded file with its content type and an ETag, so that a
// revalidated core.wasm comes from the HTTP cache (and V8's code cache); a
// generated file that was not built is a 404 saying how to build it.
func file(fsys fs.FS, name string) http.HandlerFunc {
	b, err := fs.ReadFile(fsys, name)
	return bytesFile(name, b, err)
}

// bytesFile serves b as file name does; err is why b could not be had.
func bytesFile(name string, b []byte, err error) http.HandlerFunc {
	types := map[string]string{".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
		".css": "text/css; charset=utf-8", ".wasm": "application/wasm"}
	sum := sha256.Sum256(b)
	version := hex.EncodeToString(sum[:16])
	etag := `"` + version + `"`
	return func(w http.ResponseWriter, r *http.Request) {
		if err != nil {
			http.Error(w, name+" is not built into this binary: run `make browser`, then rebuild", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", types[path.Ext(name)])
		w.Header().Set("Cache-Control", cacheControl(r, version))
		w.Header().Set("ETag", etag)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
	}
}

// minCompress is the size from which a module is served gzipped: below it the
// saving is not worth the client's decoding (the C modules are 2-25 KB).
const minCompress = 64 << 10

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // a valid level: no error
	_, _ = zw.Write(b)                                       // a bytes.Buffer does not fail
	_ = zw.Close()
	return buf.Bytes()
}

// encoding is one representation of a file: its content coding ("" for the
// file itself), where its bytes are, and its ETag.
type encoding struct {
	coding string
	body   body
	etag   string
}

// body is a file of an FS served by reading it on each request: an embedded
// file reads from the binary's data, so core.wasm and its compressed copies
// (16 MB) stay off the Go heap, where the collector would count them and grow
// its target to match (docs/server.md, "Memory").
type body struct {
	fsys fs.FS
	name string
	size int64
}

// open returns the file to serve; a file that cannot seek (not an embedded
// or an OS file) is read whole.
func (b body) open() (io.ReadSeeker, io.Closer, error) {
	f, err := b.fsys.Open(b.name)
	if err != nil {
		return nil, nil, err
	}
	if rs, ok := f.(io.ReadSeeker); ok {
		return rs, f, nil
	}
	all, err := io.ReadAll(f)
	return bytes.NewReader(all), f, err
}

// sumOf is the sha256 and size of a file of fsys, read through without
// keeping it.
func sumOf(fsys fs.FS, name string) (sum [sha256.Size]byte, size int64, err error) {
	f, err := fsys.Open(name)
	if err != nil {
		return sum, 0, err
	}
	defer f.Close()
	h := sha256.New()
	size, err = io.Copy(h, f)
	h.Sum(sum[:0])
	return sum, size, err
}

// versionsLine is the line of remotemedia.js that the server fills in with the
// versions of the files it loads at start-up (withVersions).
const versionsLine = `const VERSIONS = {};`

// withVersions writes versions (file name -> version; "" for a file not
// built) into remotemedia.js's VERSIONS, so that the script asks for
// NAME?v=VERSION: URLs that stay the same while the build does, which the
// browser keeps without asking again (cacheControl).
func withVersions(script []byte, versions map[string]string) []byte {
	known := map[string]string{}
	for name, v := range versions {
		if v != "" {
			known[name] = v
		}
	}
	b, _ := json.Marshal(known) // a map of strings: no error; keys sorted
	return bytes.Replace(script, []byte(versionsLine), []byte(`const VERSIONS = `+string(b)+`;`), 1)
}

// versionOf is the version of a file of fsys (as its ETag gives it), or ""
// when it is missing.
func versionOf(fsys fs.FS, name string) string {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// immutable is the Cache-Control of a file asked for by its version.
const immutable = "public, max-age=31536000, immutable"

// cacheControl is immutable for a request with ?v=version (the file's own),
// else no-cache: the browser revalidates it by its ETag.
func cacheControl(r *http.Request, version string) string {
	if v := r.URL.Query().Get("v"); v != "" && v == version {
		return immutable
	}
	return "no-cache"
}

// precompressed is a file and the copies `make browser` precompressed beside it
// (tools/precompress), name.br and name.gz, found and checked once: the copies
// are used only when name.sha256 is the sha256 of name, so a core.wasm rebuilt
// without them is served raw rather than with stale copies.
type precompressed struct {
	name string
	err  error // name is missing
	// version is the hex of the first half of name's sha256 ("" when name is
	// missing): a request with ?v=VERSION gets the file with Cache-Control
	// immutable for a year, any other one no-cache (revalidated by ETag).
	version   string
	encodings []encoding // name itself first, then the valid copies: br, gzip
}

func precompressedOf(fsys fs.FS, name string) *precompressed {
	sum, size, err := sumOf(fsys, name)
	etag := hex.EncodeToString(sum[:16])
	p := &precompressed{name: name, err: err, encodings: []encoding{{"", body{fsys, name, size}, `"` + etag + `"`}}}
	if err != nil {
		return p
	}
	p.version = etag
	if made, _ := fs.ReadFile(fsys, name+".sha256"); strings.TrimSpace(string(made)) == hex.EncodeToString(sum[:]) {
		for _, c := range []struct{ coding, ext string }{{"br", ".br"}, {"gzip", ".gz"}} {
			if st, err := fs.Stat(fsys, name+c.ext); err == nil {
				p.encodings = append(p.encodings, encoding{c.coding, body{fsys, name + c.ext, st.Size()}, `"` + etag + "-" + c.coding + `"`})
			}
		}
	}
	return p
}

// serve serves the file (application/wasm) as name.br to a client whose
// Accept-Encoding allows br, else as name.gz to one that allows gzip, else as
// it is, always with Vary: Accept-Encoding.
func (p *precompressed) serve(w http.ResponseWriter, r *http.Request) {
	if p.err != nil {
		http.Error(w, p.name+" is not built into this binary: run `make browser`, then rebuild", http.StatusNotFound)
		return
	}
	e := chooseEncoding(r.Header.Get("Accept-Encoding"), p.encodings)
	rs, closer, err := e.body.open()
	if err != nil {
		http.Error(w, p.name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	defer closer.Close()
	h := w.Header()
	h.Add("Vary", "Accept-Encoding")
	h.Set("Content-Type", "application/wasm")
	h.Set("Cache-Control", cacheControl(r, p.version))
	h.Set("ETag", e.etag)
	serveEncoded(w, r, e.coding, rs, e.body.size)
}

// gzip is the valid gzip copy, if there is one.
func (p *precompressed) gzip() (encoding, bool) {
	for _, e := range p.encodings {
		if e.coding == "gzip" {
			return e, true
		}
	}
	return encoding{}, false
}

// gzipVersion is the version of name.gz: the file's, "" when there is no valid copy.
func (p *precompressed) gzipVersion() string {
	if _, ok := p.gzip(); !ok {
		return ""
	}
	return p.version
}

// serveGzip serves name.gz as it is: application/gzip with no
// Content-Encoding, for remotemedia.js to inflate in the page
// (DecompressionStream) as it compiles. A first visit takes core.wasm so: 2.8
// MB cross from the browser's network process to the page instead of 11.5 MB,
// and the inflating runs on the page's thread, which is mostly idle while
// core.wasm compiles (docs/browser.md, "Start-up"). A 404 when there is no
// valid copy.
func (p *precompressed) serveGzip(w http.ResponseWriter, r *http.Request) {
	e, ok := p.gzip()
	if !ok {
		http.Error(w, p.name+".gz is not built into this binary: run `make browser`, then rebuild", http.StatusNotFound)
		return
	}
	rs, closer, err := e.body.open()
	if err != nil {
		http.Error(w, e.body.name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	defer closer.Close()
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Cache-Control", cacheControl(r, p.version))
	w.Header().Set("ETag", e.etag)
	http.ServeContent(w, r, "", time.Time{}, rs)
}

// serveEncoded serves b, coded as coding ("" for none), with its length and the
// conditional requests ServeContent answers. A coded representation is always
// sent whole: ServeContent leaves Content-Length to the caller then, and a range
// of compressed bytes is of no use to a browser.
func serveEncoded(w http.ResponseWriter, r *http.Request, coding string, content io.ReadSeeker, size int64) {
	if coding != "" {
		w.Header().Set("Content-Encoding", coding)
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		if r.Header.Get("Range") != "" {
			r = r.Clone(r.Context())
			r.Header.Del("Range")
		}
	}
	http.ServeContent(w, r, "", time.Time{}, content)
}

// chooseEncoding returns the coded representation the client rates highest
// (br before gzip when it rates them equally), else the file itself (listed
// first in encodings).
func chooseEncoding(accept string, encodings []encoding) encoding {
	best, bestQ := encodings[0], 0.0
	for _, e := range encodings[1:] {
		if q := qvalue(accept, e.coding); q > bestQ {
			best, bestQ = e, q
		}
	}
	return best
}

// qvalue returns the weight an Accept-Encoding header gives coding (RFC 9110,
// section 12.5.3): that of its own entry, else that of "*", else 0.
func qvalue(accept, coding string) float64 {
	own, star := -1.0, -1.0
	for _, entry := range strings.Split(accept, ",") {
		name, params, _ := strings.Cut(entry, ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name != coding && name != "*" {
			continue
		}
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && f >= 0 && f <= 1 {
					q = f
				} else {
					q = 0
				}
			}
		}
		if name == coding {
			own = max(own, q)
		} else {
			star = max(star, q)
		}
	}
	switch {
	case own >= 0:
		return own
	case star >= 0:
		return star
	}
	return 0
}
