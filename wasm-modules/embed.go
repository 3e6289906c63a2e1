// Package modules embeds the standard WebAssembly node modules built into build/
// by `make modules` (sources in src/ and go/, guest SDKs in include/ and sdk/go/).
// A tree where they were not built still compiles; loading a module then fails
// with an error saying how to build them.
package modules

import (
	"context"
	"crypto/sha256"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
)

//go:embed build
var files embed.FS

// FS returns the embedded build/ folder: the standard modules as <name>.wasm at
// its root (and test modules under test/, when they were built).
func FS() fs.FS {
	sub, err := fs.Sub(files, "build")
	if err != nil { // only if the embed directive changes
		return files
	}
	return sub
}

// Names returns the file names of the embedded standard modules (for example
// "gain.wasm"), sorted.
func Names() []string {
	entries, _ := fs.ReadDir(FS(), ".")
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".wasm") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

// Hashes returns the sha256 of each embedded module, computed once: a host
// given them as wasmhost.Config.Trusted runs these bytes without the deadline
// instrumentation, as the remotemedia binary does (the same names loaded from
// elsewhere with other bytes are guarded).
var Hashes = sync.OnceValue(func() [][sha256.Size]byte {
	var out [][sha256.Size]byte
	for _, name := range Names() {
		if b, err := fs.ReadFile(FS(), name); err == nil {
			out = append(out, sha256.Sum256(b))
		}
	}
	return out
})

// Loader loads modules from the embedded files; it implements core/wasmnode.Loader.
type Loader struct{}

// MissingModule says why the module file name is not embedded, or returns ""
// when it is (it implements core/wasmnode.ModuleChecker: a standard type whose
// module was not built is unavailable, and runtime_hint auto falls back to its
// Python implementation).
func (Loader) MissingModule(name string) string {
	if !strings.HasSuffix(name, ".wasm") || !fs.ValidPath(name) || path.Clean(name) != name {
		return fmt.Sprintf("%q is not a module file name", name)
	}
	if _, err := fs.Stat(FS(), name); err != nil {
		return name + " is not embedded in this binary (run `make modules`, then rebuild)"
	}
	return ""
}

// Load returns the bytes of the module file name (for example "gain.wasm" or
// "test/echo.wasm"). A module that was not built gives an error wrapping
// fs.ErrNotExist.
func (Loader) Load(_ context.Context, name string) ([]byte, error) {
	if !strings.HasSuffix(name, ".wasm") || !fs.ValidPath(name) || path.Clean(name) != name {
		return nil, fmt.Errorf("modules: %q: not a module file name: %w", name, fs.ErrNotExist)
	}
	b, err := fs.ReadFile(FS(), name)
	if err != nil {
		return nil, fmt.Errorf("modules: %s is not embedded in this binary (run `make modules`, then rebuild): %w", name, fs.ErrNotExist)
	}
	return b, nil
}
