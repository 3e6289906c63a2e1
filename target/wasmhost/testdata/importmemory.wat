;; importmemory: imports its memory, which the ABI does not grant.
(module
  (import "env" "memory" (memory 1))
  (func (export "rm_abi_version") (result i32) (i32.const 1)))
