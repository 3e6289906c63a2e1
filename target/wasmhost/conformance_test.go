package wasmhost_test

// The conformance suite of the Host contract (core/wasmnode.Host): every test
// in this file runs on both backends, natively (wazero) under `go test` and on
// the js backend under Node.js (`make test-js`: GOOS=js GOARCH=wasm go test
// -exec=go_js_wasm_exec), whose WebAssembly API is V8's, as Chromium's is. A
// backend-only behaviour has its test in a file of that backend
// (host_test.go, host_js_test.go).

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/wasmnode"
	"github.com/remotemedia/hybrid/target/wasmhost"
)

// modDir holds the test modules built by `make -C wasm-modules/test`.
var modDir = filepath.Join("..", "..", "wasm-modules", "build", "test")

type dirLoader string

func (d dirLoader) Load(_ context.Context, name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(string(d), name))
}

func needModules(tb testing.TB) {
	tb.Helper()
	if _, err := os.Stat(filepath.Join(modDir, "echo.wasm")); err != nil {
		if os.Getenv("CI") != "" { // the test command builds and installs it: a skip would hide a failure
			tb.Fatalf("test modules not built (%v): run `make -C wasm-modules/test`", err)
		}
		tb.Skipf("test modules not built (%v): run `make -C wasm-modules/test`", err)
	}
}

// newHost makes a host of the backend the test binary was built for.
func newHost(tb testing.TB, cfg wasmhost.Config) *wasmhost.Host {
	tb.Helper()
	h, err := wasmhost.New(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = h.Close(context.Background()) })
	return h
}

var anyKind = []frame.Kind{frame.KindAudio, frame.KindText, frame.KindJSON, frame.KindBinary}

// newNode registers the test module name.wasm as node type name and makes one node.
func newNode(tb testing.TB, h wasmnode.Host, name string) (node.Node, error) {
	tb.Helper()
	return newNodeIn(tb, h, modDir, name)
}

// newNodeIn is newNode with the module taken from dir.
func newNodeIn(tb testing.TB, h wasmnode.Host, dir, name string) (node.Node, error) {
	tb.Helper()
	reg := node.NewRegistry()
	spec := wasmnode.ModuleSpec{File: name + ".wasm", Spec: node.Spec{
		Type:    name,
		Inputs:  []node.Port{{Name: "in", Kinds: anyKind}},
		Outputs: []node.Port{{Name: "out", Kinds: anyKind}},
	}}
	if err := wasmnode.Register(reg, h, dirLoader(dir), []wasmnode.ModuleSpec{spec}); err != nil {
		tb.Fatal(err)
	}
	s, err := reg.Lookup(name, "wasm")
	if err != nil {
		tb.Fatal(err)
	}
	n, err := s.New(context.Background(), node.Config{ID: name + "1", StreamID: "s1", Params: map[string]any{"x": 1}})
	if err == nil {
		tb.Cleanup(func() { _ = n.Close() })
	}
	return n, err
}

