#!/usr/bin/env node
// The `twinstep` command: registers the TypeScript loader, sets the command's V8 flags (v8-flags.ts says
// why; before any guest is compiled), then runs the CLI.
import { register } from 'tsx/esm/api';

register();
const { applyV8Flags } = await import('./v8-flags.ts');
applyV8Flags(process.argv[2] ?? '');
await import('./cli/main.ts');
