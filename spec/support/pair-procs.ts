/**
 * Real primary/secondary processes on loopback for integration tests: each side is `node scripts/twinstep.mjs`
 * in a temp working directory (which holds the shared secret and the default file lease).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { tempDir } from './temp-dirs.ts';

export const ROOT = new URL('../../', import.meta.url).pathname;
export const CLI = join(ROOT, 'scripts/twinstep.mjs');

export interface Proc {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exited: Promise<number | null>;
}

export function startProc(args: string[], cwd: string, env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const p: Proc = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
  };
  child.stdout!.on('data', (d) => (p.stdout += d));
  child.stderr!.on('data', (d) => (p.stderr += d));
  return p;
}

/**
 * Instruments the guests into the instrumentation cache `cacheDir`, so each process started on it starts fast.
 * In a child process: loadModule's in-process cache skips writing the disk cache for a module an earlier spec
 * of this mocha process already loaded, and a process started on a cold cache spent 15-30 s instrumenting.
 */
export function warmCache(cacheDir: string, modules: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'spec/cli/warm-cache.ts'), ...modules], { cwd: ROOT, env: { ...process.env, TWINSTEP_CACHE: cacheDir }, stdio: ['ignore', 'inherit', 'pipe'] });
    let stderr = '';
    p.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`cache warm-up failed (exit ${code}): ${stderr}`))));
  });
}

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number, proc?: Proc): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${proc ? `\n--- stderr:\n${proc.stderr}` : ''}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function pairDir(): string {
  const d = tempDir('twinstep-pair-');
  // Hex text, not raw bytes: loadSecretFile drops one trailing newline, so a raw secret ending in 0x0a (1 in 256)
  // made an in-process primary that reads the file as it is (scripts/bench/pair.ts) fail the handshake forever.
  writeFileSync(join(d, 'secret'), randomBytes(32).toString('hex'));
  return d;
}

/** Starts a secondary listening on a free port; resolves once it listens, with its ws URL. */
export async function startSecondary(dir: string, extra: string[] = [], env: Record<string, string> = {}): Promise<{ proc: Proc; url: string }> {
  const proc = startProc(['secondary', '--listen', '127.0.0.1:0', '--secret-file', 'secret', ...extra], dir, env);
  let url = '';
  await waitFor('the secondary to listen', () => {
    const m = /listening on (ws:\/\/[0-9.]+:\d+)/.exec(proc.stderr);
    if (m) url = m[1];
    return url !== '' || proc.child.exitCode !== null;
  }, 20_000, proc);
  if (!url) throw new Error(`secondary did not start:\n${proc.stderr}`);
  return { proc, url };
}

export function startPrimary(dir: string, url: string, guestArgs: string[], extra: string[] = [], env: Record<string, string> = {}): Proc {
  return startProc(['primary', '--peer', url, '--secret-file', 'secret', ...extra, ...guestArgs], dir, env);
}

export function lines(s: string): string[] {
  return s.split('\n').filter((l) => l.length > 0);
}

/**
 * Checks that the world saw every numbered line 1..n in order: the primary's released output followed by the
 * survivor's output after go-live, with repeats only where the two meet. Returns the number of repeats.
 */
export function checkSequence(first: string[], second: string[], n: number, prefix = 'tick'): number {
  const num = (l: string) => {
    const m = new RegExp(`^${prefix} (\\d+)$`).exec(l);
    if (!m) throw new Error(`unexpected output line ${JSON.stringify(l)}`);
    return Number(m[1]);
  };
  const a = first.map(num);
  const b = second.map(num);
  a.forEach((v, i) => {
    if (v !== i + 1) throw new Error(`primary output is not 1..k in order at position ${i}: ${a.join(',')}`);
  });
  if (b.length === 0) {
    if (a.length !== n) throw new Error(`only ${a.length} of ${n} lines reached the world and nobody took over`);
    return 0;
  }
  b.forEach((v, i) => {
    if (v !== b[0] + i) throw new Error(`survivor output is not contiguous at position ${i}: ${b.join(',')}`);
  });
  if (b[0] > a.length + 1) throw new Error(`lines ${a.length + 1}..${b[0] - 1} were lost at the failover`);
  if (b[b.length - 1] !== n) throw new Error(`the survivor stopped at ${b[b.length - 1]}, not ${n}`);
  return a.length - b[0] + 1;
}
