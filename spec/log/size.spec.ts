/**
 * Trace size budget: clock and random entries must cost under 40 bytes each on disk, amortised over
 * realistic batches (frame header, FlatBuffers overhead and hash chain included). A size assertion,
 * not a timing one.
 */
import { expect } from 'chai';
import { EntryKind, type LogEntry } from '../../engine/log/entry.ts';
import { TraceWriter } from '../../engine/log/trace-writer.ts';
import { bytesPerEntry } from '../../engine/log/trace-stats.ts';
import { clockEntry, mixedEntries, randomEntry, testHeader } from './entries.ts';

function measure(entries: readonly LogEntry[]): TraceWriter {
  const w = new TraceWriter({ write: () => {} }, testHeader, { fsync: 'none' });
  for (const e of entries) w.append(e);
  w.close();
  return w;
}

describe('trace size per entry kind', () => {
  const n = 10_000;

  it('clock_time_get entries (12-byte request, 8-byte result) cost < 40 bytes each', () => {
    const w = measure(Array.from({ length: n }, (_, i) => clockEntry(i, i * 3, 1_700_000_000_000_000_000n + BigInt(i) * 1234n)));
    const perEntry = w.stats.batchBytes / n;
    expect(bytesPerEntry(w.stats, EntryKind.Input)).to.be.closeTo(perEntry, 1e-6);
    expect(perEntry).to.be.below(40);
    // Whole file including prelude, header and end marker is still under budget.
    expect(w.stats.bytesTotal / n).to.be.below(40);
  });

  it('random_get entries (4-byte request, 16 random bytes) cost < 40 bytes each', () => {
    const w = measure(Array.from({ length: n }, (_, i) => randomEntry(i, i * 3, 16)));
    expect(w.stats.batchBytes / n).to.be.below(40);
  });

  it('attributes a mixed trace to kinds exactly (per-kind totals add up to the batch frames)', () => {
    const w = measure(mixedEntries(n));
    const sum = w.stats.bytes[0] + w.stats.bytes[1] + w.stats.bytes[2];
    expect(sum).to.be.closeTo(w.stats.batchBytes, 1e-3);
    expect(w.stats.entries[0] + w.stats.entries[1] + w.stats.entries[2]).to.equal(n);
    for (const k of [EntryKind.Input, EntryKind.Output, EntryKind.Digest]) expect(bytesPerEntry(w.stats, k)).to.be.below(40);
  });
});
