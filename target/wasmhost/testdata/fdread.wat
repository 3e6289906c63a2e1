;; fdread: rm_process returns the errno of fd_read(0, ...) as its status.
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "rm_abi_version") (result i32) (i32.const 1))
  (func (export "rm_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "rm_init") (param i32 i32) (result i32) (i32.const 0))
  (func (export "rm_process") (param i32 i32) (result i32)
    (i32.store (i32.const 16) (i32.const 64))
    (i32.store (i32.const 20) (i32.const 8))
    (call $fd_read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 32))))
