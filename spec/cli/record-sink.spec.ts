/**
 * The record command's sink over a TraceWriter (in-process): the size it reports counts the batch still
 * pending (so --max-bytes holds near the cap), and a pending batch is written at a tick once it is old (so a
 * killed recorder keeps the entries of a slow guest); the ticks come with times the test chooses. The trace
 * it leaves reads back entry for entry.
 */
import { expect } from 'chai';
import { EntryKind, type LogEntry } from '../../engine/log/entry.ts';
import { BATCH_ENTRIES_DEFAULT, TraceWriter } from '../../engine/log/trace-writer.ts';
import { TraceReader } from '../../engine/log/trace-reader.ts';
import type { TraceHeaderData } from '../../engine/log/trace-header.ts';
import { traceEntrySink } from '../../scripts/cli/record.ts';
import type { EntrySink } from '../../engine/node/recorder.ts';

const header: TraceHeaderData = {
  vmId: 'spec', moduleHash: 7n, moduleSizeBytes: 0, args: ['g'], env: [], preopens: [], diskDigest: 0n,
  machine: { clockResolutionNs: 1000n, bootTimeNs: 0n, unwind: 'all', digestIntervalCalls: 0, digestIntervalMs: 0 },
  start: { callIndex: 0, seq: 0, checksum: 0n, snapshot: false },
};

const clock = (seq: number): LogEntry => ({
  seq, callIndex: seq, kind: EntryKind.Input, call: 'clock_time_get', channel: 0,
  request: new Uint8Array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]), data: new Uint8Array(8).fill(seq & 0xff),
});

const add = (sink: EntrySink, e: LogEntry): void => sink.add(e.kind, e.callIndex, e.call, e.channel, e.request, e.data);

function memoryWriter(): { writer: TraceWriter; bytes: () => Uint8Array } {
  const chunks: Uint8Array[] = [];
  const writer = new TraceWriter({ write: (b) => chunks.push(b.slice()) }, header, { fsync: 'none' });
  return { writer, bytes: () => new Uint8Array(Buffer.concat(chunks)) };
}

describe('record: the trace sink', () => {
  it('counts the pending batch in its size, and resets when the batch is written', () => {
    const { writer } = memoryWriter();
    const sink = traceEntrySink(writer);
    const start = sink.bytes;
    expect(start).to.equal(writer.stats.bytesTotal);
    let seq = 0;
    for (; seq < 100; seq++) add(sink, clock(seq));
    expect(writer.stats.frames).to.equal(1);
    expect(sink.bytes - start).to.be.within(100 * 20, 100 * 40);
    const frames = writer.stats.frames;
    while (writer.stats.frames === frames) add(sink, clock(seq++));
    expect(seq).to.be.at.most(BATCH_ENTRIES_DEFAULT);
    expect(sink.bytes).to.equal(writer.stats.bytesTotal);
  });

  it('writes a pending batch at the first tick once it is 250 ms old, and only then', () => {
    const { writer, bytes } = memoryWriter();
    const sink = traceEntrySink(writer);
    const t0 = 1_000_000;
    add(sink, clock(0));
    sink.tick!(t0);
    sink.tick!(t0 + 249);
    expect(writer.stats.frames, 'a young batch waits').to.equal(1);
    sink.tick!(t0 + 250);
    expect(writer.stats.frames, 'an old batch is written at once').to.equal(2);
    add(sink, clock(1));
    add(sink, clock(2));
    sink.tick!(t0 + 499);
    expect(writer.stats.frames, 'the age counts from the last write').to.equal(2);
    // Without close(): what a killed recorder leaves. The flushed entry is readable, the tail is "open".
    const reader = TraceReader.fromBytes(bytes());
    const got = [...reader];
    expect(got.map((e) => e.seq)).to.deep.equal([0]);
    expect(reader.tail.state).to.equal('open');
    sink.tick!(t0 + 500);
    expect(writer.stats.frames).to.equal(3);
    // Nothing pending: an old age writes no empty batch.
    sink.tick!(t0 + 2000);
    expect(writer.stats.frames).to.equal(3);
    writer.close();
    expect([...TraceReader.fromBytes(bytes())].map((e) => e.seq)).to.deep.equal([0, 1, 2]);
  });

  it('counts the age from a batch written by size, not from the last flush by age', () => {
    const { writer } = memoryWriter();
    const sink = traceEntrySink(writer);
    const t0 = 5_000;
    let seq = 0;
    add(sink, clock(seq++));
    sink.tick!(t0);
    // A full batch is written by size at t0 + 200.
    while (writer.stats.frames === 1) add(sink, clock(seq++));
    add(sink, clock(seq++));
    sink.tick!(t0 + 200);
    sink.tick!(t0 + 300);
    expect(writer.stats.frames, 'the batch after it is 100 ms old').to.equal(2);
    sink.tick!(t0 + 450);
    expect(writer.stats.frames).to.equal(3);
  });
});
