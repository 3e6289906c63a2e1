// Package wasmhost runs WebAssembly node modules for core/wasmnode: one Host
// type with two backends, chosen by build target as pion/webrtc does.
//
//   - host_wazero.go (every target but js): wazero's compiler, with compiled
//     code cached on disk, a watchdog that stops a call at its deadline (the
//     module is instrumented by target/internal/wasmguard for it), and the
//     memory cap enforced by wazero.
//   - host_js.go (js/wasm, in a browser or Node.js): the JavaScript
//     WebAssembly API, with the WASI and "rm" imports from web/wasi-shim.js,
//     the memory cap written into the module's memory maximum, and the
//     deadline checked when a call returns (the browser cannot stop
//     synchronous WebAssembly on the thread that runs it; docs/browser.md).
//
// Both backends share the configuration and its defaults (config.go), the
// import grant table and its check (imports.go), the WebAssembly reader
// (wasmguard's) and the classification of failures (errors.go). Both pass the
// same conformance suite (conformance_test.go). docs/wasm-abi.md describes
// the contract.
package wasmhost

import (
	"crypto/sha256"
	"fmt"
	"time"
)

// Default limits (docs/wasm-abi.md, "Errors and limits"). The CLI's flags take
// their defaults from these.
const (
	DefaultMemoryLimitPages = 256 // 16 MiB
	DefaultCallTimeout      = time.Second
)

// MaxMemoryPages is the most pages a wasm32 memory can have (4 GiB).
const MaxMemoryPages = 65536

// pageSize is the size of a WebAssembly page.
const pageSize = 65536

// Config sets a Host's limits and cache. Zero values take the defaults.
type Config struct {
	// MemoryLimitPages caps every instance's memory in 64 KiB pages (default
	// DefaultMemoryLimitPages, at most MaxMemoryPages).
	MemoryLimitPages uint32
	// CallTimeout is the per-call deadline (default DefaultCallTimeout). The
	// wazero backend stops a call at it; the js backend fails a call that
	// returned after it.
	CallTimeout time.Duration
	// CacheDir holds compiled code between process starts; "" keeps it in
	// memory only. The js backend ignores it (the page caches module bytes).
	CacheDir string
	// Trusted lists the sha256 of module files that the wazero backend runs
	// without the deadline instrumentation (the standard modules built into
	// the binary: our own code, whose loops are bounded by the frame). The
	// guard's loop checks cost about as much as a SIMD DSP loop's own work;
	// every other module is guarded. The js backend cannot stop a call, so it
	// instruments no module for the deadline and ignores it.
	Trusted [][sha256.Size]byte
}

// withDefaults returns c with zero values replaced by the defaults, or an
// error naming the limit that is out of range.
func (c Config) withDefaults() (Config, error) {
	if c.MemoryLimitPages == 0 {
		c.MemoryLimitPages = DefaultMemoryLimitPages
	}
	if c.MemoryLimitPages > MaxMemoryPages {
		return c, fmt.Errorf("%w: memory limit %d pages is over the wasm32 maximum %d", ErrConfig, c.MemoryLimitPages, MaxMemoryPages)
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	return c, nil
}

// memoryLimitBytes is the page cap in bytes.
func (c Config) memoryLimitBytes() uint64 { return uint64(c.MemoryLimitPages) * pageSize }
