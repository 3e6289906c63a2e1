//go:build !js

package wasmhost

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/remotemedia/hybrid/core/wasmnode"
)

// stopped marks instance.started when the watchdog has stopped the call.
const stopped = -1

// module is a compiled module.
type module struct {
	h       *Host
	name    string
	cm      wazero.CompiledModule
	guarded bool // instrumented by guard (not in Config.Trusted)
	exports map[string]api.FunctionDefinition
}

func (m *module) Close(ctx context.Context) error { return m.cm.Close(ctx) }

// Instantiate implements wasmnode.Module. The start functions (a start section,
// which guard turned into the export startExport, then `_initialize`) run
// under the host's call deadline.
func (m *module) Instantiate(ctx context.Context, funcs wasmnode.HostFuncs) (wasmnode.Instance, error) {
	in := &instance{h: m.h, name: m.name, funcs: funcs, exports: m.exports}
	in.ctx = context.WithValue(context.Background(), instanceKey{}, in)
	cfg := wazero.NewModuleConfig().
		WithName("").         // anonymous: any number of instances
		WithStartFunctions(). // run below, under the watchdog
		WithStdout(logWriter{in, 1}).
		WithStderr(logWriter{in, 2}).
		WithSysWalltime().
		WithSysNanotime().
		WithNanosleep(func(int64) {}). // poll_oneoff returns at once
		WithRandSource(rand.Reader)
	mod, err := m.h.rt.InstantiateModule(ctx, m.cm, cfg)
	if err != nil {
		return nil, fmt.Errorf("wasm: instantiate %q: %w: %v", m.name, ErrTrap, err)
	}
	in.mod = mod
	in.interrupt, _ = mod.ExportedGlobal(interruptExport).(api.MutableGlobal)
	in.budget, _ = mod.ExportedGlobal(budgetExport).(api.MutableGlobal)
	in.refused, _ = mod.ExportedGlobal(growRefusedExport).(api.MutableGlobal)
	in.mem = mod.ExportedMemory("memory")
	switch {
	case m.guarded && (in.interrupt == nil || in.budget == nil || in.refused == nil): // guard always adds them
		err = fmt.Errorf("%w: no globals %q, %q and %q", ErrGuard, interruptExport, budgetExport, growRefusedExport)
	case in.mem == nil:
		err = fmt.Errorf("%w: no exported memory \"memory\"", ErrABI)
	}
	if err != nil {
		_ = mod.Close(ctx)
		return nil, fmt.Errorf("wasm: instantiate %q: %w", m.name, err)
	}
	m.h.watch(in)
	for _, name := range []string{startExport, "_initialize"} {
		if f := in.Func(name); f != nil {
			if err := f.Call(ctx, nil); err != nil {
				_ = in.Close(ctx)
				return nil, fmt.Errorf("wasm: instantiate %q: %w", m.name, err)
			}
		}
	}
	return in, nil
}

// instanceKey is the context key under which calls carry their *instance to the
// "rm" imports.
type instanceKey struct{}

// instance is one instantiated module.
type instance struct {
	h         *Host
	name      string
	mod       api.Module
	mem       api.Memory
	interrupt api.MutableGlobal // guard's interruptExport: 1 makes the guest trap
	budget    api.MutableGlobal // guard's budgetExport: 0 sends the guest to its safe point
	refused   api.MutableGlobal // guard's growRefusedExport: 1 after a memory.grow returned -1
	funcs     wasmnode.HostFuncs
	ctx       context.Context // carries instanceKey; its Done is nil so calls stay cheap
	exports   map[string]api.FunctionDefinition

	// started is 0 when idle, the watchdog tick+1 a call started at, or stopped.
	started atomic.Int64
	hostErr error // an ABI rule the guest broke inside an import
}

// Func implements wasmnode.Instance. The function is bound on its first call:
// wazero gives every bound function its own call stack (10 KiB at first), so
// an export looked up but never called costs none.
func (in *instance) Func(name string) wasmnode.Func {
	if _, ok := in.exports[name]; !ok {
		return nil
	}
	return &function{in: in, name: name}
}

// Write implements wasmnode.Instance.
func (in *instance) Write(off uint32, b []byte) error {
	if !in.mem.Write(off, b) {
		return outsideMemory("writing", len(b), off, in.mem.Size())
	}
	return nil
}

// Read implements wasmnode.Instance.
func (in *instance) Read(dst []byte, off, n uint32) ([]byte, error) {
	view, ok := in.mem.Read(off, n)
	if !ok {
		return dst, outsideMemory("reading", int(n), off, in.mem.Size())
	}
	return append(dst[:0], view...), nil
}

// MemorySize implements wasmnode.Instance.
func (in *instance) MemorySize() uint32 { return in.mem.Size() }

// Close implements wasmnode.Instance.
func (in *instance) Close(ctx context.Context) error {
	in.h.unwatch(in)
	return in.mod.Close(ctx)
}

