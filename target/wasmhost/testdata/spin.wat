;; spin: spin(n) runs n loop iterations and returns; conformance_test.go calls
;; it with a count far past any deadline it sets. No imports, one page.
(module
  (memory (export "memory") 1)
  (func (export "spin") (param $n i32) (result i32)
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    (local.get $n)))
