/**
 * FileSink (trace-writer.ts): what reaches the file is every write and every frame, whole and in order, whether
 * the sink holds (the encoder thread holds a capture chunk's frames and writes them with one call) or not; and
 * since the writer reuses a frame's header and payload arrays as soon as writeFrame returns (and the sink copies
 * what it holds), changing them afterwards must not change the file. A trace written through writeFrame (the
 * default FileSink) reads back the same as one written through plain write() calls.
 */
import { expect } from 'chai';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EntryKind } from '../../engine/log/entry.ts';
import { FileSink, TraceWriter } from '../../engine/log/trace-writer.ts';
import { TraceReader } from '../../engine/log/trace-reader.ts';
import type { TraceHeaderData } from '../../engine/log/trace-header.ts';
import { seededRandom, testSeed } from '../support/seeded-random.ts';

const header: TraceHeaderData = {
  vmId: 'sink', moduleHash: 2n, moduleSizeBytes: 0, args: ['g'], env: [], preopens: [], diskDigest: 0n,
  machine: { clockResolutionNs: 1000n, bootTimeNs: 0n, unwind: 'all', digestIntervalCalls: 0, digestIntervalMs: 0 },
  start: { callIndex: 0, seq: 0, checksum: 0n, snapshot: false },
};

describe('FileSink', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'twinstep-sink-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes every write and frame in order, held or not, and never the bytes changed after the call', () => {
    const seed = testSeed();
    const rand = seededRandom(seed);
    const path = join(dir, `order-${seed}.bin`);
    const sink = new FileSink(openSync(path, 'w'));
    const expected: Uint8Array[] = [];
    const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
    // One header and one payload array, refilled for every frame, as the writer does.
    const head = new Uint8Array(16);
    const body = new Uint8Array(300_000);
    for (let round = 0; round < 40; round++) {
      const held = rand() < 0.6;
      if (held) sink.hold();
      const parts = 1 + Math.floor(rand() * 6);
      for (let k = 0; k < parts; k++) {
        if (rand() < 0.5) {
          const b = bytes(1 + Math.floor(rand() * 5000));
          sink.write(b);
          expected.push(b.slice());
        } else {
          head.set(bytes(16));
          // Sometimes larger than the staging buffer's first size, so it has to grow.
          const n = rand() < 0.1 ? 200_000 + Math.floor(rand() * 100_000) : Math.floor(rand() * 20_000);
          body.set(bytes(n));
          const payload = body.subarray(0, n);
          sink.writeFrame(head, payload);
          expected.push(head.slice(), payload.slice());
          // The caller reuses its arrays at once.
          head.fill(0xee);
          body.fill(0xdd, 0, n);
        }
      }
      if (held) sink.release();
    }
    sink.close();
    const got = readFileSync(path);
    const want = Buffer.concat(expected);
    expect(got.length, `seed ${seed}`).to.equal(want.length);
    expect(Buffer.compare(got, want), `seed ${seed}: file bytes`).to.equal(0);
  });

  it('a trace written through frames reads back as one written through plain writes', () => {
    const req = Uint8Array.of(1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0);
    const write = (path: string, plain: boolean) => {
      const file = new FileSink(openSync(path, 'w'));
      // A sink without writeFrame: the writer joins header and payload itself.
      const sink = plain ? { write: (b: Uint8Array) => file.write(b), sync: () => file.sync(), close: () => file.close() } : file;
      const w = new TraceWriter(sink, header, { batchEntriesMax: 1000 });
      for (let i = 0; i < 25_000; i++) w.add(i % 97 === 0 ? EntryKind.Output : EntryKind.Input, i, i % 97 === 0 ? 'fd_write' : 'clock_time_get', i % 97 === 0 ? 1 : 0, i % 97 === 0 ? new Uint8Array(0) : req, Uint8Array.of(i, i >> 8, i >> 16, 0, 0, 0, 0, 0));
      w.close();
      return w.stats;
    };
    const a = join(dir, 'frames.twt');
    const b = join(dir, 'plain.twt');
    const sa = write(a, false);
    const sb = write(b, true);
    expect(sa).to.deep.equal(sb);
    expect(Buffer.compare(readFileSync(a), readFileSync(b)), 'the same bytes').to.equal(0);
    const reader = TraceReader.open(a);
    try {
      const entries = [...reader];
      expect(reader.tail.state).to.equal('clean');
      expect(entries.length).to.equal(25_000);
      expect(entries.every((e, i) => e.callIndex === i && e.data[0] === (i & 0xff))).to.equal(true);
    } finally {
      reader.close();
    }
  });
});
