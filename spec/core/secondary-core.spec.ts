import { expect } from 'chai';
import type { AckMessage, DivergenceMessage, Message, StateEndMessage } from '../../engine/core/messages.ts';
import { fnv1a64 } from '../../engine/core/chunk-hash.ts';
import { EntryKind } from '../../engine/log/entry.ts';
import { EntryBlock } from '../../engine/log/entry-block.ts';
import { SecondaryHarness, hashes, outputEntry, text, vmId } from './harness.ts';
import { END_TRAP, exitCodeBytes } from '../../engine/log/end-marker.ts';
import { EXIT_CHANNEL } from '../../engine/machine/machine.ts';

const entries = (epoch: number, list: ReturnType<typeof outputEntry>[], releasedSeq = -1, lastSeq = list[list.length - 1]?.seq ?? -1): Message => ({
  type: 'entries',
  vmId,
  epoch,
  block: EntryBlock.fromEntries(list),
  releasedSeq,
  lastSeq,
});
const acks = (s: SecondaryHarness) => s.sent.filter((m): m is AckMessage => m.type === 'ack');
const codes = (s: SecondaryHarness) => s.last.errors.map((e) => e.code);
const chunk = (epoch: number, transferId: number, index: number, payload: Uint8Array): Message => ({
  type: 'state-chunk',
  vmId,
  epoch,
  transferId,
  index,
  payload,
  hash: fnv1a64(payload),
});
const end = (epoch: number, transferId: number, over: Partial<StateEndMessage> = {}): StateEndMessage => ({
  type: 'state-end',
  vmId,
  epoch,
  transferId,
  chunkCount: 2,
  reason: 'resync',
  callIndex: 10,
  nextSeq: 10,
  root: 42n,
  joinId: null,
  heldOutputs: [],
  ...over,
});

