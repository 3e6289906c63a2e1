package host_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/wasmnode"
	"github.com/remotemedia/hybrid/target/server/host"
)

// modDir holds the test modules built by `make -C wasm-modules/test`.
var modDir = filepath.Join("..", "..", "..", "wasm-modules", "build", "test")

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

func newHost(tb testing.TB, cfg host.Config) *host.Host {
	tb.Helper()
	h, err := host.New(context.Background(), cfg)
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
	n := mustNode(t, newHost(t, host.Config{}), "echo")
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

func TestFailuresAndRecovery(t *testing.T) {
	needModules(t)
	tests := []frameCase{
		{name: "loop times out, then a fresh instance works", module: "loop",
			given:     []*frame.Frame{audio(0, 960, 0.1), audio(1, 960, 0.9), audio(2, 960, 0.2)},
			expectErr: []error{nil, wasmnode.ErrTimeout, nil}, expectMsg: `node "loop1" (loop.wasm): rm_process:`},
		{name: "trap on the 2nd frame, then a fresh instance works", module: "trap",
			given:     []*frame.Frame{audio(0, 960, 0.1), audio(1, 960, 0.1), audio(2, 960, 0.1)},
			expectErr: []error{nil, wasmnode.ErrTrap, nil}, expectMsg: "unreachable"},
		{name: "grow hits the memory cap", module: "grow",
			given:     []*frame.Frame{audio(0, 960, 0.1)},
			expectErr: []error{wasmnode.ErrMemoryLimit}, expectMsg: "cap 32 pages"},
		{name: "grow 16 pages at a time, then write through the refused -1", module: "grow16",
			given:     []*frame.Frame{audio(0, 960, 0.1)},
			expectErr: []error{wasmnode.ErrMemoryLimit}, expectMsg: "cap 32 pages = 2 MiB; memory.grow refused at 18 pages): wasm: module trapped: wasm error: out of bounds memory access"},
		{name: "fail reports the guest's message and keeps the instance", module: "fail",
			given:     []*frame.Frame{audio(0, 960, 0.1), audio(1, 960, 0.1)},
			expectErr: []error{wasmnode.ErrGuest, wasmnode.ErrGuest}, expectMsg: "status 7: fail.wasm: this node rejects every frame"},
		{name: "tensor frames do not cross", module: "echo",
			given:     []*frame.Frame{{Kind: frame.KindTensor, DType: frame.DTypeF32}},
			expectErr: []error{wasmnode.ErrABI}, expectMsg: "tensor frames"},
	}
	h := newHost(t, host.Config{MemoryLimitPages: 32, CallTimeout: 200 * time.Millisecond})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := mustNode(t, h, tt.module)
			runFrames(t, n, tt, nil)
		})
	}
}

// TestGrowRefusalCountsForItsCallOnly: a memory.grow the guest was refused and
// coped with (it failed the frame) does not turn a later call's trap into the
// memory cap.
func TestGrowRefusalCountsForItsCallOnly(t *testing.T) {
	needModules(t)
	n := mustNode(t, newHost(t, host.Config{MemoryLimitPages: 32}), "growfail")
	var out outputs
	if err := n.Process(context.Background(), 0, audio(0, 960, 0.1), out.emit); !errors.Is(err, wasmnode.ErrGuest) {
		t.Fatalf("frame 0: %v, want ErrGuest (the guest's own failure)", err)
	}
	err := n.Process(context.Background(), 0, audio(1, 960, 0.1), out.emit)
	if !errors.Is(err, wasmnode.ErrTrap) || errors.Is(err, wasmnode.ErrMemoryLimit) {
		t.Fatalf("frame 1: %v, want a trap that is not ErrMemoryLimit", err)
	}
}

// TestTimeoutUnderGC: a guest spinning in a loop reaches a safe point at least
// every budgetRefill iterations (guard.go), so collections running meanwhile
// neither hang the process nor keep the watchdog from stopping the call. (A
// stop-the-world stuck behind the guest would stop the time.After too; the
// test's -timeout cannot fire either then, but the suite hangs visibly.)
func TestTimeoutUnderGC(t *testing.T) {
	needModules(t)
	n := mustNode(t, newHost(t, host.Config{CallTimeout: 50 * time.Millisecond}), "loop")
	stop, gcDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(gcDone)
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	}()
	defer func() { close(stop); <-gcDone }()
	for i, v := range []float32{0.9, 0.1, 0.9} { // spin, echo, spin
		errc := make(chan error, 1)
		go func() {
			errc <- n.Process(context.Background(), 0, audio(uint64(i), 960, v), func(int, *frame.Frame) {})
		}()
		select {
		case err := <-errc:
			if want := v > 0.5; want != errors.Is(err, wasmnode.ErrTimeout) || !want && err != nil {
				t.Fatalf("frame %d: error %v, want ErrTimeout %v", i, err, want)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("frame %d: the call has not returned after 30 s", i)
		}
	}
}

