//go:build js && wasm

package main

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall/js"
	"testing"
	"time"

	"github.com/remotemedia/hybrid/core/wasmnode"
)

// The tests run in Node (go test -exec=$(go env GOROOT)/lib/wasm/go_js_wasm_exec),
// whose WebAssembly API is V8's, as Chromium's is.

func TestMain(m *testing.M) {
	shim, _ := filepath.Abs("../../web/wasi-shim.js")
	js.Global().Get("require").Invoke(shim)
	os.Exit(m.Run())
}

func testModule(t testing.TB, h *browserHost, name string) wasmnode.Module {
	t.Helper()
	b, err := os.ReadFile("../../wasm-modules/build/test/" + name)
	if err != nil {
		if os.Getenv("CI") != "" { // the test command builds and installs it: a skip would hide a failure
			t.Fatalf("test module %s not built (make -C wasm-modules/test): %v", name, err)
		}
		t.Skipf("test module %s not built (make -C wasm-modules/test): %v", name, err)
	}
	m, err := h.Compile(context.Background(), name, b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newTestHost(t testing.TB, pages uint32) *browserHost {
	h, err := newBrowserHost(hostConfig{MemoryLimitPages: pages})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// frameIn writes a 32-byte header (kind audio, seq) and payload into a fresh rm_alloc buffer.
func frameIn(t testing.TB, in wasmnode.Instance, seq uint64, payload []byte) []uint64 {
	t.Helper()
	ctx := context.Background()
	stack := []uint64{uint64(wasmnode.HeaderSize + len(payload))}
	if err := in.Func("rm_alloc").Call(ctx, stack); err != nil || stack[0] == 0 {
		t.Fatalf("rm_alloc: %v (ptr %d)", err, stack[0])
	}
	ptr := uint32(stack[0])
	h := wasmnode.Header{Kind: 1, Format: 1, Channels: 2, SampleRate: 48000, Timestamp: 20000, Port: 0, Seq: seq}
	buf := make([]byte, wasmnode.HeaderSize+len(payload))
	h.Encode(buf)
	copy(buf[wasmnode.HeaderSize:], payload)
	if err := in.Write(ptr, buf); err != nil {
		t.Fatal(err)
	}
	return []uint64{uint64(ptr), uint64(len(payload))}
}

func TestEchoRoundTrip(t *testing.T) {
	ctx := context.Background()
	h := newTestHost(t, 0)
	m := testModule(t, h, "echo.wasm")
	var gotHdr, gotData []byte
	in, err := m.Instantiate(ctx, wasmnode.HostFuncs{Emit: func(hdr, data []byte) {
		gotHdr, gotData = append([]byte(nil), hdr...), append([]byte(nil), data...)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close(ctx)
	payload := make([]byte, 7680)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	stack := frameIn(t, in, 42, payload)
	if err := in.Func("rm_process").Call(ctx, stack); err != nil {
		t.Fatal(err)
	}
	if stack[0] != 0 {
		t.Fatalf("rm_process returned %d", stack[0])
	}
	hd, err := wasmnode.DecodeHeader(gotHdr)
	if err != nil {
		t.Fatal(err)
	}
	if hd.Seq != 42 || hd.SampleRate != 48000 || hd.Channels != 2 || string(gotData) != string(payload) {
		t.Fatalf("echo: header %+v, %d bytes back (equal: %v)", hd, len(gotData), string(gotData) == string(payload))
	}
	// Growing the memory re-creates the view: a buffer past the first pages still round-trips.
	before := in.MemorySize()
	big := frameIn(t, in, 43, make([]byte, 3<<20))
	if in.MemorySize() <= before {
		t.Fatalf("memory did not grow: %d -> %d", before, in.MemorySize())
	}
	back, err := in.Read(nil, uint32(big[0])+24, 8)
	if err != nil || binary.LittleEndian.Uint64(back) != 43 {
		t.Fatalf("read after grow: %v %v", back, err)
	}
}

func TestFailures(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		given     string
		pages     uint32
		calls     int
		expectErr error
		notErr    error  // an error the call's must not wrap
		expectMsg string // what the guest passed to rm.error
	}{
		{name: "trap on second frame", given: "trap.wasm", calls: 2, expectErr: wasmnode.ErrTrap},
		{name: "growth past the page cap", given: "grow.wasm", pages: 8, calls: 1, expectErr: wasmnode.ErrMemoryLimit},
		{name: "growth 16 pages at a time past the cap, then a write through the -1", given: "grow16.wasm", pages: 32, calls: 1, expectErr: wasmnode.ErrMemoryLimit},
		{name: "a refused growth counts for its own call only", given: "growfail.wasm", pages: 32, calls: 2,
			expectErr: wasmnode.ErrTrap, notErr: wasmnode.ErrMemoryLimit, expectMsg: "growfail.wasm: no memory for this frame"},
		{name: "guest error is not a trap", given: "fail.wasm", calls: 1, expectMsg: "fail.wasm: this node rejects every frame"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHost(t, tc.pages)
			var msg string
			in, err := testModule(t, h, tc.given).Instantiate(ctx, wasmnode.HostFuncs{Emit: func(_, _ []byte) {}, Error: func(b []byte) { msg = string(b) }})
			if err != nil {
				t.Fatal(err)
			}
			var callErr error
			for i := 0; i < tc.calls && callErr == nil; i++ {
				stack := frameIn(t, in, uint64(i), make([]byte, 64))
				callErr = in.Func("rm_process").Call(ctx, stack)
			}
			if !errors.Is(callErr, tc.expectErr) || (tc.expectErr == nil) != (callErr == nil) || tc.notErr != nil && errors.Is(callErr, tc.notErr) {
				t.Fatalf("got %v, want %v", callErr, tc.expectErr)
			}
			if msg != tc.expectMsg {
				t.Fatalf("rm.error message %q, want %q", msg, tc.expectMsg)
			}
			if tc.pages > 0 && in.MemorySize() > tc.pages*65536 {
				t.Fatalf("memory %d bytes is over the %d-page cap", in.MemorySize(), tc.pages)
			}
		})
	}
}

func TestCompileRejects(t *testing.T) {
	h := newTestHost(t, 0)
	b, err := os.ReadFile("../../wasm-modules/build/test/forbidden.wasm")
	if err != nil {
		t.Skip(err)
	}
	_, err = h.Compile(context.Background(), "forbidden.wasm", b)
	if !errors.Is(err, wasmnode.ErrImports) || !strings.Contains(err.Error(), "wasi_snapshot_preview1.path_open") || strings.Contains(err.Error(), "fd_write") {
		t.Fatalf("got %v, want ErrImports naming path_open only", err)
	}
	if _, err := h.Compile(context.Background(), "junk.wasm", []byte("nope")); err == nil {
		t.Fatal("junk compiled")
	}
}

// BenchmarkCallEmpty measures one rm_process call of the empty module with a
// 20 ms stereo 48 kHz f32 frame written in first (the per-frame node overhead).
func BenchmarkCallEmpty(b *testing.B) {
	ctx := context.Background()
	h := newTestHost(b, 0)
	in, err := testModule(b, h, "empty.wasm").Instantiate(ctx, wasmnode.HostFuncs{})
	if err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 960*2*4)
	stack := frameIn(b, in, 0, payload)
	ptr := uint32(stack[0])
	buf := make([]byte, wasmnode.HeaderSize+len(payload))
	fn := in.Func("rm_process")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_ = in.Write(ptr, buf)
		stack[0], stack[1] = uint64(ptr), uint64(len(payload))
		if err := fn.Call(ctx, stack); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBeat: in remotemedia.js's worker (where __remotemediaBeat is defined) calls
// beat at most once per quarter of the deadline: the first of a burst beats, the
// rest of the burst does not, and a call after a quarter deadline beats again.
func TestBeat(t *testing.T) {
	beats := 0
	fn := js.FuncOf(func(js.Value, []js.Value) any { beats++; return nil })
	defer fn.Release()
	js.Global().Set("__remotemediaBeat", fn)
	defer js.Global().Delete("__remotemediaBeat")
	h, err := newBrowserHost(hostConfig{CallTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	in, err := testModule(t, h, "empty.wasm").Instantiate(ctx, wasmnode.HostFuncs{})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close(ctx)
	call := func(n int) {
		for range n {
			if err := in.Func("rm_process").Call(ctx, []uint64{0, 0}); err != nil {
				t.Fatal(err)
			}
		}
	}
	call(100)
	if beats != 1 {
		t.Fatalf("100 quick calls beat %d times, want 1", beats)
	}
	time.Sleep(60 * time.Millisecond) // > 200 ms / 4
	call(10)
	if beats != 2 {
		t.Fatalf("after a quarter deadline: %d beats, want 2", beats)
	}
	// Without the hook (the page's own thread) nothing beats.
	js.Global().Delete("__remotemediaBeat")
	h2, err := newBrowserHost(hostConfig{})
	if err != nil || !h2.beat.IsUndefined() {
		t.Fatalf("host without the hook: beat %v, err %v", h2.beat, err)
	}
}
