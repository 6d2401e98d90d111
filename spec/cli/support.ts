/** Spawning the real `twinstep` CLI from the specs: repo root as cwd, a shared instrumentation cache. */
import { spawn } from 'node:child_process';


import { join } from 'node:path';
import { seededRandom } from '../support/seeded-random.ts';
import { warmCache } from '../support/pair-procs.ts';
import { tempDir } from '../support/temp-dirs.ts';

export const ROOT = new URL('../../', import.meta.url).pathname;
export const TWINSTEP = join(ROOT, 'scripts/twinstep.mjs');

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A CLI runner whose processes share one instrumentation cache (TWINSTEP_CACHE). */
export class Cli {
  readonly cache = tempDir('twinstep-cli-cache-');

  /** Instruments the modules once into the shared cache, so each CLI process starts fast (see warmCache). */
  warm(modules: readonly string[]): Promise<void> {
    return warmCache(this.cache, modules);
  }

  get env(): NodeJS.ProcessEnv {
    return { ...process.env, TWINSTEP_CACHE: this.cache };
  }

  /** Runs `twinstep ARGS...` to completion. */
  run(args: readonly string[], opts: { input?: string | Uint8Array } = {}): Promise<CliResult> {
    return new Promise((resolve, reject) => {
      const p = spawn(process.execPath, [TWINSTEP, ...args], { cwd: ROOT, env: this.env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      p.on('error', reject);
      p.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
      p.stdin.end(opts.input ?? '');
    });
  }
}

/** Runs `f` over `items` with at most `n` at a time, keeping the order of results. */
export async function pool<T, R>(items: readonly T[], n: number, f: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

/** A small seeded generator: test randomness only, printed with every failure. */
export const rng = seededRandom;

/** A readable dump of a CLI result for assertion messages. */
export function show(r: CliResult): string {
  return `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}\n--- stdout\n${r.stdout.slice(-2000)}\n--- stderr\n${r.stderr.slice(-2000)}`;
}
