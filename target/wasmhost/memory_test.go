//go:build !js

package wasmhost_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/remotemedia/hybrid/core/wasmnode"
	"github.com/remotemedia/hybrid/target/wasmhost"
)

// TestStandardModulesStartWithOnePage: the C standard modules link with a
// 16 KiB stack (wasm-modules/Makefile), so an instance starts with one 64 KiB
// page of linear memory, not two (docs/scheduler.md, "Memory per session").
func TestStandardModulesStartWithOnePage(t *testing.T) {
	dir := filepath.Join("..", "..", "wasm-modules", "build")
	h := newHost(t, wasmhost.Config{})
	ctx := context.Background()
	for _, name := range []string{"gain", "convert", "to_mono", "resample", "vad"} {
		t.Run(name, func(t *testing.T) {
			wasm, err := os.ReadFile(filepath.Join(dir, name+".wasm"))
			if err != nil {
				t.Skipf("standard modules not built (%v): run `make -C wasm-modules`", err)
			}
			mod, err := h.Compile(ctx, name+".wasm", wasm)
			if err != nil {
				t.Fatal(err)
			}
			inst, err := mod.Instantiate(ctx, wasmnode.HostFuncs{})
			if err != nil {
				t.Fatal(err)
			}
			defer inst.Close(ctx)
			if got := inst.MemorySize(); got != 65536 {
				t.Fatalf("memory at start %d bytes, want one 64 KiB page", got)
			}
		})
	}
}

// TestFuncBindsOnFirstCall: looking an export up costs no call stack (wazero
// allocates 10 KiB per bound function); the function is bound when first called.
func TestFuncBindsOnFirstCall(t *testing.T) {
	needModules(t)
	inst := instantiate(t, "empty")
	const n = 20
	funcs := make([]wasmnode.Func, n)
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for i := range funcs {
		funcs[i] = inst.Func("rm_abi_version")
	}
	runtime.ReadMemStats(&m1)
	if per := (m1.TotalAlloc - m0.TotalAlloc) / n; per > 1024 {
		t.Fatalf("Func allocates %d bytes per lookup, want under 1 KiB (no call stack before the first call)", per)
	}
	stack := make([]uint64, 2)
	if err := funcs[n-1].Call(context.Background(), stack); err != nil || stack[0] != 1 {
		t.Fatalf("rm_abi_version: %v, %d", err, stack[0])
	}
	if inst.Func("no_such_export") != nil {
		t.Fatal("Func of a missing export is not nil")
	}
}