func TestCancelResetsInstance(t *testing.T) {
	needModules(t)
	n := mustNode(t, newHost(t, host.Config{}), "trap")
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

func TestRejectedModules(t *testing.T) {
	needModules(t)
	tests := []struct {
		module    string
		expectErr error
		expectMsg string
		rejectMsg string
	}{
		{module: "badabi", expectErr: wasmnode.ErrABI, expectMsg: "rm_abi_version() = 2"},
		{module: "forbidden", expectErr: wasmnode.ErrImports, expectMsg: "wasi_snapshot_preview1.path_open", rejectMsg: "fd_write"},
		{module: "missing", expectErr: node.ErrUnavailable, expectMsg: `wasm: module "missing.wasm"`},
	}
	h := newHost(t, host.Config{})
	for _, tt := range tests {
		t.Run(tt.module, func(t *testing.T) {
			_, err := newNode(t, h, tt.module)
			if !errors.Is(err, tt.expectErr) {
				t.Fatalf("error %v, want %v", err, tt.expectErr)
			}
			if !strings.Contains(err.Error(), tt.expectMsg) || (tt.rejectMsg != "" && strings.Contains(err.Error(), tt.rejectMsg)) {
				t.Errorf("error %q: want %q in it and not %q", err, tt.expectMsg, tt.rejectMsg)
			}
		})
	}
}

func TestCompilationCache(t *testing.T) {
	needModules(t)
	dir := t.TempDir()
	wasm, err := os.ReadFile(filepath.Join(modDir, "echo.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h1, err := host.New(ctx, host.Config{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h1.Compile(ctx, "echo.wasm", wasm); err != nil {
		t.Fatal(err)
	}
	if err := h1.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var files int
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files++
		}
		return nil
	})
	if files == 0 {
		t.Fatalf("cache dir %s is empty after a compile", dir)
	}
	n := mustNode(t, newHost(t, host.Config{CacheDir: dir}), "echo")
	var out outputs
	if err := n.Process(ctx, 0, audio(0, 480, 0.3), out.emit); err != nil || len(out.frames) != 1 {
		t.Fatalf("echo through a cached module: %v, %d outputs", err, len(out.frames))
	}
}

func TestFuncCallDoesNotAllocate(t *testing.T) {
	needModules(t)
	inst := instantiate(t, "empty")
	f := inst.Func("rm_abi_version")
	stack := make([]uint64, 2)
	allocs := testing.AllocsPerRun(100, func() {
		if err := f.Call(context.Background(), stack); err != nil || stack[0] != 1 {
			t.Fatalf("rm_abi_version: %v, %d", err, stack[0])
		}
	})
	if allocs != 0 {
		t.Errorf("Func.Call allocates %.0f times per call, want 0 (the per-call path must stay allocation-free)", allocs)
	}
}

func instantiate(tb testing.TB, name string) wasmnode.Instance {
	tb.Helper()
	ctx := context.Background()
	wasm, err := os.ReadFile(filepath.Join(modDir, name+".wasm"))
	if err != nil {
		tb.Fatal(err)
	}
	mod, err := newHost(tb, host.Config{}).Compile(ctx, name+".wasm", wasm)
	if err != nil {
		tb.Fatal(err)
	}
	inst, err := mod.Instantiate(ctx, wasmnode.HostFuncs{})
	if err != nil {
		tb.Fatal(err)
	}
	return inst
}

