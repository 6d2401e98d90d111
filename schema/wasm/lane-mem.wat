;; The guest-memory half of the input lane (lane.wat): stores into the guest's linear memory, which it imports
;; once the guest exists. Its functions go into the lane's table. Bounds follow the WASI host's own check: a
;; region fits when ptr + len <= the memory's size in bytes (unsigned, no wrap-around).
(module
  (import "guest" "memory" (memory 0))

  (func $fits (export "fits") (param $ptr i32) (param $len i32) (result i32)
    (i64.le_u
      (i64.add (i64.extend_i32_u (local.get $ptr)) (i64.extend_i32_u (local.get $len)))
      (i64.shl (i64.extend_i32_u (memory.size)) (i64.const 16))))

  ;; 1 and the 8 bytes stored at ptr; 0 (nothing stored) when they do not fit.
  (func (export "put64") (param $ptr i32) (param $v i64) (result i32)
    (if (i32.eqz (call $fits (local.get $ptr) (i32.const 8))) (then (return (i32.const 0))))
    (i64.store align=1 (local.get $ptr) (local.get $v))
    (i32.const 1))

  (func (export "put64u") (param $ptr i32) (param $v i64)
    (i64.store align=1 (local.get $ptr) (local.get $v)))

  (func (export "put8u") (param $ptr i32) (param $v i32)
    (i32.store8 (local.get $ptr) (local.get $v)))
)
