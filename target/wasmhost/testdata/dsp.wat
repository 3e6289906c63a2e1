;; dsp: a scalar DSP-like node. rm_process multiplies every f32 sample by 0.5
;; in place (one loop iteration per sample: 1920 for a 20 ms 48 kHz stereo
;; frame) and emits the frame on port 0.
(module
  (import "rm" "emit" (func $emit (param i32 i32 i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
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
  (func (export "rm_process") (param $f i32) (param $len i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (i32.add (local.get $f) (i32.const 32)))
    (local.set $end (i32.add (local.get $p) (i32.and (local.get $len) (i32.const -4))))
    (block $done
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (loop $next
        (f32.store (local.get $p) (f32.mul (f32.load (local.get $p)) (f32.const 0.5)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br_if $next (i32.lt_u (local.get $p) (local.get $end)))))
    (i32.store offset=16 (local.get $f) (i32.const 0))
    (call $emit (local.get $f) (i32.add (local.get $f) (i32.const 32)) (local.get $len))
    (i32.const 0)))
