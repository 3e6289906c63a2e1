;; forbidden: a module importing WASI path_open, which the ABI does not grant.
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "rm_abi_version") (result i32) (i32.const 1))
  (func (export "rm_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "rm_init") (param i32 i32) (result i32) (i32.const 0))
  (func (export "rm_process") (param i32 i32) (result i32) (i32.const 0)))
