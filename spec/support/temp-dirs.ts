/**
 * Temporary directories for specs and their helpers, removed when the test process exits: a pair's lease and
 * secret, a guest's scratch files, an instrumentation cache. Made with mkdtempSync and left behind, they added up
 * to megabytes per suite run (a snapshot spec's alone took 8 MB), run after run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];

/** A fresh directory under the system's temporary directory, named from `prefix`; gone once the process exits. */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  if (made.length === 0) process.on('exit', removeAll);
  made.push(d);
  return d;
}

function removeAll(): void {
  for (const d of made.splice(0)) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      // Still in use by a child that outlived the run, or gone already: nothing to do at exit.
    }
  }
}
