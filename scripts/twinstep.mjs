#!/usr/bin/env node
// The `twinstep` command: registers the TypeScript loader, sets the command's V8 flags (v8-flags.ts says why;
// before any guest is compiled, and before any other thread runs), then runs the CLI.
//
// The loader is tsx's ESM one. Its CommonJS hook starts a command about 0.3 s sooner, but code loaded through
// it ran measurably slower (the pair's secondary replayed the 4M-call bench guest in 2.35-2.47 s instead of
// 1.78-1.86), and the long-running commands are what this tool is for.
import { register } from 'tsx/esm/api';

register();
const command = process.argv[2] ?? '';
const { applyV8Flags } = await import('./v8-flags.ts');
applyV8Flags(command);
const { main } = await import('./cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
