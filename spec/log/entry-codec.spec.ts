import { expect } from 'chai';
import fc from 'fast-check';
import { decodeEntryBatch, encodeEntryBatch } from '../../engine/log/entry-codec.ts';
import { EntryKind, type LogEntry } from '../../engine/log/entry.ts';
import { LogFormatError } from '../../engine/log/errors.ts';
import { callId, callIdCustom, callName, callIdsUsed } from '../../engine/log/call-table.ts';
import { WASI_CALLS } from '../../engine/wasi/calls.ts';
import { clockEntry, entriesArb, mixedEntries, plain, propertySeed } from './entries.ts';

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (err) {
    expect(err, String(err)).to.be.instanceOf(LogFormatError);
    expect((err as LogFormatError).code, (err as Error).message).to.equal(code);
    return;
  }
  expect.fail(`expected LogFormatError ${code}`);
}

describe('call table', () => {
  it('maps every WASI call to a stable id and back', () => {
    for (const name of WASI_CALLS) {
      const id = callId(name);
      expect(id, name).to.be.greaterThan(0).and.lessThan(callIdsUsed);
      expect(callName(id)).to.equal(name);
    }
    expect(callId('')).to.equal(0);
    expect(callId('not_a_wasi_call')).to.equal(callIdCustom);
    // Frozen ids: saved traces depend on them.
    expect(callId('clock_time_get')).to.equal(6);
    expect(callId('random_get')).to.equal(7);
    expect(callId('fd_write')).to.equal(28);
    expect(callId('sock_shutdown')).to.equal(46);
  });
});

describe('entry codec', () => {
  it('round-trips arbitrary valid batches (property)', () => {
    fc.assert(
      fc.property(entriesArb, fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (entries, prev) => {
        const { bytes, lastChecksum } = encodeEntryBatch(entries, prev);
        const d = decodeEntryBatch(bytes);
        expect(d.prevChecksum).to.equal(prev);
        expect(d.lastChecksum).to.equal(lastChecksum);
        expect(d.entries.map(plain)).to.deep.equal(entries.map(plain));
      }),
      { seed: propertySeed, numRuns: 300 },
    );
  });

  it('round-trips a decoded slice from a larger buffer (unaligned input)', () => {
    const { bytes } = encodeEntryBatch(mixedEntries(100));
    const padded = new Uint8Array(bytes.length + 3);
    padded.set(bytes, 3);
    expect(decodeEntryBatch(padded.subarray(3)).entries.map(plain)).to.deep.equal(mixedEntries(100).map(plain));
  });

  it('never throws anything but LogFormatError on corrupted or truncated input (property)', () => {
    const { bytes } = encodeEntryBatch(mixedEntries(40), 7n);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.nat(bytes.length),
        (flips, cut) => {
          const bad = bytes.slice(0, cut);
          for (const [at, x] of flips) if (at < bad.length) bad[at]! ^= x;
          try {
            decodeEntryBatch(bad);
          } catch (err) {
            if (!(err instanceof LogFormatError)) throw err;
          }
        },
      ),
      { seed: propertySeed, numRuns: 2000 },
    );
  });

  it('rejects invalid entries on encode with E_ENTRY', () => {
    const ok = clockEntry(0, 0, 1n);
    expectCode(() => encodeEntryBatch([ok, { ...clockEntry(2, 0, 1n) }]), 'E_ENTRY'); // seq gap
    expectCode(() => encodeEntryBatch([{ ...ok, callIndex: 5 }, { ...clockEntry(1, 4, 1n) }]), 'E_ENTRY'); // call index goes back
    expectCode(() => encodeEntryBatch([{ ...ok, kind: 7 as EntryKind }]), 'E_ENTRY');
    expectCode(() => encodeEntryBatch([{ ...ok, call: '' }]), 'E_ENTRY'); // Input without a call
    expectCode(() => encodeEntryBatch([{ ...ok, kind: EntryKind.Digest }]), 'E_ENTRY'); // Digest with a call
    expectCode(() => encodeEntryBatch([{ ...ok, channel: 1 }]), 'E_ENTRY'); // channel on an Input
    expectCode(() => encodeEntryBatch([{ ...ok, seq: -1 }]), 'E_ENTRY');
  });

  it('keeps custom call names of non-WASI machines', () => {
    const entries: LogEntry[] = [
      { ...clockEntry(0, 0, 1n), call: 'my_clock' },
      { ...clockEntry(1, 1, 2n) },
      { ...clockEntry(2, 2, 3n), call: 'other' },
    ];
    const d = decodeEntryBatch(encodeEntryBatch(entries).bytes);
    expect(d.entries.map((e) => e.call)).to.deep.equal(['my_clock', 'clock_time_get', 'other']);
  });

  it('rejects a batch whose columns disagree (E_MALFORMED), without reading out of range', () => {
    // Forge: take a valid 3-entry batch and claim count 4 by patching the count field's value.
    const entries = mixedEntries(3);
    const { bytes } = encodeEntryBatch(entries);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    // Find the u32 "3" that is the count field: try each occurrence until decode complains about columns.
    let found = false;
    for (let i = 0; i + 4 <= bytes.length; i += 4) {
      if (view.getUint32(i, true) !== 3) continue;
      const bad = bytes.slice();
      new DataView(bad.buffer).setUint32(i, 4, true);
      try {
        decodeEntryBatch(bad);
      } catch (err) {
        expect(err).to.be.instanceOf(LogFormatError);
        if ((err as LogFormatError).code === 'E_MALFORMED') found = true;
      }
    }
    expect(found).to.equal(true);
  });
});
