//go:build js && wasm

package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"syscall/js"
	"time"
	_ "unsafe" // go:linkname

	"github.com/remotemedia/hybrid/core/wasmnode"
	"github.com/remotemedia/hybrid/target/internal/wasmguard"
)

// Default limits, the same as the server's (docs/wasm-abi.md, "Errors and limits").
const (
	defaultMemoryLimitPages = 256
	defaultCallTimeout      = time.Second
)

// hostConfig sets a browserHost's limits. Zero values take the defaults.
type hostConfig struct {
	MemoryLimitPages uint32
	// CallTimeout is checked after each call returns: the browser cannot stop
	// synchronous wasm on the thread that runs it (docs/browser.md, "Limits").
	CallTimeout time.Duration
}

// browserHost implements wasmnode.Host over the browser's WebAssembly API.
type browserHost struct {
	cfg     hostConfig
	wasm    js.Value // WebAssembly
	u8      js.Value // Uint8Array
	wasi    js.Value // RemoteMediaWASI (web/wasi-shim.js)
	closed  bool
	modules int

	// beat is globalThis.__remotemediaBeat when core.wasm runs in remotemedia.js's
	// Web Worker: the page's watchdog terminates the worker when it hears nothing for
	// longer than the deadline while a request is in flight. Calls send a beat at most
	// every quarter of the deadline, so a stream of short calls keeps it quiet and a
	// call that never returns silences it (docs/browser.md).
	beat     js.Value
	lastBeat int64
}

var _ wasmnode.Host = (*browserHost)(nil)

// errNoShim is returned when the page has not loaded web/wasi-shim.js.
var errNoShim = errors.New("wasm host: globalThis.RemoteMediaWASI is missing: load wasi-shim.js before core.wasm")

func newBrowserHost(cfg hostConfig) (*browserHost, error) {
	if cfg.MemoryLimitPages == 0 {
		cfg.MemoryLimitPages = defaultMemoryLimitPages
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = defaultCallTimeout
	}
	wasi := js.Global().Get("RemoteMediaWASI")
	if wasi.IsUndefined() {
		return nil, errNoShim
	}
	h := &browserHost{cfg: cfg, wasm: js.Global().Get("WebAssembly"), u8: js.Global().Get("Uint8Array"), wasi: wasi}
	if b := js.Global().Get("__remotemediaBeat"); b.Type() == js.TypeFunction {
		h.beat = b
	}
	return h, nil
}

// Compile implements wasmnode.Host: imports are checked and the memory capped
// (prepare), then WebAssembly.compile runs off the main thread's budget.
func (h *browserHost) Compile(ctx context.Context, name string, wasm []byte) (wasmnode.Module, error) {
	if h.closed {
		return nil, fmt.Errorf("wasm: module %q: host is closed", name)
	}
	// Every memory.grow records a refusal (wasmguard.Watch), so that a trap after
	// the cap refused to grow the memory is reported as the cap. A module
	// wasmguard cannot read (an opcode past WebAssembly 2.0 that the browser
	// knows) runs as given, and its traps fall back to instance.failure's rule.
	if watched, err := wasmguard.Watch(wasm); err == nil {
		wasm = watched
	}
	b, err := prepare(wasm, h.cfg.MemoryLimitPages)
	if err != nil {
		return nil, fmt.Errorf("wasm: module %q: %w", name, err)
	}
	arr := h.u8.New(len(b))
	js.CopyBytesToJS(arr, b)
	mod, err := await(ctx, h.wasm.Call("compile", arr))
	if err != nil {
		return nil, fmt.Errorf("wasm: module %q: %w", name, err)
	}
	return &module{h: h, name: name, mod: mod}, nil
}

// Close implements wasmnode.Host. Instances hold no host resources but their callbacks.
func (h *browserHost) Close(context.Context) error {
	h.closed = true
	return nil
}

// module is a compiled WebAssembly.Module.
type module struct {
	h    *browserHost
	name string
	mod  js.Value
}

func (m *module) Close(context.Context) error { return nil }

