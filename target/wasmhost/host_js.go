//go:build js && wasm

package wasmhost

import (
	"context"
	"encoding/binary"
	"fmt"
	"syscall/js"
	"time"

	"github.com/remotemedia/hybrid/core/wasmnode"
	"github.com/remotemedia/hybrid/target/internal/jsutil"
	"github.com/remotemedia/hybrid/target/internal/wasmguard"
)

// Host implements wasmnode.Host over the JavaScript WebAssembly API, with
// the imports of web/wasi-shim.js. It is used from one goroutine at a time
// (core.wasm's).
type Host struct {
	cfg     Config
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

var _ wasmnode.Host = (*Host)(nil)

// New makes a host over globalThis.WebAssembly with cfg's limits
// (Config.CacheDir and Config.Trusted do not apply). The page (or Node.js)
// must have loaded web/wasi-shim.js: without it New fails with ErrNoShim.
func New(_ context.Context, cfg Config) (*Host, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	wasi := js.Global().Get("RemoteMediaWASI")
	if wasi.IsUndefined() {
		return nil, ErrNoShim
	}
	h := &Host{cfg: cfg, wasm: js.Global().Get("WebAssembly"), u8: js.Global().Get("Uint8Array"), wasi: wasi}
	if b := js.Global().Get("__remotemediaBeat"); b.Type() == js.TypeFunction {
		h.beat = b
	}
	return h, nil
}

// Compile implements wasmnode.Host: imports are checked (imports.go) and the
// memory capped (wasmguard.CapMemory), then WebAssembly.compile runs off the
// main thread's budget.
func (h *Host) Compile(ctx context.Context, name string, wasm []byte) (wasmnode.Module, error) {
	if h.closed {
		return nil, fmt.Errorf("wasm: module %q: %w", name, ErrClosed)
	}
	b, err := checkModule(wasm, h.cfg.MemoryLimitPages)
	if err != nil {
		return nil, fmt.Errorf("wasm: module %q: %w", name, err)
	}
	// Every memory.grow records a refusal (wasmguard.Watch), so that a trap after
	// the cap refused to grow the memory is reported as the cap. A module
	// wasmguard cannot instrument (an opcode past WebAssembly 2.0 that the
	// browser knows) runs as given, and its traps fall back to trapError's rule.
	if watched, err := wasmguard.Watch(b); err == nil {
		b = watched
	}
	arr := h.u8.New(len(b))
	js.CopyBytesToJS(arr, b)
	mod, err := jsutil.Await(ctx, h.wasm.Call("compile", arr))
	if err != nil {
		return nil, fmt.Errorf("wasm: module %q: %w", name, err)
	}
	return &module{h: h, name: name, mod: mod}, nil
}

// Close implements wasmnode.Host. Instances hold no host resources but their callbacks.
func (h *Host) Close(context.Context) error {
	h.closed = true
	return nil
}

// module is a compiled WebAssembly.Module.
type module struct {
	h    *Host
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
	inst, err := jsutil.Await(ctx, m.h.wasm.Call("instantiate", m.mod, imports))
	if err != nil {
		return nil, fmt.Errorf("wasm: instantiate %q: %w: %w", m.name, ErrTrap, err)
	}
	in.exports = inst.Get("exports")
	in.mem = in.exports.Get("memory")
	if in.mem.Type() != js.TypeObject || !in.mem.InstanceOf(m.h.wasm.Get("Memory")) {
		return nil, fmt.Errorf("wasm: instantiate %q: %w: no exported memory \"memory\"", m.name, ErrABI)
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
	h       *Host
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
		return outsideMemory("writing", len(b), off, in.size)
	}
	js.CopyBytesToJS(v, b)
	return nil
}

// Read implements wasmnode.Instance.
func (in *instance) Read(dst []byte, off, n uint32) ([]byte, error) {
	v, ok := in.span(off, n)
	if !ok {
		return dst, outsideMemory("reading", int(n), off, in.size)
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
				return fmt.Errorf("%w: truncated emit record", ErrABI)
			}
			if in.funcs.Emit != nil {
				in.funcs.Emit(b[:wasmnode.HeaderSize], b[wasmnode.HeaderSize:wasmnode.HeaderSize+size])
			}
			b = b[wasmnode.HeaderSize+size:]
			continue
		}
		if len(b) < size {
			return fmt.Errorf("%w: truncated record", ErrABI)
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
	start := jsutil.Nanotime()
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
	if elapsed := time.Duration(jsutil.Nanotime() - start); elapsed > in.h.cfg.CallTimeout {
		return in.h.cfg.timeoutError(f.name, elapsed)
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
// ErrTrap or ErrMemoryLimit (errors.go: the classification both backends share).
func (in *instance) failure(name string, r any) error {
	jsErr, ok := r.(js.Error)
	if !ok {
		panic(r) // a Go bug, not the guest's
	}
	msg := jsErr.Value.Call("toString").String()
	_ = in.drain() // what the guest emitted before it failed is delivered, as by the wazero backend
	if jsErr.Value.Get("name").String() == "RMABIError" {
		return fmt.Errorf("%s: %w: %w: %s", name, ErrTrap, ErrABI, jsErr.Value.Get("message").String())
	}
	m := memoryState{bytes: in.MemorySize(), watched: !in.refused.IsUndefined()}
	if m.watched {
		// The shim clears it before every call.
		m.refused = in.refused.Get("value").Int() != 0
	}
	return in.h.cfg.trapError(name, m, msg)
}
