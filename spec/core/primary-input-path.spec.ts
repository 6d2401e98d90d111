/**
 * PrimaryCore.input()'s short path (inputs recorded without looking at anything but the log while no bound is
 * near) must be indistinguishable from stepping every input as an event: the same messages, outputs, pauses
 * and status, whatever the acks, outputs, ticks and bounds in between. Seeded; TWINSTEP_SEED=N reruns one.
 */
import { expect } from 'chai';
import { PrimaryCore } from '../../engine/core/primary-core.ts';
import type { Message } from '../../engine/core/messages.ts';
import type { PrimaryReady } from '../../engine/core/primary-types.ts';
import { encodeChannelMessage } from '../../engine/log/channel-codec.ts';
import { seededRandom, testSeed } from '../support/seeded-random.ts';

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
});
