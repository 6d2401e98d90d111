/**
 * `npm start`: a protected pair on loopback, shown live.
 *   1. a secondary and a primary start (the secondary gets the guest from the primary's first transfer);
 *   2. the primary runs the ticker guest; its outputs are released as the secondary acks the log;
 *   3. a divergence injected into the secondary's replay is detected and resynced;
 *   4. the primary is killed with SIGKILL; the secondary takes the lease, finishes the log and goes live;
 *   5. a summary checks that the world saw every line, in order, with repeats only at the failover, and that
 *      both status pages (--status-listen) told the story: the primary protected, the survivor taking over.
 * Finishes by itself; exits non-zero if any check fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadModule } from '../engine/wasi/loader.ts';

const root = new URL('../', import.meta.url).pathname;
const cli = join(root, 'scripts/twinstep.mjs');
const guest = join(root, 'guests/build/c/ticker.wasm');
const LINES = 120;
const INTERVAL_MS = 25;
const KILL_AFTER_LINES = 70;

const dim = (s: string) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const say = (s: string) => process.stdout.write(`${bold('demo')} ${s}\n`);

interface Side {
  child: ChildProcess;
  out: string[];
  err: string;
  exited: Promise<number | null>;
}

function start(name: string, args: string[], cwd: string, onLine: (l: string) => void): Side {
  const child = spawn(process.execPath, [cli, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const side: Side = { child, out: [], err: '', exited: new Promise((r) => child.on('exit', (c) => r(c))) };
  let partial = '';
  child.stdout!.on('data', (d: Buffer) => {
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop()!;
    for (const l of parts) {
      side.out.push(l);
      onLine(l);
    }
  });
  let errPartial = '';
  child.stderr!.on('data', (d: Buffer) => {
    side.err += d.toString();
    errPartial += d.toString();
    const parts = errPartial.split('\n');
    errPartial = parts.pop()!;
    for (const l of parts) {
      // Status lines every second are noise here; role changes, resyncs and go-live are the story.
      if (!/ status: | error E_(STALE|EPOCH|LEASE_DENIED|PEER_LOST)/.test(l)) process.stdout.write(`  ${dim(l)}\n`);
    }
  });
  void name;
  return side;
}

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The status page address a node printed (--status-listen), or '' before it did. */
function statusUrl(stderr: string): string {
  return /status page at (http:\/\/[^ ]+\/) /.exec(stderr)?.[1] ?? '';
}

