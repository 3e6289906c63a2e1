package host

import "github.com/remotemedia/hybrid/target/internal/wasmguard"

// The server host instruments every module it does not trust with
// wasmguard.Guard: the call deadline (see the watchdog in host.go) and the
// record of a refused memory.grow (see instance.failure).

// ErrGuard is returned for a module the host cannot instrument for its call
// deadline. Such a module is not loaded rather than run unguarded.
var ErrGuard = wasmguard.ErrGuard

const (
	interruptExport   = wasmguard.InterruptExport
	budgetExport      = wasmguard.BudgetExport
	growRefusedExport = wasmguard.GrowRefusedExport
	startExport       = wasmguard.StartExport
	budgetRefill      = wasmguard.BudgetRefill
)

// guard returns wasm instrumented by wasmguard.Guard.
func guard(wasm []byte) ([]byte, error) { return wasmguard.Guard(wasm) }
