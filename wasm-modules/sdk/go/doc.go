// Package rm is the Go guest SDK for RemoteMedia WASM node modules (ABI v1,
// docs/wasm-abi.md). A module implements Node and registers it from main or init:
//
//	type gain struct{ g float32 }
//
//	func (n *gain) Init(p rm.Params) error { n.g = float32(p.Number("linear", 1)); return nil }
//	func (n *gain) Process(f rm.Frame) error {
//		s := f.F32()
//		for i := range s {
//			s[i] *= n.g
//		}
//		rm.Emit(0, f)
//		return nil
//	}
//	func (n *gain) Flush() error { return nil }
//
//	func main() { rm.Register(&gain{}) }
//
// and is built as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o gain.wasm .
//	go run github.com/remotemedia/hybrid/tools/wasmdata gain.wasm
//
// The second step is optional: it merges the 20,000-odd data segments Go writes
// into a few, which the server's wazero host otherwise decodes on every load
// (about 10 of the 50 ms a Go module takes to load from the compilation cache).
//
// To be a node type of its own (loaded with `remotemedia run --modules DIR`, a
// definition's module:, or rm.registerModule(url) in a tab), the module declares
// it in a remotemedia.node custom section (docs/wasm-abi.md, "Declaring the node
// type"). Go's linker cannot place one, so a last step appends it from a JSON
// file, after checking it as the host will:
//
//	go run github.com/remotemedia/hybrid/wasm-modules/sdk/go/declare gain.wasm node.json
//
// (wasm-modules/go/chunker/node.json is the chunker's.)
//
// The SDK provides the module's exports (rm_abi_version, rm_alloc, rm_free, rm_init,
// rm_process, rm_flush) and calls the rm imports; those parts are built only for
// GOOS=wasip1, while Params also builds (and is tested) on the host.
package rm
