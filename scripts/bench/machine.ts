/**
 * Machine benchmarks (issue: the deterministic WASI machine):
 *  - twinstep run vs Node's built-in node:wasi on the same guests (time ratio),
 *  - the cost of Asyncify instrumentation (unwind 'all' and 'io' vs uninstrumented),
 *  - snapshot and restore time per MiB of guest memory,
 *  - page hashing throughput.
 */
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { loadModule, type UnwindMode } from '../../engine/wasi/loader.ts';
import { WasiMachine } from '../../engine/wasi/machine.ts';
import { liveDevices } from '../../engine/wasi/devices.ts';
import { pageDigests } from '../../engine/checkpoint/digest.ts';
import { PAUSE, type HostCallHandler } from '../../engine/machine/machine.ts';
import { interleaved, median, nowMs } from './timing.ts';

const discard: HostCallHandler = { input: (c) => c.live(), output: () => {} };

export interface GuestCase {
  readonly name: string;
  readonly path: string;
  readonly args: string[];
}

export async function runTwinstep(bytes: Uint8Array, args: string[], unwind: UnwindMode): Promise<() => void> {
  const module = await loadModule(bytes, unwind);
  return () => {
    const m = WasiMachine.create(module, { config: { args: ['guest', ...args], env: [], preopens: [] }, devices: liveDevices() });
    const r = m.run(discard);
    if (r.status !== 'exited' || r.code !== 0) throw new Error(`bench guest ended with ${JSON.stringify(r)}`);
  };
}

/** Median ms of node:wasi on a guest, measured in a child process (retried if node:wasi crashes it). */
export function nodeWasiMs(path: string, args: string[], rounds: number): number {
  const child = new URL('./node-wasi-child.ts', import.meta.url).pathname;
  for (let attempt = 1; ; attempt++) {
    const r = spawnSync(process.execPath, ['--no-warnings', '--import', 'tsx', child, path, String(rounds), ...args], { encoding: 'utf8' });
    if (r.status === 0) return median((JSON.parse(r.stdout) as { ms: number[] }).ms);
    if (attempt >= 3) throw new Error(`node:wasi baseline failed ${attempt} times (status ${r.status ?? r.signal}): ${r.stderr.slice(-500)}`);
  }
}

export async function benchMachine(guests: GuestCase[], rounds: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const g of guests) {
    const bytes = readFileSync(g.path);
    const node = nodeWasiMs(g.path, g.args, rounds);
    const t = await interleaved(rounds, {
      all: await runTwinstep(bytes, g.args, 'all'),
      io: await runTwinstep(bytes, g.args, 'io'),
      none: await runTwinstep(bytes, g.args, 'none'),
    });
    out[`${g.name}.node_wasi_ms`] = node;
    out[`${g.name}.twinstep_ms`] = t.all;
    out[`${g.name}.run_vs_node_wasi_ratio`] = t.all / node;
    out[`${g.name}.run_io_vs_node_wasi_ratio`] = t.io / node;
    out[`${g.name}.asyncify_all_cost_ratio`] = t.all / t.none;
    out[`${g.name}.asyncify_io_cost_ratio`] = t.io / t.none;
  }
  return out;
}

/** Snapshot and restore of a guest paused with `mib` MiB of touched memory. */
export async function benchSnapshot(memhogPath: string, mib: number): Promise<Record<string, number>> {
  const module = await loadModule(readFileSync(memhogPath), 'all');
  const m = WasiMachine.create(module, { config: { args: ['memhog', String(mib)], env: [], preopens: [] }, devices: liveDevices() });
  // Pause at the last host call before exit: the memory is fully touched by then.
  let calls = 0;
  const probe = WasiMachine.create(module, { config: { args: ['memhog', String(mib)], env: [], preopens: [] }, devices: liveDevices() });
  probe.run({ beforeCall: (c) => void (calls = c.index + 1), input: (c) => c.live(), output: () => {} });
  const r = m.run({ beforeCall: (c) => (c.index === calls - 1 ? PAUSE : undefined), input: (c) => c.live(), output: () => {} });
  if (r.status !== 'paused') throw new Error('memhog did not pause');
  const memMiB = m.memoryBytes / (1 << 20);
  let t0 = nowMs();
  const snap = m.snapshot();
  const snapMs = nowMs() - t0;
  let encodeMs = NaN;
  let encoded: Uint8Array | undefined;
  try {
    t0 = nowMs();
    encoded = snap.encode();
    encodeMs = nowMs() - t0;
  } catch {
    encoded = undefined;
  }
  t0 = nowMs();
  const restored = WasiMachine.restore(module, snap.state, liveDevices());
  const restoreMs = nowMs() - t0;
  if (restored.digest().root !== m.digest().root) throw new Error('restored state differs');
  return {
    'snapshot.memory_mib': memMiB,
    'snapshot.capture_ms_per_mib': snapMs / memMiB,
    'snapshot.encode_ms_per_mib': encodeMs / memMiB,
    'snapshot.encoded_bytes_per_memory_byte': encoded ? encoded.length / m.memoryBytes : NaN,
    'restore.ms_per_mib': restoreMs / memMiB,
  };
}

export function benchPageHash(mib: number): Record<string, number> {
  const buf = new Uint8Array(mib << 20);
  for (let i = 0; i < buf.length; i += 4096) buf[i] = i & 0xff;
  pageDigests(buf.subarray(0, 1 << 20));
  const t0 = nowMs();
  const rounds = 3;
  for (let r = 0; r < rounds; r++) pageDigests(buf);
  const s = (nowMs() - t0) / 1000;
  return { 'page_hash.gb_per_s': (buf.length * rounds) / s / 1e9 };
}
