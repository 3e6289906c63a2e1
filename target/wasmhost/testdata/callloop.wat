;; callloop: echoes frames, but when the first f32 sample is > 0.5 rm_process
;; calls $spin, whose loop never ends: the loop is not in the exported function.
(module
  (import "rm" "emit" (func $emit (param i32 i32 i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (global $spins (mut i32) (i32.const 0))
  (func (export "rm_abi_version") (result i32) (i32.const 1))
  (func (export "rm_alloc") (param $n i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.const 15)) (i32.const -16)))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq (memory.grow (i32.shr_u (i32.add (i32.sub (local.get $end) (i32.mul (memory.size) (i32.const 65536))) (i32.const 65535)) (i32.const 16)))
                    (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $heap (local.get $end))
    (local.get $p))
  (func (export "rm_init") (param i32 i32) (result i32) (i32.const 0))
  (func $spin
    (loop $forever
      (global.set $spins (i32.add (global.get $spins) (i32.const 1)))
      (br $forever)))
  (func (export "rm_process") (param $f i32) (param $len i32) (result i32)
    (if (f32.gt (f32.load offset=32 (local.get $f)) (f32.const 0.5))
      (then (call $spin)))
    (i32.store offset=16 (local.get $f) (i32.const 0))
    (call $emit (local.get $f) (i32.add (local.get $f) (i32.const 32)) (local.get $len))
    (i32.const 0)))
