// V8 flags per twinstep command, set by scripts/twinstep.mjs before the CLI compiles any guest, and by the benchmark, which
// runs the guest in its own process and must run it as the command it measures does.
//
// A guest spends its life in a few long-running functions (the main loop inside _start). V8 compiles wasm
// with its baseline compiler first and never moves a function that is already running to optimised code, so
// a fresh process would run such a loop unoptimised to the end (guests/c/compute: 1.3 s instead of 1.0 s).
// The batch commands compile optimised code up front (no measurable load cost on a 2 MB module). The pair
// compiles all of the guest, optimised, before it starts: the primary before it runs the guest, the secondary
// when it joins, so no output waits for a compile. (Compiled lazily, each function would compile at its first
// call, in the middle of the run: output hold p99 on the bench ticker went to 30-50 ms that way.) With the
// baseline compiler the primary would run a long compute stretch 1.3x slower to its end, and the secondary
// would replay it several times slower than the primary ran it while the acks of entries arriving meanwhile
// wait behind that replay.
//
// The pair's own JavaScript (the cores, the channel codec, the drivers) runs once or twice per output, a few
// hundred times a second on an output-bound guest: with V8's default tier-up budget it stayed in the
// interpreter and baseline code for seconds, at about 1 ms of CPU per output line on each side (the bench
// ticker, a line every 2 ms: 37% and 32% of a CPU). A budget of 16000 (default 132 KB of bytecode) optimises
// it after about a second: 15-18% of a CPU each, steady hold p50 0.35 -> 0.25 ms and p99 2.3 -> 1.3-2.1 ms,
// hostcalls throughput ratio 0.21 -> 0.26. The price is paid at the start: more optimising compiles in the
// pair's first second, whose outputs waited longer (first-600 hold p99 2.9 -> 4.0-4.4 ms in the bench).
import { setFlagsFromString } from 'node:v8';

const batchCommands = new Set(['run', 'record', 'replay']);
const pairCommands = new Set(['primary', 'secondary']);

/** The V8 flags `twinstep COMMAND` runs with. */
export function v8FlagsFor(command: string): string[] {
  if (batchCommands.has(command)) return ['--no-liftoff'];
  if (pairCommands.has(command)) return ['--no-liftoff', '--no-wasm-lazy-compilation', '--interrupt-budget=16000'];
  return [];
}

/** Sets them in this process (before any guest is compiled: a module compiled earlier keeps how it was compiled). */
export function applyV8Flags(command: string): void {
  for (const f of v8FlagsFor(command)) setFlagsFromString(f);
}
