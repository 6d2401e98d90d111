import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TraceWriter, type TraceSink } from '../../engine/log/trace-writer.ts';
import { TraceReader, type TraceTail } from '../../engine/log/trace-reader.ts';
import { LogFormatError } from '../../engine/log/errors.ts';
import { tracePreludeBytes } from '../../engine/log/trace-header.ts';
import { traceFormatVersion } from '../../engine/log/version.ts';
import type { LogEntry } from '../../engine/log/entry.ts';
import { clockEntry, mixedEntries, plain, testHeader } from './entries.ts';


class MemorySink implements TraceSink {
  parts: Uint8Array[] = [];
  syncs = 0;
  closed = false;
  write(bytes: Uint8Array): void {
    this.parts.push(bytes.slice());
  }
  sync(): void {
    this.syncs++;
  }
  close(): void {
    this.closed = true;
  }
  bytes(): Uint8Array {
    // A plain Uint8Array: Buffer#slice is a view, and tests copy with slice() before flipping bytes.
    return new Uint8Array(Buffer.concat(this.parts));
  }
}

export function writeTrace(entries: readonly LogEntry[], opts: { batchEntriesMax?: number; close?: boolean; snapshot?: Uint8Array } = {}): Uint8Array {
  const sink = new MemorySink();
  const w = new TraceWriter(sink, testHeader, { batchEntriesMax: opts.batchEntriesMax ?? 8, ...(opts.snapshot ? { snapshot: opts.snapshot } : {}) });
  for (const e of entries) w.append(e);
  if (opts.close === false) w.flush();
  else w.close();
  return sink.bytes();
}

function readAll(bytes: Uint8Array): { entries: LogEntry[]; tail: TraceTail; reader: TraceReader } {
  const reader = TraceReader.fromBytes(bytes, { chunkBytes: 100 });
  const entries: LogEntry[] = [];
  for (let e = reader.next(); e; e = reader.next()) entries.push(e);
  return { entries, tail: reader.tail, reader };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof LogFormatError) return err.code;
    throw err;
  }
  return undefined;
}

