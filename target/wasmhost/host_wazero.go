//go:build !js

package wasmhost

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/remotemedia/hybrid/core/wasmnode"
)

// watchdogSlices is how many ticks of the watchdog make up one CallTimeout: a
// call is stopped between CallTimeout and CallTimeout*(1+1/watchdogSlices).
const watchdogSlices = 8

const (
	rmModule   = "rm"
	wasiModule = wasi_snapshot_preview1.ModuleName
)

// Host is the native backend: a wazero runtime with the ABI's imports
// instantiated once, every module but the trusted ones instrumented for the
// call deadline, and a watchdog that stops a call past it. It is safe for
// concurrent use; each Instance is used from one goroutine at a time.
type Host struct {
	cfg   Config
	rt    wazero.Runtime
	cache wazero.CompilationCache

	mu        sync.Mutex
	instances map[*instance]struct{} // watched by the watchdog
	tick      atomic.Int64           // advanced by the watchdog every CallTimeout/watchdogSlices
	stop      chan struct{}
	done      chan struct{}
}

var _ wasmnode.Host = (*Host)(nil)

// New starts a host: the wazero compiler runtime with cfg's limits, the "rm" and
// WASI imports, and the watchdog goroutine that enforces the call deadline.
func New(ctx context.Context, cfg Config) (*Host, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	rc := wazero.NewRuntimeConfigCompiler().WithMemoryLimitPages(cfg.MemoryLimitPages)
	h := &Host{cfg: cfg, instances: map[*instance]struct{}{}, stop: make(chan struct{}), done: make(chan struct{})}
	if cfg.CacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasm host: compilation cache %q: %w", cfg.CacheDir, err)
		}
		h.cache = cache
		rc = rc.WithCompilationCache(cache)
	}
	h.rt = wazero.NewRuntimeWithConfig(ctx, rc)
	_, err = instantiateRM(ctx, h.rt)
	if err == nil {
		err = instantiateWASI(ctx, h.rt)
	}
	if err != nil {
		_ = h.rt.Close(ctx)
		return nil, fmt.Errorf("wasm host: %w", err)
	}
	go h.watchdog()
	return h, nil
}

// Compile implements wasmnode.Host. It rejects modules that import anything
// the ABI does not grant (imports.go) and instruments the module for the call
// deadline (guard.go: what is compiled and cached are the instrumented bytes).
func (h *Host) Compile(ctx context.Context, name string, wasm []byte) (wasmnode.Module, error) {
	if h.closed() {
		return nil, fmt.Errorf("wasm: module %q: %w", name, ErrClosed)
	}
	guarded := !slices.Contains(h.cfg.Trusted, sha256.Sum256(wasm))
	code, err := checkModule(wasm, h.cfg.MemoryLimitPages)
	if err != nil {
		return nil, fmt.Errorf("wasm: module %q: %w", name, err)
	}
	if guarded {
		if code, err = guard(code); err != nil {
			return nil, fmt.Errorf("wasm: module %q: %w", name, err)
		}
	}
	cm, err := compileModule(ctx, h.rt, code)
	if err != nil {
		return nil, fmt.Errorf("wasm: module %q: %w", name, err)
	}
	return &module{h: h, name: name, cm: cm, guarded: guarded, exports: cm.ExportedFunctions()}, nil
}

// compileModule is rt.CompileModule, with a panic in wazero's validation
// turned into an error: wazero 1.12 indexes out of range on some malformed
// modules (FuzzInstrument found one: testdata/fuzz/FuzzInstrument/5148988995099bca),
// which would otherwise take the whole server down with one bad module file.
func compileModule(ctx context.Context, rt wazero.Runtime, code []byte) (cm wazero.CompiledModule, err error) {
	defer func() {
		if r := recover(); r != nil {
			cm, err = nil, fmt.Errorf("%w: wazero could not validate it (%v)", ErrMalformed, r)
		}
	}()
	return rt.CompileModule(ctx, code)
}

// Close stops the watchdog and closes the runtime with every module and instance.
// It does not close the compilation cache's directory contents.
func (h *Host) Close(ctx context.Context) error {
	if h.closed() {
		return nil
	}
	close(h.stop)
	<-h.done
	err := h.rt.Close(ctx)
	if h.cache != nil {
		err = errors.Join(err, h.cache.Close(ctx))
	}
	return err
}

func (h *Host) closed() bool {
	select {
	case <-h.stop:
		return true
	default:
		return false
	}
}

// watchdog advances the coarse clock and stops calls that run past the
// deadline by setting their instance's interrupt global to 1 and its budget
// global to 0: the guest traps at its next loop header or function entry
// (guard.go), and the call, seeing its started mark replaced by stopped,
// reports ErrTimeout. wazero's compiled code loads a mutable global from the
// instance on the first global.get of a loop header or function entry, so the
// stores are seen by the running guest; should the guest's own decrement
// overwrite the 0, it still traps within budgetRefill checks. A stop-the-world,
// which stops the watchdog too, waits for the guest's next safe point, at most
// budgetRefill checks away.
func (h *Host) watchdog() {
	defer close(h.done)
	limit := int64(watchdogSlices)
	t := time.NewTicker(max(h.cfg.CallTimeout/watchdogSlices, time.Nanosecond))
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		now := h.tick.Add(1)
		h.mu.Lock()
		for in := range h.instances {
			if in.interrupt == nil { // a trusted module: nothing can stop it
				continue
			}
			if started := in.started.Load(); started > 0 && now-started >= limit && in.started.CompareAndSwap(started, stopped) {
				in.interrupt.Set(1)
				in.budget.Set(0)
			}
		}
		h.mu.Unlock()
	}
}

// clearInterrupt resets in's interrupt global after a call it stopped, so that
// the instance traps no more if it is called again. The watchdog sets the
// global under h.mu too, so the two never race.
func (h *Host) clearInterrupt(in *instance) {
	h.mu.Lock()
	in.interrupt.Set(0)
	h.mu.Unlock()
}

func (h *Host) watch(in *instance) {
	h.mu.Lock()
	h.instances[in] = struct{}{}
	h.mu.Unlock()
}

func (h *Host) unwatch(in *instance) {
	h.mu.Lock()
	delete(h.instances, in)
	h.mu.Unlock()
}

// errnoBadf is WASI preview1's EBADF.
const errnoBadf = 8

// instantiateWASI instantiates wazero's WASI preview1 with fd_read replaced:
// docs/wasm-abi.md grants no readable file, stdin included, so it is EBADF
// (wazero's own returns EOF for an unset stdin).
func instantiateWASI(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(wasiModule)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	i32 := api.ValueTypeI32
	b.NewFunctionBuilder().
		WithGoFunction(api.GoFunc(func(_ context.Context, stack []uint64) { stack[0] = errnoBadf }),
			[]api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}).
		WithParameterNames("fd", "iovs", "iovs_len", "result.nread").Export("fd_read")
	_, err := b.Instantiate(ctx)
	return err
}
