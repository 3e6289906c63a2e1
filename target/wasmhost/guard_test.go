//go:build !js

package wasmhost

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/remotemedia/hybrid/target/internal/wasmguard"
)

//go:generate sh -c "for f in testdata/*.wat; do wat2wasm -o $DOLLAR{f%.wat}.wasm $DOLLAR{f}; done"

var buildDir = filepath.Join("..", "..", "wasm-modules", "build")

// rawRuntime is a bare wazero runtime (no guard, no limits) with an "rm"
// module that records emits and WASI, to run original and instrumented bytes
// side by side.
type rawRuntime struct {
	rt      wazero.Runtime
	emitted [][]byte
	discard bool // do not record emits
}

func newRawRuntime(tb testing.TB) *rawRuntime {
	tb.Helper()
	ctx := context.Background()
	r := &rawRuntime{rt: wazero.NewRuntime(ctx)}
	tb.Cleanup(func() { _ = r.rt.Close(ctx) })
	i32 := api.ValueTypeI32
	b := r.rt.NewHostModuleBuilder("rm")
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, m api.Module, s []uint64) {
		if r.discard {
			return
		}
		h, _ := m.Memory().Read(uint32(s[0]), 32)
		d, _ := m.Memory().Read(uint32(s[1]), uint32(s[2]))
		r.emitted = append(r.emitted, append(append([]byte{}, h...), d...))
	}), []api.ValueType{i32, i32, i32}, nil).Export("emit")
	noop := api.GoModuleFunc(func(context.Context, api.Module, []uint64) {})
	b.NewFunctionBuilder().WithGoModuleFunction(noop, []api.ValueType{i32, i32, i32}, nil).Export("log")
	b.NewFunctionBuilder().WithGoModuleFunction(noop, []api.ValueType{i32, i32}, nil).Export("error")
	if _, err := b.Instantiate(ctx); err != nil {
		tb.Fatal(err)
	}
	wasi_snapshot_preview1.MustInstantiate(ctx, r.rt)
	return r
}

// run instantiates wasm, calls its start functions, rm_init(params) and
// rm_process on each frame, and returns what it emitted and the statuses.
func (r *rawRuntime) run(tb testing.TB, wasm []byte, params string, frames [][]byte) ([][]byte, []uint64) {
	tb.Helper()
	ctx := context.Background()
	r.emitted = nil
	mod, err := r.rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithName("").
		WithStartFunctions("_initialize", startExport))
	if err != nil {
		tb.Fatal(err)
	}
	defer mod.Close(ctx)
	call := func(name string, args ...uint64) uint64 {
		res, err := mod.ExportedFunction(name).Call(ctx, args...)
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		return res[0]
	}
	buf := uint32(call("rm_alloc", 1<<20))
	mod.Memory().Write(buf, []byte(params))
	statuses := []uint64{call("rm_init", uint64(buf), uint64(len(params)))}
	for _, f := range frames {
		mod.Memory().Write(buf, f)
		statuses = append(statuses, call("rm_process", uint64(buf), uint64(len(f)-32)))
	}
	return r.emitted, statuses
}

// audioFrame is a 20 ms frame (header + payload) of 48 kHz stereo f32: a
// 440 Hz sine whose amplitude rises with seq.
func audioFrame(seq uint64) []byte {
	const n = 960 * 2
	b := make([]byte, 32+4*n)
	b[0], b[1] = 1, 1
	binary.LittleEndian.PutUint16(b[2:], 2)
	binary.LittleEndian.PutUint32(b[4:], 48000)
	binary.LittleEndian.PutUint64(b[8:], seq*20000)
	binary.LittleEndian.PutUint64(b[24:], seq)
	for i := range n {
		v := 0.1 * float64(seq+1) * math.Sin(2*math.Pi*440*float64(i/2+int(seq)*960)/48000)
		binary.LittleEndian.PutUint32(b[32+4*i:], math.Float32bits(float32(v)))
	}
	return b
}

