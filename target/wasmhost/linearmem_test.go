//go:build !js

package wasmhost_test

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/remotemedia/hybrid/core/wasmnode"
	"github.com/remotemedia/hybrid/target/wasmhost"
)

// TestMappedMemoryStopsAtTheLimit: a guest that grows its memory until
// memory.grow fails gets as far with its memory mapped as on the heap: the
// page limit, and its memory there is readable and writable.
func TestMappedMemoryStopsAtTheLimit(t *testing.T) {
	needModules(t)
	const limit = 32
	ctx := wasmhost.WithMappedMemory(context.Background())
	mod := compileFile(t, newHost(t, wasmhost.Config{MemoryLimitPages: limit}), filepath.Join(modDir, "grow.wasm"))
	inst, err := mod.Instantiate(ctx, wasmnode.HostFuncs{})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close(ctx)
	if err := inst.Func("rm_process").Call(ctx, make([]uint64, 2)); !errors.Is(err, wasmnode.ErrTrap) {
		t.Fatalf("rm_process: %v, want the trap after memory.grow failed", err)
	}
	if got := inst.MemorySize(); got != limit*65536 {
		t.Fatalf("memory grew to %d bytes, want the limit of %d pages", got, limit)
	}
	end := uint32(limit*65536 - 4)
	if err := inst.Write(end, []byte{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	if b, err := inst.Read(nil, end, 4); err != nil || string(b) != "\x01\x02\x03\x04" {
		t.Fatalf("read back %v, %v", b, err)
	}
}

// TestMappedMemoryLeavesTheHeap: instances made with WithMappedMemory keep
// their linear memory off the Go heap (on Linux); the others hold it there.
func TestMappedMemoryLeavesTheHeap(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("memory is mapped on Linux only")
	}
	needModules(t)
	bg := context.Background()
	mod := compileFile(t, newHost(t, wasmhost.Config{}), filepath.Join(modDir, "empty.wasm"))
	const n = 50
	var size uint64 // of an instance's memory
	perInstance := func(ctx context.Context) uint64 {
		insts := make([]wasmnode.Instance, n)
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		for i := range insts {
			var err error
			if insts[i], err = mod.Instantiate(ctx, wasmnode.HostFuncs{}); err != nil {
				t.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		for _, in := range insts {
			_ = in.Close(ctx)
		}
		size = uint64(insts[0].MemorySize())
		return (m1.HeapAlloc - min(m0.HeapAlloc, m1.HeapAlloc)) / n
	}
	heap, mapped := perInstance(bg), perInstance(wasmhost.WithMappedMemory(bg))
	if heap < size || mapped >= size/2 {
		t.Fatalf("heap per instance of %d bytes of memory: %d bytes without the allocator (want over the memory), %d with it (want under half)", size, heap, mapped)
	}
	t.Logf("heap per instance of %d bytes of memory: %d bytes, %d with the memory mapped", size, heap, mapped)
}
