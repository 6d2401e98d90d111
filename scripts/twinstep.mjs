#!/usr/bin/env node
// The `twinstep` command: registers the TypeScript loader, sets the command's V8 flags (v8-flags.ts says why;
// before any guest is compiled, and before any other thread runs), starts the helper thread a record or replay
// will use, then runs the CLI.
//
// The CLI's TypeScript is loaded through tsx's CommonJS hook, in this thread: tsx's ESM loader resolves and
// loads every module through hooks on a thread of their own, and a command took about 0.4 s longer to start
// that way ('twinstep run hello.wasm': 0.75-0.85 s, now about 0.35-0.45). Nothing in the CLI's sources uses
// top-level await for that reason.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
require('tsx/cjs/api').register();
const command = process.argv[2] ?? '';
require('./v8-flags.ts').applyV8Flags(command);
// The helper thread boots while the CLI loads (engine/log/helper-threads.ts says why).
if (command === 'record' || command === 'replay') require('../engine/log/helper-threads.ts').startHelperThread(command === 'record' ? 'encoder' : 'decoder');
process.exitCode = await require('./cli/main.ts').main(process.argv.slice(2));