func readModule(tb testing.TB, path string) []byte {
	tb.Helper()
	wasm, err := os.ReadFile(path)
	if err != nil {
		if os.Getenv("CI") != "" { // the test command builds and installs it: a skip would hide a failure
			tb.Fatalf("module not built (%v): run `make modules`", err)
		}
		tb.Skipf("module not built (%v): run `make modules`", err)
	}
	return wasm
}

// TestGuardDifferential: every standard module, and the test modules with
// loops, compile after instrumentation and emit exactly what the original does.
func TestGuardDifferential(t *testing.T) {
	tests := []struct {
		name, path, params string
	}{
		{"gain", filepath.Join(buildDir, "gain.wasm"), `{"gain_db":6}`},
		{"convert", filepath.Join(buildDir, "convert.wasm"), `{"to":"s16"}`},
		{"to_mono", filepath.Join(buildDir, "to_mono.wasm"), `{}`},
		{"resample", filepath.Join(buildDir, "resample.wasm"), `{"rate":16000,"quality":"high"}`},
		{"vad", filepath.Join(buildDir, "vad.wasm"), `{"threshold_db":9,"min_level_db":-50,"window_ms":10,"min_speech_ms":20,"hangover_ms":200,"gate":false}`},
		{"chunker (Go, 1.8 MB)", filepath.Join(buildDir, "chunker.wasm"), `{"ms":30}`},
		{"dsp", filepath.Join("testdata", "dsp.wasm"), `{}`},
		{"simd", filepath.Join("testdata", "simd.wasm"), `{}`},
		{"callloop", filepath.Join("testdata", "callloop.wasm"), `{}`},
	}
	frames := [][]byte{audioFrame(0), audioFrame(1), audioFrame(2), audioFrame(3)}
	r := newRawRuntime(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wasm := readModule(t, tt.path)
			guarded, err := guard(wasm)
			if err != nil {
				t.Fatal(err)
			}
			wantOut, wantStatus := r.run(t, wasm, tt.params, frames)
			gotOut, gotStatus := r.run(t, guarded, tt.params, frames)
			if len(wantOut) == 0 {
				t.Fatalf("the original emitted nothing: the comparison would prove nothing")
			}
			if len(gotOut) != len(wantOut) {
				t.Fatalf("instrumented emitted %d frames, original %d", len(gotOut), len(wantOut))
			}
			for i := range wantOut {
				if !bytes.Equal(gotOut[i], wantOut[i]) {
					t.Errorf("output %d differs", i)
				}
			}
			for i := range wantStatus {
				if gotStatus[i] != wantStatus[i] {
					t.Errorf("call %d: status %d, original %d", i, gotStatus[i], wantStatus[i])
				}
			}
		})
	}
}

