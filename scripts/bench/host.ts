/**
 * The bench host itself (`npm run bench -- host`): how much a busy neighbour on another CPU slows this one.
 *
 * Recording (the encoder thread), replay (the decoder thread) and the protected pair (two processes) all run
 * two busy threads at once, and their figures assume the second thread comes for free. On some virtual
 * machines it does not: two vCPUs may share caches and memory bandwidth with each other (or with other
 * tenants), and a neighbour that streams through memory slows this thread's log codec several times, while
 * one that only computes costs nothing. These ratios say which kind of host a run was measured on, so figures
 * from two hosts (or two runs on a noisy one) can be told apart.
 *
 * Workload: the log codec over clock-read batches (encode + decode of 1024-entry batches, hash chain
 * included), the hot path of recording, replay and the pair's channel. Neighbours (worker threads): 'alu'
 * computes in registers, 'memory' streams over 64 MiB. Each is measured interleaved with runs alone.
 * Figures: host.codec_with_alu_neighbour_ratio and host.codec_with_memory_neighbour_ratio (throughput with
 * the neighbour / alone: 1.0 = no interference, 0.5 = half speed).
 *
 * Scheduling gaps: one thread per CPU reads the clock in a loop for SPIN_MS, and every jump of more than
 * GAP_MS between two reads is time the thread did not run (the host or the kernel took the CPU). An output's
 * hold is a round trip through both processes of a pair; a gap in either one lands in it whole, so on a host
 * that takes a CPU away for a few ms several times a second, about that share of holds is that much longer,
 * whatever the pair does. Figures: host.sched_gaps_per_s (per CPU), host.sched_lost_ms_per_s (per CPU) and
 * host.sched_gap_max_ms.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { EntryKind, type LogEntry } from '../../engine/log/entry.ts';
import { decodeEntryBatch, encodeEntryBatch } from '../../engine/log/entry-codec.ts';
import { median, nowMs } from './timing.ts';

const NEIGHBOUR = `
const { workerData, parentPort } = require('node:worker_threads');
const stop = new Int32Array(workerData.stop);
let x = 0;
if (workerData.kind === 'memory') {
  const a = new Float64Array(8 << 20);
  parentPort.postMessage('running');
  while (Atomics.load(stop, 0) === 0) for (let i = 0; i < a.length; i += 8) { a[i] += 1; x += a[i]; }
} else {
  parentPort.postMessage('running');
  while (Atomics.load(stop, 0) === 0) for (let i = 0; i < 1e5; i++) x = (x * 1103515245 + 12345) | 0;
}
parentPort.postMessage(x === 0.5 ? 'never' : 'stopped');
`;

const SPINNER = `
const { workerData, parentPort } = require('node:worker_threads');
const { performance } = require('node:perf_hooks');
const gaps = [];
const end = performance.now() + workerData.ms;
let last = performance.now();
for (;;) {
  const t = performance.now();
  if (t - last > workerData.gapMs) gaps.push(t - last);
  last = t;
  if (t > end) break;
}
parentPort.postMessage(gaps);
`;

/** Clock jumps longer than this count as a gap (a loop of clock reads takes well under a microsecond a turn). */
const GAP_MS = 0.5;
const SPIN_MS = 2000;

/** Gaps (ms) that `threads` spinning threads saw over `ms` each, all running at once. */
async function schedulingGaps(threads: number, ms: number): Promise<number[][]> {
  return Promise.all(
    Array.from({ length: threads }, () => {
      const w = new Worker(SPINNER, { eval: true, workerData: { ms, gapMs: GAP_MS } });
      return new Promise<number[]>((resolve, reject) => {
        w.once('message', (gaps: number[]) => {
          void w.terminate();
          resolve(gaps);
        });
        w.once('error', reject);
      });
    }),
  );
}

type NeighbourKind = 'alu' | 'memory';

async function withNeighbour<T>(kind: NeighbourKind, fn: () => T): Promise<T> {
  const stop = new SharedArrayBuffer(4);
  const w = new Worker(NEIGHBOUR, { eval: true, workerData: { kind, stop } });
  try {
    await new Promise<void>((resolve, reject) => {
      w.once('message', () => resolve());
      w.once('error', reject);
    });
    return fn();
  } finally {
    Atomics.store(new Int32Array(stop), 0, 1);
    await w.terminate();
  }
}

function clockBatch(n: number): LogEntry[] {
  const request = new Uint8Array(12);
  return Array.from({ length: n }, (_, i) => {
    const data = new Uint8Array(8);
    new DataView(data.buffer).setBigUint64(0, 1_700_000_000_000_000_000n + BigInt(i) * 97n, true);
    return { seq: i, callIndex: i * 3, kind: EntryKind.Input, call: 'clock_time_get', channel: 0, request, data };
  });
}

/** Entries encoded and decoded per second over `ms` of the codec loop. */
function codecRate(batch: readonly LogEntry[], ms: number): number {
  let n = 0;
  const t0 = nowMs();
  while (nowMs() - t0 < ms) {
    decodeEntryBatch(encodeEntryBatch(batch as LogEntry[]).bytes);
    n += batch.length;
  }
  return n / ((nowMs() - t0) / 1000);
}

export async function benchHost(rounds = Number(process.env.BENCH_ROUNDS ?? 5), ms = 200): Promise<Record<string, number>> {
  const batch = clockBatch(1024);
  codecRate(batch, ms); // JIT warm-up
  const alone: number[] = [];
  const alu: number[] = [];
  const memory: number[] = [];
  for (let r = 0; r < rounds; r++) {
    alone.push(codecRate(batch, ms));
    alu.push(await withNeighbour('alu', () => codecRate(batch, ms)));
    alone.push(codecRate(batch, ms));
    memory.push(await withNeighbour('memory', () => codecRate(batch, ms)));
  }
  const base = median(alone);
  const cpus = availableParallelism();
  const gaps = await schedulingGaps(cpus, SPIN_MS);
  const all = gaps.flat();
  return {
    'host.cpus': cpus,
    'host.codec_alone_entries_per_s': Math.round(base),
    'host.codec_with_alu_neighbour_ratio': median(alu) / base,
    'host.codec_with_memory_neighbour_ratio': median(memory) / base,
    'host.sched_gaps_per_s': all.length / cpus / (SPIN_MS / 1000),
    'host.sched_lost_ms_per_s': all.reduce((a, g) => a + g, 0) / cpus / (SPIN_MS / 1000),
    'host.sched_gap_max_ms': all.length > 0 ? Math.max(...all) : 0,
  };
}

// `tsx scripts/bench/host.ts` runs this section alone.
if (import.meta.url === `file://${process.argv[1]}`) {
  for (const [k, v] of Object.entries(await benchHost())) process.stdout.write(`  ${k.padEnd(48)} ${Number.isInteger(v) ? v : v.toPrecision(4)}\n`);
}
