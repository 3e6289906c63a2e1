;; bigmemory: its memory starts at 64 pages (4 MiB), over a 32-page cap.
(module
  (memory (export "memory") 64)
  (func (export "rm_abi_version") (result i32) (i32.const 1)))
