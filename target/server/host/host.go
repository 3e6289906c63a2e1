// Package host implements core/wasmnode.Host with wazero: compiled modules are
// cached on disk, every instance runs under a memory page cap and a per-call
// deadline, and modules may import only what docs/wasm-abi.md grants.
package host

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/remotemedia/hybrid/core/wasmnode"
)

// Config sets a Host's limits and cache. Zero values take the defaults.
type Config struct {
	// MemoryLimitPages caps every instance's memory in 64 KiB pages (default 256: 16 MiB).
	MemoryLimitPages uint32
	// CallTimeout is the per-call deadline (default 1s).
	CallTimeout time.Duration
	// CacheDir holds compiled code between process starts; "" keeps it in memory only.
	CacheDir string
	// Trusted lists the sha256 of module files that run without the deadline
	// instrumentation (the standard modules built into the binary: our own code,
	// whose loops are bounded by the frame). The guard's loop checks cost about as
	// much as a SIMD DSP loop's own work; every other module is guarded.
	Trusted [][sha256.Size]byte
}

// Default limits (docs/wasm-abi.md, "Errors and limits").
const (
	DefaultMemoryLimitPages = 256
	DefaultCallTimeout      = time.Second
)

// watchdogSlices is how many ticks of the watchdog make up one CallTimeout: a
// call is stopped between CallTimeout and CallTimeout*(1+1/watchdogSlices).
const watchdogSlices = 8

// wasiGranted is the WASI preview1 subset of docs/wasm-abi.md.
var wasiGranted = []string{
	"args_sizes_get", "args_get", "environ_sizes_get", "environ_get",
	"clock_time_get", "clock_res_get", "random_get", "fd_write",
	"fd_close", "fd_fdstat_get", "fd_seek", "fd_read", "fd_prestat_get", "fd_prestat_dir_name",
	"poll_oneoff", "sched_yield", "proc_exit",
}

const (
	rmModule   = "rm"
	wasiModule = wasi_snapshot_preview1.ModuleName
)

// Host is a wazero runtime with the ABI's imports instantiated once. It is safe
// for concurrent use; each Instance is used from one goroutine at a time.
type Host struct {
	cfg     Config
	rt      wazero.Runtime
	cache   wazero.CompilationCache
	granted map[string]api.FunctionDefinition // "module.name" -> signature

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
	if cfg.MemoryLimitPages == 0 {
		cfg.MemoryLimitPages = DefaultMemoryLimitPages
	}
	if cfg.MemoryLimitPages > 65536 {
		return nil, fmt.Errorf("wasm host: memory limit %d pages is over the wasm32 maximum 65536", cfg.MemoryLimitPages)
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
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
	rm, err := instantiateRM(ctx, h.rt)
	if err == nil {
		err = instantiateWASI(ctx, h.rt)
	}
	if err != nil {
		_ = h.rt.Close(ctx)
		return nil, fmt.Errorf("wasm host: %w", err)
	}
	h.granted = map[string]api.FunctionDefinition{}
	for name, def := range rm.ExportedFunctionDefinitions() {
		h.granted[rmModule+"."+name] = def
	}
	wasiDefs := h.rt.Module(wasiModule).ExportedFunctionDefinitions()
	for _, name := range wasiGranted {
		h.granted[wasiModule+"."+name] = wasiDefs[name]
	}
	go h.watchdog()
	return h, nil
}

// Compile implements wasmnode.Host. It instruments the module for the call
// deadline (guard.go: what is compiled and cached are the instrumented bytes),
// and rejects modules that import anything the ABI does not grant.
func (h *Host) Compile(ctx context.Context, name string, wasm []byte) (wasmnode.Module, error) {
	code, guarded := wasm, !slices.Contains(h.cfg.Trusted, sha256.Sum256(wasm))
	if guarded {
		var err error
		if code, err = guard(wasm); err != nil {
			return nil, fmt.Errorf("wasm: module %q: %w", name, err)
		}
	}
	cm, err := h.rt.CompileModule(ctx, code)
	if err != nil {
		return nil, fmt.Errorf("wasm: module %q: %w", name, err)
	}
	if err := h.checkImports(cm); err != nil {
		_ = cm.Close(ctx)
		return nil, fmt.Errorf("wasm: module %q: %w", name, err)
	}
	return &module{h: h, name: name, cm: cm, guarded: guarded}, nil
}

func (h *Host) checkImports(cm wazero.CompiledModule) error {
	var bad []string
	for _, def := range cm.ImportedFunctions() {
		mod, name, _ := def.Import()
		want, ok := h.granted[mod+"."+name]
		switch {
		case !ok:
			bad = append(bad, mod+"."+name)
		case !slices.Equal(def.ParamTypes(), want.ParamTypes()) || !slices.Equal(def.ResultTypes(), want.ResultTypes()):
			bad = append(bad, mod+"."+name+" (wrong signature)")
		}
	}
	for _, def := range cm.ImportedMemories() {
		mod, name, _ := def.Import()
		bad = append(bad, mod+"."+name+" (memory)")
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return fmt.Errorf("%w: %s", wasmnode.ErrImports, strings.Join(bad, ", "))
}

// Close stops the watchdog and closes the runtime with every module and instance.
// It does not close the compilation cache's directory contents.
func (h *Host) Close(ctx context.Context) error {
	select {
	case <-h.stop:
		return nil
	default:
	}
	close(h.stop)
	<-h.done
	err := h.rt.Close(ctx)
	if h.cache != nil {
		err = errors.Join(err, h.cache.Close(ctx))
	}
	return err
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
	t := time.NewTicker(h.cfg.CallTimeout / watchdogSlices)
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

// memoryLimitBytes is the page cap in bytes.
func (h *Host) memoryLimitBytes() uint64 { return uint64(h.cfg.MemoryLimitPages) * 65536 }
