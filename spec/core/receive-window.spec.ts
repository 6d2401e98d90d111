import { expect } from 'chai';
import { EntryKind, type LogEntry } from '../../engine/log/entry.ts';
import { EntryBlock } from '../../engine/log/entry-block.ts';
import { ReceiveWindow } from '../../engine/core/receive-window.ts';

const e = (seq: number, callIndex = seq, kind = EntryKind.Input): LogEntry => ({
  seq,
  callIndex,
  kind,
  call: kind === EntryKind.Digest ? '' : 'random_get',
  channel: 0,
  request: new Uint8Array(0),
  data: new Uint8Array([seq & 0xff]),
});
const block = (...entries: LogEntry[]) => EntryBlock.fromEntries(entries);
const seqs = (bs: readonly EntryBlock[]) => bs.flatMap((b) => b.entries().map((x) => x.seq));

describe('ReceiveWindow', () => {
  it('delivers in order, dedupes, buffers ahead of a gap and reports the gap', () => {
    const w = new ReceiveWindow(16);
    w.reset(0, 0);
    expect(seqs(w.accept(block(e(0), e(1))).delivered)).to.deep.equal([0, 1]);
    expect(w.accept(block(e(1))).duplicates).to.equal(1);
    const r = w.accept(block(e(3), e(4)));
    expect(r.delivered).to.have.length(0);
    expect(w.gap()).to.deep.equal([2, 2]);
    expect(w.aheadCount).to.equal(2);
    expect(seqs(w.accept(block(e(2))).delivered)).to.deep.equal([2, 3, 4]);
    expect(w.gap()).to.equal(null);
    expect(w.aheadCount).to.equal(0);
    expect(w.receivedSeq).to.equal(4);
  });

  it('delivers the new part of a block that overlaps what was received, with its bytes', () => {
    const w = new ReceiveWindow(16);
    w.reset(0, 0);
    w.accept(block(e(0), e(1), e(2)));
    const r = w.accept(block(e(1), e(2), e(3), e(4)));
    expect(r.duplicates).to.equal(2);
    expect(seqs(r.delivered)).to.deep.equal([3, 4]);
    expect(r.delivered[0]!.entry(0).data).to.deep.equal(new Uint8Array([3]));
    // A buffered block overtaken by a longer one: the rest of it is delivered, once.
    w.accept(block(e(7), e(8)));
    w.accept(block(e(6), e(7)));
    expect(seqs(w.accept(block(e(5))).delivered)).to.deep.equal([5, 6, 7, 8]);
    expect(w.aheadCount).to.equal(0);
  });

  it('bounds the out-of-order buffer by entries (E_REORDER_FULL)', () => {
    const w = new ReceiveWindow(2);
    w.reset(0, 0);
    expect(w.accept(block(e(5), e(6))).errors).to.have.length(0);
    const r = w.accept(block(e(8)));
    expect(r.errors.map((x) => x.code)).to.deep.equal(['E_REORDER_FULL']);
    expect(w.aheadCount).to.equal(2);
  });

  it('rejects a broken chain order where blocks meet (E_CHAIN): call index backwards, two calls at one index', () => {
    const w = new ReceiveWindow(8);
    w.reset(0, 10);
    expect(w.accept(block(e(0, 9))).errors[0]!.code).to.equal('E_CHAIN');
    expect(seqs(w.accept(block(e(0, 10), e(1, 12, EntryKind.Digest), e(2, 12))).delivered)).to.have.length(3); // digest before call 12
    expect(w.accept(block(e(3, 12))).errors[0]!.code).to.equal('E_CHAIN');
    // A digest may follow the call at its index, but a host call after it may not share the index.
    expect(w.accept(block(e(3, 12, EntryKind.Digest), e(4, 12))).errors[0]!.code).to.equal('E_CHAIN');
    expect(w.receivedSeq).to.equal(2);
    expect(seqs(w.accept(block(e(3, 12, EntryKind.Digest), e(4, 13))).delivered)).to.deep.equal([3, 4]);
  });
});
