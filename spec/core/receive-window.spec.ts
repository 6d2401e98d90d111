import { expect } from 'chai';
import { EntryKind, type LogEntry } from '../../engine/log/entry.ts';
import { ReceiveWindow } from '../../engine/core/receive-window.ts';

const e = (seq: number, callIndex = seq, kind = EntryKind.Input): LogEntry => ({
  seq,
  callIndex,
  kind,
  call: 'random_get',
  channel: 0,
  request: new Uint8Array(0),
  data: new Uint8Array(0),
});

describe('ReceiveWindow', () => {
  it('delivers in order, dedupes, buffers ahead of a gap and reports the gap', () => {
    const w = new ReceiveWindow(16);
    w.reset(0, 0);
    expect(w.accept([e(0), e(1)]).delivered.map((x) => x.seq)).to.deep.equal([0, 1]);
    const r = w.accept([e(1), e(3), e(4)]);
    expect(r.delivered).to.have.length(0);
    expect(r.duplicates).to.equal(1);
    expect(w.gap()).to.deep.equal([2, 2]);
    expect(w.accept([e(2)]).delivered.map((x) => x.seq)).to.deep.equal([2, 3, 4]);
    expect(w.gap()).to.equal(null);
    expect(w.receivedSeq).to.equal(4);
  });

  it('bounds the out-of-order buffer (E_REORDER_FULL)', () => {
    const w = new ReceiveWindow(2);
    w.reset(0, 0);
    const r = w.accept([e(5), e(6), e(7)]);
    expect(r.errors.map((x) => x.code)).to.deep.equal(['E_REORDER_FULL']);
    expect(w.aheadCount).to.equal(2);
  });

  it('rejects a broken chain order (E_CHAIN): call index backwards, two calls at one index', () => {
    const w = new ReceiveWindow(8);
    w.reset(0, 10);
    expect(w.accept([e(0, 9)]).errors[0]!.code).to.equal('E_CHAIN');
    expect(w.accept([e(0, 10), e(1, 12, EntryKind.Digest), e(2, 12)]).delivered).to.have.length(3); // digest before call 12
    expect(w.accept([e(3, 12)]).errors[0]!.code).to.equal('E_CHAIN');
  });
});
