/**
 * Both cores wired together by hand (no simulator randomness): end-to-end release for every rule and dispatch
 * side, resync, the failover duplicate bound, and split brain under the fenced lease.
 */
import { expect } from 'chai';
import type { DispatchSide, ReleaseRule } from '../../engine/core/config.ts';
import { FakeLease, PrimaryHarness, SecondaryHarness, exchange, hashes, text } from './harness.ts';

function serveLease(lease: FakeLease, who: string, h: PrimaryHarness | SecondaryHarness): void {
  const req = h.leaseWanted;
  h.leaseWanted = null;
  if (req?.kind !== 'acquire') return;
  const a = lease.acquire(who === 'A' ? 'A' : 'B', who, req.epoch, h.now)!;
  h.core.step(a.ok ? { type: 'lease-acquired', untilMs: a.untilMs, epoch: a.epoch } : { type: 'lease-denied', holder: a.holder, fenced: a.fenced });
  h.read();
}

function settle(p: PrimaryHarness, s: SecondaryHarness, lease: FakeLease, t: number): void {
  p.tick(t);
  s.tick(t);
  serveLease(lease, 'A', p);
  for (let i = 0; i < 5; i++) {
    exchange(p, s);
    s.replayAll();
  }
  p.tick(t + 1);
  s.tick(t + 1);
  exchange(p, s);
}

const world = (p: PrimaryHarness, s: SecondaryHarness) => [...p.released, ...s.dispatched].sort((a, b) => a.seq - b.seq).map((o) => text(o.data));

describe('PrimaryCore + SecondaryCore', () => {
  const combos: [ReleaseRule, DispatchSide][] = [
    ['ack', 'primary'],
    ['compare', 'primary'],
    ['compare', 'secondary'],
  ];
  for (const [releaseRule, dispatchSide] of combos) {
    it(`rule '${releaseRule}', dispatch '${dispatchSide}': every output reaches the world exactly once, in order, from one side`, () => {
      const lease = new FakeLease(10_000);
      const p = new PrimaryHarness({ releaseRule, dispatchSide }, { mode: 'protected' });
      const s = new SecondaryHarness({ releaseRule, dispatchSide });
      for (let i = 0; i < 5; i++) {
        p.input();
        p.output(`o${i}`);
      }
      settle(p, s, lease, 1);
      expect(world(p, s)).to.deep.equal(['o0', 'o1', 'o2', 'o3', 'o4']);
      expect(dispatchSide === 'secondary' ? p.released : s.dispatched).to.have.length(0);
      expect(p.core.status().heldOutputs).to.equal(0);
    });
  }

  it('resync end to end: outputs held through the resync, then released by the primary, streaming resumes', () => {
    const lease = new FakeLease(10_000);
    const p = new PrimaryHarness({ releaseRule: 'compare' }, { mode: 'protected' });
    const s = new SecondaryHarness({ releaseRule: 'compare' });
    p.output('a');
    p.output('b');
    p.tick(1);
    serveLease(lease, 'A', p);
    exchange(p, s);
    s.replayNext();
    s.core.step({ type: 'diverged', seq: 1, callIndex: 1, reason: 'output', detail: 'x', hashes: hashes(2) });
    s.read();
    s.tick(2);
    exchange(p, s);
    expect(p.released.map((o) => text(o.data))).to.deep.equal(['a']); // matched before the divergence
    const req = p.last.checkpoint!;
    p.core.step({ type: 'checkpoint', transferId: req.transferId, callIndex: 2, root: 77n, chunks: [Uint8Array.of(1)] });
    p.read();
    serveLease(lease, 'A', p);
    exchange(p, s);
    const restore = s.last.restore!;
    expect(restore.root).to.equal(77n);
    s.core.step({ type: 'restored', transferId: restore.transferId, root: 77n });
    s.read();
    exchange(p, s);
    expect(p.released.map((o) => text(o.data))).to.deep.equal(['a', 'b']);
    p.output('c');
    settle(p, s, lease, 5);
    expect(p.released.map((o) => text(o.data))).to.deep.equal(['a', 'b', 'c']);
    expect(s.core.status().epoch).to.equal(p.core.status().epoch);
  });

  it('failover duplicate bound: only outputs released after the last release notice the secondary got are repeated, each once, at most heldOutputsMax', () => {
    const heldOutputsMax = 4;
    const lease = new FakeLease(100);
    const p = new PrimaryHarness({ releaseRule: 'ack', heldOutputsMax, leaseGuardMs: 5 }, { mode: 'protected' });
    const s = new SecondaryHarness({ ackEntriesEvery: 1 });
    p.tick(1);
    serveLease(lease, 'A', p);
    p.output('o0');
    settle(p, s, lease, 2); // o0 released, and the secondary heard about it
    for (let i = 1; i <= heldOutputsMax; i++) p.output(`o${i}`);
    exchange(p, s); // entries arrive, acks go back, the primary releases o1..o4 ...
    s.take();
    p.take(); // ... but every release notice after that is lost: the primary crashes now
    expect(p.released.map((o) => text(o.data))).to.deep.equal(['o0', 'o1', 'o2', 'o3', 'o4']);
    s.replayAll();
    s.tick(200); // primary silent
    s.tick(210);
    serveLease(lease, 'B', s);
    s.replayAll();
    const repeated = s.dispatched.map((o) => text(o.data));
    expect(repeated).to.deep.equal(['o1', 'o2', 'o3', 'o4']); // never o0; nothing beyond what it acked
    expect(repeated.length).to.be.at.most(heldOutputsMax);
    expect(s.last.goLive).to.not.equal(null);
  });

  it('split brain: the primary keeps the lease fenced at its new epoch; the partitioned secondary can never go live and rejoins', () => {
    const lease = new FakeLease(100);
    const p = new PrimaryHarness({ leaseGuardMs: 5 }, { mode: 'protected' });
    const s = new SecondaryHarness();
    p.tick(1);
    serveLease(lease, 'A', p);
    p.output('o0');
    // Partition: nothing crosses any more. Both sides time out.
    p.tick(150);
    serveLease(lease, 'A', p); // re-fence at epoch 2 before releasing o0 unprotected
    expect(p.released.map((o) => text(o.data))).to.deep.equal(['o0']);
    s.tick(150);
    // Even once the primary's lease has run out, the secondary's epoch-2 request loses to the fence.
    s.now = 400;
    serveLease(lease, 'B', s);
    expect(s.dispatched).to.have.length(0);
    expect(s.core.status().state).to.equal('joining');
  });
});