/** A node's /metrics as sample -> value (empty when it cannot be read). */
async function metrics(url: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (!url) return out;
  try {
    const text = await (await fetch(url + 'metrics')).text();
    for (const line of text.split('\n')) {
      const m = /^([^#\s][^ ]*) (\S+)$/.exec(line);
      if (m) out.set(m[1]!, Number(m[2]));
    }
  } catch {
    // The node is gone or not serving yet: nothing to show.
  }
  return out;
}

function ms(seconds: number | undefined): string {
  return seconds === undefined || Number.isNaN(seconds) ? '-' : `${(seconds * 1000).toFixed(2)} ms`;
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'twinstep-demo-'));
  writeFileSync(join(dir, 'secret'), randomBytes(32));
  say(`preparing the guest ${guest.replace(root, '')} (Asyncify instrumentation is cached after the first run)`);
  await loadModule(readFileSync(guest), 'all');

  say('starting the secondary (it has no copy of the guest; a divergence will be injected into its replay at entry 60)');
  let world: string[] = [];
  const secondary = start('secondary', ['secondary', '--listen', '127.0.0.1:0', '--secret-file', 'secret', '--inject', 'output@60', '--digest-every', '64', '--status-listen', '127.0.0.1:0'], dir, (l) => {
    world.push(l);
    process.stdout.write(`${bold('world')} ${l}   ${dim('(from the secondary, after go-live)')}\n`);
  });
  let url = '';
  await until(() => {
    const m = /listening on (ws:\/\/[0-9.]+:\d+)/.exec(secondary.err);
    if (m) url = m[1];
    return url !== '';
  }, 30_000, 'the secondary to listen');

  say(`starting the primary: ticker prints ${LINES} lines, one every ${INTERVAL_MS} ms, each released only after the secondary acked its log entry`);
  let killedAt = 0;
  let firstAfterKill = 0;
  const primary = start('primary', ['primary', '--peer', url, '--secret-file', 'secret', '--digest-every', '64', '--status-listen', '127.0.0.1:0', guest, String(LINES), String(INTERVAL_MS)], dir, (l) => {
    world.push(l);
    process.stdout.write(`${bold('world')} ${l}\n`);
  });
  const secondaryOut = () => secondary.out.length;
  await until(() => primary.out.length >= KILL_AFTER_LINES || primary.child.exitCode !== null, 60_000, 'the primary to print');

  // What an operator's monitoring saw just before the crash: the primary's metrics endpoint.
  const before = await metrics(statusUrl(primary.err));
  if (before.size > 0) {
    say(
      `the primary's /metrics: protected ${before.get('twinstep_protected')}, ${before.get('twinstep_outputs_released_total')} outputs released, ` +
        `hold p99 over the last second ${ms(before.get('twinstep_output_hold_seconds{quantile="0.99"}'))}, resync checkpoints ${before.get('twinstep_checkpoints_total{kind="diff"}')}`,
    );
  }
  say(bold(`kill -9 the primary after ${primary.out.length} released lines`));
  primary.child.kill('SIGKILL');
  killedAt = Date.now();
  await primary.exited;
  await until(() => secondaryOut() > 0, 20_000, 'the secondary to go live');
  firstAfterKill = Date.now();
  const after = await metrics(statusUrl(secondary.err));
  const tookOver = after.get('twinstep_took_over') === 1;
  if (after.size > 0) say(`the survivor's /metrics: took over ${after.get('twinstep_took_over')}, lease held ${after.get('twinstep_lease_held')}, epoch ${after.get('twinstep_epoch')}`);
  const code = await secondary.exited;

  const nums = world.map((l) => Number(/^tick (\d+)$/.exec(l)?.[1] ?? NaN));
  const seen = new Set(nums);
  const missing = Array.from({ length: LINES }, (_, i) => i + 1).filter((n) => !seen.has(n));
  const inOrder = nums.every((n, i) => i === 0 || n >= nums[i - 1] || nums[i - 1] - n < 64);
  const repeats = nums.length - seen.size;
  const resyncs = (primary.err.match(/resync-done/g) ?? []).length;
  const ok = missing.length === 0 && inOrder && code === 0 && resyncs >= 1 && tookOver;

  process.stdout.write('\n');
  say(bold('summary'));
  process.stdout.write(
    [
      `  lines the world saw:      ${nums.length} (${primary.out.length} released by the primary, ${secondary.out.length} by the secondary after go-live)`,
      `  missing lines:            ${missing.length ? missing.join(', ') : 'none'}`,
      `  repeated at failover:     ${repeats} (bound: the primary's held outputs at the moment it died)`,
      `  divergences resynced:     ${resyncs}`,
      `  failover (kill -> first output from the secondary): ${firstAfterKill - killedAt} ms`,
      `  status pages:             ${before.get('twinstep_protected') === 1 ? 'the primary reported itself protected' : 'the primary did not report itself protected'}; ${tookOver ? 'the survivor reported that it took over' : 'the survivor did not report a take-over'}`,
      `  guest exit code:          ${code}`,
      `  result:                   ${ok ? 'OK: nothing the world saw was lost' : 'FAILED'}`,
      '',
    ].join('\n'),
  );
  rmSync(dir, { recursive: true, force: true });
  world = [];
  return ok ? 0 : 1;
}

process.exitCode = await main().catch((e) => {
  process.stderr.write(`demo: ${(e as Error).message}\n`);
  return 1;
});