// Instantiate implements wasmnode.Module. The imports come from the shim
// (web/wasi-shim.js), which stages what the guest emits or logs in a JS buffer
// that Func.Call drains after each call: a node call never calls back into Go.
func (m *module) Instantiate(ctx context.Context, funcs wasmnode.HostFuncs) (wasmnode.Instance, error) {
	in := &instance{h: m.h, name: m.name, funcs: funcs}
	in.ref = js.Global().Get("Object").New()
	imports := m.h.wasi.Call("imports", in.ref)
	inst, err := await(ctx, m.h.wasm.Call("instantiate", m.mod, imports))
	if err != nil {
		return nil, fmt.Errorf("wasm: instantiate %q: %w: %w", m.name, wasmnode.ErrTrap, err)
	}
	in.exports = inst.Get("exports")
	in.mem = in.exports.Get("memory")
	if in.mem.Type() != js.TypeObject || !in.mem.InstanceOf(m.h.wasm.Get("Memory")) {
		return nil, fmt.Errorf("wasm: instantiate %q: %w: no exported memory \"memory\"", m.name, wasmnode.ErrABI)
	}
	in.ref.Set("memory", in.mem)
	if g := in.exports.Get(wasmguard.GrowRefusedExport); g.Type() == js.TypeObject && g.InstanceOf(m.h.wasm.Get("Global")) {
		in.refused = g
		in.ref.Set("refused", g) // cleared before every call (wrap in web/wasi-shim.js)
	}
	in.refreshView()
	if start := in.Func("_initialize"); start != nil {
		if err := start.Call(ctx, nil); err != nil {
			return nil, fmt.Errorf("wasm: instantiate %q: %w", m.name, err)
		}
	}
	return in, nil
}

// instance is one WebAssembly.Instance with a cached Uint8Array view of its
// memory, re-created only when the memory grows (its buffer is then detached
// and the old view's length drops to 0).
type instance struct {
	h       *browserHost
	name    string
	funcs   wasmnode.HostFuncs
	exports js.Value
	mem     js.Value
	ref     js.Value // {memory, refused, out, outLen} shared with the shim's imports
	refused js.Value // the __rm_grow_refused WebAssembly.Global (wasmguard.Watch), or undefined
	view    js.Value // Uint8Array over mem.buffer
	size    uint32   // view length in bytes
	subs    []sub    // subarrays of view, re-used while the memory does not grow

	staged []byte // records drained from ref.out
}

// sub is a cached subarray of the memory view.
type sub struct {
	off, n uint32
	v      js.Value
}

// maxSubs bounds the subarray cache: the adapter's input buffer and a node's
// output buffers sit at a few stable offsets.
const maxSubs = 8

func (in *instance) refreshView() {
	in.view = in.h.u8.New(in.mem.Get("buffer"))
	in.size = uint32(in.view.Length())
	in.subs = in.subs[:0]
}

// span returns a Uint8Array over [off, off+n) of guest memory, or false when
// the range is outside it. Views are cached, so a steady stream of frames at
// the same offsets creates no JavaScript objects.
func (in *instance) span(off, n uint32) (js.Value, bool) {
	in.current()
	if uint64(off)+uint64(n) > uint64(in.size) {
		return js.Value{}, false
	}
	for _, s := range in.subs {
		if s.off == off && s.n == n {
			return s.v, true
		}
	}
	if len(in.subs) == maxSubs {
		in.subs = in.subs[:0]
	}
	v := in.view.Call("subarray", off, off+n)
	in.subs = append(in.subs, sub{off, n, v})
	return v, true
}

// current re-creates the view if the memory grew since it was made.
func (in *instance) current() {
	if in.view.Length() != int(in.size) || in.size == 0 {
		in.refreshView()
	}
}

// Func implements wasmnode.Instance.
func (in *instance) Func(name string) wasmnode.Func {
	fn := in.exports.Get(name)
	if fn.Type() != js.TypeFunction {
		return nil
	}
	return &function{in: in, fn: in.h.wasi.Call("wrap", in.ref, fn), name: name, args: make([]any, fn.Length())}
}

// Write implements wasmnode.Instance.
func (in *instance) Write(off uint32, b []byte) error {
	v, ok := in.span(off, uint32(len(b)))
	if !ok {
		return fmt.Errorf("%w: writing %d bytes at %d: outside the %d-byte memory", wasmnode.ErrABI, len(b), off, in.size)
	}
	js.CopyBytesToJS(v, b)
	return nil
}

