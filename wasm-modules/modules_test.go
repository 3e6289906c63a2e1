package modules_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"

	modules "github.com/remotemedia/hybrid/wasm-modules"
	"github.com/remotemedia/hybrid/wasm-modules/native"
)

// standard are the modules TestImports requires (dc_block is the Rust one); it
// checks every other built module too.
var standard = []string{"chunker.wasm", "convert.wasm", "dc_block.wasm", "gain.wasm", "highpass.wasm", "level.wasm", "logmel.wasm",
	"noise_gate.wasm", "resample.wasm", "to_mono.wasm", "vad.wasm"}

// allowedImports is the import list of docs/wasm-abi.md.
var allowedImports = map[string]bool{
	"rm.emit": true, "rm.log": true, "rm.error": true,
}

func init() {
	for _, n := range strings.Fields(`args_sizes_get args_get environ_sizes_get environ_get clock_time_get clock_res_get
		random_get fd_write fd_close fd_fdstat_get fd_seek fd_read fd_prestat_get fd_prestat_dir_name poll_oneoff
		sched_yield proc_exit`) {
		allowedImports["wasi_snapshot_preview1."+n] = true
	}
}

func TestImports(t *testing.T) {
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	names := slices.Clone(standard)
	for _, n := range modules.Names() {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			c, err := rt.CompileModule(ctx, loadModule(t, name))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range c.ImportedFunctions() {
				mod, fn, _ := f.Import()
				if !allowedImports[mod+"."+fn] {
					t.Errorf("imports %s.%s, which docs/wasm-abi.md does not grant", mod, fn)
				}
			}
			if len(c.ImportedMemories()) > 0 {
				t.Error("imports a memory")
			}
			for _, e := range []string{"rm_abi_version", "rm_alloc", "rm_init", "rm_process"} {
				if _, ok := c.ExportedFunctions()[e]; !ok {
					t.Errorf("does not export %s", e)
				}
			}
		})
	}
}

func TestLoader(t *testing.T) {
	_, err := modules.Loader{}.Load(context.Background(), "nope.wasm")
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "nope.wasm") || !strings.Contains(err.Error(), "make modules") {
		t.Fatalf("Load(nope.wasm) = %v", err)
	}
	if _, err := (modules.Loader{}).Load(context.Background(), "../embed.go"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load(../embed.go) = %v", err)
	}
	for _, n := range modules.Names() {
		if !strings.HasSuffix(n, ".wasm") || strings.Contains(n, "/") {
			t.Errorf("Names() has %q", n)
		}
	}
}

// sine returns n frames of an interleaved signal whose channel c is amp*sin(2 pi f t + c).
func sine(n, channels int, rate, freq, amp float64) []float32 {
	s := make([]float32, n*channels)
	for i := range n {
		for c := range channels {
			s[i*channels+c] = float32(amp * math.Sin(2*math.Pi*freq*float64(i)/rate+float64(c)))
		}
	}
	return s
}

func assertClose(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d samples, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > tol || math.IsNaN(d) {
			t.Fatalf("%s: sample %d = %g, want %g (diff %g > %g)", what, i, got[i], want[i], d, tol)
		}
	}
}

func TestGain(t *testing.T) {
	in := sine(960, 2, 48000, 440, 0.5)
	tests := []struct {
		name, given string
		expect      float64
	}{
		{"default 0 dB", `{}`, 1},
		{"+6 dB", `{"gain_db":6}`, math.Pow(10, 0.3)},
		{"-20 dB", `{"gain_db": -2e1, "linear": null}`, 0.1},
		{"linear overrides dB", `{"gain_db":6,"linear":0.25}`, 0.25},
		{"params with nested values", `{"x":{"a":[1,"}"]},"gain_db":-6.0,"y":"z"}`, math.Pow(10, -0.3)},
		{"-120 dB", `{"gain_db":-120}`, 1e-6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "gain.wasm", tc.given)
			h.sendF32(t, 48000, 2, 20000, in)
			outs := h.take()
			if len(outs) != 1 || outs[0].TS != 20000 || outs[0].Channels != 2 || outs[0].Rate != 48000 || outs[0].Port != 0 {
				t.Fatalf("outputs %+v", outs)
			}
			want := make([]float32, len(in))
			native.Gain(want, in, float32(tc.expect))
			assertClose(t, "gain", outs[0].f32(), want, 1e-6*tc.expect+1e-9)
		})
	}
	h := newHarness(t, "gain.wasm", `{}`)
	if err := h.send(t, header{Kind: 1, Format: 2, Channels: 1, Rate: 16000}, make([]byte, 64)); err == nil || !strings.Contains(err.Error(), "f32") {
		t.Fatalf("s16 input: %v", err)
	}
}

