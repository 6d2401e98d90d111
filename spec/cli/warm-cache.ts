/**
 * Child process for the CLI specs (and the pair bench): instruments the modules named in argv into $TWINSTEP_CACHE. Run in its own
 * process because loadModule's in-process cache would skip writing the disk cache for modules that an earlier
 * spec in the same mocha process already loaded.
 */
import { readFileSync } from 'node:fs';
import { loadModule } from '../../engine/wasi/loader.ts';

for (const m of process.argv.slice(2)) await loadModule(readFileSync(m), 'all');
