import { expect } from 'chai';
import { OutputGate, type HeldOutput } from '../../engine/core/output-gate.ts';

const out = (seq: number): HeldOutput => ({ seq, callIndex: seq, channel: 1, data: Uint8Array.of(seq) });
const seqs = (xs: readonly HeldOutput[]) => xs.map((o) => o.seq);

describe('OutputGate', () => {
  it("rule 'ack': releases an output once every entry up to it was received, in order", () => {
    const g = new OutputGate('ack', 'primary');
    g.hold(out(2));
    g.hold(out(5));
    expect(seqs(g.drain(true).released)).to.deep.equal([]);
    g.noteReceived(4);
    expect(seqs(g.drain(true).released)).to.deep.equal([2]);
    g.noteMatched(5); // matching does not matter for 'ack'
    expect(g.drain(true).released).to.have.length(0);
    g.noteReceived(5);
    expect(seqs(g.drain(true).released)).to.deep.equal([5]);
    expect(g.count).to.equal(0);
  });

  it("rule 'compare': waits for the match ack, receipt is not enough", () => {
    const g = new OutputGate('compare', 'primary');
    g.hold(out(3));
    g.noteReceived(10);
    expect(g.drain(true).released).to.have.length(0);
    g.noteMatched(3);
    expect(seqs(g.drain(true).released)).to.deep.equal([3]);
  });

  it('never releases without the lease, and keeps the order when it comes back', () => {
    const g = new OutputGate('ack', 'primary');
    [1, 2, 3].forEach((s) => g.hold(out(s)));
    g.noteReceived(3);
    expect(g.drain(false).released).to.have.length(0);
    expect(seqs(g.drain(true).released)).to.deep.equal([1, 2, 3]);
  });

  it("dispatch 'secondary': matched outputs are dropped (the secondary sent them), never released", () => {
    const g = new OutputGate('compare', 'secondary');
    [1, 2, 3].forEach((s) => g.hold(out(s)));
    g.noteMatched(2);
    const d = g.drain(true);
    expect(d.released).to.have.length(0);
    expect(seqs(d.dropped)).to.deep.equal([1, 2]);
    expect(g.releasedSeq(10)).to.equal(2);
  });

  it('frozen (resync): nothing is released; forced outputs go out after thaw, even with secondary dispatch', () => {
    const g = new OutputGate('compare', 'secondary');
    [1, 2, 3].forEach((s) => g.hold(out(s)));
    g.freeze();
    g.force(Infinity);
    g.noteMatched(1);
    const d = g.drain(true);
    expect(d.released).to.have.length(0);
    expect(seqs(d.dropped)).to.deep.equal([1]); // the secondary sent it before it diverged
    g.force(2);
    g.thaw();
    expect(seqs(g.drain(true).released)).to.deep.equal([2]);
    expect(g.count).to.equal(1);
  });

  it('tracks count and bytes, and the release point', () => {
    const g = new OutputGate('ack', 'primary');
    g.hold({ seq: 7, callIndex: 7, channel: 1, data: new Uint8Array(10) });
    g.hold({ seq: 9, callIndex: 9, channel: 2, data: new Uint8Array(5) });
    expect([g.count, g.heldBytes, g.releasedSeq(12)]).to.deep.equal([2, 15, 6]);
    g.noteReceived(8);
    g.drain(true);
    expect([g.count, g.heldBytes, g.releasedSeq(12)]).to.deep.equal([1, 5, 8]);
    g.noteReceived(11);
    g.drain(true);
    expect(g.releasedSeq(12)).to.equal(11);
  });

  it('refuses outputs out of seq order (programmer error)', () => {
    const g = new OutputGate('ack', 'primary');
    g.hold(out(4));
    expect(() => g.hold(out(4))).to.throw(/invariant/);
  });
});
