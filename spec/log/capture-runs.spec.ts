/**
 * Runs of repeated entries through the capture (engine/log/capture.ts): the encoder thread's reader hands a run
 * of records that differ only in call index and data to the writer at once (CaptureTarget.addRepeats). The
 * frames must be byte for byte the ones the writer makes from the same entries one add() at a time, whatever
 * the batch bounds (runs cut by entry count and by payload bytes), call-index gaps (one- to three-byte
 * deltas), data lengths (one- and two-byte length varints, unaligned sizes), result arrays (refilled, new per
 * entry, at an unaligned offset), calls that interleave, and chunk boundaries.
 */
import { expect } from 'chai';
import { EntryKind } from '../../engine/log/entry.ts';
import { CaptureChunk, CaptureReader, capturedRequests } from '../../engine/log/capture.ts';
import { TraceWriter, type TraceWriterOptions } from '../../engine/log/trace-writer.ts';
import type { TraceHeaderData } from '../../engine/log/trace-header.ts';
import { LogFormatError } from '../../engine/log/errors.ts';
import { seededRandom, testSeed } from '../support/seeded-random.ts';

const header: TraceHeaderData = {
  vmId: 'runs', moduleHash: 5n, moduleSizeBytes: 0, args: ['g'], env: [], preopens: [], diskDigest: 0n,
  machine: { clockResolutionNs: 1000n, bootTimeNs: 0n, unwind: 'all', digestIntervalCalls: 0, digestIntervalMs: 0 },
  start: { callIndex: 0, seq: 0, checksum: 0n, snapshot: false },
};

type Fields = [EntryKind, number, string, number, Uint8Array, Uint8Array];

/** A writer into memory. */
function memoryWriter(opts: TraceWriterOptions): { w: TraceWriter; bytes: () => Buffer } {
  const parts: Uint8Array[] = [];
  const w = new TraceWriter({ write: (b) => void parts.push(b.slice()) }, header, opts);
  return { w, bytes: () => Buffer.concat(parts) };
}

/**
 * A host-call-heavy stream as the host hands it out: long runs of the same call with the same request array
 * and the result in the array the host refills, broken by other calls, with call-index gaps of every size.
 */
function stream(seed: number, total: number): Fields[] {
  const rand = seededRandom(seed);
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
  const clockReq = Uint8Array.of(1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0);
  const bigReq = Uint8Array.of(200, 0, 0, 0);
  const oddReq = Uint8Array.of(7, 0, 0);
  const smallReq = Uint8Array.of(16, 0, 0, 0);
  const clockResult = new Uint8Array(8);
  // A second refilled result for the same call (a host that alternates between two arrays).
  const otherClockResult = new Uint8Array(8);
  const bigResult = new Uint8Array(200);
  const oddResult = new Uint8Array(5);
  // A refilled 8-byte result at an offset that is not a word boundary (no word view: the general path).
  const unalignedResult = new Uint8Array(new ArrayBuffer(16), 1, 8);
  const out: Fields[] = [];
  let index = 0;
  while (out.length < total) {
    const r = rand();
    const run = 1 + Math.floor(rand() * (rand() < 0.2 ? 3000 : 40));
    // undefined result: a new array per entry, as a host that allocates its result each time (random bytes).
    const pick =
      r < 0.4 ? ([clockReq, clockResult, 'clock_time_get'] as const)
      : r < 0.5 ? ([clockReq, otherClockResult, 'clock_time_get'] as const)
      : r < 0.65 ? ([bigReq, bigResult, 'random_get'] as const)
      : r < 0.75 ? ([smallReq, undefined, 'random_get'] as const)
      : r < 0.85 ? ([clockReq, unalignedResult, 'clock_res_get'] as const)
      : ([oddReq, oddResult, 'fd_read'] as const);
    for (let k = 0; k < run && out.length < total; k++) {
      const g = rand();
      index += g < 0.9 ? 1 : g < 0.97 ? 100 + Math.floor(rand() * 300) : 20_000 + Math.floor(rand() * 10_000);
      const result = pick[1] ?? new Uint8Array(16);
      result.set(bytes(result.length));
      // The host refills its result array: what the entry logs is a copy, taken at add time.
      out.push([EntryKind.Input, index, pick[2], 0, pick[0], result]);
    }
    // Something that breaks the run: an output, a digest, or a fresh request.
    const b = rand();
    index += 1;
    if (b < 0.3) out.push([EntryKind.Output, index, 'fd_write', 1, new Uint8Array(0), bytes(1 + Math.floor(rand() * 60))]);
    else if (b < 0.4) out.push([EntryKind.Digest, index, '', 0, new Uint8Array(0), bytes(8)]);
    else out.push([EntryKind.Input, index, 'clock_time_get', 0, bytes(12), bytes(8)]);
  }
  return out.slice(0, total);
}

