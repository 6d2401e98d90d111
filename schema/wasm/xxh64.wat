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

  ;; Column decoding of an EntryBatch, for readFlatBatch (engine/log/flat-batch.ts): the per-entry walk over the
  ;; kinds, calls, channels and the three varint columns, with every check the format asks for, writing the
  ;; descriptors chainBatch reads (so the chain then runs on them in place) and each entry's payload offset.
  ;; Done in JS, this walk cost about twice the chain itself per entry.
  ;;
  ;; Reading position of the varint being read, and the error of the last read (0: none; 1 ends inside a value,
  ;; 2 overlong, 3 larger than 2^53-1, 4 longer than 8 bytes).
  (global $vpos (mut i32) (i32.const 0))
  (global $verr (mut i32) (i32.const 0))

  ;; The LEB128 varint at $vpos (before $end); advances $vpos. On error sets $verr and returns 0.
  (func $varint (param $end i32) (result i64)
    (local $p i32) (local $b i32) (local $v i64) (local $i i32)
    (local.set $p (global.get $vpos))
    (if (i32.lt_u (local.get $p) (local.get $end))
      (then
        (local.set $b (i32.load8_u (local.get $p)))
        (if (i32.lt_u (local.get $b) (i32.const 0x80))
          (then
            (global.set $vpos (i32.add (local.get $p) (i32.const 1)))
            (return (i64.extend_i32_u (local.get $b)))))))
    (loop $bytes
      (if (i32.ge_u (local.get $p) (local.get $end))
        (then (global.set $verr (i32.const 1)) (return (i64.const 0))))
      (local.set $b (i32.load8_u (local.get $p)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (local.set $v
        (i64.or (local.get $v)
          (i64.shl (i64.extend_i32_u (i32.and (local.get $b) (i32.const 0x7f)))
            (i64.extend_i32_u (i32.mul (local.get $i) (i32.const 7))))))
      (if (i32.eqz (i32.and (local.get $b) (i32.const 0x80)))
        (then
          (global.set $vpos (local.get $p))
          (if (i32.and (i32.eqz (local.get $b)) (i32.ne (local.get $i) (i32.const 0)))
            (then (global.set $verr (i32.const 2)) (return (i64.const 0))))
          (if (i64.gt_u (local.get $v) (i64.const 0x1FFFFFFFFFFFFF))
            (then (global.set $verr (i32.const 3)) (return (i64.const 0))))
          (return (local.get $v))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $bytes (i32.lt_u (local.get $i) (i32.const 8))))
    (global.set $verr (i32.const 4))
    (i64.const 0))

  ;; A decoding failure: the entry and a detail go to $out[0] and $out[4]; the code is returned.
  (func $fail (param $out i32) (param $code i32) (param $i i32) (param $detail i32) (result i32)
    (i32.store (local.get $out) (local.get $i))
    (i32.store offset=4 (local.get $out) (local.get $detail))
    (local.get $code))

  ;; Inputs, all in this memory: $n entries; $callIndex the batch's first call index; $kinds and $calls (n bytes
  ;; each); the three varint columns as [start, end); $channels (i32 per Output entry, $channelCount of them);
  ;; $customLens (per custom-named entry in entry order: its name's UTF-8 bytes, or -1 for an empty name, and
  ;; the length its statistics count, i32 each; $customCount of them); $idsUsed (ids below it are call-table
  ;; names; 255 is custom); $blobLen. Outputs: per entry the 24-byte descriptor at $desc (the layout chainBatch
  ;; reads: callIndex f64 | channel i32 | request length i32 | data length i32 | kind u8 | call id u8 | 0 0)
  ;; and its payload offset in the blob at $payAt (i32).
  ;; Returns 0, or the code of the first failure, entry by entry in the order readFlatBatch checks:
  ;;   1 unknown kind (detail: kind)        2 custom call name missing       3 unknown call id (detail: id)
  ;;   4 call id does not fit the kind (detail: id)                          5 channel missing
  ;;   6 bad varint (detail: column 0 deltas, 1 request lengths, 2 data lengths, times 8, plus $verr)
  ;;   7 call index overflows               8 payload lengths run past the blob
  ;;   9 empty custom call name
  ;; with the entry at $out[0]. On success $out holds: [0] n, [8..20) entries per kind, [20..32) own column
  ;; bytes per kind (trace-stats.ts), [32] the largest name (0xff for a table name) + payload of an entry, [36]
  ;; payload bytes referenced, [40] [44] [48] bytes consumed of each varint column, [52] channels used,
  ;; [56] custom names used (all i32).
  (func (export "decodeColumns")
    (param $n i32) (param $callIndex f64) (param $kinds i32) (param $calls i32)
    (param $deltas i32) (param $deltasEnd i32) (param $reqLens i32) (param $reqLensEnd i32)
    (param $dataLens i32) (param $dataLensEnd i32) (param $channels i32) (param $channelCount i32)
    (param $customLens i32) (param $customCount i32) (param $idsUsed i32) (param $blobLen i32)
    (param $desc i32) (param $payAt i32) (param $out i32) (result i32)
    (local $i i32) (local $kind i32) (local $id i32) (local $nameBytes i32) (local $channel i32)
    (local $own i32) (local $chIdx i32) (local $cuIdx i32) (local $reqLen i64) (local $dataLen i64)
    (local $room i64) (local $blobPos i32) (local $recordMax i32) (local $d i32) (local $size i32)
    (local $pd i32) (local $pr i32) (local $pa i32) (local $payload i32) (local $start i32) (local $counter i32)
    (global.set $verr (i32.const 0))
    (local.set $pd (local.get $deltas))
    (local.set $pr (local.get $reqLens))
    (local.set $pa (local.get $dataLens))
    (i64.store offset=8 (local.get $out) (i64.const 0))
    (i64.store offset=16 (local.get $out) (i64.const 0))
    (i64.store offset=24 (local.get $out) (i64.const 0))
    (local.set $d (local.get $desc))
    (block $done
      (loop $entries
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $kind (i32.load8_u (i32.add (local.get $kinds) (local.get $i))))
        (if (i32.gt_u (local.get $kind) (i32.const 2))
          (then (return (call $fail (local.get $out) (i32.const 1) (local.get $i) (local.get $kind)))))
        (local.set $id (i32.load8_u (i32.add (local.get $calls) (local.get $i))))
        (local.set $nameBytes (i32.const 0xff))
        (local.set $own (i32.const 6))
        (if (i32.eq (local.get $id) (i32.const 255))
          (then
            (if (i32.ge_u (local.get $cuIdx) (local.get $customCount))
              (then (return (call $fail (local.get $out) (i32.const 2) (local.get $i) (i32.const 0)))))
            (local.set $nameBytes (i32.load (i32.add (local.get $customLens) (i32.shl (local.get $cuIdx) (i32.const 3)))))
            (if (i32.lt_s (local.get $nameBytes) (i32.const 0))
              (then (return (call $fail (local.get $out) (i32.const 9) (local.get $i) (i32.const 0)))))
            (local.set $own
              (i32.add (local.get $own)
                (i32.add (i32.const 8) (i32.load offset=4 (i32.add (local.get $customLens) (i32.shl (local.get $cuIdx) (i32.const 3)))))))
            (local.set $cuIdx (i32.add (local.get $cuIdx) (i32.const 1))))
          (else
            (if (i32.ge_u (local.get $id) (local.get $idsUsed))
              (then (return (call $fail (local.get $out) (i32.const 3) (local.get $i) (local.get $id)))))))
        ;; Digest entries, and only they, carry call id 0 (no call).
        (if (i32.ne (i32.eq (local.get $kind) (i32.const 2)) (i32.eqz (local.get $id)))
          (then (return (call $fail (local.get $out) (i32.const 4) (local.get $i) (local.get $id)))))
        (local.set $channel (i32.const 0))
        (if (i32.eq (local.get $kind) (i32.const 1))
          (then
            (if (i32.ge_u (local.get $chIdx) (local.get $channelCount))
              (then (return (call $fail (local.get $out) (i32.const 5) (local.get $i) (i32.const 0)))))
            (local.set $channel (i32.load (i32.add (local.get $channels) (i32.shl (local.get $chIdx) (i32.const 2)))))
            (local.set $chIdx (i32.add (local.get $chIdx) (i32.const 1)))
            (local.set $own (i32.add (local.get $own) (i32.const 4)))))
        (local.set $start (i32.add (i32.add (local.get $pd) (local.get $pr)) (local.get $pa)))
        (global.set $vpos (local.get $pd))
        (local.set $callIndex
          (f64.add (local.get $callIndex) (f64.convert_i64_u (call $varint (local.get $deltasEnd)))))
        (if (global.get $verr)
          (then (return (call $fail (local.get $out) (i32.const 6) (local.get $i) (global.get $verr)))))
        (local.set $pd (global.get $vpos))
        (if (f64.gt (local.get $callIndex) (f64.const 9007199254740991))
          (then (return (call $fail (local.get $out) (i32.const 7) (local.get $i) (i32.const 0)))))
        (global.set $vpos (local.get $pr))
        (local.set $reqLen (call $varint (local.get $reqLensEnd)))
        (if (global.get $verr)
          (then (return (call $fail (local.get $out) (i32.const 6) (local.get $i) (i32.add (i32.const 8) (global.get $verr))))))
        (local.set $pr (global.get $vpos))
        (global.set $vpos (local.get $pa))
        (local.set $dataLen (call $varint (local.get $dataLensEnd)))
        (if (global.get $verr)
          (then (return (call $fail (local.get $out) (i32.const 6) (local.get $i) (i32.add (i32.const 16) (global.get $verr))))))
        (local.set $pa (global.get $vpos))
        (local.set $room (i64.extend_i32_u (i32.sub (local.get $blobLen) (local.get $blobPos))))
        (if (i32.or
              (i64.gt_u (local.get $reqLen) (local.get $room))
              (i64.gt_u (local.get $dataLen) (i64.sub (local.get $room) (local.get $reqLen))))
          (then (return (call $fail (local.get $out) (i32.const 8) (local.get $i) (i32.const 0)))))
        (local.set $payload (i32.wrap_i64 (i64.add (local.get $reqLen) (local.get $dataLen))))
        (local.set $own
          (i32.add (i32.add (local.get $own) (local.get $payload))
            (i32.sub (i32.add (i32.add (local.get $pd) (local.get $pr)) (local.get $pa)) (local.get $start))))
        (local.set $counter (i32.add (local.get $out) (i32.shl (local.get $kind) (i32.const 2))))
        (i32.store offset=8 (local.get $counter) (i32.add (i32.load offset=8 (local.get $counter)) (i32.const 1)))
        (i32.store offset=20 (local.get $counter) (i32.add (i32.load offset=20 (local.get $counter)) (local.get $own)))
        (i32.store (i32.add (local.get $payAt) (i32.shl (local.get $i) (i32.const 2))) (local.get $blobPos))
        (local.set $blobPos (i32.add (local.get $blobPos) (local.get $payload)))
        (f64.store (local.get $d) (local.get $callIndex))
        (i32.store offset=8 (local.get $d) (local.get $channel))
        (i32.store offset=12 (local.get $d) (i32.wrap_i64 (local.get $reqLen)))
        (i32.store offset=16 (local.get $d) (i32.wrap_i64 (local.get $dataLen)))
        (i32.store offset=20 (local.get $d) (i32.or (local.get $kind) (i32.shl (local.get $id) (i32.const 8))))
        (local.set $size (i32.add (local.get $payload) (local.get $nameBytes)))
        (if (i32.gt_u (local.get $size) (local.get $recordMax)) (then (local.set $recordMax (local.get $size))))
        (local.set $d (i32.add (local.get $d) (i32.const 24)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $entries)))
    (i32.store (local.get $out) (local.get $n))
    (i32.store offset=32 (local.get $out) (local.get $recordMax))
    (i32.store offset=36 (local.get $out) (local.get $blobPos))
    (i32.store offset=40 (local.get $out) (i32.sub (local.get $pd) (local.get $deltas)))
    (i32.store offset=44 (local.get $out) (i32.sub (local.get $pr) (local.get $reqLens)))
    (i32.store offset=48 (local.get $out) (i32.sub (local.get $pa) (local.get $dataLens)))
    (i32.store offset=52 (local.get $out) (local.get $chIdx))
    (i32.store offset=56 (local.get $out) (local.get $cuIdx))
    (i32.const 0))
  ;; A run of captured entries for the batch encoder (BatchEncoder.addRepeats in engine/log/entry-codec.ts): $n
  ;; records of one size ($stride bytes each, from $src, in the capture format of engine/log/capture.ts: the call
  ;; index as f64 at offset 8, the data at offset 24) that share kind, call id, channel and request ($req,
  ;; $reqLen bytes). For each it writes the descriptor chainBatch reads ($desc, 24 bytes), the payload (request
  ;; then data) to $blob, and the call-index delta from the previous entry ($prev for the first) as a varint to
  ;; $deltas. Done in JS, this loop cost about half of the encoder thread's time per entry.
  ;; Returns the varint bytes written, or -(k + 1) when entry k's call index is below the previous one or not an
  ;; integer in [0, 2^53) (the caller then reports entry k and keeps nothing of the run).
  (func (export "encodeRepeats")
    (param $n i32) (param $src i32) (param $stride i32) (param $req i32) (param $reqLen i32) (param $dataLen i32)
    (param $prev f64) (param $channel i32) (param $kind i32) (param $id i32) (param $desc i32) (param $blob i32)
    (param $deltas i32) (result i32)
    (local $k i32) (local $ci f64) (local $p i32) (local $kindId i32)
    (local.set $p (local.get $deltas))
    (local.set $kindId (i32.or (local.get $kind) (i32.shl (local.get $id) (i32.const 8))))
    (block $done
      (loop $entries
        (br_if $done (i32.ge_u (local.get $k) (local.get $n)))
        (local.set $ci (f64.load offset=8 align=1 (local.get $src)))
        ;; Not below the previous index, a whole number, and below 2^53 (NaN fails the first test).
        (if (i32.eqz
              (i32.and
                (i32.and (f64.ge (local.get $ci) (local.get $prev)) (f64.eq (f64.trunc (local.get $ci)) (local.get $ci)))
                (f64.lt (local.get $ci) (f64.const 9007199254740992))))
          (then (return (i32.sub (i32.const -1) (local.get $k)))))
        (f64.store align=1 (local.get $desc) (local.get $ci))
        (i32.store offset=8 align=1 (local.get $desc) (local.get $channel))
        (i32.store offset=12 align=1 (local.get $desc) (local.get $reqLen))
        (i32.store offset=16 align=1 (local.get $desc) (local.get $dataLen))
        (i32.store offset=20 align=1 (local.get $desc) (local.get $kindId))
        (call $copy (local.get $blob) (local.get $req) (local.get $reqLen))
        (call $copy (i32.add (local.get $blob) (local.get $reqLen)) (i32.add (local.get $src) (i32.const 24)) (local.get $dataLen))
        (local.set $p (call $putVarint (local.get $p) (i64.trunc_f64_u (f64.sub (local.get $ci) (local.get $prev)))))
        (local.set $prev (local.get $ci))
        (local.set $src (i32.add (local.get $src) (local.get $stride)))
        (local.set $desc (i32.add (local.get $desc) (i32.const 24)))
        (local.set $blob (i32.add (local.get $blob) (i32.add (local.get $reqLen) (local.get $dataLen))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $entries)))
    (i32.sub (local.get $p) (local.get $deltas)))

  ;; A packed run of captured entries for the batch encoder (BatchEncoder.addPacked in engine/log/entry-codec.ts):
  ;; $n entries at call indices $first, $first + 1, ... that share kind, call id, channel and request ($req,
  ;; $reqLen bytes), with $dataLen bytes of data each back to back at $src. Writes each one's descriptor
  ;; (chainBatch's layout) to $desc and its payload (request, then data) to $blob. Done in JS, these two loops cost
  ;; about a fifth of the encoder thread's time per clock read.
  (func (export "encodePacked")
    (param $n i32) (param $src i32) (param $dataLen i32) (param $req i32) (param $reqLen i32) (param $first f64)
    (param $channel i32) (param $kind i32) (param $id i32) (param $desc i32) (param $blob i32)
    (local $k i32) (local $kindId i32)
    (local.set $kindId (i32.or (local.get $kind) (i32.shl (local.get $id) (i32.const 8))))
    (block $done
      (loop $entries
        (br_if $done (i32.ge_u (local.get $k) (local.get $n)))
        (f64.store align=1 (local.get $desc) (f64.add (local.get $first) (f64.convert_i32_u (local.get $k))))
        (i32.store offset=8 align=1 (local.get $desc) (local.get $channel))
        (i32.store offset=12 align=1 (local.get $desc) (local.get $reqLen))
        (i32.store offset=16 align=1 (local.get $desc) (local.get $dataLen))
        (i32.store offset=20 align=1 (local.get $desc) (local.get $kindId))
        (call $copy (local.get $blob) (local.get $req) (local.get $reqLen))
        (call $copy (i32.add (local.get $blob) (local.get $reqLen)) (local.get $src) (local.get $dataLen))
        (local.set $src (i32.add (local.get $src) (local.get $dataLen)))
        (local.set $desc (i32.add (local.get $desc) (i32.const 24)))
        (local.set $blob (i32.add (local.get $blob) (i32.add (local.get $reqLen) (local.get $dataLen))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $entries))))

  ;; ---- Payload forms (trace format 2: EntryBatch.payload_forms) ---------------------------------------------
  ;; A trace stores each entry's payload in one of four forms (a byte per entry): bit 0, the request is left out,
  ;; being byte for byte the request of the previous entry with the same call id in the batch; bit 1, the 8 bytes
  ;; of data are stored as the LEB128 varint (at most 7 bytes) of their difference, as little-endian u64 modulo
  ;; 2^64, from the data of the previous entry with the same call id and 8 bytes of data in the batch. A clock
  ;; read then stores 2 or 3 bytes instead of 20. The chain is over the entries themselves, whatever the form.
  ;;
  ;; Per call id, both functions keep in $state (6144 bytes): [id * 16] the previous request's address and
  ;; [id * 16 + 4] its length (-1: none yet), [id * 16 + 8] whether a previous 8-byte data is known, and at
  ;; [4096 + id * 8] that data.

  (func $formsReset (param $state i32)
    (local $id i32)
    (loop $ids
      (i32.store offset=4 (i32.add (local.get $state) (i32.shl (local.get $id) (i32.const 4))) (i32.const -1))
      (i32.store offset=8 (i32.add (local.get $state) (i32.shl (local.get $id) (i32.const 4))) (i32.const 0))
      (local.set $id (i32.add (local.get $id) (i32.const 1)))
      (br_if $ids (i32.lt_u (local.get $id) (i32.const 256)))))

  ;; Whether memory[a ..) and memory[b ..) hold the same $len bytes.
  (func $same (param $a i32) (param $b i32) (param $len i32) (result i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $a) (local.get $len)))
    (block $words
      (loop $w
        (br_if $words (i32.gt_u (i32.add (local.get $a) (i32.const 8)) (local.get $end)))
        (if (i64.ne (i64.load align=1 (local.get $a)) (i64.load align=1 (local.get $b))) (then (return (i32.const 0))))
        (local.set $a (i32.add (local.get $a) (i32.const 8)))
        (local.set $b (i32.add (local.get $b) (i32.const 8)))
        (br $w)))
    (block $bytes
      (loop $by
        (br_if $bytes (i32.ge_u (local.get $a) (local.get $end)))
        (if (i32.ne (i32.load8_u (local.get $a)) (i32.load8_u (local.get $b))) (then (return (i32.const 0))))
        (local.set $a (i32.add (local.get $a) (i32.const 1)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $by)))
    (i32.const 1))

  ;; Writes $v as a LEB128 varint at $p; returns the byte after it.
  (func $putVarint (param $p i32) (param $v i64) (result i32)
    (loop $more
      (if (i64.ge_u (local.get $v) (i64.const 0x80))
        (then
          (i32.store8 (local.get $p) (i32.or (i32.wrap_i64 (local.get $v)) (i32.const 0x80)))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (local.set $v (i64.shr_u (local.get $v) (i64.const 7)))
          (br $more))))
    (i32.store8 (local.get $p) (i32.wrap_i64 (local.get $v)))
    (i32.add (local.get $p) (i32.const 1)))

  ;; Bytes of the LEB128 varint of $v.
  (func $varintBytes (param $v i64) (result i32)
    (local $n i32)
    (local.set $n (i32.const 1))
    (block $done
      (loop $more
        (br_if $done (i64.lt_u (local.get $v) (i64.const 0x80)))
        (local.set $v (i64.shr_u (local.get $v) (i64.const 7)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $more)))
    (local.get $n))

  ;; The payloads of a batch in their stored forms, for BatchEncoder.build (engine/log/entry-codec.ts): $n entries
  ;; described at $desc (chainBatch's layout) with their payloads back to back at $blob; writes the stored bytes
  ;; to $out, the form of each entry to $forms, and per kind the bytes the forms saved (i32 each) to $saved.
  ;; Returns the stored length.
  (func (export "packPayloads")
    (param $n i32) (param $desc i32) (param $blob i32) (param $out i32) (param $forms i32) (param $state i32) (param $saved i32)
    (result i32)
    (local $i i32) (local $o i32) (local $reqLen i32) (local $dataLen i32) (local $kind i32) (local $st i32)
    (local $form i32) (local $v i64) (local $delta i64) (local $len i32) (local $save i32) (local $prev i32)
    (call $formsReset (local.get $state))
    (i64.store (local.get $saved) (i64.const 0))
    (i32.store offset=8 (local.get $saved) (i32.const 0))
    (local.set $o (local.get $out))
    (block $done
      (loop $entries
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $reqLen (i32.load offset=12 align=1 (local.get $desc)))
        (local.set $dataLen (i32.load offset=16 align=1 (local.get $desc)))
        (local.set $kind (i32.load8_u offset=20 (local.get $desc)))
        (local.set $st (i32.add (local.get $state) (i32.shl (i32.load8_u offset=21 (local.get $desc)) (i32.const 4))))
        (local.set $prev (i32.add (i32.add (local.get $state) (i32.const 4096)) (i32.shl (i32.load8_u offset=21 (local.get $desc)) (i32.const 3))))
        (local.set $form (i32.const 0))
        (local.set $save (i32.const 0))
        ;; (nested ifs: the comparison only runs once the length matched, so it reads an earlier request only)
        (if (i32.and (i32.gt_s (local.get $reqLen) (i32.const 0)) (i32.eq (i32.load offset=4 (local.get $st)) (local.get $reqLen)))
          (then
            (if (call $same (i32.load (local.get $st)) (local.get $blob) (local.get $reqLen))
              (then
                (local.set $form (i32.const 1))
                (local.set $save (local.get $reqLen))))))
        (if (i32.eqz (i32.and (local.get $form) (i32.const 1)))
          (then
            (call $copy (local.get $o) (local.get $blob) (local.get $reqLen))
            (local.set $o (i32.add (local.get $o) (local.get $reqLen)))))
        (i32.store (local.get $st) (local.get $blob))
        (i32.store offset=4 (local.get $st) (local.get $reqLen))
        (local.set $blob (i32.add (local.get $blob) (local.get $reqLen)))
        (if (i32.eq (local.get $dataLen) (i32.const 8))
          (then
            (local.set $v (i64.load align=1 (local.get $blob)))
            (if (i32.load offset=8 (local.get $st))
              (then
                (local.set $delta (i64.sub (local.get $v) (i64.load (local.get $prev))))
                (local.set $len (call $varintBytes (local.get $delta)))
                (if (i32.lt_u (local.get $len) (i32.const 8))
                  (then
                    (local.set $form (i32.or (local.get $form) (i32.const 2)))
                    (local.set $save (i32.add (local.get $save) (i32.sub (i32.const 8) (local.get $len))))
                    (local.set $o (call $putVarint (local.get $o) (local.get $delta)))))))
            (i64.store (local.get $prev) (local.get $v))
            (i32.store offset=8 (local.get $st) (i32.const 1))))
        (if (i32.eqz (i32.and (local.get $form) (i32.const 2)))
          (then
            (call $copy (local.get $o) (local.get $blob) (local.get $dataLen))
            (local.set $o (i32.add (local.get $o) (local.get $dataLen)))))
        (local.set $blob (i32.add (local.get $blob) (local.get $dataLen)))
        (i32.store8 (i32.add (local.get $forms) (local.get $i)) (local.get $form))
        (if (i32.lt_u (local.get $kind) (i32.const 3))
          (then
            (i32.store
              (i32.add (local.get $saved) (i32.shl (local.get $kind) (i32.const 2)))
              (i32.add (i32.load (i32.add (local.get $saved) (i32.shl (local.get $kind) (i32.const 2)))) (local.get $save)))))
        (local.set $desc (i32.add (local.get $desc) (i32.const 24)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $entries)))
    (i32.sub (local.get $o) (local.get $out)))

  ;; The sum of $n request lengths and $n data lengths, read from the two varint columns ([start, end) each), as
  ;; the logical size of a batch's payloads; -1 when a column does not hold $n good varints (decodeColumns then
  ;; names the fault).
  (func (export "payloadsLength")
    (param $n i32) (param $reqLens i32) (param $reqLensEnd i32) (param $dataLens i32) (param $dataLensEnd i32) (result f64)
    (local $i i32) (local $total i64)
    (global.set $verr (i32.const 0))
    (global.set $vpos (local.get $reqLens))
    (block $done
      (loop $r
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $total (i64.add (local.get $total) (call $varint (local.get $reqLensEnd))))
        (if (global.get $verr) (then (return (f64.const -1))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $r)))
    (local.set $i (i32.const 0))
    (global.set $vpos (local.get $dataLens))
    (block $done2
      (loop $d
        (br_if $done2 (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $total (i64.add (local.get $total) (call $varint (local.get $dataLensEnd))))
        (if (global.get $verr) (then (return (f64.const -1))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $d)))
    (f64.convert_i64_u (local.get $total)))

  ;; The payloads of a batch back in full, for readFlatBatch (engine/log/flat-batch.ts): $n entries with their
  ;; kinds and call ids ($kinds, $ids), forms ($forms), length columns (varints), and stored bytes [$in, $inEnd);
  ;; writes the payloads back to back from $out, up to $outEnd, and per kind the bytes the forms saved to $saved
  ;; (i32 each). Returns the length written, or the first fault with the entry at $saved[12]: -1 an unknown form,
  ;; -2 the stored bytes end inside a payload, -3 a request left out with no earlier request of its call id and
  ;; length, -4 data as a difference with no earlier 8-byte data of its call id, or of another length than 8,
  ;; -5 a difference that is not a varint of at most 7 bytes (or an overlong one), -6 stored bytes left over,
  ;; -7 the payloads do not fit before $outEnd (the caller asks payloadsLength and tries again with room for
  ;; them), -8 a length column does not hold $n varints (the column walk names the fault).
  (func $unpackFault (param $saved i32) (param $i i32) (param $code i32) (result i32)
    (i32.store offset=12 (local.get $saved) (local.get $i))
    (local.get $code))

  (func (export "unpackPayloads")
    (param $n i32) (param $kinds i32) (param $ids i32) (param $forms i32) (param $reqLens i32) (param $reqLensEnd i32)
    (param $dataLens i32) (param $dataLensEnd i32) (param $in i32) (param $inEnd i32) (param $out i32) (param $outEnd i32)
    (param $state i32) (param $saved i32) (result i32)
    (local $i i32) (local $o i32) (local $reqLen i32) (local $dataLen i32) (local $kind i32) (local $st i32) (local $prev i32)
    (local $form i32) (local $v i64) (local $delta i64) (local $b i32) (local $k i32) (local $save i32) (local $rp i32) (local $dp i32)
    (local $id i32) (local $s0 i32) (local $s1 i32) (local $s2 i32)
    (call $formsReset (local.get $state))
    (local.set $o (local.get $out))
    (local.set $rp (local.get $reqLens))
    (local.set $dp (local.get $dataLens))
    (global.set $verr (i32.const 0))
    (block $done
      (loop $entries
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (global.set $vpos (local.get $rp))
        (local.set $reqLen (i32.wrap_i64 (call $varint (local.get $reqLensEnd))))
        (local.set $rp (global.get $vpos))
        (global.set $vpos (local.get $dp))
        (local.set $dataLen (i32.wrap_i64 (call $varint (local.get $dataLensEnd))))
        (local.set $dp (global.get $vpos))
        (if (global.get $verr) (then (return (call $unpackFault (local.get $saved) (local.get $i) (i32.const -8)))))
        ;; Room for the whole payload (lengths are below 2^31 here, or $verr would be set: see $varint's limits).
        (if (i64.gt_u
              (i64.add (i64.extend_i32_u (local.get $o)) (i64.add (i64.extend_i32_u (local.get $reqLen)) (i64.extend_i32_u (local.get $dataLen))))
              (i64.extend_i32_u (local.get $outEnd)))
          (then (return (call $unpackFault (local.get $saved) (local.get $i) (i32.const -7)))))
        (local.set $kind (i32.load8_u (i32.add (local.get $kinds) (local.get $i))))
        (local.set $id (i32.load8_u (i32.add (local.get $ids) (local.get $i))))
        (local.set $st (i32.add (local.get $state) (i32.shl (local.get $id) (i32.const 4))))
        (local.set $prev (i32.add (i32.add (local.get $state) (i32.const 4096)) (i32.shl (local.get $id) (i32.const 3))))
        (local.set $form (i32.load8_u (i32.add (local.get $forms) (local.get $i))))
        (local.set $save (i32.const 0))
        (if (i32.gt_u (local.get $form) (i32.const 3)) (then (return (call $unpackFault (local.get $saved) (local.get $i) (i32.const -1)))))
        (if (i32.and (local.get $form) (i32.const 1))
          (then
            (if (i32.or (i32.eqz (local.get $reqLen)) (i32.ne (i32.load offset=4 (local.get $st)) (local.get $reqLen)))
              (then (return (call $unpackFault (local.get $saved) (local.get $i) (i32.const -3)))))
            (call $copy (local.get $o) (i32.load (local.get $st)) (local.get $reqLen))
            (local.set $save (local.get $reqLen)))
          (else
            (if (i32.gt_u (local.get $reqLen) (i32.sub (local.get $inEnd) (local.get $in)))
              (then (return (call $unpackFault (local.get $saved) (local.get $i) (i32.const -2)))))
            (call $copy (local.get $o) (local.get $in) (local.get $reqLen))
            (local.set $in (i32.add (local.get $in) (local.get $reqLen)))))
        (i32.store (local.get $st) (local.get $o))
        (i32.store offset=4 (local.get $st) (local.get $reqLen))
        (local.set $o (i32.add (local.get $o) (local.get $reqLen)))
        (if (i32.and (local.get $form) (i32.const 2))
          (then
            (if (i32.or (i32.ne (local.get $dataLen) (i32.const 8)) (i32.eqz (i32.load offset=8 (local.get $st))))
              (then (return (call $unpackFault (local.get $saved) (local.get $i) (i32.const -4)))))
            (local.set $delta (i64.const 0))
            (local.set $k (i32.const 0))
            (block $read
              (loop $bytes
                (if (i32.ge_u (local.get $in) (local.get $inEnd)) (then (return (call $unpackFault (local.get $saved) (local.get $i) (i32.const -5)))))
                (local.set $b (i32.load8_u (local.get $in)))
                (local.set $in (i32.add (local.get $in) (i32.const 1)))
                (local.set $delta
                  (i64.or (local.get $delta)
                    (i64.shl (i64.extend_i32_u (i32.and (local.get $b) (i32.const 0x7f))) (i64.extend_i32_u (i32.mul (local.get $k) (i32.const 7))))))
                (local.set $k (i32.add (local.get $k) (i32.const 1)))
                (if (i32.eqz (i32.and (local.get $b) (i32.const 0x80)))
                  (then
                    (if (i32.and (i32.eqz (local.get $b)) (i32.gt_u (local.get $k) (i32.const 1)))
                      (then (return (call $unpackFault (local.get $saved) (local.get $i) (i32.const -5)))))
                    (br $read)))
                (br_if $bytes (i32.lt_u (local.get $k) (i32.const 7)))
                (return (call $unpackFault (local.get $saved) (local.get $i) (i32.const -5)))))
            (local.set $v (i64.add (i64.load (local.get $prev)) (local.get $delta)))
            (i64.store align=1 (local.get $o) (local.get $v))
            (local.set $save (i32.add (local.get $save) (i32.sub (i32.const 8) (local.get $k)))))
          (else
            (if (i32.gt_u (local.get $dataLen) (i32.sub (local.get $inEnd) (local.get $in)))
              (then (return (call $unpackFault (local.get $saved) (local.get $i) (i32.const -2)))))
            (call $copy (local.get $o) (local.get $in) (local.get $dataLen))
            (local.set $in (i32.add (local.get $in) (local.get $dataLen)))
            (if (i32.eq (local.get $dataLen) (i32.const 8)) (then (local.set $v (i64.load align=1 (local.get $o)))))))
        (if (i32.eq (local.get $dataLen) (i32.const 8))
          (then
            (i64.store (local.get $prev) (local.get $v))
            (i32.store offset=8 (local.get $st) (i32.const 1))))
        (local.set $o (i32.add (local.get $o) (local.get $dataLen)))
        (if (i32.eqz (local.get $kind)) (then (local.set $s0 (i32.add (local.get $s0) (local.get $save))))
          (else (if (i32.eq (local.get $kind) (i32.const 1)) (then (local.set $s1 (i32.add (local.get $s1) (local.get $save))))
            (else (local.set $s2 (i32.add (local.get $s2) (local.get $save)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $entries)))
    (if (i32.ne (local.get $in) (local.get $inEnd)) (then (return (call $unpackFault (local.get $saved) (i32.const -1) (i32.const -6)))))
    (i32.store (local.get $saved) (local.get $s0))
    (i32.store offset=4 (local.get $saved) (local.get $s1))
    (i32.store offset=8 (local.get $saved) (local.get $s2))
    (i32.sub (local.get $o) (local.get $out)))
)
