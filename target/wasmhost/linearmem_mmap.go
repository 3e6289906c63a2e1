//go:build linux && (amd64 || arm64 || riscv64 || ppc64le || s390x || loong64)

package wasmhost

import (
	"math"
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// mappedMemory is a linear memory in an anonymous private mapping of its
// maximum size, mapped once: growing it only lengthens the slice (its address
// never changes), and the kernel makes a page resident, zeroed, when the guest
// first touches it. MAP_NORESERVE: the untouched part commits no swap. The
// kernel merges neighbouring mappings: 1200 instances took about 100 entries
// of /proc/PID/maps, far from vm.max_map_count.
type mappedMemory struct {
	mapped []byte // the whole mapping; nil once freed
}

// mapLinearMemory maps max bytes, or returns nil (the caller uses the heap).
func mapLinearMemory(max uint64) experimental.LinearMemory {
	if max == 0 || max > math.MaxInt {
		return nil
	}
	b, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
	if err != nil {
		return nil
	}
	// Where transparent huge pages are "always", the guest's first touch could
	// make 2 MiB resident: keep the mapping to 4 KiB pages.
	_ = syscall.Madvise(b, syscall.MADV_NOHUGEPAGE)
	return &mappedMemory{mapped: b}
}

// Reallocate returns the first size bytes of the mapping, or nil when size is
// over its maximum (wazero's memory.grow then fails, as the guest expects at
// its maximum).
func (m *mappedMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.mapped)) {
		return nil
	}
	return m.mapped[:size:size]
}

// Free unmaps the memory (wazero calls it when the instance closes).
func (m *mappedMemory) Free() {
	if m.mapped != nil {
		_ = syscall.Munmap(m.mapped)
		m.mapped = nil
	}
}
