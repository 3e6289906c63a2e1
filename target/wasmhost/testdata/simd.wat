;; simd: a br_table and SIMD heavy node. rm_process copies the payload to a
;; second buffer (memory.copy), then walks it 4 samples (one v128) at a time and,
;; by br_table on the chunk index mod 4, halves (f32x4.mul), doubles (f32x4.add),
;; negates (f32x4.neg) or keeps (i8x16.shuffle identity + v128.load32_lane) the
;; chunk; it emits the copy and zeroes it (memory.fill). When the header's seq is
;; 99 the loop never advances (a typed select picks a 0 step): it spins forever.
(module
  (import "rm" "emit" (func $emit (param i32 i32 i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (global $outbuf (mut i32) (i32.const 0))
  (global $outcap (mut i32) (i32.const 0))
  (func (export "rm_abi_version") (result i32) (i32.const 1))
  (func $alloc (export "rm_alloc") (param $n i32) (result i32)
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
    (local $out i32) (local $i i32) (local $n i32) (local $step i32) (local $v v128)
    (if (i32.lt_u (global.get $outcap) (local.get $len))
      (then
        (global.set $outbuf (call $alloc (local.get $len)))
        (global.set $outcap (local.get $len))))
    (local.set $out (global.get $outbuf))
    (if (i32.eqz (local.get $out)) (then (return (i32.const 1))))
    (memory.copy (local.get $out) (i32.add (local.get $f) (i32.const 32)) (local.get $len))
    (local.set $n (i32.and (local.get $len) (i32.const -16)))
    (local.set $step
      (select (result i32) (i32.const 0) (i32.const 16)
        (i64.eq (i64.load offset=24 (local.get $f)) (i64.const 99))))
    (block $done
      (loop $chunk
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $v (v128.load align=4 (i32.add (local.get $out) (local.get $i))))
        (block $store
          (block $keep
            (block $neg
              (block $double
                (block $half
                  (br_table $half $double $neg $keep
                    (i32.and (i32.shr_u (local.get $i) (i32.const 4)) (i32.const 3))))
                (local.set $v (f32x4.mul (local.get $v) (v128.const f32x4 0.5 0.5 0.5 0.5)))
                (br $store))
              (local.set $v (f32x4.add (local.get $v) (local.get $v)))
              (br $store))
            (local.set $v (f32x4.neg (local.get $v)))
            (br $store))
          (local.set $v (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v)))
          (local.set $v (v128.load32_lane align=4 0 (i32.add (local.get $out) (local.get $i)) (local.get $v)))
          (drop (f32x4.extract_lane 3 (local.get $v))))
        (v128.store align=4 (i32.add (local.get $out) (local.get $i)) (local.get $v))
        (local.set $i (i32.add (local.get $i) (local.get $step)))
        (br $chunk)))
    (i32.store offset=16 (local.get $f) (i32.const 0))
    (call $emit (local.get $f) (local.get $out) (local.get $len))
    (memory.fill (local.get $out) (i32.const 0) (local.get $len))
    (i32.const 0)))