// TestGuardInterrupts: with the interrupt global set and the budget at 0 (as
// the watchdog leaves them), every guarded shape traps at a loop header or
// function entry; with the interrupt clear, it runs as before, through its
// safe points (memory.grow 0, on an added 0-page memory when the module has
// none), and the budget counts every check and is refilled.
func TestGuardInterrupts(t *testing.T) {
	ctx := context.Background()
	r := newRawRuntime(t)
	env, err := r.rt.InstantiateWithConfig(ctx, readModule(t, "testdata/env.wasm"), wazero.NewModuleConfig().WithName("env"))
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close(ctx)
	exportF := []byte{secExport, 5, 1, 1, 'f', 0x00, 0x00}
	tests := []struct {
		name   string
		file   string // in testdata, or
		wasm   []byte // the module itself
		call   string
		args   []uint64
		expect uint64 // the result with the interrupt clear (none for start and f)
		checks uint64 // checks run by one call: function entries and loop headers
	}{
		{name: "start section, no global/export/import sections", file: "start.wasm", call: startExport, checks: 11},
		{name: "imported and defined globals before ours, no memory", file: "imports.wasm", call: "count", args: []uint64{3}, expect: 21, checks: 5},
		{name: "loop past budgetRefill iterations, no memory", file: "imports.wasm", call: "count",
			args: []uint64{3 * budgetRefill}, expect: 21 * budgetRefill, checks: 3*budgetRefill + 2},
		{name: "loop in a called function", file: "callloop.wasm", call: "rm_abi_version", expect: 1, checks: 1},
		{name: "no memory, no globals", wasm: oneFunc([]byte{0, 0x0b}, exportF...), call: "f", checks: 1},
		{name: "empty memory section", wasm: oneFunc([]byte{0, 0x0b}, append([]byte{secMemory, 1, 0}, exportF...)...), call: "f", checks: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wasm := tt.wasm
			if wasm == nil {
				wasm = readModule(t, filepath.Join("testdata", tt.file))
			}
			guarded, err := guard(wasm)
			if err != nil {
				t.Fatal(err)
			}
			mod, err := r.rt.InstantiateWithConfig(ctx, guarded, wazero.NewModuleConfig().WithName(""))
			if err != nil {
				t.Fatal(err)
			}
			defer mod.Close(ctx)
			flag, ok := mod.ExportedGlobal(interruptExport).(api.MutableGlobal)
			if !ok || flag.Type() != api.ValueTypeI32 || flag.Get() != 0 {
				t.Fatalf("%s: %v, want a mutable i32 global at 0", interruptExport, mod.ExportedGlobal(interruptExport))
			}
			budget, ok := mod.ExportedGlobal(budgetExport).(api.MutableGlobal)
			if !ok || budget.Type() != api.ValueTypeI32 || budget.Get() != budgetRefill {
				t.Fatalf("%s: %v, want a mutable i32 global at %d", budgetExport, mod.ExportedGlobal(budgetExport), budgetRefill)
			}
			fn := mod.ExportedFunction(tt.call)
			res, err := fn.Call(ctx, tt.args...)
			if err != nil || (len(res) > 0 && res[0] != tt.expect) {
				t.Fatalf("interrupt clear: %v, %v; want %d", res, err, tt.expect)
			}
			if got, want := budget.Get(), budgetRefill-tt.checks%budgetRefill; got != want {
				t.Fatalf("budget after a call from a full budget: %d, want %d", got, want)
			}
			budget.Set(0)
			if res, err := fn.Call(ctx, tt.args...); err != nil || (len(res) > 0 && res[0] != tt.expect) {
				t.Fatalf("interrupt clear, budget 0: %v, %v; want %d", res, err, tt.expect)
			}
			if got, want := budget.Get(), budgetRefill-(tt.checks-1)%budgetRefill; got != want {
				t.Fatalf("budget after a call from 0: %d, want %d (refilled at the first check)", got, want)
			}
			flag.Set(1)
			budget.Set(0)
			if _, err := fn.Call(ctx, tt.args...); err == nil || !strings.Contains(err.Error(), "unreachable") {
				t.Fatalf("interrupt set: error %v, want an unreachable trap", err)
			}
			flag.Set(0)
			if _, err := fn.Call(ctx, tt.args...); err != nil {
				t.Fatalf("interrupt cleared again: %v", err)
			}
		})
	}
}

// TestGuardBudgetBoundsInterrupt: a spinning loop sees the interrupt within
// budgetRefill iterations even when its budget is full (the watchdog's 0 can
// be overwritten by the guest's own decrement).
func TestGuardBudgetBoundsInterrupt(t *testing.T) {
	ctx := context.Background()
	guarded, err := guard(readModule(t, "testdata/callloop.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := newRawRuntime(t).rt.InstantiateWithConfig(ctx, guarded, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatal(err)
	}
	defer mod.Close(ctx)
	mod.Memory().WriteFloat32Le(4096+32, 0.9) // rm_process calls $spin
	mod.ExportedGlobal(interruptExport).(api.MutableGlobal).Set(1)
	err = ReturnsWithin(t, "rm_process", func() error { _, err := mod.ExportedFunction("rm_process").Call(ctx, 4096, 4); return err })
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("error %v, want an unreachable trap", err)
	}
}

