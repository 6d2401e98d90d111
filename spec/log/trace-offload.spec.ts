/**
 * Recording with the encoding on the encoder thread (engine/log/trace-offload.ts): the trace must hold
 * exactly the entries and hash chain the in-thread writer writes, whatever the entries (custom call names,
 * outputs larger than a capture chunk, digests), and an encoder-thread failure must surface in the recording
 * thread. (Batch boundaries may differ at the hand-over point, where the in-thread writer's batch is written
 * early; the frames after it are the ones the in-thread writer would write.)
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EntryKind } from '../../engine/log/entry.ts';
import { LogFormatError } from '../../engine/log/errors.ts';
import { TraceWriter } from '../../engine/log/trace-writer.ts';
import { TraceReader } from '../../engine/log/trace-reader.ts';
import { OffloadingTraceWriter } from '../../engine/log/trace-offload.ts';
import type { TraceHeaderData } from '../../engine/log/trace-header.ts';
import { seededRandom } from '../support/seeded-random.ts';

const header: TraceHeaderData = {
  vmId: 'offload', moduleHash: 9n, moduleSizeBytes: 0, args: ['g'], env: [], preopens: [], diskDigest: 0n,
  machine: { clockResolutionNs: 1000n, bootTimeNs: 0n, unwind: 'all', digestIntervalCalls: 0, digestIntervalMs: 0 },
  start: { callIndex: 0, seq: 0, checksum: 0n, snapshot: false },
};

type Fields = [EntryKind, number, string, number, Uint8Array, Uint8Array];

/**
 * The requests the WASI host hands out again and again (the same array while the request is unchanged,
 * machine.ts HostCallHandler): the capture copies such a request once and marks its repeats (SAME_REQUEST).
 */
const sharedRequests = [Uint8Array.of(1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0), Uint8Array.of(0, 0, 0, 0, 232, 3, 0, 0, 0, 0, 0, 0)];
const sharedRandomRequest = Uint8Array.of(16, 0, 0, 0);
/** The host's clock result array, refilled for every read (the capture's repeat case copies it as words). */
const hostClockResult = new Uint8Array(8);

/**
 * A seeded mix: clock and random inputs (fresh request and result arrays, or the host's shared ones), outputs (some
 * larger than a capture chunk), digests, custom calls.
 */
