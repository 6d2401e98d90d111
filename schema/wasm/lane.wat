;; The input lane of a replaying WASI machine (engine/wasi/input-lane.ts): the guest's clock_time_get and
;; random_get, fed from recorded results without leaving WebAssembly.
;;
;; Why: a host call into JavaScript costs a replayed guest about 100 ns (the call boundary, an i64 argument
;; made a BigInt, the host function, the replayer's checks), while the recorded answer is a few stores. The
;; replayer offers a run of recorded inputs (packed into this module's memory by input-lane.ts); a call that
;; matches the head of the run exactly (the same call index, call and request) is answered here. Anything
;; else (another index, another request, an out-of-range pointer, the lane disabled or empty) goes to the
;; machine's JavaScript import as before, which then sees exactly what it would have seen without the lane.
;;
;; This module is instantiated before the guest (the guest imports its functions), so it cannot import the
;; guest's memory: the guest's memory is reached through the table's functions, which lane-mem.wat provides
;; once the guest exists.
;;
;; Memory layout (little-endian):
;;    0 f64 cur      the guest's current host-call index (the machine keeps it here while the lane exists)
;;    8 f64 fed      entries fed since the lane was made
;;   16 i32 rd       offset of the next record
;;   20 i32 end      offset past the last record offered
;;   24 i32 enabled  0 while the guest rewinds to a paused call (that call must reach the machine)
;;   28 i32 rtSet    1 after a realtime clock value was fed, until the machine takes it
;;   32 i64 rt       the last realtime clock value fed (file timestamps follow it)
;;   64 ...          records, each 8-byte aligned:
;;        clock:  f64 callIndex, i32 1, i32 clock id, i64 precision, i64 result          (32 bytes)
;;        random: f64 callIndex, i32 2, i32 length, the bytes, padded to 8               (16 + pad8(len))
;;   past the largest offer's records: the run that `pack` or `packBlock` packs, staged by input-lane.ts (STAGE)
(module
  (type $put64 (func (param i32 i64) (result i32)))
  (type $fits (func (param i32 i32) (result i32)))
  (type $put64u (func (param i32 i64)))
  (type $put8u (func (param i32 i32)))
  (import "host" "clock_time_get" (func $jsClock (param i32 i64 i32) (result i32)))
  (import "host" "random_get" (func $jsRandom (param i32 i32) (result i32)))
  ;; 0: put64 (checked), 1: fits, 2: put64 (unchecked), 3: put8 (unchecked); see lane-mem.wat.
  (import "host" "table" (table 4 funcref))
  (memory (export "memory") 1)

  ;; The record at rd, when the lane is enabled, not empty, and the record is for this very call index.
  (func $head (result i32)
    (local $r i32)
    (if (i32.eqz (i32.load (i32.const 24))) (then (return (i32.const 0))))
    (local.set $r (i32.load (i32.const 16)))
    (if (i32.ge_u (local.get $r) (i32.load (i32.const 20))) (then (return (i32.const 0))))
    (if (f64.ne (f64.load (local.get $r)) (f64.load (i32.const 0))) (then (return (i32.const 0))))
    (local.get $r))

  ;; The call was fed from the record at $r, which takes $size bytes.
  (func $done (param $r i32) (param $size i32)
    (i32.store (i32.const 16) (i32.add (local.get $r) (local.get $size)))
    (f64.store (i32.const 0) (f64.add (f64.load (i32.const 0)) (f64.const 1)))
    (f64.store (i32.const 8) (f64.add (f64.load (i32.const 8)) (f64.const 1))))

  (func (export "clock_time_get") (param $id i32) (param $precision i64) (param $ptr i32) (result i32)
    (local $r i32)
    (local.set $r (call $head))
    (if (local.get $r)
      (then
        (if (i32.and
              (i32.and (i32.eq (i32.load offset=8 (local.get $r)) (i32.const 1))
                       (i32.eq (i32.load offset=12 (local.get $r)) (local.get $id)))
              (i64.eq (i64.load offset=16 (local.get $r)) (local.get $precision)))
          (then
            (if (call_indirect (type $put64) (local.get $ptr) (i64.load offset=24 (local.get $r)) (i32.const 0))
              (then
                (if (i32.eqz (local.get $id))
                  (then
                    (i32.store (i32.const 28) (i32.const 1))
                    (i64.store (i32.const 32) (i64.load offset=24 (local.get $r)))))
                (call $done (local.get $r) (i32.const 32))
                (return (i32.const 0))))))))
    (call $jsClock (local.get $id) (local.get $precision) (local.get $ptr)))

  (func (export "random_get") (param $ptr i32) (param $len i32) (result i32)
    (local $r i32)
    (local $k i32)
    (local.set $r (call $head))
    (if (local.get $r)
      (then
        (if (i32.and
              (i32.eq (i32.load offset=8 (local.get $r)) (i32.const 2))
              (i32.eq (i32.load offset=12 (local.get $r)) (local.get $len)))
          (then
            (if (call_indirect (type $fits) (local.get $ptr) (local.get $len) (i32.const 1))
              (then
                (block $words
                  (loop $word
                    (br_if $words (i32.gt_u (i32.add (local.get $k) (i32.const 8)) (local.get $len)))
                    (call_indirect (type $put64u)
                      (i32.add (local.get $ptr) (local.get $k))
                      (i64.load offset=16 (i32.add (local.get $r) (local.get $k)))
                      (i32.const 2))
                    (local.set $k (i32.add (local.get $k) (i32.const 8)))
                    (br $word)))
                (block $bytes
                  (loop $byte
                    (br_if $bytes (i32.ge_u (local.get $k) (local.get $len)))
                    (call_indirect (type $put8u)
                      (i32.add (local.get $ptr) (local.get $k))
                      (i32.load8_u offset=16 (i32.add (local.get $r) (local.get $k)))
                      (i32.const 3))
                    (local.set $k (i32.add (local.get $k) (i32.const 1)))
                    (br $byte)))
                (call $done (local.get $r)
                  (i32.add (i32.const 16) (i32.and (i32.add (local.get $len) (i32.const 7)) (i32.const -8))))
                (return (i32.const 0))))))))
    (call $jsRandom (local.get $ptr) (local.get $len)))
  ;; The bytes memory[src .. src+len) to dst: whole words, then the rest one by one (never reads past src+len).
  (func $copyBytes (param $dst i32) (param $src i32) (param $len i32)
    (local $k i32)
    (block $words
      (loop $copy8
        (br_if $words (i32.gt_u (i32.add (local.get $k) (i32.const 8)) (local.get $len)))
        (i64.store align=1 (i32.add (local.get $dst) (local.get $k)) (i64.load align=1 (i32.add (local.get $src) (local.get $k))))
        (local.set $k (i32.add (local.get $k) (i32.const 8)))
        (br $copy8)))
    (block $bytes
      (loop $copy1
        (br_if $bytes (i32.ge_u (local.get $k) (local.get $len)))
        (i32.store8 (i32.add (local.get $dst) (local.get $k)) (i32.load8_u (i32.add (local.get $src) (local.get $k))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $copy1))))

  ;; Whether a record of $size bytes at $at would end past the offer limit (64 + $limit) while not the first.
  (func $full (param $at i32) (param $size i32) (param $limit i32) (result i32)
    (i32.and (i32.gt_u (i32.add (local.get $at) (local.get $size)) (i32.add (i32.const 64) (local.get $limit)))
             (i32.gt_u (local.get $at) (i32.const 64))))

  ;; A record's head: call index, tag (1 clock, 2 random) and word (clock id, or length).
  (func $head3 (param $at i32) (param $callIndex f64) (param $tag i32) (param $word i32)
    (f64.store (local.get $at) (local.get $callIndex))
    (i32.store offset=8 (local.get $at) (local.get $tag))
    (i32.store offset=12 (local.get $at) (local.get $word)))

  ;; An offer from a trace's batch, packed here rather than entry by entry in JavaScript (input-lane.ts
  ;; offerFlat; the JavaScript loop cost a replay about 20 ns per entry). input-lane.ts stages $n entries of the
  ;; batch in this memory: their descriptors at $desc (24 bytes each: call index f64 | channel i32 | request
  ;; length i32 | data length i32 | kind u8 | call id u8 | 2 unused), their payload offsets at $payAt (i32 each,
  ;; offsets in the batch's blob), and $blobLen bytes of the blob from offset $base on at $blob. The records are written
  ;; from 64 exactly as input-lane.ts offerColumns writes them, with the same rules: the run stops at the first
  ;; entry that is not an input of call $clockId (a 12-byte request of a clock id <= 3 and an 8-byte result) or
  ;; $randomId (a 4-byte request equal to the length of the result, at most $limit), and once more records
  ;; would end past 64 + $limit (one record always fits). Sets rd and end; returns the entries packed.
  (func (export "pack")
    (param $n i32) (param $desc i32) (param $payAt i32) (param $blob i32) (param $base i32) (param $blobLen i32)
    (param $clockId i32) (param $randomId i32) (param $limit i32) (result i32)
    (local $i i32) (local $at i32) (local $d i32) (local $id i32) (local $q i32) (local $word i32)
    (local $size i32) (local $dataLen i32)
    (local.set $at (i32.const 64))
    (local.set $d (local.get $desc))
    (block $stop
      (loop $entries
        (br_if $stop (i32.ge_u (local.get $i) (local.get $n)))
        ;; An input (kind 0).
        (br_if $stop (i32.load8_u offset=20 (local.get $d)))
        (local.set $id (i32.load8_u offset=21 (local.get $d)))
        (local.set $dataLen (i32.load offset=16 align=4 (local.get $d)))
        (local.set $q
          (i32.add (local.get $blob)
            (i32.sub (i32.load (i32.add (local.get $payAt) (i32.shl (local.get $i) (i32.const 2)))) (local.get $base))))
        ;; Its request and result were staged (the staging stops at the bytes an offer can take).
        (br_if $stop
          (i64.gt_u
            (i64.add
              (i64.extend_i32_u (i32.sub (local.get $q) (local.get $blob)))
              (i64.add (i64.extend_i32_u (i32.load offset=12 align=4 (local.get $d))) (i64.extend_i32_u (local.get $dataLen))))
            (i64.extend_i32_u (local.get $blobLen))))
        (if (i32.eq (local.get $id) (local.get $clockId))
          (then
            (br_if $stop (i32.ne (i32.load offset=12 align=4 (local.get $d)) (i32.const 12)))
            (br_if $stop (i32.ne (local.get $dataLen) (i32.const 8)))
            (local.set $word (i32.load align=1 (local.get $q)))
            (br_if $stop (i32.gt_u (local.get $word) (i32.const 3)))
            (local.set $size (i32.const 32))
            (br_if $stop (call $full (local.get $at) (local.get $size) (local.get $limit)))
            (call $head3 (local.get $at) (f64.load align=8 (local.get $d)) (i32.const 1) (local.get $word))
            (i64.store offset=16 (local.get $at) (i64.load offset=4 align=1 (local.get $q)))
            (i64.store offset=24 (local.get $at) (i64.load offset=12 align=1 (local.get $q))))
          (else
            (br_if $stop (i32.ne (local.get $id) (local.get $randomId)))
            (br_if $stop (i32.ne (i32.load offset=12 align=4 (local.get $d)) (i32.const 4)))
            (local.set $word (i32.load align=1 (local.get $q)))
            (br_if $stop (i32.ne (local.get $dataLen) (local.get $word)))
            (br_if $stop (i32.gt_u (local.get $word) (local.get $limit)))
            (local.set $size (i32.add (i32.const 16) (i32.and (i32.add (local.get $word) (i32.const 7)) (i32.const -8))))
            (br_if $stop (call $full (local.get $at) (local.get $size) (local.get $limit)))
            (call $head3 (local.get $at) (f64.load align=8 (local.get $d)) (i32.const 2) (local.get $word))
            (call $copyBytes (i32.add (local.get $at) (i32.const 16)) (i32.add (local.get $q) (i32.const 4)) (local.get $word))))
        (local.set $at (i32.add (local.get $at) (local.get $size)))
        (local.set $d (i32.add (local.get $d) (i32.const 24)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $entries)))
    (i32.store (i32.const 16) (i32.const 64))
    (i32.store (i32.const 20) (local.get $at))
    (local.get $i))
  ;; The same offer from an entry block of the pair's channel (engine/log/entry-block.ts: records in the capture
  ;; format, each a 24-byte header (kind | call id << 8 | name length << 16 i32, channel i32, call index f64,
  ;; request length i32, data length i32) then name, request and data; the entries of a packed run share one
  ;; header). input-lane.ts stages the block's index for $n entries at $ix (per entry, 24 bytes: i32 offsets in the
  ;; block of its record, request, request length and data, then its call index f64) and $bytesLen bytes of the
  ;; block from offset $base on at $bytes. Same records and rules as `pack`.
  (func (export "packBlock")
    (param $n i32) (param $ix i32) (param $bytes i32) (param $base i32) (param $bytesLen i32)
    (param $clockId i32) (param $randomId i32) (param $limit i32) (result i32)
    (local $i i32) (local $at i32) (local $x i32) (local $rec i32) (local $head i32) (local $id i32)
    (local $q i32) (local $reqLen i32) (local $d i32) (local $dataLen i32) (local $word i32) (local $size i32)
    (local.set $at (i32.const 64))
    (local.set $x (local.get $ix))
    (block $stop
      (loop $entries
        (br_if $stop (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $rec (i32.sub (i32.load (local.get $x)) (local.get $base)))
        (local.set $q (i32.sub (i32.load offset=4 (local.get $x)) (local.get $base)))
        (local.set $reqLen (i32.load offset=8 (local.get $x)))
        (local.set $d (i32.sub (i32.load offset=12 (local.get $x)) (local.get $base)))
        ;; The header, the request and the data were staged (offsets below $base wrap to large numbers).
        (br_if $stop (i64.gt_u (i64.add (i64.extend_i32_u (local.get $rec)) (i64.const 24)) (i64.extend_i32_u (local.get $bytesLen))))
        (local.set $head (i32.load (i32.add (local.get $bytes) (local.get $rec))))
        (local.set $dataLen (i32.load offset=20 (i32.add (local.get $bytes) (local.get $rec))))
        (br_if $stop
          (i64.gt_u
            (i64.add (i64.extend_i32_u (local.get $q)) (i64.extend_i32_u (local.get $reqLen)))
            (i64.extend_i32_u (local.get $bytesLen))))
        (br_if $stop
          (i64.gt_u
            (i64.add (i64.extend_i32_u (local.get $d)) (i64.extend_i32_u (local.get $dataLen)))
            (i64.extend_i32_u (local.get $bytesLen))))
        ;; An input (kind 0).
        (br_if $stop (i32.and (local.get $head) (i32.const 0xff)))
        (local.set $id (i32.and (i32.shr_u (local.get $head) (i32.const 8)) (i32.const 0xff)))
        (local.set $q (i32.add (local.get $bytes) (local.get $q)))
        (local.set $d (i32.add (local.get $bytes) (local.get $d)))
        (if (i32.eq (local.get $id) (local.get $clockId))
          (then
            (br_if $stop (i32.ne (local.get $reqLen) (i32.const 12)))
            (br_if $stop (i32.ne (local.get $dataLen) (i32.const 8)))
            (local.set $word (i32.load align=1 (local.get $q)))
            (br_if $stop (i32.gt_u (local.get $word) (i32.const 3)))
            (local.set $size (i32.const 32))
            (br_if $stop (call $full (local.get $at) (local.get $size) (local.get $limit)))
            (call $head3 (local.get $at) (f64.load offset=16 align=1 (local.get $x)) (i32.const 1) (local.get $word))
            (i64.store offset=16 (local.get $at) (i64.load offset=4 align=1 (local.get $q)))
            (i64.store offset=24 (local.get $at) (i64.load align=1 (local.get $d))))
          (else
            (br_if $stop (i32.ne (local.get $id) (local.get $randomId)))
            (br_if $stop (i32.ne (local.get $reqLen) (i32.const 4)))
            (local.set $word (i32.load align=1 (local.get $q)))
            (br_if $stop (i32.ne (local.get $dataLen) (local.get $word)))
            (br_if $stop (i32.gt_u (local.get $word) (local.get $limit)))
            (local.set $size (i32.add (i32.const 16) (i32.and (i32.add (local.get $word) (i32.const 7)) (i32.const -8))))
            (br_if $stop (call $full (local.get $at) (local.get $size) (local.get $limit)))
            (call $head3 (local.get $at) (f64.load offset=16 align=1 (local.get $x)) (i32.const 2) (local.get $word))
            (call $copyBytes (i32.add (local.get $at) (i32.const 16)) (local.get $d) (local.get $word))))
        (local.set $at (i32.add (local.get $at) (local.get $size)))
        (local.set $x (i32.add (local.get $x) (i32.const 24)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $entries)))
    (i32.store (i32.const 16) (i32.const 64))
    (i32.store (i32.const 20) (local.get $at))
    (local.get $i))
)
