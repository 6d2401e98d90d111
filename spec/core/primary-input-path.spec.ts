/**
 * PrimaryCore.input()'s short path (inputs recorded without looking at anything but the log while no bound is
 * near) must be indistinguishable from stepping every input as an event: the same messages, outputs, pauses
 * and status, whatever the acks, outputs, ticks and bounds in between.
 * Input runs (PrimaryCore.inputRun, fed as the driver feeds it through engine/machine/input-run.ts: a run opened
 * after an input with the core's inputRunRoom, closed before any other event) hand the core many inputs at once,
 * so its messages group entries differently and the acks they bring come at other points; what must hold is
 * what the secondary and the clients see: every entry sent is the one the guest made at that seq, the in-flight
 * bound holds, and every output is released, in order. Seeded; TWINSTEP_SEED=N reruns one.
 */
import { expect } from 'chai';
import { PrimaryCore } from '../../engine/core/primary-core.ts';
import type { Message } from '../../engine/core/messages.ts';
import type { PrimaryReady } from '../../engine/core/primary-types.ts';
import { EntryKind } from '../../engine/log/entry.ts';
import { encodeChannelMessage } from '../../engine/log/channel-codec.ts';
import { seededRandom, testSeed } from '../support/seeded-random.ts';
import { InputRun } from '../../engine/machine/input-run.ts';

const vmId = 'vm-input-path';
const config = { vmId, releaseRule: 'ack' as const, inflightEntriesMax: 60, lagEntriesMax: 90, batchEntriesMax: 16, heldOutputsMax: 8, heartbeatMs: 10, peerTimeoutMs: 1000, retransmitMs: 30 };

interface Seen {
  messages: string[];
  outputs: number[];
  pauses: string[];
}

/** One run of the seeded script; `short`: inputs through input() (calling ready() only when it says so). */
function run(seed: number, short: boolean): { seen: Seen; status: unknown } {
  const rnd = seededRandom(seed);
  const core = new PrimaryCore(config, { mode: 'protected', leaseUntilMs: 1e12 });
  const seen: Seen = { messages: [], outputs: [], pauses: [] };
  let paused = false;
  let sent = -1;
  const take = (r: PrimaryReady) => {
    for (const m of r.messages) {
      seen.messages.push(Buffer.from(encodeChannelMessage(m)).toString('base64'));
      if (m.type === 'entries') sent = Math.max(sent, m.block.lastSeq);
    }
    for (const o of r.outputs) seen.outputs.push(o.seq);
    if (r.pause !== paused) seen.pauses.push(`${r.pause} ${r.pauseReasons.join(',')} at ${core.upcomingSeq}`);
    paused = r.pause;
  };
  let now = 0;
  let call = 0;
  let acked = -1;
  core.tick(now);
  take(core.ready());
  for (let step = 0; step < 3000; step++) {
    const x = rnd();
    if (paused || x < 0.08) {
      // An ack for some of what was sent (the secondary's progress).
      if (sent > acked) acked += 1 + Math.floor(rnd() * (sent - acked));
      const msg: Message = { type: 'ack', vmId, epoch: 1, receivedSeq: acked, matchedSeq: Math.max(-1, acked - Math.floor(rnd() * 5)) };
      core.step({ type: 'message', message: msg });
      take(core.ready());
    } else if (x < 0.1) {
      now += 1 + Math.floor(rnd() * 15);
      core.tick(now);
      take(core.ready());
    } else if (x < 0.13) {
      core.step({ type: 'output', callIndex: call++, call: 'fd_write', channel: 1, data: new Uint8Array([step & 0xff]) });
      take(core.ready());
    } else {
      const data = new Uint8Array([step & 0xff, (step >> 8) & 0xff, 7, 9]);
      if (short) {
        if (core.input(call++, 'random_get', new Uint8Array([4, 0, 0, 0]), data)) take(core.ready());
      } else {
        core.step({ type: 'input', callIndex: call++, call: 'random_get', request: new Uint8Array([4, 0, 0, 0]), data });
        take(core.ready());
      }
    }
  }
  core.tick(now + 1);
  take(core.ready());
  return { seen, status: core.status() };
}

/**
 * The seeded script with inputs handed over in input runs. Returns what the checks need: the entries sent by seq
 * (each time it was sent), the outputs fed and released, the most entries ever in flight, and how many inputs
 * went through runs.
 */