// Read implements wasmnode.Instance.
func (in *instance) Read(dst []byte, off, n uint32) ([]byte, error) {
	v, ok := in.span(off, n)
	if !ok {
		return dst, fmt.Errorf("%w: reading %d bytes at %d: outside the %d-byte memory", wasmnode.ErrABI, n, off, in.size)
	}
	if cap(dst) < int(n) {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	js.CopyBytesToGo(dst, v)
	return dst, nil
}

// MemorySize implements wasmnode.Instance.
func (in *instance) MemorySize() uint32 {
	in.current()
	return in.size
}

// Close implements wasmnode.Instance. The instance is garbage once unreferenced.
func (in *instance) Close(context.Context) error { return nil }

// Record types the shim stages (web/wasi-shim.js).
const (
	recEmit  = 0
	recLog   = 1
	recError = 2
)

// staged is added to a wrapped export's result when the call staged output.
const staged = 1 << 32

// drain hands what the guest staged during a call to the HostFuncs, in order.
func (in *instance) drain() error {
	n := in.ref.Get("outLen").Int()
	if n == 0 {
		return nil
	}
	if cap(in.staged) < n {
		in.staged = make([]byte, n)
	}
	b := in.staged[:n]
	js.CopyBytesToGo(b, in.ref.Get("out"))
	in.ref.Set("outLen", 0)
	for len(b) >= 8 {
		typ, level, size := b[0], int32(b[1]), int(binary.LittleEndian.Uint32(b[4:]))
		b = b[8:]
		if typ == recEmit {
			if len(b) < wasmnode.HeaderSize+size {
				return fmt.Errorf("%w: truncated emit record", wasmnode.ErrABI)
			}
			if in.funcs.Emit != nil {
				in.funcs.Emit(b[:wasmnode.HeaderSize], b[wasmnode.HeaderSize:wasmnode.HeaderSize+size])
			}
			b = b[wasmnode.HeaderSize+size:]
			continue
		}
		if len(b) < size {
			return fmt.Errorf("%w: truncated record", wasmnode.ErrABI)
		}
		switch {
		case typ == recLog && in.funcs.Log != nil:
			in.funcs.Log(level, b[:size])
		case typ == recError && in.funcs.Error != nil:
			in.funcs.Error(b[:size])
		}
		b = b[size:]
	}
	return nil
}

// function is an export (wrapped by the shim: see wrap in web/wasi-shim.js)
// with its argument slice allocated once.
type function struct {
	in   *instance
	fn   js.Value
	name string
	args []any
}

// Call implements wasmnode.Func. A JavaScript exception out of the call (a
// WebAssembly.RuntimeError, a stack overflow's RangeError, the shim's
// proc_exit) is a trap; a call that returned after the deadline fails with
// ErrTimeout; either way the adapter discards the instance.
func (f *function) Call(ctx context.Context, stack []uint64) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	in := f.in
	for i := range f.args {
		f.args[i] = float64(int32(stack[i]))
	}
	start := nanotime()
	if h := in.h; !h.beat.IsUndefined() && (h.lastBeat == 0 || time.Duration(start-h.lastBeat) > h.cfg.CallTimeout/4) {
		h.lastBeat = start
		h.beat.Invoke()
	}
	defer func() {
		if r := recover(); r != nil {
			err = in.failure(f.name, r)
		}
	}()
	res := uint64(f.fn.Invoke(f.args...).Float())
	if elapsed := time.Duration(nanotime() - start); elapsed > in.h.cfg.CallTimeout {
		return fmt.Errorf("%s: %w (%v; the call returned after %v)", f.name, wasmnode.ErrTimeout, in.h.cfg.CallTimeout, elapsed.Round(time.Millisecond))
	}
	if res&staged != 0 {
		if err := in.drain(); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	if len(stack) > 0 {
		stack[0] = uint64(uint32(res))
	}
	return nil
}

// failure turns a JavaScript exception out of a call into an error wrapping
// ErrTrap or ErrMemoryLimit, like the server host's.
func (in *instance) failure(name string, r any) error {
	jsErr, ok := r.(js.Error)
	if !ok {
		panic(r) // a Go bug, not the guest's
	}
	msg := jsErr.Value.Call("toString").String()
	_ = in.drain() // what the guest emitted before it failed is delivered, as on the server
	if jsErr.Value.Get("name").String() == "RMABIError" {
		return fmt.Errorf("%s: %w: %w: %s", name, wasmnode.ErrTrap, wasmnode.ErrABI, jsErr.Value.Get("message").String())
	}
	limit := uint64(in.h.cfg.MemoryLimitPages) * 65536
	if !in.refused.IsUndefined() && in.refused.Get("value").Int() != 0 {
		// The guest trapped after a memory.grow was refused, however it went on.
		return fmt.Errorf("%s: %w (cap %d pages = %d MiB; memory.grow refused at %d pages): %w: %s", name, wasmnode.ErrMemoryLimit,
			in.h.cfg.MemoryLimitPages, limit>>20, in.MemorySize()/65536, wasmnode.ErrTrap, msg)
	}
	if in.refused.IsUndefined() && uint64(in.MemorySize())+65536 > limit {
		return fmt.Errorf("%s: %w (cap %d pages = %d MiB): %w: %s", name, wasmnode.ErrMemoryLimit,
			in.h.cfg.MemoryLimitPages, limit>>20, wasmnode.ErrTrap, msg)
	}
	return fmt.Errorf("%s: %w: %s", name, wasmnode.ErrTrap, msg)
}

// nanotime is the runtime's monotonic clock: on js/wasm a direct import of
// performance.now, far cheaper than time.Now (two syscall/js round trips).
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// await blocks until p settles. It must not run on the goroutine of a js.FuncOf
// callback (the event loop would never get to settle p).
func await(ctx context.Context, p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	ok := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{v: args[0]}
		return nil
	})
	fail := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{err: errors.New(args[0].Call("toString").String())}
		return nil
	})
	defer ok.Release()
	defer fail.Release()
	p.Call("then", ok, fail)
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		return js.Value{}, ctx.Err()
	}
}