// oneFunc builds a module of one `func () -> ()` with the given body (locals
// included, final end included) and optional extra sections.
func oneFunc(body []byte, extra ...byte) []byte {
	m := []byte("\x00asm\x01\x00\x00\x00")
	m = append(m, 1, 4, 1, 0x60, 0, 0) // type section: [] -> []
	m = append(m, 3, 2, 1, 0)          // function section: one func of type 0
	m = append(m, extra...)
	code := appendU32([]byte{1}, uint32(len(body)))
	code = append(code, body...)
	m = append(m, secCode)
	m = appendU32(m, uint32(len(code)))
	return append(m, code...)
}

func TestGuardInsertsChecks(t *testing.T) {
	// Globals 0 (interrupt) and 1 (budget): no other globals.
	check := []byte{
		0x23, 0x01, 0x41, 0x01, 0x6b, 0x24, 0x01, // budget--
		0x23, 0x01, 0x41, 0x00, 0x4c, 0x04, 0x40, // if budget <= 0
		0x41, 0x00, 0x40, 0x00, 0x1a, // memory.grow 0; drop
		0x41, 0x80, 0x20, 0x24, 0x01, // budget = 4096
		0x23, 0x00, 0x04, 0x40, 0x00, 0x0b, // if interrupt; unreachable; end
		0x0b, // end
	}
	body := []byte{
		0x01, 0x01, 0x7f, // one i32 local
		0x41, 0x03, 0x1a, // i32.const 3 (a 0x03 immediate, not a loop); drop
		0x02, 0x40, // block
		0x03, 0x40, // loop
		0x41, 0x83, 0x00, // i32.const 3 (2-byte LEB)
		0x0e, 0x02, 0x00, 0x01, 0x00, // br_table 0 1 0: pops the const
		0x0b,       // end loop
		0x0b,       // end block
		0x03, 0x40, // loop
		0xfd, 0x0c, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0x1a, // v128.const of 0x03 bytes; drop
		0x0b, // end loop
		0x0b, // end func
	}
	want := append([]byte{0x01, 0x01, 0x7f}, check...)
	want = append(want, body[3:10]...)
	want = append(want, check...)
	want = append(want, body[10:22]...)
	want = append(want, check...)
	want = append(want, body[22:]...)
	got, err := guard(oneFunc(body))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(got, want) {
		t.Fatalf("instrumented module\n%x\ndoes not contain the expected body\n%x", got, want)
	}
	// The body's size, the code section's size and the new sections must agree.
	rt := wazero.NewRuntimeWithConfig(context.Background(), wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(context.Background())
	if _, err := rt.CompileModule(context.Background(), got); err != nil {
		t.Fatalf("instrumented module does not compile: %v", err)
	}
}

func TestGuardRejects(t *testing.T) {
	exportGlobal := func(name string) []byte { // an export section of global 0 as name
		body := appendName([]byte{1}, name)
		return append(append([]byte{secExport, byte(len(body) + 2)}, body...), 0x03, 0x00)
	}
	tests := []struct {
		name      string
		given     []byte
		expectMsg string
	}{
		{name: "not wasm", given: []byte("\x00asx\x01\x00\x00\x00"), expectMsg: "bad magic"},
		{name: "truncated section", given: []byte("\x00asm\x01\x00\x00\x00\x01\x0a\x01"), expectMsg: "run past the end"},
		{name: "unknown section", given: []byte("\x00asm\x01\x00\x00\x00\x0d\x00"), expectMsg: "unsupported section id 13"},
		{name: "sections out of order", given: []byte("\x00asm\x01\x00\x00\x00\x03\x01\x00\x01\x01\x00"), expectMsg: "out of order"},
		{name: "exception handling", given: oneFunc([]byte{0, 0x06, 0x40, 0x0b, 0x0b}), expectMsg: "unsupported opcode 0x06"},
		{name: "threads prefix", given: oneFunc([]byte{0, 0xfe, 0x03, 0x00, 0x0b}), expectMsg: "unsupported opcode 0xfe"},
		{name: "SIMD gap", given: oneFunc([]byte{0, 0xfd, 0x9a, 0x01, 0x0b}), expectMsg: "unsupported opcode 0xfd 154"},
		{name: "relaxed SIMD", given: oneFunc([]byte{0, 0xfd, 0x80, 0x02, 0x0b}), expectMsg: "unsupported opcode 0xfd 256"},
		{name: "unknown 0xfc op", given: oneFunc([]byte{0, 0xfc, 0x12, 0x0b}), expectMsg: "unsupported opcode 0xfc 18"},
		{name: "body without its end", given: oneFunc([]byte{0, 0x02, 0x40, 0x0b}), expectMsg: "ends before its final end"},
		{name: "bytes after the end", given: oneFunc([]byte{0, 0x0b, 0x01}), expectMsg: "after the body's final end"},
		{name: "overlong LEB", given: oneFunc([]byte{0, 0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x1a, 0x0b}), expectMsg: "LEB128"},
		{name: "negative block type", given: oneFunc([]byte{0, 0x02, 0x60, 0x0b, 0x0b}), expectMsg: "block type"},
		{name: "immediate past the end", given: oneFunc([]byte{0, 0x44, 0x00, 0x00}), expectMsg: "run past the end"},
		{name: "memory.size with a non-zero index", given: oneFunc([]byte{0, 0x3f, 0x01, 0x1a, 0x0b}), expectMsg: "expected 0x00"},
		{name: "already exports the interrupt", given: oneFunc([]byte{0, 0x0b}, exportGlobal(interruptExport)...), expectMsg: `already exports "__rm_interrupt"`},
		{name: "already exports the budget", given: oneFunc([]byte{0, 0x0b}, exportGlobal(budgetExport)...), expectMsg: `already exports "__rm_budget"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := guard(tt.given)
			if !errors.Is(err, ErrGuard) || !strings.Contains(err.Error(), tt.expectMsg) {
				t.Fatalf("error %v, want ErrGuard with %q", err, tt.expectMsg)
			}
		})
	}
}

// maxFuzzSeed keeps the 1.8 MB Go module out of the corpus the fuzzer mutates:
// mutating it stalls the fuzzer. Plain `go test` runs it as a seed like the others.
const maxFuzzSeed = 64 << 10

// FuzzInstrument: Guard and Watch never panic on any bytes, and whenever
// wazero compiles a module, Guard and Watch accept it
// (unless it already exports one of the names they add) and wazero compiles
// what they return. Seeded with every built module: the standard ones, the
// test modules and testdata/*.wasm; crashers are kept in testdata/fuzz.
func FuzzInstrument(f *testing.F) {
	fuzzing := flag.Lookup("test.fuzz").Value.String() != ""
	seeds := 0
	for _, dir := range []string{buildDir, filepath.Join(buildDir, "test"), "testdata"} {
		paths, _ := filepath.Glob(filepath.Join(dir, "*.wasm"))
		for _, p := range paths {
			if wasm, err := os.ReadFile(p); err == nil && (!fuzzing || len(wasm) <= maxFuzzSeed) {
				f.Add(wasm)
				seeds++
			}
		}
	}
	if seeds < 20 && os.Getenv("CI") != "" {
		f.Fatalf("only %d modules to seed from: run `make modules`", seeds)
	}
	f.Add(oneFunc([]byte{0, 0x03, 0x40, 0x0b, 0x0b}))
	f.Add(oneFunc([]byte{0, 0x41, 0x01, 0x40, 0x00, 0x1a, 0x0b}, 5, 3, 1, 0, 1)) // memory.grow
	ctx := context.Background()
	// The interpreter validates exactly as the host's compiler does (both run
	// wazero's module validation) and compiles about ten times faster, which
	// is what the fuzzer's throughput hangs on; TestGuardDifferential compiles
	// and runs every built module with the compiler.
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	f.Fuzz(func(t *testing.T, wasm []byte) {
		guarded, guardErr := guard(wasm)
		watched, watchErr := wasmguard.Watch(wasm)
		if err := wasmguard.CheckCounts(wasm); err != nil {
			if guardErr == nil || watchErr == nil {
				t.Fatalf("Guard (%v) and Watch (%v) accept what CheckCounts rejects: %v", guardErr, watchErr, err)
			}
			return // wazero would size its slices by those counts (bounds.go): the host never gives it such a module
		}
		orig, err := compileModule(ctx, rt, wasm) // as the host does: a panic in wazero's validation is an error
		if err != nil {
			return
		}
		_ = orig.Close(ctx)
		for _, tc := range []struct {
			name string
			out  []byte
			err  error
		}{{"Guard", guarded, guardErr}, {"Watch", watched, watchErr}} {
			if tc.err != nil {
				if !strings.Contains(tc.err.Error(), "already exports") {
					t.Fatalf("wazero compiles the module, %s rejects it: %v", tc.name, tc.err)
				}
				continue
			}
			cm, err := compileModule(ctx, rt, tc.out)
			if err != nil {
				t.Fatalf("wazero compiles the module, not what %s made of it: %v", tc.name, err)
			}
			_ = cm.Close(ctx)
		}
	})
}

// BenchmarkGuardLoop is the cost of the loop-header check: testdata/dsp.wasm's
// 1920-iteration rm_process, called directly, with and without instrumentation.
func BenchmarkGuardLoop(b *testing.B) {
	wasm := readModule(b, "testdata/dsp.wasm")
	guarded, err := guard(wasm)
	if err != nil {
		b.Fatal(err)
	}
	frame := audioFrame(0)
	for _, bc := range []struct {
		name string
		wasm []byte
	}{{"unguarded", wasm}, {"guarded", guarded}} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			r := newRawRuntime(b)
			r.discard = true
			mod, err := r.rt.InstantiateWithConfig(ctx, bc.wasm, wazero.NewModuleConfig().WithName(""))
			if err != nil {
				b.Fatal(err)
			}
			process := mod.ExportedFunction("rm_process")
			mod.Memory().Write(4096, frame)
			stack := []uint64{4096, uint64(len(frame) - 32)}
			b.ReportAllocs()
			for b.Loop() {
				stack[0], stack[1] = 4096, uint64(len(frame)-32)
				if err := process.CallWithStack(ctx, stack); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGuard is the instrumentation itself, on the 1.8 MB Go module.
func BenchmarkGuard(b *testing.B) {
	wasm := readModule(b, filepath.Join(buildDir, "chunker.wasm"))
	b.SetBytes(int64(len(wasm)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := guard(wasm); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCompileRejectsHugeCounts: wazero sizes its slices by the counts a module
// declares before it reads the entries, so a few bytes declaring 2^31 element
// segments or 2^32-1 locals made it allocate tens of GB and the process die
// (FuzzInstrument found the first). The host rejects them with a clear error.
func TestCompileRejectsHugeCounts(t *testing.T) {
	tests := []struct {
		name      string
		given     []byte
		expectMsg string
	}{
		{name: "element segments", given: oneFunc([]byte{0, 0x0b}, 9, 5, 0xff, 0xff, 0xff, 0xff, 0x07),
			expectMsg: "section id 9: declared counts out of bounds"},
		{name: "data segments", given: append(oneFunc([]byte{0, 0x0b}, 5, 3, 1, 0, 1), 11, 5, 0xff, 0xff, 0xff, 0xff, 0x07),
			expectMsg: "section id 11: declared counts out of bounds"},
		{name: "locals", given: oneFunc([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7f, 0x0b}),
			expectMsg: "function body 0: 4294967295 locals, over 50000"},
		{name: "function names", given: append(oneFunc([]byte{0, 0x0b}), 0, 13, 4, 'n', 'a', 'm', 'e', 1, 6, 0xff, 0xff, 0xff, 0xff, 0x07, 0),
			expectMsg: "name subsection 1"},
	}
	ctx := context.Background()
	h, err := New(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.Compile(ctx, "huge.wasm", tt.given)
			if !errors.Is(err, ErrGuard) || !errors.Is(err, wasmguard.ErrCounts) || !strings.Contains(err.Error(), tt.expectMsg) {
				t.Fatalf("error %v, want ErrGuard and ErrCounts with %q", err, tt.expectMsg)
			}
		})
	}
}
