package wasmhost

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/remotemedia/hybrid/target/internal/wasmguard"
)

// Value types in the binary encoding.
const (
	i32 = "\x7f"
	i64 = "\x7e"
)

// granted lists the imports docs/wasm-abi.md grants, with their signatures:
// the "rm" functions and a WASI preview1 subset. The wazero backend
// instantiates exactly these (a test checks the signatures against wazero's);
// web/wasi-shim.js implements them for the js backend.
var granted = map[string]wasmguard.Sig{
	"rm.emit":  {Params: i32 + i32 + i32},
	"rm.log":   {Params: i32 + i32 + i32},
	"rm.error": {Params: i32 + i32},

	"wasi_snapshot_preview1.args_sizes_get":      {Params: i32 + i32, Results: i32},
	"wasi_snapshot_preview1.args_get":            {Params: i32 + i32, Results: i32},
	"wasi_snapshot_preview1.environ_sizes_get":   {Params: i32 + i32, Results: i32},
	"wasi_snapshot_preview1.environ_get":         {Params: i32 + i32, Results: i32},
	"wasi_snapshot_preview1.clock_time_get":      {Params: i32 + i64 + i32, Results: i32},
	"wasi_snapshot_preview1.clock_res_get":       {Params: i32 + i32, Results: i32},
	"wasi_snapshot_preview1.random_get":          {Params: i32 + i32, Results: i32},
	"wasi_snapshot_preview1.fd_write":            {Params: i32 + i32 + i32 + i32, Results: i32},
	"wasi_snapshot_preview1.fd_close":            {Params: i32, Results: i32},
	"wasi_snapshot_preview1.fd_fdstat_get":       {Params: i32 + i32, Results: i32},
	"wasi_snapshot_preview1.fd_seek":             {Params: i32 + i64 + i32 + i32, Results: i32},
	"wasi_snapshot_preview1.fd_read":             {Params: i32 + i32 + i32 + i32, Results: i32},
	"wasi_snapshot_preview1.fd_prestat_get":      {Params: i32 + i32, Results: i32},
	"wasi_snapshot_preview1.fd_prestat_dir_name": {Params: i32 + i32 + i32, Results: i32},
	"wasi_snapshot_preview1.poll_oneoff":         {Params: i32 + i32 + i32 + i32, Results: i32},
	"wasi_snapshot_preview1.sched_yield":         {Results: i32},
	"wasi_snapshot_preview1.proc_exit":           {Params: i32},
}

// importKinds names the import kinds other than functions.
var importKinds = map[byte]string{
	wasmguard.ImportTable:  "table",
	wasmguard.ImportMemory: "memory",
	wasmguard.ImportGlobal: "global",
}

// checkImports returns an error wrapping ErrImports that lists every import of
// wasm the ABI does not grant (sorted), or one wrapping ErrMalformed when the
// bytes cannot be read. Only functions are granted: a memory, table or global
// import is refused.
func checkImports(wasm []byte) error {
	imports, err := wasmguard.ModuleImports(wasm)
	if err != nil {
		return err
	}
	var bad []string
	for _, imp := range imports {
		full := imp.Module + "." + imp.Name
		want, ok := granted[full]
		switch {
		case imp.Kind != wasmguard.ImportFunc:
			bad = append(bad, full+" ("+importKinds[imp.Kind]+")")
		case !ok:
			bad = append(bad, full)
		case !imp.TypeOK || imp.Sig != want:
			bad = append(bad, full+" (wrong signature)")
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return fmt.Errorf("%w: %s", ErrImports, strings.Join(bad, ", "))
}

// checkModule is what both backends do with module bytes before they compile
// them: it checks the imports (checkImports) and returns the bytes with every
// memory the module defines capped at capPages (wasmguard.CapMemory: the js
// backend needs it for memory.grow to fail past the cap; wazero caps memories
// itself, and the bytes it compiles are capped the same). A memory that starts
// over the cap wraps ErrMemoryLimit.
func checkModule(wasm []byte, capPages uint32) ([]byte, error) {
	if err := checkImports(wasm); err != nil {
		return nil, err
	}
	capped, err := wasmguard.CapMemory(wasm, capPages)
	if errors.Is(err, wasmguard.ErrMemoryMinimum) {
		return nil, fmt.Errorf("%w: %w", ErrMemoryLimit, err)
	}
	return capped, err
}