func mustNode(tb testing.TB, h wasmnode.Host, name string) node.Node {
	tb.Helper()
	n, err := newNode(tb, h, name)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// audio makes a 48 kHz stereo f32 frame whose samples all equal v.
func audio(seq uint64, samples int, v float32) *frame.Frame {
	s := make([]float32, 2*samples)
	for i := range s {
		s[i] = v + float32(i)*1e-6
	}
	return frame.NewAudioF32(frame.Header{StreamID: "s1", Seq: seq, Timestamp: int64(seq) * 20000,
		Meta: map[string]any{"speaker": "ann"}}, 48000, 2, s)
}

type outputs struct {
	ports  []int
	frames []*frame.Frame
}

func (o *outputs) emit(port int, f *frame.Frame) {
	o.ports = append(o.ports, port)
	o.frames = append(o.frames, f)
}

func TestEchoRoundTrip(t *testing.T) {
	needModules(t)
	n := mustNode(t, newHost(t, wasmhost.Config{}), "echo")
	ins := []*frame.Frame{
		audio(7, 960, 0.25),
		frame.NewText(frame.Header{StreamID: "s1", Seq: 8, Timestamp: 40000, Meta: map[string]any{"lang": "en"}}, "héllo"),
		audio(9, 48000, -0.5), // 384 KB: the input buffer must grow
		audio(10, 1, 0.125),
	}
	var out outputs
	for _, in := range ins {
		if err := n.Process(context.Background(), 0, in, out.emit); err != nil {
			t.Fatal(err)
		}
	}
	if len(out.frames) != len(ins) {
		t.Fatalf("got %d outputs, want %d", len(out.frames), len(ins))
	}
	for i, in := range ins {
		got := out.frames[i]
		if out.ports[i] != 0 {
			t.Errorf("frame %d: port %d, want 0", i, out.ports[i])
		}
		if !bytes.Equal(got.Data, in.Data) {
			t.Errorf("frame %d: data differs (%d vs %d bytes)", i, len(got.Data), len(in.Data))
		}
		if got.Kind != in.Kind || got.Format != in.Format || got.Channels != in.Channels ||
			got.SampleRate != in.SampleRate || got.Timestamp != in.Timestamp || got.StreamID != in.StreamID {
			t.Errorf("frame %d: header %+v, want %+v", i, got, in)
		}
		if got.Seq != uint64(i) {
			t.Errorf("frame %d: seq %d, want %d (numbered by the node)", i, got.Seq, i)
		}
		if len(got.Meta) != 1 || got.Meta["speaker"] != in.Meta["speaker"] || got.Meta["lang"] != in.Meta["lang"] {
			t.Errorf("frame %d: meta %v, want %v", i, got.Meta, in.Meta)
		}
	}
}

// TestConformanceFrames feeds frames through the node adapter (core/wasmnode)
// to one test module each: the round trip, traps, the memory cap, guest
// errors, and a fresh instance after every failure.
func TestConformanceFrames(t *testing.T) {
	needModules(t)
	tests := []struct {
		frameCase
		notErr error // an error no frame's may wrap
	}{
		{frameCase: frameCase{name: "echo round trip", module: "echo",
			given:     []*frame.Frame{audio(0, 960, 0.1), audio(1, 48000, -0.5), audio(2, 1, 0.125)},
			expectErr: []error{nil, nil, nil}}},
		{frameCase: frameCase{name: "trap on the 2nd frame, then a fresh instance works", module: "trap",
			given:     []*frame.Frame{audio(0, 960, 0.1), audio(1, 960, 0.1), audio(2, 960, 0.1)},
			expectErr: []error{nil, wasmhost.ErrTrap, nil}, expectMsg: "rm_process"}},
		{frameCase: frameCase{name: "grow hits the memory cap, then a fresh instance fails the same", module: "grow",
			given:     []*frame.Frame{audio(0, 960, 0.1), audio(1, 960, 0.1)},
			expectErr: []error{wasmhost.ErrMemoryLimit, wasmhost.ErrMemoryLimit}, expectMsg: "cap 32 pages"}},
		{frameCase: frameCase{name: "grow 16 pages at a time, then write through the refused -1", module: "grow16",
			given:     []*frame.Frame{audio(0, 960, 0.1)},
			expectErr: []error{wasmhost.ErrMemoryLimit}, expectMsg: "cap 32 pages = 2 MiB; memory.grow refused at"}},
		{frameCase: frameCase{name: "a refused growth counts for its own call only", module: "growfail",
			given:     []*frame.Frame{audio(0, 960, 0.1), audio(1, 960, 0.1)},
			expectErr: []error{wasmnode.ErrGuest, wasmhost.ErrTrap}, expectMsg: "no memory for this frame"},
			notErr: wasmhost.ErrMemoryLimit},
		{frameCase: frameCase{name: "a guest error keeps the instance", module: "fail",
			given:     []*frame.Frame{audio(0, 960, 0.1), audio(1, 960, 0.1)},
			expectErr: []error{wasmnode.ErrGuest, wasmnode.ErrGuest}, expectMsg: "status 7: fail.wasm: this node rejects every frame"}},
		{frameCase: frameCase{name: "tensor frames do not cross", module: "echo",
			given:     []*frame.Frame{{Kind: frame.KindTensor, DType: frame.DTypeF32}},
			expectErr: []error{wasmhost.ErrABI}, expectMsg: "tensor frames"}},
	}
	h := newHost(t, wasmhost.Config{MemoryLimitPages: 32})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := runFrames(t, mustNode(t, h, tt.module), tt.frameCase, nil)
			for i, err := range errs {
				if tt.notErr != nil && errors.Is(err, tt.notErr) {
					t.Fatalf("frame %d: %v wraps %v", i, err, tt.notErr)
				}
			}
		})
	}
}

