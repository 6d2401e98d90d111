#!/usr/bin/env node
// The `twinstep` command: sets the command's V8 flags (v8-flags.mjs says why; before any guest is compiled, and
// before any other thread runs), then runs the CLI, bundled into one JavaScript module (cli-bundle.mjs: a command
// starts in about 0.26 s instead of 0.7 through the TypeScript loader), or through the loader when there is no
// bundle to be had.
//
// The loader is tsx's ESM one. Its CommonJS hook starts a command about 0.3 s sooner, but code loaded through
// it ran measurably slower (the pair's secondary replayed the 4M-call bench guest in 2.35-2.47 s instead of
// 1.78-1.86), and the long-running commands are what this tool is for.
import { applyV8Flags } from './v8-flags.mjs';
import { loadCli } from './cli-bundle.mjs';

applyV8Flags(process.argv[2] ?? '');
const { main } = await loadCli();
process.exitCode = await main(process.argv.slice(2));
// The command is over: whatever is still pending (a lease backend that never answered, a peer that never
// closed its connection) must not keep the process from ending. Output still being written gets a moment.
setTimeout(() => process.exit(), 2000).unref();
