#!/usr/bin/env node
// The `twinstep` command: registers the TypeScript loader, then runs the CLI.
import { setFlagsFromString } from 'node:v8';
import { register } from 'tsx/esm/api';

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
const batchCommands = new Set(['run', 'record', 'replay']);
if (batchCommands.has(process.argv[2] ?? '')) setFlagsFromString('--no-liftoff');
if (process.argv[2] === 'primary' || process.argv[2] === 'secondary') {
  setFlagsFromString('--no-liftoff');
  setFlagsFromString('--no-wasm-lazy-compilation');
}
register();
await import('./cli/main.ts');