// failure turns the error of a call that did not return normally into one
// wrapping ErrTimeout, ErrTrap or ErrMemoryLimit (errors.go).
func (in *instance) failure(name string, err error, timedOut bool) error {
	cfg := in.h.cfg
	if timedOut {
		return cfg.timeoutError(name, 0)
	}
	if in.hostErr != nil {
		return fmt.Errorf("%s: %w: %w", name, ErrTrap, in.hostErr)
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		return fmt.Errorf("%s: %w: proc_exit(%d)", name, ErrTrap, exit.ExitCode())
	}
	m := memoryState{bytes: in.mem.Size(), watched: in.refused != nil}
	if m.watched {
		// Call clears it before every call.
		m.refused = in.refused.Get() != 0
	}
	if max, ok := in.mem.Definition().Max(); ok {
		m.ownMax = max
	}
	return cfg.trapError(name, m, err.Error())
}

// function is an export bound to its instance.
type function struct {
	in   *instance
	fn   api.Function
	name string
}

// Call implements wasmnode.Func. It runs under the host's deadline, enforced by
// the watchdog, so the call itself sets up no timer, context or goroutine.
// ctx is checked before the call; once the guest runs, only the deadline stops it.
func (f *function) Call(ctx context.Context, stack []uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	in := f.in
	if f.fn == nil {
		if f.fn = in.mod.ExportedFunction(f.name); f.fn == nil {
			return fmt.Errorf("%s: %w: no such export", f.name, ErrABI)
		}
	}
	if in.interrupt == nil { // a trusted module: no watchdog to tell, no memory.grow watch to reset
		if err := f.fn.CallWithStack(in.ctx, stack); err != nil {
			return in.failure(f.name, err, false)
		}
		return nil
	}
	if in.refused != nil {
		in.refused.Set(0) // a refusal the guest coped with in an earlier call does not count
	}
	in.started.Store(in.h.tick.Load() + 1)
	err := f.fn.CallWithStack(in.ctx, stack)
	if timedOut := in.started.Swap(0) == stopped; timedOut || err != nil {
		if timedOut {
			in.h.clearInterrupt(in)
		}
		return in.failure(f.name, err, timedOut)
	}
	return nil
}

// logWriter sends what the guest writes to fd 1 and 2 to the node's log.
type logWriter struct {
	in    *instance
	level int32
}

func (w logWriter) Write(p []byte) (int, error) {
	if w.in.funcs.Log != nil {
		w.in.funcs.Log(w.level, p)
	}
	return len(p), nil
}

// instantiateRM instantiates the "rm" host module. Its functions find the
// calling instance in the call's context.
func instantiateRM(ctx context.Context, rt wazero.Runtime) (api.Module, error) {
	i32 := api.ValueTypeI32
	b := rt.NewHostModuleBuilder(rmModule)
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(rmEmit), []api.ValueType{i32, i32, i32}, nil).
		WithParameterNames("header_ptr", "data_ptr", "data_len").Export("emit")
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(rmLog), []api.ValueType{i32, i32, i32}, nil).
		WithParameterNames("level", "ptr", "len").Export("log")
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(rmError), []api.ValueType{i32, i32}, nil).
		WithParameterNames("ptr", "len").Export("error")
	return b.Instantiate(ctx)
}

func caller(ctx context.Context) *instance {
	in, _ := ctx.Value(instanceKey{}).(*instance)
	return in
}

// guestBytes returns a view of guest memory, or stops the call when the guest
// passed a range outside its memory.
func (in *instance) guestBytes(mod api.Module, imp string, ptr, n uint64) []byte {
	b, ok := mod.Memory().Read(uint32(ptr), uint32(n))
	if !ok {
		in.hostErr = fmt.Errorf("%w: %s: %d bytes at %d are outside the %d-byte memory", ErrABI, imp, uint32(n), uint32(ptr), mod.Memory().Size())
		panic(in.hostErr)
	}
	return b
}

func rmEmit(ctx context.Context, mod api.Module, stack []uint64) {
	in := caller(ctx)
	if in == nil || in.funcs.Emit == nil {
		return
	}
	header := in.guestBytes(mod, "rm.emit", stack[0], wasmnode.HeaderSize)
	data := in.guestBytes(mod, "rm.emit", stack[1], stack[2])
	in.funcs.Emit(header, data)
}

func rmLog(ctx context.Context, mod api.Module, stack []uint64) {
	if in := caller(ctx); in != nil && in.funcs.Log != nil {
		in.funcs.Log(int32(stack[0]), in.guestBytes(mod, "rm.log", stack[1], stack[2]))
	}
}

func rmError(ctx context.Context, mod api.Module, stack []uint64) {
	if in := caller(ctx); in != nil && in.funcs.Error != nil {
		in.funcs.Error(in.guestBytes(mod, "rm.error", stack[0], stack[1]))
	}
}
