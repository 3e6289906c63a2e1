package wasmhost

import "github.com/remotemedia/hybrid/target/internal/wasmguard"

// The wazero backend instruments every module it does not trust with
// wasmguard.Guard: the call deadline (see its watchdog) and the record of a
// refused memory.grow (see trapError). The js backend cannot stop a call, so
// it only has memory.grow record refusals (wasmguard.Watch).

const (
	interruptExport   = wasmguard.InterruptExport
	budgetExport      = wasmguard.BudgetExport
	growRefusedExport = wasmguard.GrowRefusedExport
	startExport       = wasmguard.StartExport
	budgetRefill      = wasmguard.BudgetRefill
)

// guard returns wasm instrumented by wasmguard.Guard.
func guard(wasm []byte) ([]byte, error) { return wasmguard.Guard(wasm) }
