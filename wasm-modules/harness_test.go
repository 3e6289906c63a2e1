package modules_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"sync"
	"testing"
	"unsafe"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	modules "github.com/remotemedia/hybrid/wasm-modules"
)

// A minimal test-only host for one module instance: the real host lives in
// target/server; this one only has to follow docs/wasm-abi.md closely enough to
// run the standard modules.

const headerSize = 32

type header struct {
	Kind, Format uint8
	Channels     uint16
	Rate         uint32
	TS           int64
	Port         uint32
	Seq          uint64
}

func (h header) put(b []byte) {
	b[0], b[1] = h.Kind, h.Format
	binary.LittleEndian.PutUint16(b[2:], h.Channels)
	binary.LittleEndian.PutUint32(b[4:], h.Rate)
	binary.LittleEndian.PutUint64(b[8:], uint64(h.TS))
	binary.LittleEndian.PutUint32(b[16:], h.Port)
	binary.LittleEndian.PutUint32(b[20:], 0)
	binary.LittleEndian.PutUint64(b[24:], h.Seq)
}

func parseHeader(b []byte) header {
	return header{Kind: b[0], Format: b[1], Channels: binary.LittleEndian.Uint16(b[2:]),
		Rate: binary.LittleEndian.Uint32(b[4:]), TS: int64(binary.LittleEndian.Uint64(b[8:])),
		Port: binary.LittleEndian.Uint32(b[16:]), Seq: binary.LittleEndian.Uint64(b[24:])}
}

type output struct {
	header
	Data []byte
}

func (o output) f32() []float32 { return bytesToF32(o.Data) }

type harness struct {
	rt                    wazero.Runtime
	mod                   api.Module
	alloc, process, flush api.Function
	buf, bufCap           uint32
	frame, stack          []byte
	calls                 []uint64
	outs                  []output
	keep                  bool // record outputs (false: keep only the last one, for benchmarks)
	emitted               int
	last                  output
	errMsg                string
}

var (
	cacheOnce sync.Once
	cache     wazero.CompilationCache
)

// loadModule returns a module's bytes, skipping the test when it was not built.
func loadModule(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := modules.Loader{}.Load(context.Background(), name)
	if errors.Is(err, fs.ErrNotExist) {
		if os.Getenv("CI") != "" { // the test command builds and installs it: a skip would hide a failure
			tb.Fatalf("%s not built: run `make -C wasm-modules` (or `make modules`) first", name)
		}
		tb.Skipf("%s not built: run `make -C wasm-modules` (or `make modules`) first", name)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// newHarness instantiates the module name with params (a JSON object) and calls rm_init.
func newHarness(tb testing.TB, name, params string) *harness {
	tb.Helper()
	return newHarnessConfig(tb, name, params, wazero.NewRuntimeConfig())
}

// newHarnessConfig is newHarness on a runtime with cfg (for example a memory limit).
func newHarnessConfig(tb testing.TB, name, params string, cfg wazero.RuntimeConfig) *harness {
	tb.Helper()
	wasm := loadModule(tb, name)
	ctx := context.Background()
	cacheOnce.Do(func() { cache = wazero.NewCompilationCache() })
	h := &harness{keep: true, calls: make([]uint64, 2)}
	h.rt = wazero.NewRuntimeWithConfig(ctx, cfg.WithCompilationCache(cache))
	tb.Cleanup(func() { h.rt.Close(ctx) })
	_, err := h.rt.NewHostModuleBuilder("rm").
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(h.emit), []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, nil).Export("emit").
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(context.Context, api.Module, []uint64) {}), []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, nil).Export("log").
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(h.setError), []api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, nil).Export("error").
		Instantiate(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	wasi_snapshot_preview1.MustInstantiate(ctx, h.rt)
	compiled, err := h.rt.CompileModule(ctx, wasm)
	if err != nil {
		tb.Fatal(err)
	}
	modCfg := wazero.NewModuleConfig().WithName("")
	if _, ok := compiled.ExportedFunctions()["_initialize"]; ok {
		modCfg = modCfg.WithStartFunctions("_initialize")
	}
	if h.mod, err = h.rt.InstantiateModule(ctx, compiled, modCfg); err != nil {
		tb.Fatal(err)
	}
	if v, err := h.mod.ExportedFunction("rm_abi_version").Call(ctx); err != nil || v[0] != 1 {
		tb.Fatalf("rm_abi_version = %v, %v", v, err)
	}
	h.alloc, h.process, h.flush = h.mod.ExportedFunction("rm_alloc"), h.mod.ExportedFunction("rm_process"), h.mod.ExportedFunction("rm_flush")
	h.reserve(tb, uint32(len(params)))
	h.mod.Memory().Write(h.buf, []byte(params))
	h.calls[0], h.calls[1] = uint64(h.buf), uint64(len(params))
	if err := h.call(h.mod.ExportedFunction("rm_init")); err != nil {
		tb.Fatalf("rm_init(%s): %v", params, err)
	}
	return h
}

