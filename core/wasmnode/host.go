// Package wasmnode runs WebAssembly node modules that follow the RemoteMedia WASM
// node ABI v1 (docs/wasm-abi.md). It is written once against the small Host
// interface below; target/server implements Host with wazero and target/browser
// with the browser's WebAssembly API, so the same module bytes run on both.
package wasmnode

import (
	"context"
	"errors"
)

// ABIVersion is the version of the node ABI this package speaks.
const ABIVersion = 1

// HeaderSize is the size of the fixed frame header at the call boundary.
const HeaderSize = 32

// Errors a Host wraps so that the adapter (and users) can tell failures apart.
var (
	// ErrTrap: the guest trapped (unreachable, out-of-bounds access, ...).
	ErrTrap = errors.New("wasm: module trapped")
	// ErrTimeout: a call ran past the host's per-call deadline and was stopped.
	ErrTimeout = errors.New("wasm: call exceeded its deadline")
	// ErrMemoryLimit: the guest needed more memory than the host's page cap.
	ErrMemoryLimit = errors.New("wasm: memory limit reached")
	// ErrImports: the module imports something the ABI does not grant.
	ErrImports = errors.New("wasm: module imports what the ABI does not grant")
	// ErrABI: the module does not export what ABI v1 requires, or broke a rule of it.
	ErrABI = errors.New("wasm: module does not follow the node ABI")
	// ErrGuest: the guest returned a non-zero status (its message, if it set one, is in the error text).
	ErrGuest = errors.New("wasm: node reported an error")
)

// Host compiles and instantiates modules. It applies its limits (memory page cap,
// per-call deadline) to every instance it makes.
type Host interface {
	// Compile validates and compiles module bytes. name is used in errors.
	// A host may cache compiled code (on disk, in IndexedDB) keyed by content.
	Compile(ctx context.Context, name string, wasm []byte) (Module, error)
	Close(ctx context.Context) error
}

// Module is compiled code that can be instantiated many times.
type Module interface {
	// Instantiate makes a fresh instance whose "rm" imports call funcs, and runs
	// the module's start function (`_initialize` for a WASI reactor) if it has one.
	Instantiate(ctx context.Context, funcs HostFuncs) (Instance, error)
	Close(ctx context.Context) error
}

// HostFuncs implement the ABI's own imports (module "rm") for one instance. The
// byte slices they receive are valid only for the duration of the callback.
type HostFuncs struct {
	Emit  func(header, data []byte) // rm.emit
	Log   func(level int32, msg []byte)
	Error func(msg []byte) // rm.error: the message for the current call's failure
}

// Instance is one instantiated module with its own linear memory and state.
// It is used from one goroutine at a time.
type Instance interface {
	// Func returns the named export, or nil when the module does not export it.
	Func(name string) Func
	// Write copies b into guest memory at offset off.
	Write(off uint32, b []byte) error
	// Read copies n bytes of guest memory at offset off into dst[:n] (growing dst
	// if needed) and returns it.
	Read(dst []byte, off, n uint32) ([]byte, error)
	// MemorySize returns the current size of the guest's memory in bytes.
	MemorySize() uint32
	Close(ctx context.Context) error
}

// Func is a callable export. Params are read from stack[:len(params)] and results
// written to stack[:len(results)], so a call need not allocate. A call that traps,
// times out or exhausts memory returns an error wrapping ErrTrap, ErrTimeout or
// ErrMemoryLimit; the instance must then be discarded.
type Func interface {
	Call(ctx context.Context, stack []uint64) error
}

// Loader fetches module bytes by file name (for example "gain.wasm"): from the
// binary's embedded files on the server, over fetch with an IndexedDB cache in the
// browser. A missing module is an error that wraps fs.ErrNotExist where it can.
type Loader interface {
	Load(ctx context.Context, name string) ([]byte, error)
}
