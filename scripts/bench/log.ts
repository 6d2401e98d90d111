/**
 * Micro-benchmark of the log formats (wired into `npm run bench` by the lead). Measures:
 *   - entries encoded+decoded per second through the batch codec (hash chain included), per workload;
 *   - bytes per entry by kind on disk (trace writer attribution, frames and headers included);
 *   - trace write and streaming read throughput.
 * Wall-clock measurement is fine here: this is a script, not engine code.
 */
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { EntryKind, type LogEntry } from '../../engine/log/entry.ts';
import { decodeEntryBatch, encodeEntryBatch } from '../../engine/log/entry-codec.ts';
import { TraceWriter } from '../../engine/log/trace-writer.ts';
import { TraceReader } from '../../engine/log/trace-reader.ts';
import { bytesPerEntry } from '../../engine/log/trace-stats.ts';
import type { TraceHeaderData } from '../../engine/log/trace-header.ts';

const header: TraceHeaderData = {
  vmId: 'bench', moduleHash: 1n, moduleSizeBytes: 0, args: [], env: [], preopens: [], diskDigest: 0n,
  machine: { clockResolutionNs: 1000n, bootTimeNs: 0n, unwind: 'all', digestIntervalCalls: 0, digestIntervalMs: 0 },
  start: { callIndex: 0, seq: 0, checksum: 0n, snapshot: false },
};

function le(bytes: number, v: bigint): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = Number((v >> BigInt(8 * i)) & 0xffn);
  return out;
}

type Maker = (seq: number) => LogEntry;
const none = new Uint8Array(0);
const makers: Record<string, Maker> = {
  clock: (seq) => ({ seq, callIndex: seq * 2, kind: EntryKind.Input, call: 'clock_time_get', channel: 0, request: le(12, 1n), data: le(8, 1_700_000_000_000_000_000n + BigInt(seq) * 997n) }),
  random: (seq) => ({ seq, callIndex: seq * 2, kind: EntryKind.Input, call: 'random_get', channel: 0, request: le(4, 16n), data: le(16, BigInt(seq) * 0x9e3779b97f4a7c15n) }),
  output: (seq) => ({ seq, callIndex: seq * 2, kind: EntryKind.Output, call: 'fd_write', channel: 1, request: none, data: new TextEncoder().encode(`output line number ${seq}\n`) }),
  digest: (seq) => ({ seq, callIndex: seq * 2, kind: EntryKind.Digest, call: '', channel: 0, request: none, data: le(8, BigInt(seq)) }),
};

function entriesOf(make: Maker, n: number): LogEntry[] {
  return Array.from({ length: n }, (_, i) => make(i));
}

export async function benchLog(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const batch = 1024;
  // Global warm-up so the first workload is not charged with JIT compilation.
  for (const make of Object.values(makers)) {
    const entries = entriesOf(make, batch);
    for (let i = 0; i < 30; i++) decodeEntryBatch(encodeEntryBatch(entries).bytes);
  }
  for (const [name, make] of Object.entries(makers)) {
    const entries = entriesOf(make, batch);
    // Warm up, then time whole batches until ~300 ms have passed.
    for (let i = 0; i < 5; i++) decodeEntryBatch(encodeEntryBatch(entries).bytes);
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < 300) {
      decodeEntryBatch(encodeEntryBatch(entries).bytes);
      n += batch;
    }
    out[`log.codec.${name}.entriesPerSec`] = Math.round(n / ((performance.now() - t0) / 1000));

    const w = new TraceWriter({ write: () => {} }, header, { fsync: 'none', batchEntriesMax: batch });
    for (const e of entriesOf(make, 10 * batch)) w.append(e);
    w.close();
    const kind = make(0).kind;
    out[`log.trace.${name}.bytesPerEntry`] = Math.round(bytesPerEntry(w.stats, kind) * 100) / 100;
  }

  // Trace write + streaming read of a mixed workload, in memory.
  const names = Object.keys(makers);
  const mixed: LogEntry[] = Array.from({ length: 200_000 }, (_, i) => ({ ...makers[names[i % 10 < 5 ? 0 : i % 10 < 8 ? 1 : i % 10 < 9 ? 2 : 3]!]!(i), seq: i, callIndex: i * 2 }));
  const chunks: Uint8Array[] = [];
  let t = performance.now();
  const w = new TraceWriter({ write: (b) => chunks.push(b.slice()) }, header, { fsync: 'none' });
  for (const e of mixed) w.append(e);
  w.close();
  out['log.trace.write.entriesPerSec'] = Math.round(mixed.length / ((performance.now() - t) / 1000));
  out['log.trace.mixed.bytesPerEntry'] = Math.round((w.stats.bytesTotal / mixed.length) * 100) / 100;
  const bytes = new Uint8Array(Buffer.concat(chunks));
  t = performance.now();
  const r = TraceReader.fromBytes(bytes);
  let count = 0;
  while (r.next()) count++;
  out['log.trace.read.entriesPerSec'] = Math.round(count / ((performance.now() - t) / 1000));
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  benchLog().then((r) => console.log(r));
}
