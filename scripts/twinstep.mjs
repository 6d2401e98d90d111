#!/usr/bin/env node
// The `twinstep` command: registers the TypeScript loader, sets the command's V8 flags (v8-flags.ts says why;
// before any guest is compiled, and before any other thread runs), starts the helper thread a record or replay
// will use, then runs the CLI.
import { register } from 'tsx/esm/api';

register();
const command = process.argv[2] ?? '';
const { applyV8Flags } = await import('./v8-flags.ts');
applyV8Flags(command);
// The helper thread boots while the CLI loads (engine/log/helper-threads.ts says why).
if (command === 'record' || command === 'replay') {
  const { startHelperThread } = await import('../engine/log/helper-threads.ts');
  startHelperThread(command === 'record' ? 'encoder' : 'decoder');
}
await import('./cli/main.ts');
