#!/usr/bin/env node
// The `twinstep` command: registers the TypeScript loader, then runs the CLI.
import { setFlagsFromString } from 'node:v8';
import { register } from 'tsx/esm/api';

// A guest spends its life in a few long-running functions (the main loop inside _start). V8 compiles wasm
// with its baseline compiler first and never moves a function that is already running to optimised code, so
// a fresh process would run such a loop unoptimised to the end (about 1.7x slower on guests/c/compute).
// Compiling optimised code up front costs little at load (measured on a 2 MB module: no difference).
setFlagsFromString('--no-liftoff');
register();
await import('./cli/main.ts');