func (h *harness) emit(_ context.Context, m api.Module, stack []uint64) {
	hp, dp, n := uint32(stack[0]), uint32(stack[1]), uint32(stack[2])
	hb, ok1 := m.Memory().Read(hp, headerSize)
	db, ok2 := m.Memory().Read(dp, n)
	if !ok1 || !ok2 {
		panic("emit: out of bounds")
	}
	h.emitted++
	if h.keep {
		h.outs = append(h.outs, output{parseHeader(hb), append([]byte(nil), db...)})
	} else {
		h.last = output{parseHeader(hb), append(h.last.Data[:0], db...)}
	}
}

func (h *harness) setError(_ context.Context, m api.Module, stack []uint64) {
	b, _ := m.Memory().Read(uint32(stack[0]), uint32(stack[1]))
	h.errMsg = string(b)
}

func (h *harness) reserve(tb testing.TB, n uint32) {
	if n <= h.bufCap && h.buf != 0 {
		return
	}
	h.calls[0] = uint64(n)
	if err := h.alloc.CallWithStack(context.Background(), h.calls); err != nil || h.calls[0] == 0 {
		tb.Fatalf("rm_alloc(%d): %v", n, err)
	}
	h.buf, h.bufCap = uint32(h.calls[0]), n
}

func (h *harness) call(f api.Function) error {
	h.errMsg = ""
	if err := f.CallWithStack(context.Background(), h.calls); err != nil {
		return err
	}
	if int32(h.calls[0]) != 0 {
		return fmt.Errorf("guest error: %s", h.errMsg)
	}
	return nil
}

// send runs one frame through rm_process.
func (h *harness) send(tb testing.TB, hd header, data []byte) error {
	n := uint32(headerSize + len(data))
	h.reserve(tb, n)
	if cap(h.frame) < int(n) {
		h.frame = make([]byte, n)
	}
	fr := h.frame[:n]
	hd.put(fr)
	copy(fr[headerSize:], data)
	h.mod.Memory().Write(h.buf, fr)
	h.calls[0], h.calls[1] = uint64(h.buf), uint64(len(data))
	return h.call(h.process)
}

// sendF32 sends f32 audio.
func (h *harness) sendF32(tb testing.TB, rate uint32, channels uint16, ts int64, s []float32) {
	tb.Helper()
	if err := h.send(tb, header{Kind: 1, Format: 1, Channels: channels, Rate: rate, TS: ts}, f32ToBytes(s)); err != nil {
		tb.Fatal(err)
	}
}

func (h *harness) doFlush(tb testing.TB) {
	tb.Helper()
	if err := h.call(h.flush); err != nil {
		tb.Fatal(err)
	}
}

// take returns the outputs so far and forgets them.
func (h *harness) take() []output {
	o := h.outs
	h.outs = nil
	return o
}

func f32ToBytes(s []float32) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), 4*len(s))
}

func bytesToF32(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}