function runWithInputRuns(seed: number) {
  const rnd = seededRandom(seed);
  const core = new PrimaryCore(config, { mode: 'protected', leaseUntilMs: 1e12 });
  // What the guest made, by seq (every input and output takes the next seq: there are no digests here).
  const made: string[] = [];
  const sent = new Map<number, string[]>();
  const fedOutputs: number[] = [];
  const released: number[] = [];
  let paused = false;
  let lastSent = -1;
  let acked = -1;
  let inflightMax = 0;
  let ranEntries = 0;
  const take = (r: PrimaryReady): void => {
    for (const m of r.messages) {
      if (m.type !== 'entries') continue;
      for (const e of m.block.entries()) {
        const list = sent.get(e.seq) ?? [];
        list.push(`${e.callIndex} ${e.kind} ${e.call} ${e.channel} ${Buffer.from(e.request).toString('hex')} ${Buffer.from(e.data).toString('hex')}`);
        sent.set(e.seq, list);
        lastSent = Math.max(lastSent, e.seq);
      }
      inflightMax = Math.max(inflightMax, lastSent - acked);
    }
    for (const o of r.outputs) released.push(o.seq);
    paused = r.pause;
  };
  const run = new InputRun((first, count, c, request, words, width) => {
    ranEntries += count;
    if (core.inputRun(first, count, c, request, words, width)) take(core.ready());
  });
  // One request array for every input (the host hands the same array out again), results of 8 bytes.
  const request = new Uint8Array([8, 0, 0, 0]);
  let now = 0;
  let call = 0;
  core.tick(now);
  take(core.ready());
  for (let step = 0; step < 3000; step++) {
    const x = rnd();
    // Anything but an input closes the run first (the driver's handler does).
    if (paused || x < 0.13) run.close();
    if (paused || x < 0.08) {
      if (lastSent > acked) acked += 1 + Math.floor(rnd() * (lastSent - acked));
      core.step({ type: 'message', message: { type: 'ack', vmId, epoch: 1, receivedSeq: acked, matchedSeq: Math.max(-1, acked - Math.floor(rnd() * 5)) } });
      take(core.ready());
    } else if (x < 0.1) {
      now += 1 + Math.floor(rnd() * 15);
      core.tick(now);
      take(core.ready());
    } else if (x < 0.13) {
      const data = new Uint8Array([step & 0xff]);
      fedOutputs.push(made.length);
      made.push(`${call} ${EntryKind.Output} fd_write 1  ${Buffer.from(data).toString('hex')}`);
      core.step({ type: 'output', callIndex: call++, call: 'fd_write', channel: 1, data });
      take(core.ready());
    } else {
      const data = new Uint8Array([step & 0xff, (step >> 8) & 0xff, 7, 9, step & 3, 0, 1, 2]);
      // A gap in the call indices now and then (pure calls between two inputs).
      if (rnd() < 0.05) call += 1 + Math.floor(rnd() * 3);
      made.push(`${call} ${EntryKind.Input} random_get 0 ${Buffer.from(request).toString('hex')} ${Buffer.from(data).toString('hex')}`);
      if (run.takes(call, 'random_get', request)) {
        run.push(data);
        call++;
        continue;
      }
      run.close();
      const at = call++;
      if (core.input(at, 'random_get', request, data)) take(core.ready());
      run.open(at + 1, 'random_get', request, data.length, core.inputRunRoom);
    }
  }
  run.close();
  // Time passes and the secondary acknowledges everything: the last entries go out, every output held is released.
  for (let k = 0; k < 200 && (released.length < fedOutputs.length || lastSent < core.upcomingSeq - 1); k++) {
    now += 10;
    core.tick(now);
    take(core.ready());
    acked = lastSent;
    core.step({ type: 'message', message: { type: 'ack', vmId, epoch: 1, receivedSeq: acked, matchedSeq: acked } });
    take(core.ready());
  }
  return { made, sent, fedOutputs, released, inflightMax, ranEntries, upcoming: core.upcomingSeq };
}

describe('PrimaryCore input path', () => {
  it('input() records exactly as stepping each input would: same messages, outputs, pauses, status', () => {
    const base = testSeed();
    for (let k = 0; k < 20; k++) {
      const seed = (base + k) >>> 0;
      const a = run(seed, true);
      const b = run(seed, false);
      expect(a.seen.pauses, `TWINSTEP_SEED=${seed}`).to.deep.equal(b.seen.pauses);
      expect(a.seen.outputs, `TWINSTEP_SEED=${seed}`).to.deep.equal(b.seen.outputs);
      expect(a.seen.messages, `TWINSTEP_SEED=${seed}`).to.deep.equal(b.seen.messages);
      expect(a.status, `TWINSTEP_SEED=${seed}`).to.deep.equal(b.status);
      expect(b.seen.pauses.length, `TWINSTEP_SEED=${seed}: the bounds were reached`).to.be.greaterThan(0);
    }
  });

  it('input runs: every entry sent is the one made at its seq, the in-flight bound holds, every output is released in order', () => {
    const base = testSeed();
    for (let k = 0; k < 20; k++) {
      const seed = (base + k) >>> 0;
      const msg = `TWINSTEP_SEED=${seed}`;
      const r = runWithInputRuns(seed);
      expect(r.upcoming, msg).to.equal(r.made.length);
      for (let seq = 0; seq < r.made.length; seq++) {
        const copies = r.sent.get(seq);
        expect(copies, `${msg}: entry ${seq} was sent`).to.not.equal(undefined);
        for (const c of copies!) expect(c, `${msg}: entry ${seq}`).to.equal(r.made[seq]);
      }
      expect(r.inflightMax, msg).to.be.at.most(config.inflightEntriesMax);
      expect(r.released, msg).to.deep.equal(r.fedOutputs);
      expect(r.ranEntries, `${msg}: most inputs went through runs`).to.be.greaterThan(r.made.length / 3);
    }
  });
});
