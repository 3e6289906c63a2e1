;; env: provides the global imports.wasm imports.
(module (global (export "g") i64 (i64.const 7)))
