//go:build !js

package wasmhost_test

import (
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
	"github.com/remotemedia/hybrid/target/wasmhost"
)

// TestTimeoutUnderGC: a guest spinning in a loop reaches a safe point at least
// every budgetRefill iterations (guard.go), so collections running meanwhile
// neither hang the process nor keep the watchdog from stopping the call. (A
// stop-the-world stuck behind the guest would stop the time.After too; the
// test's -timeout cannot fire either then, but the suite hangs visibly.)
func TestTimeoutUnderGC(t *testing.T) {
	needModules(t)
	n := mustNode(t, newHost(t, wasmhost.Config{CallTimeout: 50 * time.Millisecond}), "loop")
	process := func(i int, v float32) error {
		return n.Process(context.Background(), 0, audio(uint64(i), 960, v), func(int, *frame.Frame) {})
	}
	// First without collections: a guest with no safe point fails here, fast,
	// rather than stall the collections below (and with them the test) forever.
	if err := wasmhost.ReturnsWithin(t, "a spinning call", func() error { return process(0, 0.9) }); !errors.Is(err, wasmnode.ErrTimeout) {
		t.Fatalf("spinning call without collections: %v, want ErrTimeout", err)
	}
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
		go func() { errc <- process(i+1, v) }()
		select {
		case err := <-errc:
			if want := v > 0.5; want != errors.Is(err, wasmnode.ErrTimeout) || !want && err != nil {
				t.Fatalf("frame %d: error %v, want ErrTimeout %v", i, err, want)
			}
		case <-time.After(wasmhost.SpinLimit):
			t.Fatalf("frame %d: the call has not returned after %v", i, wasmhost.SpinLimit)
		}
	}
}

// TestSpinningGuestStopped: the wazero backend stops a guest that never
// returns at the deadline, and the node goes on with a fresh instance (the js
// backend cannot stop such a call: docs/browser.md).
func TestSpinningGuestStopped(t *testing.T) {
	needModules(t)
	tc := frameCase{name: "loop times out, then a fresh instance works", module: "loop",
		given:     []*frame.Frame{audio(0, 960, 0.1), audio(1, 960, 0.9), audio(2, 960, 0.2)},
		expectErr: []error{nil, wasmnode.ErrTimeout, nil}, expectMsg: `node "loop1" (loop.wasm): rm_process: wasm: call exceeded its deadline (200ms)`}
	runFrames(t, bounded{mustNode(t, newHost(t, wasmhost.Config{CallTimeout: 200 * time.Millisecond}), tc.module), t}, tc, nil)
}

// bounded is a node whose calls into its guest end the test binary when they
// do not return (wasmhost.ReturnsWithin).
type bounded struct {
	node.Node
	tb testing.TB
}

func (b bounded) Process(ctx context.Context, port int, in *frame.Frame, emit node.Emit) error {
	return wasmhost.ReturnsWithin(b.tb, "rm_process", func() error { return b.Node.Process(ctx, port, in, emit) })
}

func TestCompilationCache(t *testing.T) {
	needModules(t)
	dir := t.TempDir()
	wasm, err := os.ReadFile(filepath.Join(modDir, "echo.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h1, err := wasmhost.New(ctx, wasmhost.Config{CacheDir: dir})
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
	n := mustNode(t, newHost(t, wasmhost.Config{CacheDir: dir}), "echo")
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
	mod, err := newHost(tb, wasmhost.Config{}).Compile(ctx, name+".wasm", wasm)
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
	h := newHost(t, wasmhost.Config{CallTimeout: 100 * time.Millisecond})
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
			runFrames(t, bounded{n, t}, tt, check)
		})
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
			h := newHost(t, wasmhost.Config{Trusted: tc.trusted})
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
