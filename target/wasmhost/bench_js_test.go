//go:build js && wasm

package wasmhost_test

import (
	"context"
	"testing"

	"github.com/remotemedia/hybrid/core/wasmnode"
	"github.com/remotemedia/hybrid/target/wasmhost"
)

// BenchmarkCallEmpty measures one rm_process call of the empty module with a
// 20 ms stereo 48 kHz f32 frame written in first (the per-frame node overhead).
func BenchmarkCallEmpty(b *testing.B) {
	needModules(b)
	ctx := context.Background()
	in, err := compileFile(b, newHost(b, wasmhost.Config{}), modDir+"/empty.wasm").Instantiate(ctx, wasmnode.HostFuncs{})
	if err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 960*2*4)
	stack := []uint64{uint64(wasmnode.HeaderSize + len(payload))}
	if err := in.Func("rm_alloc").Call(ctx, stack); err != nil || stack[0] == 0 {
		b.Fatalf("rm_alloc: %v (ptr %d)", err, stack[0])
	}
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
