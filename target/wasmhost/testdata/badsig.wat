;; badsig: imports rm.emit with a signature the ABI does not grant.
(module
  (import "rm" "emit" (func $emit (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "rm_abi_version") (result i32) (i32.const 1)))