// TestGuardedModules runs testdata modules through the host: a loop in a
// function rm_process calls, and a br_table/SIMD loop, are stopped at the
// deadline and their node goes on with a fresh instance; SIMD results are
// exact; WASI fd_read is EBADF.
func TestGuardedModules(t *testing.T) {
	h := newHost(t, host.Config{CallTimeout: 100 * time.Millisecond})
	spin := audio(99, 960, 0.1) // simd.wasm spins on seq 99
	tests := []frameCase{
		{name: "loop in a called function", module: "callloop",
			given:     []*frame.Frame{audio(0, 960, 0.1), audio(1, 960, 0.9), audio(2, 960, 0.2)},
			expectErr: []error{nil, wasmnode.ErrTimeout, nil}, expectMsg: "rm_process: wasm: call exceeded its deadline (100ms)"},
		{name: "br_table and SIMD loop", module: "simd",
			given:     []*frame.Frame{audio(0, 960, 0.1), spin, audio(2, 960, 0.3), audio(3, 960, -0.2)},
			expectErr: []error{nil, wasmnode.ErrTimeout, nil, nil}, expectMsg: "rm_process"},
		{name: "fd_read is EBADF", module: "fdread",
			given:     []*frame.Frame{audio(0, 1, 0)},
			expectErr: []error{wasmnode.ErrGuest}, expectMsg: "status 8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := newNodeIn(t, h, "testdata", tt.module)
			if err != nil {
				t.Fatal(err)
			}
			var check func(t *testing.T, in, got *frame.Frame)
			if tt.module == "simd" {
				check = checkSIMD
			}
			runFrames(t, n, tt, check)
		})
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
// output, which check accepts (nil: it must echo the input's data).
func runFrames(t *testing.T, n node.Node, tc frameCase, check func(t *testing.T, in, got *frame.Frame)) {
	t.Helper()
	var out outputs
	first := true
	for i, in := range tc.given {
		before := len(out.frames)
		err := n.Process(context.Background(), 0, in, out.emit)
		switch want := tc.expectErr[i]; {
		case want == nil && err != nil:
			t.Fatalf("frame %d: %v", i, err)
		case want == nil && len(out.frames) != before+1:
			t.Fatalf("frame %d: %d outputs, want 1", i, len(out.frames)-before)
		case want == nil && check != nil:
			check(t, in, out.frames[before])
		case want == nil && !bytes.Equal(out.frames[before].Data, in.Data):
			t.Fatalf("frame %d: not echoed", i)
		case want != nil && !errors.Is(err, want):
			t.Fatalf("frame %d: error %v, want %v", i, err, want)
		case want != nil && first:
			first = false
			if !strings.Contains(err.Error(), tc.expectMsg) {
				t.Errorf("error %q does not contain %q", err, tc.expectMsg)
			}
		}
	}
}

// checkSIMD checks simd.wasm's output: sample chunk k (4 samples) is halved,
// doubled, negated or kept as k%4 is 0, 1, 2 or 3.
func checkSIMD(t *testing.T, in, got *frame.Frame) {
	t.Helper()
	x, y := in.F32(), got.F32()
	if len(y) != len(x) {
		t.Fatalf("%d samples out, %d in", len(y), len(x))
	}
	for i := range x {
		want := [...]float32{x[i] * 0.5, x[i] + x[i], -x[i], x[i]}[(i/4)%4]
		if y[i] != want {
			t.Fatalf("sample %d: %v, want %v (input %v)", i, y[i], want, x[i])
		}
	}
}

// A module in Config.Trusted runs as it is; any other is instrumented. The
// module here exports a global named like the guard's own, which the guard
// refuses: so it compiles only when trusted.
func TestTrustedModulesRunUninstrumented(t *testing.T) {
	wasm, err := hex.DecodeString("0061736d01000000" + // magic, version
		"0503010001" + // memory section: one memory, min 1 page
		"0606017f0141000b" + // global section: one mutable i32 = 0
		"071b02066d656d6f727902000e5f5f726d5f696e746572727570740300")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		trusted   [][sha256.Size]byte
		expectErr bool
	}{
		{"guarded", nil, true},
		{"trusted", [][sha256.Size]byte{sha256.Sum256(wasm)}, false},
		{"another module trusted", [][sha256.Size]byte{sha256.Sum256([]byte("x"))}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, host.Config{Trusted: tc.trusted})
			_, err := h.Compile(ctx, "clash.wasm", wasm)
			if got := err != nil; got != tc.expectErr {
				t.Fatalf("Compile error %v, want an error: %v", err, tc.expectErr)
			}
			if err != nil && !strings.Contains(err.Error(), "__rm_interrupt") {
				t.Fatalf("error %q does not name the clashing export", err)
			}
		})
	}
}
