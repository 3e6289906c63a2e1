// Package web serves the browser side of RemoteMedia: remotemedia.js (the
// script-tag API), the WASI shim for node modules, core.wasm and wasm_exec.js
// (generated into dist/ by `make browser`), the demo page, the standard modules
// with their sha256 index, and the example definitions (docs/browser.md).
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed index.html demo.js demo.css remotemedia.js wasi-shim.js dist
var static embed.FS

// Handler serves the web files, the modules of modules (NAME.wasm at its root)
// under /modules/ with /modules/index.json (file name -> sha256 hex), and the
// definitions of examples (NAME.yaml at its root) under /examples/. Either FS
// may be nil.
func Handler(modules fs.FS, examples fs.FS) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", file(static, "index.html"))
	for _, name := range []string{"remotemedia.js", "wasi-shim.js", "demo.js", "demo.css"} {
		mux.HandleFunc("GET /"+name, file(static, name))
	}
	mux.HandleFunc("GET /core.wasm", file(static, "dist/core.wasm"))
	mux.HandleFunc("GET /wasm_exec.js", file(static, "dist/wasm_exec.js"))

	index, wasm := moduleIndex(modules)
	mux.HandleFunc("GET /modules/index.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(index)
	})
	mux.HandleFunc("GET /modules/{name}", func(w http.ResponseWriter, r *http.Request) {
		b, ok := wasm[r.PathValue("name")]
		if !ok {
			http.Error(w, "no such module", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/wasm")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(b)
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
	types := map[string]string{".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
		".css": "text/css; charset=utf-8", ".wasm": "application/wasm"}
	b, err := fs.ReadFile(fsys, name)
	sum := sha256.Sum256(b)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	return func(w http.ResponseWriter, r *http.Request) {
		if err != nil {
			http.Error(w, name+" is not built into this binary: run `make browser`, then rebuild", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", types[path.Ext(name)])
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("ETag", etag)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
	}
}
