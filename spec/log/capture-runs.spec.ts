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
import { callId } from '../../engine/log/call-table.ts';
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
function both(entries: readonly Fields[], opts: TraceWriterOptions, chunkBytes: number, packRuns = false) {
  const direct = memoryWriter(opts);
  const captured = memoryWriter(opts);
  const requests = capturedRequests();
  const reader = new CaptureReader();
  let chunk = new CaptureChunk(requests, chunkBytes, undefined, packRuns);
  let read = 0;
  let captureBytes = 0;
  for (const e of entries) {
    // The host's arrays are refilled after the call: the direct writer copies at once, the chunk too.
    direct.w.add(...e);
    if (!chunk.add(...e)) {
      read += reader.read(chunk.buf, chunk.pos, captured.w);
      captureBytes += chunk.pos;
      chunk = new CaptureChunk(requests, chunkBytes, undefined, packRuns);
      expect(chunk.add(...e)).to.equal(true);
    }
  }
  read += reader.read(chunk.buf, chunk.pos, captured.w);
  captureBytes += chunk.pos;
  direct.w.close();
  captured.w.close();
  return { direct, captured, read, captureBytes };
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
  for (const [name, opts, chunkBytes] of settings) for (const packRuns of [false, true]) {
    it(`writes the bytes of one add() per entry: ${name}${packRuns ? ', packed runs' : ''} (seed ${seed})`, () => {
      const entries = stream(seed, 30_000);
      const { direct, captured, read, captureBytes } = both(entries, { ...opts, fsync: 'none' }, chunkBytes, packRuns);
      // Packed runs take fewer chunk bytes than the same entries unpacked (a clock read: 8 bytes against 32).
      if (packRuns) {
        const unpacked = both(entries, { ...opts, fsync: 'none' }, chunkBytes, false).captureBytes;
        expect(captureBytes, `seed ${seed}: chunk bytes, packed against unpacked`).to.be.lessThan(unpacked);
      }
      expect(read, `seed ${seed}`).to.equal(entries.length);
      expect(captured.w.stats, `seed ${seed}: statistics`).to.deep.equal(direct.w.stats);
      expect(Buffer.compare(captured.bytes(), direct.bytes()), `seed ${seed}: trace bytes`).to.equal(0);
      expect(captured.w.rangePayloadBytes, `seed ${seed}`).to.equal(entries.reduce((n, e) => n + e[4].length + e[5].length, 0));
    });
  }

  for (const packRuns of [false, true]) {
    it(`takes runs at once: a clock-read stream reaches the writer in a few calls${packRuns ? ' (packed runs)' : ''}`, () => {
      // At consecutive call indices (a packed run ends where the call index jumps).
      const entries = stream(3, 5000)
        .filter((e) => e[2] === 'clock_time_get' && e[4].length === 12 && e[4][0] === 1)
        .map((e, i): Fields => [e[0], 10 + i, e[2], e[3], e[4], e[5]]);
      const calls = { range: 0, repeats: 0, packed: 0 };
      const requests = capturedRequests();
      const chunk = new CaptureChunk(requests, undefined, undefined, packRuns);
      for (const e of entries) expect(chunk.add(...e)).to.equal(true);
      const n = new CaptureReader().read(chunk.buf, chunk.pos, {
        addRange: () => void calls.range++,
        addRepeats: (_k, _id, _c, _ch, _r, _s, _i, _a, _st, _d, count) => void (calls.repeats += count),
        addPacked: (_k, _id, _c, _ch, _r, _s, _a, _f, _d, count) => void (calls.packed += count),
      });
      expect(n).to.equal(entries.length);
      expect(calls.range + calls.repeats + calls.packed).to.equal(entries.length);
      if (!packRuns) expect(calls.range, 'only the first entry and short runs go one by one').to.be.lessThan(entries.length / 100);
      // Packed, a run also ends where the host hands a different result array (the stream alternates two): the entry
      // there goes the general way, and so does a run of fewer than four.
      const switches = entries.filter((e, i) => i > 0 && e[5] !== entries[i - 1]![5]).length;
      if (packRuns) expect(calls.range, `${switches} switches of result array`).to.be.at.most(4 * (switches + 1)).and.lessThan(entries.length / 50);
      // Packed, a run costs its entries' data (8 bytes each) and a header; unpacked, a 32-byte record each.
      if (packRuns) {
        expect(calls.repeats).to.equal(0);
        expect(chunk.pos, 'bytes of the packed chunk').to.be.lessThan(entries.length * 12);
      } else {
        expect(calls.packed).to.equal(0);
        expect(chunk.pos).to.be.at.least(entries.length * 32);
      }
    });
  }

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

describe('packed runs (capture chunks of a recording)', () => {
  const req = Uint8Array.of(1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0);

  /** A packing chunk with a clock read and then `n` repeats at consecutive call indices from 10. */
  function packed(n: number): CaptureChunk {
    const chunk = new CaptureChunk(capturedRequests(), 4096, undefined, true);
    const data = new Uint8Array(8);
    for (let i = 0; i <= n; i++) {
      data[0] = i;
      expect(chunk.add(EntryKind.Input, 9 + i, 'clock_time_get', 0, req, data)).to.equal(true);
    }
    return chunk;
  }

  it('packs a repeated 8-byte result into 8 bytes an entry, and a jump in call index or a new request opens a record', () => {
    // The first two entries go the general way (the second is when the result array shows it comes back).
    expect(packed(101).pos - packed(2).pos, '99 more entries').to.equal(99 * 8);
    const chunk = packed(10);
    const before = chunk.pos;
    const data = new Uint8Array(8);
    // The same call at a later index: a new run (its header, then its data).
    expect(chunk.add(EntryKind.Input, 100, 'clock_time_get', 0, req, data)).to.equal(true);
    const { w, bytes } = memoryWriter({ fsync: 'none' });
    const n = new CaptureReader().read(chunk.buf, chunk.pos, w);
    expect(n).to.equal(12);
    expect(chunk.pos - before).to.be.greaterThan(8);
    w.close();
    // The same entries one add() at a time.
    const direct = memoryWriter({ fsync: 'none' });
    const d = new Uint8Array(8);
    for (let i = 0; i <= 10; i++) {
      d[0] = i;
      direct.w.add(EntryKind.Input, 9 + i, 'clock_time_get', 0, req, d);
    }
    direct.w.add(EntryKind.Input, 100, 'clock_time_get', 0, req, new Uint8Array(8));
    direct.w.close();
    expect(Buffer.compare(bytes(), direct.bytes())).to.equal(0);
  });

  it('stops at a chunk\'s end: the entry that does not fit is refused whole', () => {
    const chunk = new CaptureChunk(capturedRequests(), 256, undefined, true);
    const data = new Uint8Array(8);
    let added = 0;
    while (chunk.add(EntryKind.Input, 5 + added, 'clock_time_get', 0, req, data)) added++;
    expect(chunk.pos).to.be.at.most(256);
    expect(chunk.entries).to.equal(added);
    expect(new CaptureReader().read(chunk.buf, chunk.pos, memoryWriter({ fsync: 'none' }).w)).to.equal(added);
  });

  const runAt = 80;

  /** Reading a chunk whose packed run was altered (word `word` of the run's record set to `value`). */
  function readAltered(word: number, value: number): () => number {
    const chunk = packed(20);
    const i32 = new Int32Array(chunk.buf);
    // The first two records are general ones (48 bytes with the request, 32 without); the run of 19 follows.
    i32[(runAt >> 2) + word] = value;
    return () => new CaptureReader().read(chunk.buf, chunk.pos, memoryWriter({ fsync: 'none' }).w);
  }

  it('reads an intact run', () => {
    expect(readAltered(6, 19)()).to.equal(21);
  });
  it('refuses a run of no entries', () => {
    expect(readAltered(6, 0)).to.throw(/packed run at 80 of 0 entries/);
  });
  it('refuses a run whose count goes past the chunk', () => {
    expect(readAltered(6, 20)).to.throw(/packed run at 80 \(20 entries of 8 bytes\) runs past/);
  });
  it('refuses a run of a data length other than 8 or 16', () => {
    expect(readAltered(5, 12)).to.throw(/packed run at 80 of 12-byte data \(8 or 16\)/);
  });
  it('refuses a run of a call whose request was never captured', () => {
    // Call id of random_get in the head word (kind Input | id << 8): no request of it came before.
    const chunk = packed(20);
    const i32 = new Int32Array(chunk.buf);
    i32[runAt >> 2] = EntryKind.Input | (callId('random_get') << 8);
    expect(() => new CaptureReader().read(chunk.buf, chunk.pos, memoryWriter({ fsync: 'none' }).w)).to.throw(/packed run at 80 repeats a request of call id \d+ never captured/);
  });
  it('refuses a run that would pass the largest safe call index, and keeps nothing of it', () => {
    const chunk = new CaptureChunk(capturedRequests(), 4096, undefined, true);
    const data = new Uint8Array(8);
    const first = Number.MAX_SAFE_INTEGER - 10;
    for (let i = 0; i < 8; i++) expect(chunk.add(EntryKind.Input, first + i, 'clock_time_get', 0, req, data)).to.equal(true);
    // The run (entries 2 to 7) says 20: its last entries would pass 2^53 - 1 (the bytes are there: the chunk is bigger).
    new Int32Array(chunk.buf)[(runAt >> 2) + 6] = 20;
    const { w } = memoryWriter({ fsync: 'none' });
    expect(() => new CaptureReader().read(chunk.buf, chunk.pos + 14 * 8, w)).to.throw(LogFormatError, /call index 9007199254740992 must be a safe integer >= 9007199254740991/);
    expect(w.pendingEntries, 'the general records before the run').to.equal(2);
  });
});
