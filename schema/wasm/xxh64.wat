;; xxh64 (seed 0) over linear memory, for the log's hash chain (engine/log/chain-hash.ts).
;;
;; The chain hashes one small canonical record per log entry (see engine/log/hash-chain.ts). Done in JS,
;; xxh64 needs 64-bit multiplies that JS numbers cannot do, and a native addon call per entry costs more
;; than the hash itself; WebAssembly has i64 arithmetic and a JS->wasm call costs a few nanoseconds.
(module
  (memory (export "memory") 1)

  (func $round (param $acc i64) (param $input i64) (result i64)
    (i64.mul
      (i64.rotl
        (i64.add (local.get $acc) (i64.mul (local.get $input) (i64.const 0xC2B2AE3D27D4EB4F)))
        (i64.const 31))
      (i64.const 0x9E3779B185EBCA87)))

  (func $merge (param $acc i64) (param $val i64) (result i64)
    (i64.add
      (i64.mul
        (i64.xor (local.get $acc) (call $round (i64.const 0) (local.get $val)))
        (i64.const 0x9E3779B185EBCA87))
      (i64.const 0x85EBCA77C2B2AE63)))

;; memory[dst ..) = memory[src .. src+len), 8 bytes at a time (memory.copy is a runtime call in V8: slow
  ;; for the few bytes of an entry). Regions do not overlap. The tail is one more 8-byte (or 4-byte) copy that
  ;; ends exactly at len, overlapping what was copied already, so there is no byte loop for lengths >= 4.
  (func $copy (param $dst i32) (param $src i32) (param $len i32)
    (local $end i32)
    (if (i32.ge_u (local.get $len) (i32.const 8))
      (then
        (local.set $end (i32.sub (i32.add (local.get $src) (local.get $len)) (i32.const 8)))
        (i64.store align=1
          (i32.add (local.get $dst) (i32.sub (local.get $len) (i32.const 8)))
          (i64.load align=1 (local.get $end)))
        (block $done8
          (loop $words
            (br_if $done8 (i32.ge_u (local.get $src) (local.get $end)))
            (i64.store align=1 (local.get $dst) (i64.load align=1 (local.get $src)))
            (local.set $src (i32.add (local.get $src) (i32.const 8)))
            (local.set $dst (i32.add (local.get $dst) (i32.const 8)))
            (br $words)))
        (return)))
    (if (i32.ge_u (local.get $len) (i32.const 4))
      (then
        (i32.store align=1 (local.get $dst) (i32.load align=1 (local.get $src)))
        (i32.store align=1
          (i32.sub (i32.add (local.get $dst) (local.get $len)) (i32.const 4))
          (i32.load align=1 (i32.sub (i32.add (local.get $src) (local.get $len)) (i32.const 4))))
        (return)))
    (local.set $end (i32.add (local.get $src) (local.get $len)))
    (block $done1
      (loop $bytes
        (br_if $done1 (i32.ge_u (local.get $src) (local.get $end)))
        (i32.store8 (local.get $dst) (i32.load8_u (local.get $src)))
        (local.set $src (i32.add (local.get $src) (i32.const 1)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
        (br $bytes))))

  ;; xxh64(seed 0) of memory[ptr .. ptr+len).
  (func $xxh64 (export "xxh64") (param $ptr i32) (param $len i32) (result i64)
    (local $end i32) (local $limit i32) (local $h i64)
    (local $v1 i64) (local $v2 i64) (local $v3 i64) (local $v4 i64)
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (if (i32.ge_u (local.get $len) (i32.const 32))
      (then
        (local.set $limit (i32.sub (local.get $end) (i32.const 32)))
        (local.set $v1 (i64.add (i64.const 0x9E3779B185EBCA87) (i64.const 0xC2B2AE3D27D4EB4F)))
        (local.set $v2 (i64.const 0xC2B2AE3D27D4EB4F))
        (local.set $v3 (i64.const 0))
        (local.set $v4 (i64.sub (i64.const 0) (i64.const 0x9E3779B185EBCA87)))
        (loop $stripes
          (local.set $v1 (call $round (local.get $v1) (i64.load offset=0 align=1 (local.get $ptr))))
          (local.set $v2 (call $round (local.get $v2) (i64.load offset=8 align=1 (local.get $ptr))))
          (local.set $v3 (call $round (local.get $v3) (i64.load offset=16 align=1 (local.get $ptr))))
          (local.set $v4 (call $round (local.get $v4) (i64.load offset=24 align=1 (local.get $ptr))))
          (local.set $ptr (i32.add (local.get $ptr) (i32.const 32)))
          (br_if $stripes (i32.le_u (local.get $ptr) (local.get $limit))))
        (local.set $h
          (i64.add
            (i64.add (i64.rotl (local.get $v1) (i64.const 1)) (i64.rotl (local.get $v2) (i64.const 7)))
            (i64.add (i64.rotl (local.get $v3) (i64.const 12)) (i64.rotl (local.get $v4) (i64.const 18)))))
        (local.set $h (call $merge (local.get $h) (local.get $v1)))
        (local.set $h (call $merge (local.get $h) (local.get $v2)))
        (local.set $h (call $merge (local.get $h) (local.get $v3)))
        (local.set $h (call $merge (local.get $h) (local.get $v4))))
      (else
        (local.set $h (i64.const 0x27D4EB2F165667C5))))
    (local.set $h (i64.add (local.get $h) (i64.extend_i32_u (local.get $len))))
    (block $done8
      (loop $lanes8
        (br_if $done8 (i32.gt_u (i32.add (local.get $ptr) (i32.const 8)) (local.get $end)))
        (local.set $h
          (i64.xor (local.get $h) (call $round (i64.const 0) (i64.load align=1 (local.get $ptr)))))
        (local.set $h
          (i64.add
            (i64.mul (i64.rotl (local.get $h) (i64.const 27)) (i64.const 0x9E3779B185EBCA87))
            (i64.const 0x85EBCA77C2B2AE63)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 8)))
        (br $lanes8)))
    (if (i32.le_u (i32.add (local.get $ptr) (i32.const 4)) (local.get $end))
      (then
        (local.set $h
          (i64.xor (local.get $h)
            (i64.mul (i64.load32_u align=1 (local.get $ptr)) (i64.const 0x9E3779B185EBCA87))))
        (local.set $h
          (i64.add
            (i64.mul (i64.rotl (local.get $h) (i64.const 23)) (i64.const 0xC2B2AE3D27D4EB4F))
            (i64.const 0x165667B19E3779F9)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 4)))))
    (block $done1
      (loop $bytes
        (br_if $done1 (i32.ge_u (local.get $ptr) (local.get $end)))
        (local.set $h
          (i64.xor (local.get $h)
            (i64.mul (i64.load8_u (local.get $ptr)) (i64.const 0x27D4EB2F165667C5))))
        (local.set $h (i64.mul (i64.rotl (local.get $h) (i64.const 11)) (i64.const 0x9E3779B185EBCA87)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
        (br $bytes)))
    (local.set $h (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 33))))
    (local.set $h (i64.mul (local.get $h) (i64.const 0xC2B2AE3D27D4EB4F)))
    (local.set $h (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 29))))
    (local.set $h (i64.mul (local.get $h) (i64.const 0x165667B19E3779F9)))
    (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 32))))

  ;; The chain over a whole batch, for BatchEncoder (engine/log/entry-codec.ts): one call per batch instead
  ;; of one per entry. Inputs, all in this memory:
  ;;   $desc: per entry 24 bytes: callIndex f64 | channel i32 | request length i32 | data length i32 |
  ;;          kind u8 | call id u8 | 2 unused bytes
  ;;   $blob: the payloads, entry after entry, request then data
  ;;   $names: 256 x (ptr i32, length i32): the name of each call id (id 255 is "custom")
  ;;   $custom: (ptr i32, length i32) per custom-named entry, in entry order
  ;;   $scratch: room for the largest record
  ;; For entry i (seq $seq + i) it assembles the canonical record (prev u64 | seq u64 | callIndex u64 |
  ;; kind u8 | name length u16 | name | channel i32 | request length u32 | request | data length u32 |
  ;; data), stores the low 32 bits of prev at $links + 4i, and hashes the record into the next prev. The
  ;; value after the last entry is stored at [0..8).
  (func (export "chainBatch")
    (param $n i32) (param $prevLo i32) (param $prevHi i32) (param $seq f64) (param $desc i32) (param $blob i32)
    (param $names i32) (param $custom i32) (param $links i32) (param $scratch i32)
    (local $i i32) (local $prev i64) (local $d i32) (local $p i32) (local $id i32) (local $name i32)
    (local $nameLen i32) (local $reqLen i32) (local $dataLen i32) (local $seqI i64)
    (local.set $prev
      (i64.or (i64.shl (i64.extend_i32_u (local.get $prevHi)) (i64.const 32)) (i64.extend_i32_u (local.get $prevLo))))
    (local.set $seqI (i64.trunc_f64_u (local.get $seq)))
    (local.set $d (local.get $desc))
    (block $done
      (loop $entries
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store align=1 (i32.add (local.get $links) (i32.shl (local.get $i) (i32.const 2))) (i32.wrap_i64 (local.get $prev)))
        (local.set $reqLen (i32.load offset=12 align=1 (local.get $d)))
        (local.set $dataLen (i32.load offset=16 align=1 (local.get $d)))
        (local.set $id (i32.load8_u offset=21 (local.get $d)))
        (if (i32.eq (local.get $id) (i32.const 255))
          (then
            (local.set $name (i32.load align=1 (local.get $custom)))
            (local.set $nameLen (i32.load offset=4 align=1 (local.get $custom)))
            (local.set $custom (i32.add (local.get $custom) (i32.const 8))))
          (else
            (local.set $name (i32.load align=1 (i32.add (local.get $names) (i32.shl (local.get $id) (i32.const 3)))))
            (local.set $nameLen (i32.load offset=4 align=1 (i32.add (local.get $names) (i32.shl (local.get $id) (i32.const 3)))))))
        (i64.store align=1 (local.get $scratch) (local.get $prev))
        (i64.store offset=8 align=1 (local.get $scratch) (i64.add (local.get $seqI) (i64.extend_i32_u (local.get $i))))
        (i64.store offset=16 align=1 (local.get $scratch) (i64.trunc_f64_u (f64.load align=1 (local.get $d))))
        (i32.store8 offset=24 (local.get $scratch) (i32.load8_u offset=20 (local.get $d)))
        (i32.store16 offset=25 align=1 (local.get $scratch) (local.get $nameLen))
        (local.set $p (i32.add (local.get $scratch) (i32.const 27)))
        (call $copy (local.get $p) (local.get $name) (local.get $nameLen))
        (local.set $p (i32.add (local.get $p) (local.get $nameLen)))
        (i32.store align=1 (local.get $p) (i32.load offset=8 align=1 (local.get $d)))
        (i32.store offset=4 align=1 (local.get $p) (local.get $reqLen))
        (local.set $p (i32.add (local.get $p) (i32.const 8)))
        (call $copy (local.get $p) (local.get $blob) (local.get $reqLen))
        (local.set $p (i32.add (local.get $p) (local.get $reqLen)))
        (local.set $blob (i32.add (local.get $blob) (local.get $reqLen)))
        (i32.store align=1 (local.get $p) (local.get $dataLen))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (call $copy (local.get $p) (local.get $blob) (local.get $dataLen))
        (local.set $p (i32.add (local.get $p) (local.get $dataLen)))
        (local.set $blob (i32.add (local.get $blob) (local.get $dataLen)))
        (local.set $prev (call $xxh64 (local.get $scratch) (i32.sub (local.get $p) (local.get $scratch))))
        (local.set $d (i32.add (local.get $d) (i32.const 24)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $entries)))
    (i64.store (i32.const 0) (local.get $prev)))
)