describe('trace files', () => {
  const entries = mixedEntries(50);

  it('round-trips header and entries, and ends clean', () => {
    const { entries: got, tail, reader } = readAll(writeTrace(entries));
    expect(reader.formatVersion).to.equal(traceFormatVersion);
    expect(reader.header).to.deep.equal(testHeader);
    expect(got.map(plain)).to.deep.equal(entries.map(plain));
    expect(tail.state).to.equal('clean');
    reader.assertComplete();
  });

  it('writes to and reads from a real file (sync pull API, fsync on close)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'twinstep-trace-'));
    try {
      const path = join(dir, 't.twt');
      const w = TraceWriter.create(path, testHeader, { fsync: 'batch', batchEntriesMax: 7 });
      for (const e of entries) w.append(e);
      w.close();
      expect(statSync(path).size).to.equal(w.stats.bytesTotal);
      const r = TraceReader.open(path, { chunkBytes: 64 });
      const got = [...r];
      r.close();
      expect(got.map(plain)).to.deep.equal(entries.map(plain));
      expect(r.tail.state).to.equal('clean');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a trace may start mid-run with a snapshot frame and a chain seed', () => {
    const sink = new MemorySink();
    const start = { callIndex: 500, seq: 1000, checksum: 0xabcdefn, snapshot: true };
    const w = new TraceWriter(sink, { ...testHeader, start }, { snapshot: Uint8Array.from([9, 8, 7]) });
    const mid = mixedEntries(20, 1000, 500);
    for (const e of mid) w.append(e);
    w.close();
    const { entries: got, tail, reader } = readAll(sink.bytes());
    expect(reader.header.start).to.deep.equal(start);
    expect(Array.from(reader.snapshot!)).to.deep.equal([9, 8, 7]);
    expect(got.map(plain)).to.deep.equal(mid.map(plain));
    expect(tail.state).to.equal('clean');
  });

  it('a torn tail at EVERY byte offset yields the complete prefix and a torn/open tail, never an exception mid-replay', () => {
    const small = mixedEntries(12);
    const full = writeTrace(small, { batchEntriesMax: 4 });
    const headerEnd = (() => {
      // Offset after the header frame: the first offset at which open() succeeds.
      for (let n = 0; n <= full.length; n++) {
        try {
          TraceReader.fromBytes(full.subarray(0, n));
          return n;
        } catch {
          /* keep going */
        }
      }
      return -1;
    })();
    expect(headerEnd).to.be.greaterThan(tracePreludeBytes);
    let lastCount = 0;
    for (let n = 0; n < full.length; n++) {
      const cut = full.subarray(0, n);
      if (n < headerEnd) {
        // Nothing usable yet: open() throws a typed truncation error.
        expect(codeOf(() => TraceReader.fromBytes(cut)), `cut at ${n}`).to.equal('E_TRUNCATED');
        continue;
      }
      const { entries: got, tail } = readAll(cut);
      expect(['torn', 'open'], `cut at ${n}`).to.include(tail.state);
      expect(got.map(plain)).to.deep.equal(small.slice(0, got.length).map(plain));
      expect(got.length % 4 === 0 || got.length === small.length).to.equal(true);
      expect(got.length).to.be.at.least(lastCount);
      lastCount = got.length;
      if (tail.state === 'torn') {
        expect(tail.offset).to.be.at.most(n);
        expect(codeOf(() => TraceReader.fromBytes(cut).assertComplete())).to.equal('E_TRUNCATED');
      }
    }
    expect(lastCount).to.equal(small.length);
  });

  it('a flipped byte anywhere after the header is reported as corruption at its frame, with the prefix before it', () => {
    const small = mixedEntries(24);
    const full = writeTrace(small, { batchEntriesMax: 4 });
    const { reader: clean } = readAll(full);
    expect(clean.tail.state).to.equal('clean');
    // Frame starts: parse once.
    let headerEnd = 0;
    for (let n = 0; n <= full.length && !headerEnd; n++) {
      try {
        TraceReader.fromBytes(full.subarray(0, n));
        headerEnd = n;
      } catch {
        /* */
      }
    }
    for (let i = headerEnd; i < full.length; i++) {
      const bad = full.slice();
      bad[i]! ^= 0x40;
      const { entries: got, tail } = readAll(bad);
      expect(tail.state, `flip at ${i}`).to.equal('corrupt');
      if (tail.state !== 'corrupt') continue;
      expect(['E_CHECKSUM', 'E_FRAME_SIZE']).to.include(tail.code);
      expect(tail.offset).to.be.at.most(i);
      expect(tail.offset).to.be.at.least(headerEnd);
      expect(got.map(plain)).to.deep.equal(small.slice(0, got.length).map(plain));
    }
  });

  it('a flipped byte in the prelude or header fails open() with a typed error', () => {
    const full = writeTrace(mixedEntries(4));
    for (let i = 0; i < tracePreludeBytes + 16; i++) {
      const bad = full.slice();
      bad[i]! ^= 0x04;
      const code = codeOf(() => TraceReader.fromBytes(bad));
      if (i < 8) expect(code, `byte ${i}`).to.equal('E_MAGIC');
      else if (i < 10) expect(code, `byte ${i}`).to.equal('E_VERSION');
      else if (i >= tracePreludeBytes) expect(['E_CHECKSUM', 'E_FRAME_SIZE', 'E_TRUNCATED'], `byte ${i}`).to.include(code);
    }
  });

  it('wrong magic -> E_MAGIC; future version -> E_VERSION naming both versions', () => {
    const full = writeTrace(mixedEntries(4));
    expect(codeOf(() => TraceReader.fromBytes(Buffer.from('PK\x03\x04 definitely a zip file')))).to.equal('E_MAGIC');
    const future = full.slice();
    new DataView(future.buffer).setUint16(8, traceFormatVersion + 1, true);
    try {
      TraceReader.fromBytes(future);
      expect.fail('no error');
    } catch (err) {
      expect((err as LogFormatError).code).to.equal('E_VERSION');
      expect((err as Error).message).to.contain(`version ${traceFormatVersion + 1}`).and.contain(`version ${traceFormatVersion}`);
    }
  });

  it('data after the end marker and chain breaks across frames are corruption', () => {
    const full = writeTrace(mixedEntries(8));
    const extra = new Uint8Array(Buffer.concat([full, Buffer.from([1, 2, 3])]));
    const r = readAll(extra);
    expect(r.tail.state).to.equal('corrupt');
    expect(r.entries.length).to.equal(8);
    // Splice: two traces' batches (valid frames) whose chains do not connect.
    const a = writeTrace(mixedEntries(8), { batchEntriesMax: 4, close: false });
    const b = writeTrace(mixedEntries(8).map((e) => ({ ...e, data: Uint8Array.from([...e.data, 1]) })), { batchEntriesMax: 4, close: false });
    // a's prelude+header+first batch, then b's second batch.
    const frameStarts = (bytes: Uint8Array): number[] => {
      const starts: number[] = [];
      let at = tracePreludeBytes;
      while (at < bytes.length) {
        starts.push(at);
        at += 16 + new DataView(bytes.buffer, bytes.byteOffset + at, 4).getUint32(0, true);
      }
      return starts;
    };
    const sa = frameStarts(a);
    const sb = frameStarts(b);
    const spliced = new Uint8Array(Buffer.concat([a.subarray(0, sa[2]!), b.subarray(sb[2]!)]));
    const s = readAll(spliced);
    expect(s.entries.length).to.equal(4);
    expect(s.tail.state).to.equal('corrupt');
    expect(s.tail.state === 'corrupt' && s.tail.code).to.equal('E_CHAIN');
  });

  it('an unclosed trace ending on a frame boundary reports an open tail', () => {
    const r = readAll(writeTrace(mixedEntries(8), { close: false }));
    expect(r.entries.length).to.equal(8);
    expect(r.tail.state).to.equal('open');
    expect(codeOf(() => r.reader.assertComplete())).to.equal('E_TRUNCATED');
  });

  it('flushes per batch count and bytes; fsync per policy; caps the trace size', () => {
    const sink = new MemorySink();
    const w = new TraceWriter(sink, testHeader, { batchEntriesMax: 5, batchBytesMax: 1 << 20, fsync: 'batch' });
    for (const e of mixedEntries(12)) w.append(e);
    expect(w.stats.frames).to.equal(1 + 2); // header + 2 batches
    expect(sink.syncs).to.equal(2);
    w.close();
    expect(sink.closed).to.equal(true);
    const bytesSink = new MemorySink();
    const wb = new TraceWriter(bytesSink, testHeader, { batchEntriesMax: 1000, batchBytesMax: 100 });
    for (const e of mixedEntries(30)) wb.append(e);
    expect(wb.stats.frames).to.be.greaterThan(2);

    const capSink = new MemorySink();
    const capped = new TraceWriter(capSink, testHeader, { batchEntriesMax: 4, traceBytesMax: 700, fsync: 'none' });
    let limited = false;
    let appended = 0;
    for (const e of mixedEntries(100)) {
      try {
        capped.append(e);
        appended++;
      } catch (err) {
        expect((err as LogFormatError).code).to.equal('E_LIMIT');
        limited = true;
        break;
      }
    }
    expect(limited).to.equal(true);
    capped.close();
    const bytes = capSink.bytes();
    expect(bytes.length).to.be.at.most(700);
    const r = readAll(bytes);
    expect(r.tail.state).to.equal('clean');
    expect(r.entries.length).to.be.lessThan(appended + 1);
    expect(r.entries.length % 4).to.equal(0);
  });

  it('refuses out-of-sequence appends', () => {
    const w = new TraceWriter(new MemorySink(), testHeader);
    w.append(clockEntry(0, 0, 1n));
    expect(codeOf(() => w.append(clockEntry(2, 0, 1n)))).to.equal('E_ENTRY');
  });

  it('streams a 1M-entry trace with bounded memory (chunked reads, one batch at a time)', function () {
    this.timeout(180_000);
    const dir = mkdtempSync(join(tmpdir(), 'twinstep-big-'));
    try {
      const path = join(dir, 'big.twt');
      const total = 1_000_000;
      const w = TraceWriter.create(path, testHeader, { batchEntriesMax: 1024, fsync: 'none' });
      const block = 10_000;
      for (let s = 0; s < total; s += block) for (const e of mixedEntries(block, s, s * 2)) w.append(e);
      w.close();
      const fileBytes = statSync(path).size;
      const chunkBytes = 256 * 1024;
      const r = TraceReader.open(path, { chunkBytes });
      let count = 0;
      let lastSeq = -1;
      for (let e = r.next(); e; e = r.next()) {
        if (e.seq !== lastSeq + 1) throw new Error(`seq ${e.seq} after ${lastSeq}`);
        lastSeq = e.seq;
        count++;
      }
      r.close();
      expect(count).to.equal(total);
      expect(r.tail.state).to.equal('clean');
      expect(r.stats.bytesRead).to.equal(fileBytes);
      // Bounded: the frame buffer never grew beyond a few chunks, and at most one batch was held, while
      // the file is far larger.
      expect(fileBytes).to.be.greaterThan(10 * 1024 * 1024);
      expect(r.stats.bufferBytesPeak).to.be.at.most(4 * chunkBytes);
      expect(r.stats.batchEntriesPeak).to.equal(1024);
      expect(r.stats.reads).to.be.at.least(Math.floor(fileBytes / chunkBytes));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps readFileSync out of the reader (streams only)', () => {
    expect(readFileSync(new URL('../../engine/log/trace-reader.ts', import.meta.url), 'utf8')).to.not.match(/readFileSync/);
  });
});
