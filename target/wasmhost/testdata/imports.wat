;; imports: an imported i64 global and a defined f32 global come before the
;; interrupt global guard adds (index 2): a wrong index would not validate.
(module
  (import "env" "g" (global $g i64))
  (global $f (mut f32) (f32.const 1.5))
  (func (export "count") (param $n i32) (result i64)
    (local $acc i64)
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (i64.add (local.get $acc) (global.get $g)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    (local.get $acc)))