// TestConformanceEmitOrder: a module that emits several frames in one call,
// and the rest on flush (the standard chunker, 20 ms chunks of 30 ms frames),
// has its outputs delivered in the order it emitted them, each with its own
// data and timestamp.
func TestConformanceEmitOrder(t *testing.T) {
	stdDir := filepath.Join(modDir, "..")
	if _, err := os.Stat(filepath.Join(stdDir, "chunker.wasm")); err != nil {
		needModules(t) // the same build makes both
		t.Skipf("chunker.wasm not built: %v", err)
	}
	var spec wasmnode.ModuleSpec
	for _, s := range wasmnode.Standard {
		if s.Spec.Type == "chunker" {
			spec = s
		}
	}
	reg := node.NewRegistry()
	if err := wasmnode.Register(reg, newHost(t, wasmhost.Config{}), dirLoader(stdDir), []wasmnode.ModuleSpec{spec}); err != nil {
		t.Fatal(err)
	}
	s, err := reg.Lookup("chunker", "wasm")
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.New(context.Background(), node.Config{ID: "c1", StreamID: "s1", Params: map[string]any{"ms": 20.0}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	var out outputs
	var in []float32
	for i := range 3 { // 3 x 30 ms = 4 chunks of 20 ms and 10 ms left
		f := audio(uint64(i), 1440, float32(i))
		f.Timestamp = int64(i) * 30000
		in = append(in, f.F32()...)
		if err := n.Process(context.Background(), 0, f, out.emit); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	if len(out.frames) != 4 {
		t.Fatalf("%d chunks before flush, want 4", len(out.frames))
	}
	if err := n.Flush(context.Background(), out.emit); err != nil {
		t.Fatal(err)
	}
	if len(out.frames) != 5 {
		t.Fatalf("%d chunks after flush, want 5", len(out.frames))
	}
	var got []float32
	for k, f := range out.frames {
		if want := int64(k) * 20000; f.Timestamp != want {
			t.Errorf("chunk %d: timestamp %d, want %d", k, f.Timestamp, want)
		}
		got = append(got, f.F32()...)
	}
	if len(got) != len(in) {
		t.Fatalf("%d samples out, %d in", len(got), len(in))
	}
	for i := range in {
		if got[i] != in[i] {
			t.Fatalf("sample %d: %v, want %v (chunks out of order?)", i, got[i], in[i])
		}
	}
}

// TestConformanceDeadline: a call that runs far past the deadline fails with
// ErrTimeout (the wazero backend stops it; the js backend fails it when it
// returns), and a fresh instance of the module then runs.
func TestConformanceDeadline(t *testing.T) {
	ctx := context.Background()
	h := newHost(t, wasmhost.Config{CallTimeout: time.Millisecond})
	mod := compileFile(t, h, "testdata/spin.wasm")
	for _, tc := range []struct {
		name      string
		given     uint64 // loop iterations
		expectErr error
	}{
		// 2^28 iterations take far longer than a millisecond on any machine.
		{name: "spin past the deadline", given: 1 << 28, expectErr: wasmhost.ErrTimeout},
		{name: "then a fresh instance runs", given: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := mod.Instantiate(ctx, wasmnode.HostFuncs{})
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close(ctx)
			err = in.Func("spin").Call(ctx, []uint64{tc.given})
			if !errors.Is(err, tc.expectErr) || (err == nil) != (tc.expectErr == nil) {
				t.Fatalf("spin(%d): %v, want %v", tc.given, err, tc.expectErr)
			}
			if err != nil && !strings.Contains(err.Error(), "spin: ") {
				t.Fatalf("error %q does not name the export", err)
			}
		})
	}
}

// TestConformanceBadModules: modules a host must refuse, at Compile or at
// Instantiate, with the same error on both backends.
func TestConformanceBadModules(t *testing.T) {
	junk := []byte("nope, not wasm")
	tests := []struct {
		name      string
		file      string // a module file, or
		given     []byte // module bytes
		pages     uint32
		expectErr error
		expectMsg string
		rejectMsg string // must not be in the error
		atInst    bool   // refused at Instantiate, not Compile
	}{
		{name: "junk", given: junk, expectErr: wasmhost.ErrMalformed, expectMsg: `"bad.wasm"`},
		{name: "truncated", given: []byte("\x00asm\x01\x00\x00\x00\x01\x10"), expectErr: wasmhost.ErrMalformed},
		{name: "a WASI import the ABI does not grant", file: filepath.Join(modDir, "forbidden.wasm"), expectErr: wasmhost.ErrImports,
			expectMsg: "wasi_snapshot_preview1.path_open", rejectMsg: "fd_write"},
		{name: "an import with a wrong signature", file: "testdata/badsig.wasm", expectErr: wasmhost.ErrImports, expectMsg: "rm.emit (wrong signature)"},
		{name: "an imported memory", file: "testdata/importmemory.wasm", expectErr: wasmhost.ErrImports, expectMsg: "env.memory (memory)"},
		{name: "a memory that starts over the cap", file: "testdata/bigmemory.wasm", pages: 32, expectErr: wasmhost.ErrMemoryLimit, atInst: true},
		{name: "no exported memory", file: "testdata/nomemory.wasm", expectErr: wasmhost.ErrABI, expectMsg: `no exported memory "memory"`, atInst: true},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wasm := tt.given
			if wasm == nil {
				wasm = readFile(t, tt.file)
			}
			mod, err := newHost(t, wasmhost.Config{MemoryLimitPages: tt.pages}).Compile(ctx, "bad.wasm", wasm)
			if err == nil && tt.atInst {
				_, err = mod.Instantiate(ctx, wasmnode.HostFuncs{})
			} else if err == nil {
				t.Fatal("compiled")
			}
			if !errors.Is(err, tt.expectErr) {
				t.Fatalf("error %v, want %v", err, tt.expectErr)
			}
			if !strings.Contains(err.Error(), tt.expectMsg) || (tt.rejectMsg != "" && strings.Contains(err.Error(), tt.rejectMsg)) {
				t.Errorf("error %q: want %q in it and not %q", err, tt.expectMsg, tt.rejectMsg)
			}
		})
	}
}

