#!/usr/bin/env node
// The `twinstep` command: registers the TypeScript loader, then runs the CLI.
import { setFlagsFromString } from 'node:v8';
import { register } from 'tsx/esm/api';

// A guest spends its life in a few long-running functions (the main loop inside _start). V8 compiles wasm
// with its baseline compiler first and never moves a function that is already running to optimised code, so
// a fresh process would run such a loop unoptimised to the end (guests/c/compute: 1.3 s instead of 1.0 s).
// The batch commands compile optimised code up front (no measurable load cost on a 2 MB module). The pair
// keeps tiered compilation: there the up-front compile delays the first outputs (output hold p99 on the
// bench ticker: 30-50 ms instead of 5 ms), and a long-running pair tiers its hot functions up anyway.
const batchCommands = new Set(['run', 'record', 'replay']);
if (batchCommands.has(process.argv[2] ?? '')) setFlagsFromString('--no-liftoff');
// The secondary compiles the guest it is sent, all of it and optimised, when it joins: before the pair is
// protected, so no output waits for it (compiled lazily, each function would compile at its first call, in
// the middle of a replay). With the baseline compiler it would replay a long compute stretch several times
// slower than the primary ran it, and the ack of an entry that arrives meanwhile waits behind that replay.
if (process.argv[2] === 'secondary') {
  setFlagsFromString('--no-liftoff');
  setFlagsFromString('--no-wasm-lazy-compilation');
}
register();
await import('./cli/main.ts');
