//go:build !js

package wasmhost_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/target/wasmhost"
)

// BenchmarkProcessEmpty is the adapter's per-frame overhead: a 20 ms 48 kHz
// stereo f32 frame (7680 bytes) into a module that does nothing.
func BenchmarkProcessEmpty(b *testing.B) {
	needModules(b)
	benchProcess(b, mustNode(b, newHost(b, wasmhost.Config{}), "empty"))
}

// BenchmarkProcessEcho adds one output frame (copied out of guest memory).
func BenchmarkProcessEcho(b *testing.B) {
	needModules(b)
	benchProcess(b, mustNode(b, newHost(b, wasmhost.Config{}), "echo"))
}

// BenchmarkProcessDSP is a scalar DSP loop: testdata/dsp.wasm halves the 1920
// samples of a 20 ms 48 kHz stereo frame one loop iteration each, then emits it.
func BenchmarkProcessDSP(b *testing.B) {
	n, err := newNodeIn(b, newHost(b, wasmhost.Config{}), "testdata", "dsp")
	if err != nil {
		b.Fatal(err)
	}
	benchProcess(b, n)
}

// benchProcess times n.Process on a 20 ms 48 kHz stereo f32 frame, outputs dropped.
func benchProcess(b *testing.B, n node.Node) {
	in := audio(0, 960, 0.1)
	emit := func(int, *frame.Frame) {}
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(in.Data)))
	for b.Loop() {
		if err := n.Process(ctx, 0, in, emit); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFuncCall is a raw call of a no-op export (rm_abi_version).
func BenchmarkFuncCall(b *testing.B) {
	needModules(b)
	f := instantiate(b, "empty").Func("rm_abi_version")
	stack := make([]uint64, 1)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := f.Call(ctx, stack); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompile is a new host plus one module compile, without and with a
// warm on-disk compilation cache.
func BenchmarkCompile(b *testing.B) {
	needModules(b)
	wasm, err := os.ReadFile(filepath.Join(modDir, "echo.wasm"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	compile := func(b *testing.B, cfg wasmhost.Config) {
		h, err := wasmhost.New(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := h.Compile(ctx, "echo.wasm", wasm); err != nil {
			b.Fatal(err)
		}
		_ = h.Close(ctx)
	}
	b.Run("cold", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			compile(b, wasmhost.Config{})
		}
	})
	b.Run("cached", func(b *testing.B) {
		cfg := wasmhost.Config{CacheDir: filepath.Join(b.TempDir(), "wazero")}
		compile(b, cfg)
		b.ReportAllocs()
		for b.Loop() {
			compile(b, cfg)
		}
	})
}