function entryAt(rand: () => number, i: number): Fields {
  const r = rand();
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
  if (r < 0.15) return [EntryKind.Input, i, 'clock_time_get', 0, bytes(12), bytes(8)];
  if (r < 0.3) {
    hostClockResult.set(bytes(8));
    return [EntryKind.Input, i, 'clock_time_get', 0, sharedRequests[0]!, hostClockResult];
  }
  if (r < 0.6) return [EntryKind.Input, i, 'clock_time_get', 0, sharedRequests[rand() < 0.9 ? 0 : 1]!, bytes(8)];
  if (r < 0.7) return [EntryKind.Input, i, 'random_get', 0, bytes(4), bytes(1 + Math.floor(rand() * 40))];
  if (r < 0.8) return [EntryKind.Input, i, 'random_get', 0, sharedRandomRequest, bytes(16)];
  if (r < 0.9) return [EntryKind.Output, i, 'fd_write', 1 + Math.floor(rand() * 2), new Uint8Array(0), bytes(rand() < 0.01 ? 300_000 : 1 + Math.floor(rand() * 100))];
  if (r < 0.95) return [EntryKind.Digest, i, '', 0, new Uint8Array(0), bytes(8)];
  return [EntryKind.Input, i, `machine_call_${Math.floor(rand() * 3)}`, 0, bytes(3), bytes(5)];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('trace encoding on the encoder thread', function () {
  this.timeout(120_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'twinstep-offload-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Adds entries, yielding now and then so the encoder thread can come up; returns entries added. */
  async function feed(w: OffloadingTraceWriter, seed: number, total: number): Promise<number> {
    const rand = seededRandom(seed);
    for (let i = 0; i < total; i++) {
      w.add(...entryAt(rand, i));
      if (i % 500 === 499 && !w.offloaded) await sleep(5);
    }
    return total;
  }

  for (const seed of [1, 2]) {
    it(`writes the same entries and chain as the in-thread writer (seed ${seed})`, async () => {
      const total = 40_000;
      const offPath = join(dir, `off-${seed}.twt`);
      const off = OffloadingTraceWriter.create(offPath, header, { offloadAfterEntries: 1000, fsync: 'none' });
      let offloadedAt = -1;
      const rand = seededRandom(seed);
      for (let i = 0; i < total; i++) {
        off.add(...entryAt(rand, i));
        if (offloadedAt < 0 && off.offloaded) offloadedAt = i;
        if (i % 500 === 499 && !off.offloaded) await sleep(5);
      }
      off.close();
      // The first test starts the thread (hand-over after 1000 entries at the earliest); later ones find it up.
      expect(offloadedAt, `seed ${seed}: the encoder thread never took over`).to.be.within(0, total - 1000);

      const inPath = join(dir, `in-${seed}.twt`);
      const inThread = TraceWriter.create(inPath, header, { fsync: 'none' });
      const again = seededRandom(seed);
      for (let i = 0; i < total; i++) inThread.add(...entryAt(again, i));
      inThread.close();

      const read = (path: string) => {
        const reader = TraceReader.open(path);
        try {
          const entries = [...reader];
          expect(reader.tail.state, `seed ${seed}: ${path}`).to.equal('clean');
          return { entries, end: reader.tail };
        } finally {
          reader.close();
        }
      };
      const a = read(offPath);
      const b = read(inPath);
      expect(a.entries.length).to.equal(total);
      for (let i = 0; i < total; i++) {
        const x = a.entries[i]!;
        const y = b.entries[i]!;
        expect([x.seq, x.callIndex, x.kind, x.call, x.channel], `seed ${seed}, entry ${i}`).to.deep.equal([y.seq, y.callIndex, y.kind, y.call, y.channel]);
        expect(Buffer.compare(x.request, y.request) === 0 && Buffer.compare(x.data, y.data) === 0, `seed ${seed}, entry ${i} bytes`).to.equal(true);
      }
      expect(a.end, `seed ${seed}: end marker (seq and chain value)`).to.deep.equal(b.end);
      expect(off.stats.entries).to.deep.equal(inThread.stats.entries);
      expect(readFileSync(offPath).length, 'sizes within a few frames of padding').to.be.closeTo(readFileSync(inPath).length, 256);
    });
  }

  it('reuses the chunk buffers the encoder thread hands back', async () => {
    const path = join(dir, 'reuse.twt');
    const w = OffloadingTraceWriter.create(path, header, { offloadAfterEntries: 1, fsync: 'none' });
    let i = 0;
    // Clock reads with the host's shared request and result arrays: 32 capture bytes each, 8192 to a chunk.
    const clock = () => {
      hostClockResult[0] = i & 0xff;
      w.add(EntryKind.Input, i++, 'clock_time_get', 0, sharedRequests[0]!, hostClockResult);
    };
    while (!w.offloaded) {
      for (let k = 0; k < 500; k++) clock();
      await sleep(5);
    }
    const before = w.chunkBuffersAllocated;
    let shipped = 0;
    while (shipped < 12) {
      const frames = w.frames;
      clock();
      if (w.frames !== frames) {
        shipped++;
        // A chunk went out: the encoder thread has time to write it and hand its buffer back.
        await sleep(20);
      }
    }
    w.close();
    // Each ship takes a handed-back buffer; before, a full chunk was replaced by a new one at every ship.
    expect(w.chunkBuffersAllocated - before, `buffers allocated over ${shipped} chunks`).to.be.at.most(4);
    const reader = TraceReader.open(path);
    const got = [...reader];
    reader.close();
    expect(got.length).to.equal(i);
    expect(got.every((e, k) => e.callIndex === k && e.data[0] === (k & 0xff))).to.equal(true);
  });

  it('raises an encoder-thread failure in the recording thread and leaves a readable prefix', async () => {
    // Make sure the thread is up, so that this writer hands over at its first entry and the cap is hit there.
    const warm = OffloadingTraceWriter.create(join(dir, 'warm.twt'), header, { offloadAfterEntries: 1, fsync: 'none' });
    await feed(warm, 4, 20_000);
    expect(warm.offloaded, 'the encoder thread came up').to.equal(true);
    expect(warm.pendingEntries, 'entries of the current chunk count as pending').to.be.greaterThan(0);
    warm.close();
    expect(warm.pendingEntries).to.equal(0);
    expect(() => warm.add(EntryKind.Digest, 1e9, '', 0, new Uint8Array(0), new Uint8Array(8)), 'a closed writer refuses entries').to.throw(LogFormatError, /closed/);
    const path = join(dir, 'capped.twt');
    const w = OffloadingTraceWriter.create(path, header, { offloadAfterEntries: 1000, traceBytesMax: 400_000, fsync: 'none' });
    let error: unknown;
    try {
      await feed(w, 3, 200_000);
      w.close();
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(LogFormatError);
    expect((error as LogFormatError).code).to.equal('E_LIMIT');
    expect((error as Error).message).to.match(/^trace encoder thread: /);
    expect(() => w.add(EntryKind.Digest, 1e9, '', 0, new Uint8Array(0), new Uint8Array(8)), 'later entries are refused with the failure').to.throw(LogFormatError, /trace encoder thread: /);
    const reader = TraceReader.open(path);
    const got = [...reader];
    reader.close();
    expect(got.length).to.be.greaterThan(0);
    expect(got.map((e) => e.seq)).to.deep.equal(got.map((_, i) => i));
  });
});