func TestConvert(t *testing.T) {
	s16 := []int16{0, 1, -1, 32767, -32768, 12345, -23456, 2, -2, 100, -100, 16384, -16384, 7, 8, 9, -9, 31000, -31000}
	b := make([]byte, 2*len(s16))
	for i, v := range s16 {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	toF32 := newHarness(t, "convert.wasm", `{"to":"f32"}`)
	toS16 := newHarness(t, "convert.wasm", `{"to":"s16"}`)
	if err := toF32.send(t, header{Kind: 1, Format: 2, Channels: 1, Rate: 16000, TS: 5}, b); err != nil {
		t.Fatal(err)
	}
	f := toF32.take()[0]
	want := make([]float32, len(s16))
	native.S16ToF32(want, s16)
	if f.Format != 1 || f.TS != 5 {
		t.Fatalf("header %+v", f.header)
	}
	assertClose(t, "s16->f32", f.f32(), want, 0)
	if err := toS16.send(t, f.header, f.Data); err != nil {
		t.Fatal(err)
	}
	if back := toS16.take()[0]; string(back.Data) != string(b) || back.Format != 2 {
		t.Fatalf("round trip: %v, want %v", back.Data, b)
	}
	// rounding and clipping
	in := []float32{0.5 / 32768, -0.5 / 32768, 1.5, -1.5, 0.25, float32(math.NaN()), 1e10, -1e10, // the SIMD loop
		32767.6 / 32768, -32768.3 / 32768, -1.49 / 32768, 2.5 / 32768, 0.3, -0.7, 1, -1, 0.49999997 / 32768} // and the tail
	toS16.sendF32(t, 16000, 1, 0, in)
	got := toS16.take()[0].Data
	exp := make([]int16, len(in))
	native.F32ToS16(exp, in)
	for i, v := range exp {
		if g := int16(binary.LittleEndian.Uint16(got[2*i:])); g != v {
			t.Errorf("f32 %g -> %d, want %d", in[i], g, v)
		}
	}
	if exp[0] != 1 || exp[1] != -1 || exp[2] != 32767 || exp[3] != -32768 || exp[4] != 8192 || exp[5] != 0 || exp[10] != -1 || exp[11] != 3 {
		t.Errorf("native F32ToS16 = %v", exp)
	}
	// pass-through
	toF32.sendF32(t, 16000, 1, 7, in[:2])
	if p := toF32.take()[0]; p.Format != 1 || len(p.Data) != 8 || p.TS != 7 {
		t.Errorf("pass-through %+v", p)
	}
	if _, err := newHarnessErr(t, "convert.wasm", `{"to":"u8"}`); err == nil || !strings.Contains(err.Error(), "to") {
		t.Errorf("to=u8: %v", err)
	}
}

// newHarnessErr is newHarness for params rm_init rejects.
func newHarnessErr(t *testing.T, name, params string) (*harness, error) {
	h := newHarness(t, name, `{}`)
	h.reserve(t, uint32(len(params)))
	h.mod.Memory().Write(h.buf, []byte(params))
	h.calls[0], h.calls[1] = uint64(h.buf), uint64(len(params))
	return h, h.call(h.mod.ExportedFunction("rm_init"))
}

func TestToMono(t *testing.T) {
	for _, ch := range []int{1, 2, 3, 6} {
		in := sine(961, ch, 48000, 300, 0.7)
		h := newHarness(t, "to_mono.wasm", `{}`)
		h.sendF32(t, 48000, uint16(ch), 1234, in)
		o := h.take()
		if len(o) != 1 || o[0].Channels != 1 || o[0].TS != 1234 {
			t.Fatalf("%d channels: outputs %+v", ch, o)
		}
		assertClose(t, "to_mono", o[0].f32(), native.ToMono(make([]float32, 961), in, ch), 1e-6)
	}
}

func TestAllocator(t *testing.T) {
	for _, name := range []string{"gain.wasm", "chunker.wasm"} {
		t.Run(name, func(t *testing.T) {
			h := newHarnessConfig(t, name, `{}`, wazero.NewRuntimeConfig().WithMemoryLimitPages(64))
			ctx := context.Background()
			alloc := func(n uint64) uint64 {
				v, err := h.alloc.Call(ctx, n)
				if err != nil {
					t.Fatalf("rm_alloc(%d): %v", n, err)
				}
				return v[0]
			}
			seen := map[uint64]bool{}
			for _, n := range []uint64{1, 15, 16, 17, 1000, 4096, 100000} {
				p := alloc(n)
				if p == 0 || p%16 != 0 || seen[p] {
					t.Fatalf("rm_alloc(%d) = %d", n, p)
				}
				seen[p] = true
				if !h.mod.Memory().Write(uint32(p), make([]byte, n)) {
					t.Fatalf("rm_alloc(%d) = %d: not writable", n, p)
				}
			}
			// over the cap the C allocator returns 0; Go's runtime traps (out of memory), which the ABI allows
			if v, err := h.alloc.Call(ctx, 8<<20); (err == nil) != (name == "gain.wasm") || (err == nil && v[0] != 0) {
				t.Errorf("rm_alloc(8 MiB) under a 4 MiB cap = %v, %v", v, err)
			}
			if name == "gain.wasm" { // the C allocator reuses a freed block of the same class
				p := alloc(3000)
				if _, err := h.mod.ExportedFunction("rm_free").Call(ctx, p); err != nil {
					t.Fatal(err)
				}
				if q := alloc(2500); q != p {
					t.Errorf("after rm_free(%d), rm_alloc(2500) = %d", p, q)
				}
			}
		})
	}
}
