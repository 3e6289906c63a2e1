package wasmhost

import (
	"errors"
	"fmt"
	"time"

	"github.com/remotemedia/hybrid/core/wasmnode"
	"github.com/remotemedia/hybrid/target/internal/wasmguard"
)

// The failures of a call or a compile, as both backends classify them. The
// first five are core/wasmnode's, which the node adapter tells apart; they
// are repeated here so that a user of this package finds them in one place.
var (
	// ErrTrap: the guest trapped (unreachable, out-of-bounds access, a stack
	// overflow, proc_exit, an ABI rule broken inside an import).
	ErrTrap = wasmnode.ErrTrap
	// ErrTimeout: a call ran past Config.CallTimeout.
	ErrTimeout = wasmnode.ErrTimeout
	// ErrMemoryLimit: the guest needed more memory than Config.MemoryLimitPages
	// (it wraps ErrTrap too when a call trapped for it).
	ErrMemoryLimit = wasmnode.ErrMemoryLimit
	// ErrImports: the module imports what docs/wasm-abi.md does not grant.
	ErrImports = wasmnode.ErrImports
	// ErrABI: the module does not export its memory, or passed a range
	// outside it to an import.
	ErrABI = wasmnode.ErrABI

	// ErrMalformed: the module bytes cannot be read as WebAssembly 1.0/2.0.
	ErrMalformed = wasmguard.ErrMalformed
	// ErrGuard: the wazero backend cannot instrument the module for its call
	// deadline (malformed, or an opcode past WebAssembly 2.0). Such a module
	// is not loaded rather than run unguarded.
	ErrGuard = wasmguard.ErrGuard
	// ErrClosed: the host was closed.
	ErrClosed = errors.New("wasm host: closed")
	// ErrConfig: a Config limit is out of range.
	ErrConfig = errors.New("wasm host: bad config")
	// ErrNoShim: the js backend found no globalThis.RemoteMediaWASI: the page
	// must load web/wasi-shim.js before core.wasm.
	ErrNoShim = errors.New("wasm host: globalThis.RemoteMediaWASI is missing: load wasi-shim.js before core.wasm")
)

// memoryState is what a backend knows of an instance's memory when a call
// trapped.
type memoryState struct {
	bytes   uint32 // the memory's size
	watched bool   // the module records refused growth (wasmguard's GrowRefusedExport)
	refused bool   // a memory.grow was refused during the call
	ownMax  uint32 // the module's own maximum in pages, 0 when it has none or it is not known
}

// trapError classifies a trap of the call name, whose cause the backend
// describes: it wraps ErrMemoryLimit and ErrTrap when the memory cap (or the
// module's own maximum) caused it, else ErrTrap. A module that records refused
// growth fails for memory exactly when a memory.grow was refused during the
// call, however the guest went on (a trap, or a write through the -1 it got
// back); for a module that does not, a trap with less than a page left under
// the cap is taken for the cap.
func (c Config) trapError(name string, m memoryState, cause string) error {
	pages := m.bytes / pageSize
	limit := c.memoryLimitBytes()
	switch {
	case m.watched && m.refused && m.ownMax > 0 && m.ownMax < c.MemoryLimitPages:
		return fmt.Errorf("%s: %w (the module's own maximum of %d pages; memory.grow refused at %d pages): %w: %s",
			name, ErrMemoryLimit, m.ownMax, pages, ErrTrap, cause)
	case m.watched && m.refused:
		return fmt.Errorf("%s: %w (cap %d pages = %d MiB; memory.grow refused at %d pages): %w: %s",
			name, ErrMemoryLimit, c.MemoryLimitPages, limit>>20, pages, ErrTrap, cause)
	case !m.watched && uint64(m.bytes)+pageSize > limit:
		return fmt.Errorf("%s: %w (cap %d pages = %d MiB): %w: %s",
			name, ErrMemoryLimit, c.MemoryLimitPages, limit>>20, ErrTrap, cause)
	}
	return fmt.Errorf("%s: %w: %s", name, ErrTrap, cause)
}

// timeoutError is the failure of the call name that ran past the deadline;
// elapsed is how long it ran when the backend knows it (else 0).
func (c Config) timeoutError(name string, elapsed time.Duration) error {
	if elapsed > 0 {
		return fmt.Errorf("%s: %w (%v; the call returned after %v)", name, ErrTimeout, c.CallTimeout, elapsed.Round(time.Millisecond))
	}
	return fmt.Errorf("%s: %w (%v)", name, ErrTimeout, c.CallTimeout)
}

// outsideMemory is the failure of a host read or write of n bytes at off that
// falls outside a memory of size bytes.
func outsideMemory(op string, n int, off, size uint32) error {
	return fmt.Errorf("%w: %s %d bytes at %d: outside the %d-byte memory", ErrABI, op, n, off, size)
}
