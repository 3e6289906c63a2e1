//go:build !js

package wasmhost

import (
	"runtime"
	"testing"
	"unsafe"

	"github.com/tetratelabs/wazero/experimental"
)

// TestLinearMemory: both linear memories grow zero-filled and keep their
// contents; the mapped one keeps its address and refuses to grow over its
// maximum (the heap one is wazero's to bound).
func TestLinearMemory(t *testing.T) {
	const page, max = 65536, 4 * 65536
	tests := []struct {
		name   string
		given  experimental.LinearMemory
		mapped bool
	}{
		{"heap", &heapMemory{buf: make([]byte, 0, page)}, false},
		{"allocator", allocateLinearMemory(page, max), runtime.GOOS == "linux" && unsafe.Sizeof(uintptr(0)) == 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.given
			defer m.Free()
			if _, ok := m.(*heapMemory); ok == tt.mapped {
				t.Fatalf("memory %T, want mapped = %v", m, tt.mapped)
			}
			b := m.Reallocate(page)
			if len(b) != page || b[0] != 0 || b[page-1] != 0 {
				t.Fatalf("first page: %d bytes, first %d, last %d", len(b), b[0], b[page-1])
			}
			b[0], b[page-1] = 1, 2
			g := m.Reallocate(3 * page)
			if len(g) != 3*page || g[0] != 1 || g[page-1] != 2 || g[page] != 0 || g[3*page-1] != 0 {
				t.Fatalf("grown to %d bytes: contents %d %d, new bytes %d %d", len(g), g[0], g[page-1], g[page], g[3*page-1])
			}
			if !tt.mapped {
				return
			}
			if &g[0] != &b[0] {
				t.Fatal("the mapped memory moved when it grew")
			}
			if m.Reallocate(max+page) != nil {
				t.Fatal("grew over its maximum")
			}
			if g := m.Reallocate(max); len(g) != max || g[0] != 1 {
				t.Fatalf("at its maximum: %d bytes", len(g))
			}
		})
	}
}
