//go:build !js

package wasmhost

import (
	"context"

	"github.com/tetratelabs/wazero/experimental"
)

// WithMappedMemory returns ctx with the linear memory allocator of a
// long-running server: the modules instantiated with it (their Spec.New
// gets ctx, as sched.Start passes it on) keep their linear memory in an
// anonymous memory mapping of its maximum size (Config.MemoryLimitPages at
// most) outside the Go heap, where only the pages the guest touches are
// resident and the garbage collector neither counts nor zeroes it. On the Go
// heap a 64 KiB page is resident whole, counts toward the collector's target
// (with GOGC=400, five times over), and a memory.grow copies the memory into a
// new slice with room to spare and leaves the old one as garbage. The mapping
// is released when the instance closes. Where memory cannot be mapped (not
// Linux, a 32-bit address space, a failed mmap) the memory is on the Go heap,
// as without this allocator.
func WithMappedMemory(ctx context.Context) context.Context {
	return experimental.WithMemoryAllocator(ctx, experimental.MemoryAllocatorFunc(allocateLinearMemory))
}

// allocateLinearMemory is the allocator WithMappedMemory sets: a mapping of
// max bytes, or the Go heap.
func allocateLinearMemory(capacity, max uint64) experimental.LinearMemory {
	if m := mapLinearMemory(max); m != nil {
		return m
	}
	return &heapMemory{buf: make([]byte, 0, capacity)}
}

// heapMemory is a linear memory on the Go heap, grown as wazero grows its own.
type heapMemory struct{ buf []byte }

func (m *heapMemory) Reallocate(size uint64) []byte {
	if n := uint64(len(m.buf)); size > n {
		m.buf = append(m.buf, make([]byte, size-n)...)
	}
	return m.buf[:size]
}

func (m *heapMemory) Free() { m.buf = nil }
