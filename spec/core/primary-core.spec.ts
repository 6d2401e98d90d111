import { expect } from 'chai';
import type { Message, StateChunkMessage, StateEndMessage } from '../../engine/core/messages.ts';
import { ProtocolError } from '../../engine/core/errors.ts';
import { blockArenaBytes } from '../../engine/log/entry-block.ts';
import type { LogEntry } from '../../engine/log/entry.ts';
import { PrimaryHarness, hashes, text, vmId } from './harness.ts';
import { seededRandom, testSeed } from '../support/seeded-random.ts';

const ack = (epoch: number, receivedSeq: number, matchedSeq: number): Message => ({ type: 'ack', vmId, epoch, receivedSeq, matchedSeq });
const released = (p: PrimaryHarness) => p.released.map((o) => text(o.data));
const codes = (p: PrimaryHarness) => p.last.errors.map((e) => e.code);

describe('PrimaryCore', () => {
  it('assigns consecutive seqs, batches inputs per tick, and sends an output entry at once', () => {
    const p = new PrimaryHarness();
    p.take();
    p.input();
    p.input();
    expect(p.entries()).to.have.length(0);
    p.output('hello');
    expect(p.entries().map((e) => e.seq)).to.deep.equal([0, 1, 2]);
    expect(p.released).to.have.length(0);
    p.input();
    p.tick(1);
    expect(p.entries().map((e) => e.seq)).to.deep.equal([0, 1, 2, 3]);
  });

  it('cuts entries messages by payload bytes as well as by count; a single larger entry travels alone', () => {
    const p = new PrimaryHarness({ batchEntriesMax: 100, batchBytesMax: 1000 });
    p.take();
    // 1 request byte + 300 data bytes per input: a flush is wanted once 1000 bytes are pending.
    for (let i = 0; i < 3; i++) p.input('y'.repeat(300));
    expect(p.entries(), 'three entries (903 bytes) wait for a tick').to.have.length(0);
    p.input('y'.repeat(300));
    p.input('z'.repeat(2000));
    p.tick(1);
    const sizes = p.sent.filter((m) => m.type === 'entries').map((m) => (m.type === 'entries' ? m.block.entries().map((e) => e.request.length + e.data.length) : []));
    expect(sizes.flat(), 'every entry sent once, in order').to.deep.equal([301, 301, 301, 301, 2001]);
    for (const m of sizes) expect(m.length === 1 || m.reduce((a, b) => a + b, 0) <= 1000, `message of ${m.join('+')} bytes`).to.equal(true);
    expect(p.entries().map((e) => e.seq)).to.deep.equal([0, 1, 2, 3, 4]);
  });

  it("rule 'ack': releases an output only AFTER every entry up to it was acked, in order", () => {
    const p = new PrimaryHarness({ releaseRule: 'ack' });
    p.output('a');
    p.input();
    p.output('b');
    p.receive(ack(1, 0, -1));
    expect(released(p)).to.deep.equal(['a']);
    p.receive(ack(1, 1, -1));
    expect(released(p)).to.deep.equal(['a']);
    p.receive(ack(1, 2, -1));
    expect(released(p)).to.deep.equal(['a', 'b']);
  });

  it("rule 'compare': receipt is not enough, the match ack releases", () => {
    const p = new PrimaryHarness({ releaseRule: 'compare' });
    p.output('a');
    p.receive(ack(1, 0, -1));
    expect(p.released).to.have.length(0);
    p.receive(ack(1, 0, 0));
    expect(released(p)).to.deep.equal(['a']);
  });

  it("dispatch 'secondary': the primary never dispatches a matched output, it drops it on the match ack", () => {
    const p = new PrimaryHarness({ releaseRule: 'compare', dispatchSide: 'secondary' });
    p.output('a');
    p.output('b');
    p.receive(ack(1, 1, 0));
    expect(p.released).to.have.length(0);
    expect(p.core.status().heldOutputs).to.equal(1);
    expect(p.core.status().releasedSeq).to.equal(0);
    expect(() => new PrimaryHarness({ releaseRule: 'ack', dispatchSide: 'secondary' })).to.throw(ProtocolError, /E_CONFIG/);
  });

  it('pauses the guest at heldOutputsMax, never drops; an ack resumes it', () => {
    const p = new PrimaryHarness({ heldOutputsMax: 2 });
    p.output('a');
    expect(p.last.pause).to.equal(false);
    p.output('b');
    expect(p.last.pause).to.equal(true);
    expect(p.last.pauseReasons).to.deep.equal(['held-outputs']);
    expect(() => p.output('c')).to.throw(/invariant/); // a driver that ignores PAUSE is a programmer error
  });

  it('pauses on held bytes, in-flight entries and replay lag', () => {
    const bytesP = new PrimaryHarness({ heldBytesMax: 4 });
    bytesP.output('abcd');
    expect(bytesP.last.pauseReasons).to.include('held-bytes');
    const p = new PrimaryHarness({ inflightEntriesMax: 3, lagEntriesMax: 5 });
    p.input();
    p.input();
    p.input();
    expect(p.last.pauseReasons).to.deep.equal(['inflight']);
    p.receive(ack(1, 2, -1));
    expect(p.last.pause).to.equal(false);
    p.input();
    p.input();
    expect(p.last.pauseReasons).to.deep.equal(['lag']);
    p.receive(ack(1, 4, 4));
    expect(p.last.pause).to.equal(false);
  });

  it('drops stale-epoch, future-epoch and foreign-VM messages with typed errors', () => {
    const p = new PrimaryHarness();
    p.output('a');
    p.receive(ack(0, 0, 0));
    expect(codes(p)).to.deep.equal(['E_STALE_EPOCH']);
    p.receive(ack(2, 0, 0));
    expect(codes(p)).to.deep.equal(['E_EPOCH_AHEAD']);
    p.receive({ type: 'ack', vmId: 'other', epoch: 1, receivedSeq: 0, matchedSeq: 0 });
    expect(codes(p)).to.deep.equal(['E_VM_MISMATCH']);
    p.receive(ack(1, 5, 0));
    expect(codes(p)).to.deep.equal(['E_BAD_MESSAGE']);
    expect(p.released).to.have.length(0);
  });

  it('retransmits unacked entries after retransmitMs (go-back-N) and on a nack', () => {
    const p = new PrimaryHarness();
    p.input();
    p.input();
    p.tick(1);
    p.take();
    p.receive({ type: 'nack', vmId, epoch: 1, fromSeq: 1, toSeq: 1 });
    expect(p.entries().map((e) => e.seq)).to.deep.equal([1]);
    p.take();
    p.receive(ack(1, 0, 0));
    p.tick(40);
    expect(p.entries().map((e) => e.seq)).to.deep.equal([1]);
  });

  it('keeps exactly the unacked entries for retransmission across many partial acks (long windows)', () => {
    const p = new PrimaryHarness({ batchEntriesMax: 64, inflightEntriesMax: 10_000, lagEntriesMax: 10_000 });
    const seqs = () => p.entries().map((e) => e.seq);
    const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
    for (let i = 0; i < 5000; i++) p.input();
    p.tick(1);
    expect(seqs()).to.deep.equal(range(0, 4999));
    p.take();
    for (const upTo of [10, 1500, 3000, 3001]) {
      p.receive(ack(1, upTo, 0));
      expect(p.core.status().inflightEntries).to.equal(4999 - upTo);
    }
    p.receive({ type: 'nack', vmId, epoch: 1, fromSeq: 3100, toSeq: 3105 });
    expect(seqs()).to.deep.equal(range(3100, 3105));
    p.take();
    // A nack reaching below the acked point resends only what is still unacked.
    p.receive({ type: 'nack', vmId, epoch: 1, fromSeq: 2990, toSeq: 3003 });
    expect(seqs()).to.deep.equal([3002, 3003]);
    p.take();
    p.tick(40); // go-back-N: everything unacked, in batches of 64
    expect(seqs()).to.deep.equal(range(3002, 4999));
    expect(p.sent.every((m) => m.type !== 'entries' || m.block.count <= 64)).to.equal(true);
    p.take();
    p.receive(ack(1, 4999, 4999));
    expect(p.core.status().inflightEntries).to.equal(0);
    p.input();
    p.tick(41);
    expect(seqs()).to.deep.equal([5000]);
  });

  it('keeps and resends exact bytes when the log outgrows its buffers (entries larger than, and many more than, one arena)', () => {
    const p = new PrimaryHarness({ batchEntriesMax: 100_000, batchBytesMax: 64 << 20, inflightEntriesMax: 1e6, lagEntriesMax: 1e6 });
    const data = (i: number) => {
      const d = new Uint8Array(i % 997 === 0 ? blockArenaBytes + 24 : 8 + (i % 11));
      for (let k = 0; k < d.length; k += 97) d[k] = (i * 31 + k) & 0xff;
      return d;
    };
    const n = 60_000; // about 2.5 arenas of small entries, and some larger than an arena
    for (let i = 0; i < n; i++) p.core.step({ type: 'input', callIndex: i, call: 'random_get', request: new Uint8Array([i & 3]), data: data(i) });
    p.tick(1);
    const check = (list: LogEntry[], from: number) => {
      list.forEach((e, k) => {
        const i = from + k;
        if (e.seq !== i || e.callIndex !== i || e.request[0] !== (i & 3) || !Buffer.from(e.data).equals(Buffer.from(data(i)))) throw new Error(`entry ${i} differs`);
      });
    };
    expect(p.entries()).to.have.length(n);
    check(p.entries(), 0);
    p.take();
    p.receive(ack(1, 29_999, 0));
    expect(p.core.status().inflightEntries).to.equal(n - 30_000);
    p.tick(40); // go-back-N from the middle of a block
    expect(p.entries()).to.have.length(n - 30_000);
    check(p.entries(), 30_000);
  });

  it('reuseLogBuffers: writes new entries over acknowledged ones only; what it sends and resends stays exact', () => {
    const seed = testSeed();
    const rand = seededRandom(seed);
    // The secondary is silent between the random acks below, for longer than the harness's peer timeout at times:
    // the timeout is put out of reach so that every seed streams all 20,000 entries.
    const p = new PrimaryHarness({
      reuseLogBuffers: true,
      logBufferBytes: 4096,
      batchEntriesMax: 50,
      inflightEntriesMax: 1e6,
      lagEntriesMax: 1e6,
      peerTimeoutMs: 1e9,
    });
    // Runs of clock reads as a host hands them over (one request array, one refilled result array: packed runs in
    // the log's buffers), between runs of random reads of every length.
    const isClock = (i: number) => Math.floor(i / 37) % 3 !== 0;
    const data = (i: number) => {
      const d = new Uint8Array(isClock(i) ? 8 : 1 + ((i * 7919) % 61));
      for (let k = 0; k < d.length; k++) d[k] = (i * 31 + k * 7) & 0xff;
      return d;
    };
    const clockRequest = new Uint8Array(12);
    const clockResult = new Uint8Array(8);
    // The buffers of blocks sent for the first time: the log's own (a resent part of a block is a copy).
    const buffers = new Set<ArrayBufferLike>();
    let newBytes = 0;
    let packedBlocks = 0;
    let maxSent = -1;
    // A driver with reuseLogBuffers encodes what it sends at once: here every message is checked as it leaves.
    const check = () => {
      for (const m of p.take()) {
        if (m.type !== 'entries') continue;
        if (m.block.firstSeq > maxSent) {
          newBytes += m.block.bytes.length;
          buffers.add(m.block.bytes.buffer);
        }
        // Fewer bytes than a 24-byte header per entry: the block holds a packed run.
        if (m.block.bytes.length < m.block.count * 24) packedBlocks++;
        m.block.entries().forEach((e) => {
          const want = data(e.seq);
          maxSent = Math.max(maxSent, e.seq);
          if (e.callIndex !== e.seq || !Buffer.from(e.data).equals(Buffer.from(want))) throw new Error(`seed ${seed}: entry ${e.seq} sent wrong`);
        });
      }
    };
    let acked = -1;
    let now = 1;
    for (let i = 0; i < 20_000; i++) {
      if (isClock(i)) {
        clockResult.set(data(i));
        p.core.step({ type: 'input', callIndex: i, call: 'clock_time_get', request: clockRequest, data: clockResult });
      } else {
        p.core.step({ type: 'input', callIndex: i, call: 'random_get', request: new Uint8Array(1), data: data(i) });
      }
      p.read();
      check();
      const r = rand();
      if (r < 0.01) {
        p.tick(++now);
        check();
      } else if (r < 0.02 && acked < maxSent) {
        // An ack of part of what was sent, often in the middle of a block and of a buffer.
        acked = Math.min(maxSent, acked + 1 + Math.floor(rand() * 400));
        p.receive(ack(1, acked, 0));
        check();
      } else if (r < 0.025) {
        p.receive({ type: 'nack', vmId, epoch: 1, fromSeq: Math.max(0, acked - 5), toSeq: i });
        check();
      } else if (r < 0.027) {
        now += 40; // go-back-N: everything unacked again
        p.tick(now);
        check();
      }
    }
    expect(p.core.status().mode, `seed ${seed}`).to.equal('protected');
    expect(maxSent, `seed ${seed}`).to.be.greaterThan(19_900);
    expect(packedBlocks, `seed ${seed}: blocks sent with packed runs`).to.be.greaterThan(100);
    // Far fewer buffers than a fresh one per 4 KiB of log (9 to 14 for about 134 in 30 seeds).
    expect(newBytes / 4096, `seed ${seed}`).to.be.greaterThan(100);
    expect(buffers.size, `seed ${seed}: buffers used`).to.be.lessThan(newBytes / 4096 / 4);
  });

  it('holds everything without the lease; after a peer loss it re-fences the lease at the new epoch BEFORE releasing', () => {
    const p = new PrimaryHarness({}, { mode: 'protected' });
    expect(p.last.lease).to.deep.equal({ kind: 'acquire', epoch: 1 });
    p.output('a');
    p.receive(ack(1, 0, 0));
    expect(p.released).to.have.length(0);
    p.core.step({ type: 'lease-acquired', untilMs: 10_000, epoch: 1 });
    p.read();
    expect(released(p)).to.deep.equal(['a']);
    p.output('b');
    p.tick(150); // the secondary has been silent for peerTimeoutMs
    expect(codes(p)).to.include('E_PEER_LOST');
    expect(p.core.status().mode).to.equal('unprotected');
    expect(p.core.status().warnings.join()).to.match(/UNPROTECTED/);
    expect(p.last.lease).to.deep.equal({ kind: 'acquire', epoch: 2 });
    expect(released(p)).to.deep.equal(['a']); // not yet: a secondary at epoch 1 could still take over
    p.core.step({ type: 'lease-acquired', untilMs: 10_000, epoch: 2 });
    p.read();
    expect(released(p)).to.deep.equal(['a', 'b']);
  });

  it('a long slice of its own (a deaf tick) is not the secondary going silent; real silence after it still is', () => {
    const p = new PrimaryHarness();
    p.receive(ack(1, -1, -1));
    p.core.tick(5000, true); // five seconds inside one guest slice: nothing could be read meanwhile
    p.read();
    expect(codes(p)).to.not.include('E_PEER_LOST');
    expect(p.core.status().mode).to.equal('protected');
    p.tick(5050);
    expect(p.core.status().mode).to.equal('protected');
    p.tick(5150); // 150 ms of silence while listening (peerTimeoutMs 100)
    expect(codes(p)).to.include('E_PEER_LOST');
  });

  it('while a transfer is applied, silence is loss only after peerTimeoutMs plus its bytes at transferApplyBytesPerMs', () => {
    const chunk = new Uint8Array(10_000);
    for (const [what, chunks, allowanceMs] of [
      ['no transfer', 0, 0],
      ['a 20 kB transfer at 100 B/ms', 2, 200],
    ] as const) {
      const p = new PrimaryHarness({ transferApplyBytesPerMs: 100 }, { mode: 'unprotected', leaseUntilMs: 1_000_000 });
      p.receive({ type: 'join', vmId, epoch: 0, joinId: 'B#1', pageHashes: null, blockHashes: null });
      const pre = p.last.checkpoint!;
      p.core.step({ type: 'checkpoint', transferId: pre.transferId, callIndex: 0, root: 1n, chunks: chunks ? [chunk] : [] });
      p.read();
      p.tick(20); // drained: the stunned delta
      p.core.step({ type: 'checkpoint', transferId: pre.transferId, callIndex: 0, root: 1n, chunks: chunks ? [chunk] : [] });
      p.read();
      expect(p.sent.some((m) => m.type === 'state-end'), what).to.equal(true);
      // Last heard at 0 (the join); peerTimeoutMs is 100.
      p.tick(99 + allowanceMs);
      expect(codes(p), what).to.not.include('E_PEER_LOST');
      p.tick(100 + allowanceMs);
      expect(codes(p), what).to.include('E_PEER_LOST');
    }
  });

  it('stops releasing when the lease runs out, and resumes when it is renewed', () => {
    const p = new PrimaryHarness({ leaseGuardMs: 5 }, { mode: 'protected', leaseUntilMs: 50 });
    p.output('a');
    p.tick(46);
    expect(codes(p)).to.include('E_LEASE_LOST');
    p.receive(ack(1, 0, 0));
    expect(p.released).to.have.length(0);
    p.core.step({ type: 'lease-acquired', untilMs: 500, epoch: 1 });
    p.read();
    expect(released(p)).to.deep.equal(['a']);
  });

  it("onPeerLoss 'pause': the guest pauses until a secondary protects it again", () => {
    const p = new PrimaryHarness({ onPeerLoss: 'pause' });
    p.tick(150);
    expect(p.last.pauseReasons).to.deep.equal(['no-secondary']);
  });

  it('a lease held elsewhere deposes the primary for good', () => {
    const p = new PrimaryHarness({}, { mode: 'protected' });
    p.core.step({ type: 'lease-denied', holder: 'B.1', fenced: false });
    p.read();
    expect(p.last.pauseReasons).to.include('deposed');
    expect(p.last.notices.map((n) => n.kind)).to.include('deposed');
    expect(() => p.input()).to.throw(/invariant/);
  });

  describe('resync', () => {
    function diverge(p: PrimaryHarness) {
      p.receive({
        type: 'divergence',
        vmId,
        epoch: 1,
        seq: 2,
        callIndex: 2,
        reason: 'output',
        detail: 'bytes differ',
        matchedSeq: -1,
        pageHashes: hashes(4).pages,
        blockHashes: hashes(4).blocks,
      });
    }

    it('holds EVERY output, stuns, sends the diff in hashed chunks, releases after a verified transfer-done', () => {
      const p = new PrimaryHarness({ releaseRule: 'ack' });
      p.output('a');
      p.output('b');
      diverge(p);
      const req = p.last.checkpoint!;
      expect(req).to.deep.include({ kind: 'diff', stun: true });
      expect(p.last.pauseReasons).to.deep.equal(['stun']);
      expect(p.core.status().epoch).to.equal(2);
      expect(() => p.input()).to.throw(/stun/);
      p.core.step({ type: 'lease-acquired', untilMs: 1_000_000, epoch: 2 });
      p.receive(ack(2, 1, 1)); // nothing is released while the resync runs
      expect(p.released).to.have.length(0);
      p.take();
      p.core.step({ type: 'checkpoint', transferId: req.transferId, callIndex: 2, root: 99n, chunks: [Uint8Array.of(1), Uint8Array.of(2)] });
      p.read();
      expect(p.last.pause).to.equal(false);
      const chunks = p.sent.filter((m): m is StateChunkMessage => m.type === 'state-chunk');
      const end = p.sent.find((m): m is StateEndMessage => m.type === 'state-end')!;
      expect(chunks.map((c) => [c.index, c.hash === p.core.config.chunkHash(c.payload)])).to.deep.equal([[0, true], [1, true]]);
      expect(end).to.deep.include({ chunkCount: 2, nextSeq: 2, callIndex: 2, root: 99n, reason: 'resync', epoch: 2 });
      expect(end.heldOutputs.map((o) => text(o.data))).to.deep.equal(['a', 'b']);
      p.output('c'); // streaming resumes at seq 2, but 'c' waits for the new stream's acks
      p.receive({ type: 'transfer-done', vmId, epoch: 2, transferId: req.transferId, root: 99n });
      expect(released(p)).to.deep.equal(['a', 'b']); // the primary's outputs are the truth after a resync
      expect(p.core.status().mode).to.equal('protected');
      p.receive(ack(2, 2, 2));
      expect(released(p)).to.deep.equal(['a', 'b', 'c']);
    });

    it('a wrong digest after the transfer starts a full resync (E_RESYNC_DIGEST)', () => {
      const p = new PrimaryHarness();
      p.output('a');
      diverge(p);
      const id = p.last.checkpoint!.transferId;
      p.core.step({ type: 'checkpoint', transferId: id, callIndex: 1, root: 5n, chunks: [Uint8Array.of(1)] });
      p.read();
      p.receive({ type: 'transfer-done', vmId, epoch: 2, transferId: id, root: 6n });
      expect(codes(p)).to.deep.equal(['E_RESYNC_DIGEST']);
      expect(p.last.checkpoint).to.deep.include({ kind: 'full', stun: true });
      expect(p.core.status().epoch).to.equal(3);
      expect(p.released).to.have.length(0);
    });
  });

  it('re-protect: pre-copy while the guest runs, then one short stun for the dirty delta; failback diffs against the joiner', () => {
    const p = new PrimaryHarness({}, { mode: 'unprotected', leaseUntilMs: 1_000_000 });
    p.output('solo');
    expect(released(p)).to.deep.equal(['solo']); // unprotected: out at once (lease held)
    p.receive({ type: 'join', vmId, epoch: 0, joinId: 'B.2#1', pageHashes: hashes(4).pages, blockHashes: hashes(4).blocks });
    const pre = p.last.checkpoint!;
    expect(pre).to.deep.include({ kind: 'diff', stun: false }); // failback: only what differs from the joiner's old state
    expect(p.core.status().mode).to.equal('protecting');
    p.core.step({ type: 'checkpoint', transferId: pre.transferId, callIndex: 1, root: 1n, chunks: [Uint8Array.of(1)] });
    p.read();
    expect(p.last.pause).to.equal(false);
    p.input(); // the guest keeps running during the pre-copy
    p.tick(20);
    expect(p.last.checkpoint).to.deep.equal({ transferId: pre.transferId, kind: 'delta', stun: true });
    expect(p.last.pauseReasons).to.deep.equal(['stun']);
    p.take();
    p.core.step({ type: 'checkpoint', transferId: pre.transferId, callIndex: 2, root: 2n, chunks: [Uint8Array.of(2)] });
    p.read();
    const end = p.sent.find((m): m is StateEndMessage => m.type === 'state-end')!;
    expect(end).to.deep.include({ chunkCount: 2, nextSeq: 2, reason: 'protect', joinId: 'B.2#1' });
    p.output('held');
    expect(released(p)).to.deep.equal(['solo']);
    p.receive({ type: 'transfer-done', vmId, epoch: end.epoch, transferId: end.transferId, root: 2n });
    expect(p.core.status().mode).to.equal('protected');
    expect(p.core.status().warnings).to.deep.equal(['NO LEASE: outputs are held']); // every epoch change re-fences
    p.core.step({ type: 'lease-acquired', untilMs: 1_000_000, epoch: end.epoch });
    p.read();
    expect(p.core.status().warnings).to.deep.equal([]);
  });
});
