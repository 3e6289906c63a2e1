;; start: no global, export or import section, and a start section whose
;; function loops ten times and stores the count at address 0.
(module
  (memory 1)
  (func $start (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 10))))
    (i32.store (i32.const 0) (local.get $i)))
  (start $start))