describe('SecondaryCore', () => {
  it('hands entries to the replayer in order, dedupes, and acks receipt and matches cumulatively per tick', () => {
    const s = new SecondaryHarness({ ackEntriesEvery: 100 });
    s.receive(entries(1, [outputEntry(0, 'a'), outputEntry(1, 'b')]));
    s.receive(entries(1, [outputEntry(1, 'b')]));
    expect(s.queue.map((e) => e.seq)).to.deep.equal([0, 1]);
    expect(acks(s)).to.have.length(0); // batched until the tick
    s.tick(1);
    expect(acks(s).at(-1)).to.deep.include({ receivedSeq: 1, matchedSeq: -1 });
    s.replayAll();
    s.tick(2);
    expect(acks(s).at(-1)).to.deep.include({ receivedSeq: 1, matchedSeq: 1 });
  });

  it('acks at once every ackEntriesEvery entries', () => {
    const s = new SecondaryHarness({ ackEntriesEvery: 2 });
    s.receive(entries(1, [outputEntry(0, 'a'), outputEntry(1, 'b')]));
    expect(acks(s).at(-1)).to.deep.include({ receivedSeq: 1 });
  });

  it('takes replay reports cumulatively: one report may cover many entries, never going back or ahead', () => {
    const s = new SecondaryHarness({ ackEntriesEvery: 100 });
    s.receive(entries(1, [0, 1, 2, 3, 4].map((i) => outputEntry(i, String(i)))));
    s.core.step({ type: 'replayed', seq: 2 });
    expect(s.core.status().replayedSeq).to.equal(2);
    expect(() => s.core.step({ type: 'replayed', seq: 2 })).to.throw(/already stands at 2/);
    expect(() => s.core.step({ type: 'replayed', seq: 5 })).to.throw(/ran ahead/);
    s.core.step({ type: 'replayed', seq: 4 });
    s.tick(1);
    expect(acks(s).at(-1)).to.deep.include({ receivedSeq: 4, matchedSeq: 4 });
  });

  it('ackOutputsAtOnce: acks at once what may release a held output, and everything else per tick', () => {
    const input = (seq: number) => ({ ...outputEntry(seq, ''), kind: EntryKind.Input, call: 'random_get', channel: 0 });
    for (const releaseRule of ['ack', 'compare'] as const) {
      const s = new SecondaryHarness({ ackEntriesEvery: 100, ackOutputsAtOnce: true, releaseRule });
      s.receive(entries(1, [input(0), input(1)]));
      expect(acks(s)).to.have.length(0); // inputs alone: batched until the tick
      s.receive(entries(1, [input(2), outputEntry(3, 'a')]));
      expect(acks(s).at(-1)).to.deep.include({ receivedSeq: 3, matchedSeq: -1 }); // receipt of an output: at once
      s.take();
      s.core.step({ type: 'replayed', seq: 2 });
      s.read();
      expect(acks(s)).to.have.length(0);
      s.core.step({ type: 'replayed', seq: 3 });
      s.read();
      // Its match releases it only under 'compare'; under 'ack' the match rides on the next tick.
      expect(acks(s).map((a) => a.matchedSeq)).to.deep.equal(releaseRule === 'compare' ? [3] : []);
      s.tick(1);
      expect(acks(s).at(-1)).to.deep.include({ receivedSeq: 3, matchedSeq: 3 });
      // Outputs the primary already released (releasedSeq) are no reason to hurry.
      s.take();
      s.receive(entries(1, [outputEntry(4, 'b')], 4));
      expect(acks(s)).to.have.length(0);
      // Ticks between an output's receipt and its match do not hurry the match under 'ack' either.
      s.receive(entries(1, [outputEntry(5, 'c')], 4));
      expect(acks(s).map((a) => a.receivedSeq)).to.deep.equal([5]);
      s.take();
      s.core.step({ type: 'replayed', seq: 4 });
      s.tick(2);
      expect(acks(s).map((a) => [a.receivedSeq, a.matchedSeq])).to.deep.equal([[5, 4]]);
      s.take();
      s.tick(3);
      expect(acks(s)).to.have.length(0);
      s.core.step({ type: 'replayed', seq: 5 });
      s.read();
      expect(acks(s).map((a) => a.matchedSeq)).to.deep.equal(releaseRule === 'compare' ? [5] : []);
    }
  });

  it('detects a gap (also at the tail) and asks for retransmission', () => {
    const s = new SecondaryHarness();
    s.receive(entries(1, [outputEntry(0, 'a'), outputEntry(2, 'c')].slice(0, 1), -1, 3));
    s.receive(entries(1, [outputEntry(2, 'c')], -1, 3));
    s.tick(40);
    expect(s.sent.find((m) => m.type === 'nack')).to.deep.include({ fromSeq: 1, toSeq: 1 });
    expect(s.queue.map((e) => e.seq)).to.deep.equal([0]);
  });

  it('never hands out what it does not have: the replayer cannot report an entry it was not given', () => {
    const s = new SecondaryHarness();
    expect(() => s.core.step({ type: 'replayed', seq: 0 })).to.throw(/ran ahead/);
  });

  it('drops stale-epoch and foreign messages with typed errors', () => {
    const s = new SecondaryHarness();
    s.receive(entries(0, [outputEntry(0, 'a')]));
    expect(codes(s)).to.deep.equal(['E_STALE_EPOCH']);
    s.receive({ ...entries(1, [outputEntry(0, 'a')]), vmId: 'other' });
    expect(codes(s)).to.deep.equal(['E_VM_MISMATCH']);
    s.receive(entries(2, [outputEntry(0, 'a')]));
    expect(codes(s)).to.deep.equal(['E_EPOCH_AHEAD']);
    expect(s.queue).to.have.length(0);
  });

  it('divergence: reports seq, reason and its hashes, stops replay, repeats the report until the resync comes', () => {
    const s = new SecondaryHarness();
    s.receive(entries(1, [outputEntry(0, 'a'), outputEntry(1, 'b')]));
    s.replayNext();
    s.core.step({ type: 'diverged', seq: 1, callIndex: 1, reason: 'output', detail: 'differs', hashes: hashes(3) });
    s.read();
    const d = s.sent.find((m): m is DivergenceMessage => m.type === 'divergence')!;
    expect(d).to.deep.include({ seq: 1, reason: 'output', matchedSeq: 0 });
    expect(d.pageHashes).to.deep.equal(hashes(3).pages);
    s.take();
    s.receive(entries(1, [outputEntry(2, 'c')]));
    expect(s.queue.map((e) => e.seq)).to.deep.equal([1]); // nothing new handed out
    s.tick(40);
    expect(s.sent.some((m) => m.type === 'divergence')).to.equal(true);
  });

  it('applies a transfer: rejects a bad chunk hash, restores once complete, buffers entries meanwhile, acks done', () => {
    const s = new SecondaryHarness();
    s.receive(chunk(2, 7, 0, Uint8Array.of(1)));
    expect(s.core.status().state).to.equal('transferring');
    expect(s.core.status().epoch).to.equal(2);
    s.receive({ ...(chunk(2, 7, 1, Uint8Array.of(2)) as object), hash: 1n } as Message);
    expect(codes(s)).to.deep.equal(['E_CHUNK_HASH']);
    s.receive(end(2, 7, { heldOutputs: [{ seq: 9, callIndex: 9, channel: 1, data: Uint8Array.of(9) }] }));
    expect(s.last.restore).to.equal(null);
    s.tick(40);
    expect(s.sent.find((m) => m.type === 'state-nack')).to.deep.include({ missing: [1] });
    s.receive(chunk(2, 7, 1, Uint8Array.of(2)));
    expect(s.last.restore).to.deep.include({ transferId: 7, callIndex: 10, nextSeq: 10, root: 42n });
    expect(s.last.restore!.chunks).to.deep.equal([Uint8Array.of(1), Uint8Array.of(2)]);
    s.receive(entries(2, [outputEntry(10, 'k')]));
    expect(s.queue).to.have.length(0); // not before the restore is applied
    s.take();
    s.core.step({ type: 'restored', transferId: 7, root: 42n });
    s.read();
    expect(s.sent[0]).to.deep.include({ type: 'transfer-done', transferId: 7, root: 42n });
    expect(s.queue.map((e) => e.seq)).to.deep.equal([10]);
    expect(s.core.status()).to.deep.include({ state: 'replicating', pendingOutputs: 2 });
  });

  it('a long slice of its own (a deaf tick) is not the primary going silent; real silence after it still is', () => {
    const s = new SecondaryHarness();
    s.receive(entries(1, [outputEntry(0, 'a')], 0));
    s.core.tick(5000, true); // five seconds inside one guest slice: nothing could be read meanwhile
    s.read();
    expect(s.core.status().state, 'not a candidate after its own stall').to.not.equal('candidate');
    s.tick(5050);
    expect(s.core.status().state).to.not.equal('candidate');
    s.tick(5150); // 150 ms of silence while listening (peerTimeoutMs 100)
    expect(s.core.status().state).to.equal('candidate');
  });

  it('go-live: on primary loss asks the lease at epoch+1, finishes the replay, dispatches outputs it cannot know were released, then hands over', () => {
    const s = new SecondaryHarness();
    // The primary announced every output up to seq 0 released.
    s.receive(entries(1, [outputEntry(0, 'a'), outputEntry(1, 'b'), outputEntry(2, 'c')], 0));
    s.replayNext();
    s.tick(150);
    expect(s.core.status().state).to.equal('candidate');
    expect(s.last.lease).to.deep.equal({ kind: 'acquire', epoch: 2 });
    expect(s.dispatched).to.have.length(0); // not without the lease
    s.core.step({ type: 'lease-acquired', untilMs: 10_000, epoch: 2 });
    s.read();
    expect(s.core.status().state).to.equal('finishing');
    s.replayAll();
    expect(s.dispatched.map((o) => text(o.data))).to.deep.equal(['b', 'c']); // 'a' is known released: never repeated
    expect(s.last.goLive).to.deep.equal({ epoch: 2, nextSeq: 3, callIndex: 2, leaseUntilMs: 10_000, leaseEpoch: 2 });
    expect(s.core.status().state).to.equal('live');
  });

  it("the guest's end released before the primary is lost: ended, with nothing to take over (no lease, no outputs); not yet released: go-live", () => {
    const exitEntry = (seq: number, code: number) => ({ ...outputEntry(seq, ''), call: 'proc_exit', channel: EXIT_CHANNEL, data: exitCodeBytes(code) });
    const trapEntry = (seq: number) => ({ ...outputEntry(seq, 'unreachable'), call: '_trap', channel: END_TRAP });
    for (const [end, released] of [[exitEntry(2, 3), 2], [trapEntry(2), 2], [exitEntry(2, 0), 1]] as const) {
      const s = new SecondaryHarness();
      s.receive(entries(1, [outputEntry(0, 'a'), outputEntry(1, 'b'), end], released));
      s.replayNext();
      s.tick(150);
      if (released === 2) {
        expect(s.core.status().state).to.equal('ended');
        expect(s.last.ended).to.deep.include({ seq: 2, channel: end.channel });
        expect(Buffer.from(s.last.ended!.data).equals(Buffer.from(end.data))).to.equal(true);
        expect(s.last.notices.map((n) => n.kind)).to.deep.equal(['ended']);
        expect(s.leaseWanted).to.equal(null);
        // Nothing more: no lease, no outputs, no heartbeats, and the end is said once.
        const sent = s.sent.length;
        s.replayAll();
        s.tick(1000);
        expect(s.last.ended).to.equal(null);
        expect(s.leaseWanted).to.equal(null);
        expect(s.dispatched).to.have.length(0);
        expect(s.sent.length).to.equal(sent);
      } else {
        // The end was not known released: it may be owed to the world, so the secondary takes over.
        expect(s.core.status().state).to.equal('candidate');
        expect(s.last.ended).to.equal(null);
        expect(s.leaseWanted).to.deep.equal({ kind: 'acquire', epoch: 2 });
      }
    }
  });

  it('a lease fenced at a newer epoch means the primary moved on: it rejoins instead of going live', () => {
    const s = new SecondaryHarness();
    s.tick(150);
    s.core.step({ type: 'lease-denied', holder: 'A.1', fenced: true });
    s.read();
    expect(s.core.status().state).to.equal('joining');
    expect(s.last.needHashes).to.equal(true);
    s.core.step({ type: 'hashes', hashes: hashes(2) });
    s.tick(200);
    expect(s.sent.find((m) => m.type === 'join')).to.deep.include({ joinId: 'B.1#1', pageHashes: hashes(2).pages });
  });

  it('a primary heartbeat of a newer epoch serving nobody makes it rejoin', () => {
    const s = new SecondaryHarness();
    s.receive({ type: 'primary-heartbeat', vmId, epoch: 2, lastSeq: 5, releasedSeq: 5, mode: 'unprotected', joinId: null });
    expect(s.core.status().state).to.equal('joining');
  });

  it('with a lease acquire out, a heartbeat of a primary that moved on waits for the answer: granted, it goes live', () => {
    // The race behind a protected run that never ended: the primary computed past the peer timeout, lost its
    // lease and moved on (unprotected, next epoch) while this side went for the lease at the same epoch. The
    // service granted it, but the core had already rejoined on the primary's heartbeat: the primary, refused,
    // was deposed, and this side had dropped its state. Nobody was live.
    const s = new SecondaryHarness();
    s.receive(entries(1, [outputEntry(0, 'a'), outputEntry(1, 'b')], 0));
    s.replayAll();
    s.tick(150);
    expect(s.core.status().state).to.equal('candidate');
    expect(s.last.lease).to.deep.equal({ kind: 'acquire', epoch: 2 });
    s.receive({ type: 'primary-heartbeat', vmId, epoch: 2, lastSeq: 1, releasedSeq: 0, mode: 'unprotected', joinId: null });
    expect(s.core.status().state, 'rejoined while its acquire was out').to.equal('candidate');
    s.core.step({ type: 'lease-acquired', untilMs: 10_000, epoch: 2 });
    s.read();
    expect(s.core.status().state).to.equal('live');
    expect(s.dispatched.map((o) => text(o.data))).to.deep.equal(['b']);
  });

  /** A candidate with its acquire out hears a primary that moved on, and stays candidate; returns that heartbeat. */
  const movedOnWhileAsking = (s: SecondaryHarness): Message => {
    s.tick(150);
    expect(s.last.lease).to.deep.equal({ kind: 'acquire', epoch: 2 });
    const moved: Message = { type: 'primary-heartbeat', vmId, epoch: 2, lastSeq: 5, releasedSeq: 5, mode: 'unprotected', joinId: null };
    s.receive(moved);
    expect(s.core.status().state).to.equal('candidate');
    return moved;
  };

  it('with a lease acquire out, a denial lets the next heartbeat of a primary that moved on make it rejoin', () => {
    const s = new SecondaryHarness();
    const moved = movedOnWhileAsking(s);
    s.core.step({ type: 'lease-denied', holder: 'A.1', fenced: false });
    s.read();
    s.receive(moved);
    expect(s.core.status().state).to.equal('joining');
  });

  it('an acquire left unanswered for leaseRenewMs no longer holds a rejoin back (a backend that never answers)', () => {
    const s = new SecondaryHarness();
    const moved = movedOnWhileAsking(s);
    s.tick(150 + s.core.config.leaseRenewMs);
    s.receive(moved);
    expect(s.core.status().state).to.equal('joining');
  });

  it("dispatch 'secondary': dispatches what it matched, and its match ack never passes an undispatched output", () => {
    const s = new SecondaryHarness({ releaseRule: 'compare', dispatchSide: 'secondary', ackEntriesEvery: 100 });
    s.receive(entries(1, [outputEntry(0, 'a'), outputEntry(1, 'b')]));
    s.replayAll();
    expect(s.dispatched.map((o) => text(o.data))).to.deep.equal(['a', 'b']);
    s.tick(1);
    expect(acks(s).at(-1)).to.deep.include({ matchedSeq: 1 });
  });

  it("dispatch 'secondary' after a transfer: waits until the primary released everything before the resync point", () => {
    const s = new SecondaryHarness({ releaseRule: 'compare', dispatchSide: 'secondary' });
    s.receive(chunk(2, 1, 0, Uint8Array.of(0)));
    s.receive(end(2, 1, { chunkCount: 1 }));
    s.core.step({ type: 'restored', transferId: 1, root: 42n });
    s.read();
    s.receive(entries(2, [outputEntry(10, 'x')], 5));
    s.replayAll();
    expect(s.dispatched).to.have.length(0);
    s.tick(1);
    expect(acks(s).at(-1)).to.deep.include({ matchedSeq: 9 }); // not past the undispatched output
    s.receive({ type: 'primary-heartbeat', vmId, epoch: 2, lastSeq: 10, releasedSeq: 9, mode: 'protected', joinId: null });
    expect(s.dispatched.map((o) => text(o.data))).to.deep.equal(['x']);
  });
});
