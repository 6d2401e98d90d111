/**
 * Compiles WebAssembly text to binary with Binaryen, for small hand-written test guests. Binaryen runs in the
 * process's Binaryen child (engine/wasi/binaryen-process.ts), as the loader's instrumentation does: imported
 * here, through the TypeScript loader the specs run under, it took 27 s to load.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binaryenJob } from '../../engine/wasi/binaryen-process.ts';

/** Binaryen's feature bits (binaryen.Features: MVP 0, MutableGlobals 2, BulkMemory 16, SignExt 32). */
const FEATURES = 0 | 2 | 16 | 32;

export async function wat(text: string): Promise<Uint8Array<ArrayBuffer>> {
  const dir = mkdtempSync(join(tmpdir(), 'twinstep-wat-'));
  try {
    const out = join(dir, 'm.wasm');
    const r = await binaryenJob({ op: 'wat', text, features: FEATURES, out });
    if (r.error) throw new Error(r.error.message);
    return new Uint8Array(readFileSync(out));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A guest that recurses to depth N (argument of $rec), and at every level reads the realtime clock and
 * writes one line "d=<depth> t=<low digit of clock>\n" to stdout, keeping a running sum in a mutable global
 * and on the shadow stack; exits with (sum mod 200). Pausing inside deep recursion tests stack capture.
 */
export const RECURSIVE_WAT = `
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (global $sum (mut i32) (i32.const 0))
  (global $sp (mut i32) (i32.const 60000))
  ;; line buffer at 100: "d=_ t=_\\n"
  (data (i32.const 100) "d=0 t=0\\n")
  (func $line (param $d i32)
    (local $t i64)
    (drop (call $clock (i32.const 0) (i64.const 1) (i32.const 200)))
    (local.set $t (i64.load (i32.const 200)))
    (i32.store8 (i32.const 102) (i32.add (i32.const 48) (i32.rem_u (local.get $d) (i32.const 10))))
    (i32.store8 (i32.const 106) (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $t) (i64.const 10)))))
    (global.set $sum (i32.add (global.get $sum) (i32.wrap_i64 (i64.rem_u (local.get $t) (i64.const 97)))))
    ;; iovec at 300: {ptr=100, len=8}
    (i32.store (i32.const 300) (i32.const 100))
    (i32.store (i32.const 304) (i32.const 8))
    (drop (call $fd_write (i32.const 1) (i32.const 300) (i32.const 1) (i32.const 400))))
  (func $rec (param $d i32) (result i32)
    (local $mine i32)
    ;; keep a value in a local and on the shadow stack across the calls below
    (global.set $sp (i32.sub (global.get $sp) (i32.const 4)))
    (i32.store (global.get $sp) (i32.mul (local.get $d) (i32.const 7)))
    (local.set $mine (i32.add (local.get $d) (i32.const 1000)))
    (call $line (local.get $d))
    (if (i32.gt_u (local.get $d) (i32.const 0))
      (then (drop (call $rec (i32.sub (local.get $d) (i32.const 1))))))
    (call $line (local.get $d))
    (if (i32.ne (i32.load (global.get $sp)) (i32.mul (local.get $d) (i32.const 7))) (then unreachable))
    (if (i32.ne (local.get $mine) (i32.add (local.get $d) (i32.const 1000))) (then unreachable))
    (global.set $sp (i32.add (global.get $sp) (i32.const 4)))
    (local.get $mine))
  (func (export "_start")
    (drop (call $rec (i32.const 12)))
    (call $exit (i32.rem_u (global.get $sum) (i32.const 200))))
)`;