// TestConformanceModuleABI: a module that breaks the node ABI is refused
// when its node is made, and a missing module is unavailable.
func TestConformanceModuleABI(t *testing.T) {
	needModules(t)
	tests := []struct {
		module    string
		expectErr error
		expectMsg string
	}{
		{module: "badabi", expectErr: wasmhost.ErrABI, expectMsg: "rm_abi_version() = 2"},
		{module: "missing", expectErr: node.ErrUnavailable, expectMsg: `wasm: module "missing.wasm"`},
	}
	h := newHost(t, wasmhost.Config{})
	for _, tt := range tests {
		t.Run(tt.module, func(t *testing.T) {
			_, err := newNode(t, h, tt.module)
			if !errors.Is(err, tt.expectErr) || !strings.Contains(err.Error(), tt.expectMsg) {
				t.Fatalf("error %v, want %v with %q", err, tt.expectErr, tt.expectMsg)
			}
		})
	}
}

// TestConformanceHost: the config's limits and a closed host.
func TestConformanceHost(t *testing.T) {
	ctx := context.Background()
	if _, err := wasmhost.New(ctx, wasmhost.Config{MemoryLimitPages: wasmhost.MaxMemoryPages + 1}); !errors.Is(err, wasmhost.ErrConfig) {
		t.Fatalf("New with %d pages: %v, want ErrConfig", wasmhost.MaxMemoryPages+1, err)
	}
	// The shortest deadline is valid: every call runs past it.
	h := newHost(t, wasmhost.Config{CallTimeout: time.Nanosecond})
	in, err := compileFile(t, h, "testdata/spin.wasm").Instantiate(ctx, wasmnode.HostFuncs{})
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Func("spin").Call(ctx, []uint64{1 << 28}); !errors.Is(err, wasmhost.ErrTimeout) {
		t.Fatalf("a 1 ns deadline: %v, want ErrTimeout", err)
	}
	if in.Func("nothing") != nil {
		t.Fatal("Func of a missing export is not nil")
	}
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Compile(ctx, "spin.wasm", readFile(t, "testdata/spin.wasm")); !errors.Is(err, wasmhost.ErrClosed) {
		t.Fatalf("Compile after Close: %v, want ErrClosed", err)
	}
}

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && strings.HasPrefix(path, modDir) {
		needModules(tb)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func compileFile(tb testing.TB, h *wasmhost.Host, path string) wasmnode.Module {
	tb.Helper()
	m, err := h.Compile(context.Background(), filepath.Base(path), readFile(tb, path))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func TestCancelResetsInstance(t *testing.T) {
	needModules(t)
	n := mustNode(t, newHost(t, wasmhost.Config{}), "trap")
	var out outputs
	cancel := frame.NewControl(frame.Header{StreamID: "s1"}, frame.Cancel)
	for i, in := range []*frame.Frame{audio(0, 10, 0), cancel, audio(1, 10, 0), cancel, audio(2, 10, 0)} {
		if err := n.Process(context.Background(), 0, in, out.emit); err != nil {
			t.Fatalf("frame %d: %v (cancel must reset the trap module's frame counter)", i, err)
		}
	}
	if len(out.frames) != 3 || out.frames[2].Seq != 2 {
		t.Fatalf("got %d outputs, want 3 numbered 0..2", len(out.frames))
	}
}

// frameCase feeds frames to one module's node.
type frameCase struct {
	name      string
	module    string
	given     []*frame.Frame
	expectErr []error // per frame; nil = ok, one output
	expectMsg string  // in the first error
}

// runFrames processes tc.given on n and checks each result against tc: an
// expected error by errors.Is (the first also by message), otherwise exactly one
// output, which check accepts (nil: it must echo the input's data and header).
// It returns the frames' errors.
func runFrames(t *testing.T, n node.Node, tc frameCase, check func(t *testing.T, in, got *frame.Frame)) []error {
	t.Helper()
	var out outputs
	var errs []error
	first := true
	for i, in := range tc.given {
		before := len(out.frames)
		err := n.Process(context.Background(), 0, in, out.emit)
		errs = append(errs, err)
		switch want := tc.expectErr[i]; {
		case want == nil && err != nil:
			t.Fatalf("frame %d: %v", i, err)
		case want == nil && len(out.frames) != before+1:
			t.Fatalf("frame %d: %d outputs, want 1", i, len(out.frames)-before)
		case want == nil && check != nil:
			check(t, in, out.frames[before])
		case want == nil && !echoed(in, out.frames[before]):
			t.Fatalf("frame %d: not echoed: %+v", i, out.frames[before])
		case want != nil && !errors.Is(err, want):
			t.Fatalf("frame %d: error %v, want %v", i, err, want)
		case want != nil && first:
			first = false
			if !strings.Contains(err.Error(), tc.expectMsg) {
				t.Errorf("error %q does not contain %q", err, tc.expectMsg)
			}
		}
	}
	if len(tc.expectErr) != len(tc.given) {
		t.Fatalf("the case has %d frames and %d expected errors", len(tc.given), len(tc.expectErr))
	}
	return errs
}

// echoed tells whether got is in with its data, header and meta.
func echoed(in, got *frame.Frame) bool {
	return bytes.Equal(got.Data, in.Data) && got.Kind == in.Kind && got.Format == in.Format &&
		got.Channels == in.Channels && got.SampleRate == in.SampleRate && got.Timestamp == in.Timestamp &&
		got.StreamID == in.StreamID && len(got.Meta) == len(in.Meta) && got.Meta["speaker"] == in.Meta["speaker"]
}
