// V8 flags per twinstep command (plain JavaScript: the launcher imports it before any loader), set by scripts/twinstep.mjs before the CLI compiles any guest, and by the benchmark, which
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
import { setFlagsFromString } from 'node:v8';

const batchCommands = new Set(['run', 'record', 'replay']);
const pairCommands = new Set(['primary', 'secondary']);

/** The V8 flags `twinstep COMMAND` runs with. */
export function v8FlagsFor(command) {
  if (batchCommands.has(command)) return ['--no-liftoff'];
  if (pairCommands.has(command)) return ['--no-liftoff', '--no-wasm-lazy-compilation'];
  return [];
}

/** Sets them in this process (before any guest is compiled: a module compiled earlier keeps how it was compiled). */
export function applyV8Flags(command) {
  for (const f of v8FlagsFor(command)) setFlagsFromString(f);
}