/** The entries one add() at a time, and through capture chunks of `chunkBytes` read back into a writer. */
function both(entries: readonly Fields[], opts: TraceWriterOptions, chunkBytes: number) {
  const direct = memoryWriter(opts);
  const captured = memoryWriter(opts);
  const requests = capturedRequests();
  const reader = new CaptureReader();
  let chunk = new CaptureChunk(requests, chunkBytes);
  let read = 0;
  for (const e of entries) {
    // The host's arrays are refilled after the call: the direct writer copies at once, the chunk too.
    direct.w.add(...e);
    if (!chunk.add(...e)) {
      read += reader.read(chunk.buf, chunk.pos, captured.w);
      chunk = new CaptureChunk(requests, chunkBytes);
      expect(chunk.add(...e)).to.equal(true);
    }
  }
  read += reader.read(chunk.buf, chunk.pos, captured.w);
  direct.w.close();
  captured.w.close();
  return { direct, captured, read };
}

describe('capture runs (repeated entries read at once)', function () {
  this.timeout(60_000);
  const seed = testSeed();
  const settings: Array<[string, TraceWriterOptions, number]> = [
    ['default batches', {}, 256 * 1024],
    ['small batches by count', { batchEntriesMax: 37 }, 256 * 1024],
    ['batches cut by bytes', { batchEntriesMax: 5000, batchBytesMax: 1000 }, 256 * 1024],
    ['small chunks', { batchEntriesMax: 300 }, 4096],
  ];
  for (const [name, opts, chunkBytes] of settings) {
    it(`writes the bytes of one add() per entry: ${name} (seed ${seed})`, () => {
      const entries = stream(seed, 30_000);
      const { direct, captured, read } = both(entries, { ...opts, fsync: 'none' }, chunkBytes);
      expect(read, `seed ${seed}`).to.equal(entries.length);
      expect(captured.w.stats, `seed ${seed}: statistics`).to.deep.equal(direct.w.stats);
      expect(Buffer.compare(captured.bytes(), direct.bytes()), `seed ${seed}: trace bytes`).to.equal(0);
      expect(captured.w.rangePayloadBytes, `seed ${seed}`).to.equal(entries.reduce((n, e) => n + e[4].length + e[5].length, 0));
    });
  }

  it('takes runs at once: a clock-read stream reaches the writer in a few calls', () => {
    const entries = stream(3, 5000).filter((e) => e[2] === 'clock_time_get' && e[4].length === 12 && e[4][0] === 1);
    const calls = { range: 0, repeats: 0 };
    const requests = capturedRequests();
    const chunk = new CaptureChunk(requests);
    for (const e of entries) expect(chunk.add(...e)).to.equal(true);
    const n = new CaptureReader().read(chunk.buf, chunk.pos, {
      addRange: () => void calls.range++,
      addRepeats: (_k, _id, _c, _ch, _r, _s, _i, _a, _st, _d, count) => void (calls.repeats += count),
    });
    expect(n).to.equal(entries.length);
    expect(calls.range + calls.repeats).to.equal(entries.length);
    expect(calls.range, 'only the first entry and short runs go one by one').to.be.lessThan(entries.length / 100);
  });

  it('refuses a run whose call index goes backwards and leaves the batch as it was', () => {
    const req = Uint8Array.of(1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0);
    const data = new Uint8Array(8);
    const requests = capturedRequests();
    const chunk = new CaptureChunk(requests);
    for (const i of [5, 6, 7, 3, 8, 9]) expect(chunk.add(EntryKind.Input, i, 'clock_time_get', 0, req, data)).to.equal(true);
    const { w } = memoryWriter({ fsync: 'none' });
    w.add(EntryKind.Input, 1, 'clock_time_get', 0, req, data);
    expect(() => new CaptureReader().read(chunk.buf, chunk.pos, w)).to.throw(LogFormatError, /call index 3 must be a safe integer >= 7/);
    // Entries before the refused run are in; nothing of the run is.
    expect(w.pendingEntries).to.equal(2);
    expect(w.pendingBytes).to.equal(40);
  });

  for (const bad of [7.5, 2 ** 53, Number.NaN, Infinity]) {
    it(`refuses a run with call index ${bad} (not a safe integer) and keeps nothing of it`, () => {
      const req = Uint8Array.of(1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0);
      const data = new Uint8Array(8);
      const chunk = new CaptureChunk(capturedRequests());
      for (const i of [5, 6, 7, bad, 9, 10]) expect(chunk.add(EntryKind.Input, i, 'clock_time_get', 0, req, data)).to.equal(true);
      const { w } = memoryWriter({ fsync: 'none' });
      w.add(EntryKind.Input, 1, 'clock_time_get', 0, req, data);
      expect(() => new CaptureReader().read(chunk.buf, chunk.pos, w)).to.throw(LogFormatError, new RegExp(`call index ${String(bad)} must be a safe integer >= 7`));
      expect(w.pendingEntries).to.equal(2);
    });
  }
});
