/**
 * syncEveryBytes (trace-writer.ts): under the default fsync policy the encoder thread fsyncs as it goes, in
 * the background, so close() waits only for the tail. The writer must ask for a background fsync every N
 * bytes, only under policy 'close', never while closing, and still fsync once at close; a real file closed
 * while a background fsync runs must come out whole.
 */
import { expect } from 'chai';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EntryKind } from '../../engine/log/entry.ts';
import { FileSink, TraceWriter, type FsyncPolicy, type TraceSink } from '../../engine/log/trace-writer.ts';
import { TraceReader } from '../../engine/log/trace-reader.ts';
import type { TraceHeaderData } from '../../engine/log/trace-header.ts';

const header: TraceHeaderData = {
  vmId: 'sync', moduleHash: 1n, moduleSizeBytes: 0, args: ['g'], env: [], preopens: [], diskDigest: 0n,
  machine: { clockResolutionNs: 1000n, bootTimeNs: 0n, unwind: 'all', digestIntervalCalls: 0, digestIntervalMs: 0 },
  start: { callIndex: 0, seq: 0, checksum: 0n, snapshot: false },
};

function counting(background: boolean) {
  const c = { written: 0, syncs: 0, background: 0, closed: 0, writtenAtBackground: [] as number[] };
  const sink: TraceSink = {
    write: (b) => void (c.written += b.length),
    sync: () => void c.syncs++,
    close: () => void c.closed++,
    ...(background ? { syncInBackground: () => void (c.background++, c.writtenAtBackground.push(c.written)) } : {}),
  };
  return { c, sink };
}

function fill(w: TraceWriter, n: number): void {
  const req = Uint8Array.of(1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0);
  for (let i = 0; i < n; i++) w.add(EntryKind.Input, i, 'clock_time_get', 0, req, Uint8Array.of(i, i >> 8, 0, 0, 0, 0, 0, 0));
}

/** 5000 entries through a writer with syncEveryBytes 8192 into a counting sink, closed. */
function written(background: boolean, fsync?: FsyncPolicy) {
  const { c, sink } = counting(background);
  const w = new TraceWriter(sink, header, { syncEveryBytes: 8192, batchEntriesMax: 64, fsync });
  fill(w, 5000);
  w.close();
  return { c, w };
}

describe('trace writer: fsync as it goes (syncEveryBytes)', () => {
  it('asks for a background fsync every N bytes under policy close, and fsyncs once at close', () => {
    const { c } = written(true);
    expect(c.background).to.be.greaterThan(5);
    // Every ask came after at least N more bytes than the one before.
    for (let k = 1; k < c.writtenAtBackground.length; k++) expect(c.writtenAtBackground[k]! - c.writtenAtBackground[k - 1]!).to.be.at.least(8192);
    expect(c.background, 'about one per N bytes').to.be.at.most(Math.ceil(c.written / 8192));
    expect(c.syncs, 'the fsync of close').to.equal(1);
    expect(c.closed).to.equal(1);
  });

  it('falls back to a blocking fsync when the sink has no background one', () => {
    const { c } = written(false);
    expect(c.syncs).to.be.greaterThan(6);
  });

  for (const fsync of ['none', 'batch'] as FsyncPolicy[]) {
    it(`ignores syncEveryBytes under policy ${fsync}`, () => {
      const { c, w } = written(true, fsync);
      expect(c.background).to.equal(0);
      // Policy batch: one per batch frame (all frames but header and End) and the one of close.
      expect(c.syncs).to.equal(fsync === 'batch' ? w.stats.frames - 2 + 1 : 0);
    });
  }

  it('a real file closed while a background fsync runs comes out whole', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'twinstep-sync-'));
    try {
      const path = join(dir, 't.twt');
      const w = TraceWriter.create(path, header, { syncEveryBytes: 4096, batchEntriesMax: 32 });
      fill(w, 20_000);
      w.close();
      // Let any background fsync finish (the descriptor closes after it).
      await new Promise((r) => setTimeout(r, 100));
      const reader = TraceReader.open(path);
      try {
        expect([...reader].length).to.equal(20_000);
        expect(reader.tail.state).to.equal('clean');
      } finally {
        reader.close();
      }
      // The file sink closes a descriptor at most once, and only after its fsync.
      const sink = new FileSink((await import('node:fs')).openSync(join(dir, 'x'), 'w'));
      sink.write(Uint8Array.of(1, 2, 3));
      sink.syncInBackground();
      sink.close();
      await sink.settled();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('trace file sink: held writes (FileSink.hold / release)', () => {
  it('gathers frames written while held and writes them, in order, at release (or at sync and close)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'twinstep-hold-'));
    try {
      const path = join(dir, 'held.twt');
      const sink = new FileSink(openSync(path, 'w'));
      sink.write(Uint8Array.of(1, 2));
      sink.hold();
      sink.write(Uint8Array.of(3));
      sink.write(Uint8Array.of(4, 5, 6));
      expect([...readFileSync(path)]).to.deep.equal([1, 2]);
      sink.release();
      expect([...readFileSync(path)]).to.deep.equal([1, 2, 3, 4, 5, 6]);
      sink.hold();
      sink.write(Uint8Array.of(7));
      sink.sync();
      expect([...readFileSync(path)]).to.deep.equal([1, 2, 3, 4, 5, 6, 7]);
      sink.hold();
      sink.write(Uint8Array.of(8, 9));
      sink.close();
      expect([...readFileSync(path)]).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a trace written with every batch frame held until a release reads back the same entries', () => {
    const dir = mkdtempSync(join(tmpdir(), 'twinstep-hold-'));
    try {
      const path = join(dir, 'held.twt');
      const sink = new FileSink(openSync(path, 'w'));
      const w = new TraceWriter(sink, header, { batchEntriesMax: 100 });
      for (let round = 0; round < 5; round++) {
        sink.hold();
        fill(w, 1000);
        sink.release();
      }
      w.close();
      const r = TraceReader.open(path);
      let n = 0;
      for (const e of r) expect(e.callIndex).to.equal(n++ % 1000);
      expect(r.tail.state).to.equal('clean');
      r.close();
      expect(n).to.equal(5000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
