//go:build !js && !(linux && (amd64 || arm64 || riscv64 || ppc64le || s390x || loong64))

package wasmhost

import "github.com/tetratelabs/wazero/experimental"

// mapLinearMemory maps no memory on this platform: linear memories stay on the
// Go heap.
func mapLinearMemory(uint64) experimental.LinearMemory { return nil }
