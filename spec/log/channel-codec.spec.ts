import { expect } from 'chai';
import { decodeChannelMessage, encodeChannelMessage } from '../../engine/log/channel-codec.ts';
import { EntryBlock } from '../../engine/log/entry-block.ts';
import { LogFormatError } from '../../engine/log/errors.ts';
import { channelFormatVersion } from '../../engine/log/version.ts';
import type { Message } from '../../engine/core/messages.ts';
import { mixedEntries } from './entries.ts';

const SEED = Number(process.env.SEED ?? 20261206);

/** A small seeded generator (xorshift32), so a failing damage case reruns exactly. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** A mixed run of entries in chain order (one host call per index, as a live log has them). */
function entriesMessage(count = 300, firstSeq = 40, firstCall = 100): Message {
  const entries = mixedEntries(count, firstSeq, firstCall).map((e, i) => ({ ...e, callIndex: firstCall + i }));
  return { type: 'entries', vmId: 'vm-1', epoch: 3, block: EntryBlock.fromEntries(entries), releasedSeq: 17, lastSeq: firstSeq + count - 1 };
}

function refuses(bytes: Uint8Array): LogFormatError {
  try {
    decodeChannelMessage(bytes);
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(LogFormatError);
    return e as LogFormatError;
  }
  throw new Error('decoded');
}

/** Re-seals a frame after a change (the trailing xxh64), so a test reaches the checks behind the checksum. */
async function reseal(frame: Uint8Array): Promise<Uint8Array> {
  const { xxh64 } = await import('@node-rs/xxhash');
  const b = Buffer.from(frame);
  b.writeBigUInt64LE(xxh64(b.subarray(0, b.length - 8)), b.length - 8);
  return new Uint8Array(b);
}

describe('channel codec', () => {
  it('round-trips an entries message: the block, every entry, and the envelope', () => {
    const m = entriesMessage();
    const back = decodeChannelMessage(encodeChannelMessage(m));
    if (back.type !== 'entries' || m.type !== 'entries') throw new Error('type');
    expect(back.block.firstSeq).to.equal(40);
    expect(back.block.count).to.equal(300);
    expect(back.block.entries()).to.deep.equal(m.block.entries());
    expect(back.block.outputs.map((o) => o.seq)).to.deep.equal(m.block.outputs.map((o) => o.seq));
    expect({ ...back, block: null }).to.deep.equal({ ...m, block: null });
  });

  it('round-trips the other messages, their byte fields and bigint arrays', () => {
    const msgs: Message[] = [
      { type: 'primary-heartbeat', vmId: 'v', epoch: 2, lastSeq: 9, releasedSeq: 4, mode: 'protected', joinId: null },
      { type: 'state-chunk', vmId: 'v', epoch: 2, transferId: 1, index: 0, payload: new Uint8Array([1, 2, 3]), hash: 0xfedcba9876543210n },
      { type: 'ack', vmId: 'v', epoch: 2, receivedSeq: 10, matchedSeq: 8 },
      { type: 'join', vmId: 'v', epoch: 0, joinId: 'n#1', pageHashes: [1n, 2n ** 63n], blockHashes: [] } as unknown as Message,
    ];
    for (const m of msgs) expect(decodeChannelMessage(encodeChannelMessage(m)), m.type).to.deep.equal(m);
  });

  it('places the block 8-byte aligned in its frame, so an aligned frame is read in place (no copy)', () => {
    for (const vmId of ['v', 'vm-1', 'a longer vm id, with "quotes"', 'ünïcödé']) {
      const m = { ...entriesMessage(30), vmId } as Message;
      const frame = encodeChannelMessage(m);
      const aligned = new Uint8Array(new ArrayBuffer(frame.length + 8), 8, frame.length);
      aligned.set(frame);
      const back = decodeChannelMessage(aligned);
      if (back.type !== 'entries' || m.type !== 'entries') throw new Error('type');
      expect(back.vmId).to.equal(vmId);
      expect(back.block.bytes.buffer, vmId).to.equal(aligned.buffer);
      expect(back.block.entries()).to.deep.equal(m.block.entries());
    }
  });

  it('decodes a block whose bytes sit off an 8-byte boundary in the frame (copied, same entries)', () => {
    const m = entriesMessage(50);
    const frame = encodeChannelMessage(m);
    const shifted = new Uint8Array(frame.length + 3);
    shifted.set(frame, 3);
    const back = decodeChannelMessage(shifted.subarray(3));
    if (back.type !== 'entries' || m.type !== 'entries') throw new Error('type');
    expect(back.block.entries()).to.deep.equal(m.block.entries());
  });

  it('refuses wrong magic, another format version, a short frame and a bad checksum with their codes', () => {
    const frame = encodeChannelMessage(entriesMessage(20));
    const magic = frame.slice();
    magic[0] = 0x55;
    expect(refuses(magic).code).to.equal('E_MAGIC');
    const version = frame.slice();
    version[1] = channelFormatVersion + 1;
    expect(refuses(version).code).to.equal('E_VERSION');
    expect(refuses(frame.subarray(0, 10)).code).to.equal('E_TRUNCATED');
    const flipped = frame.slice();
    flipped[frame.length >> 1] ^= 0x40;
    expect(refuses(flipped).code).to.equal('E_CHECKSUM');
  });

  it('refuses an entries message whose block does not match its records, even with a valid checksum', async () => {
    const m = entriesMessage(20);
    const frame = encodeChannelMessage(m);
    const text = Buffer.from(frame).toString('latin1');
    // The envelope's count, one more than the records hold.
    const more = await reseal(new Uint8Array(Buffer.from(text.replace('"count":20', '"count":21'), 'latin1')));
    expect(refuses(more).code).to.equal('E_MALFORMED');
    const none = await reseal(new Uint8Array(Buffer.from(text.replace('"$block"', '"$blocc"'), 'latin1')));
    expect(refuses(none).message).to.match(/entries without a block/);
  });

  it(`never anything but a LogFormatError for resealed random damage to an entries frame (seed ${SEED})`, async () => {
    const rnd = prng(SEED);
    const frame = encodeChannelMessage(entriesMessage(120));
    let decoded = 0;
    for (let trial = 0; trial < 400; trial++) {
      const bad = frame.slice();
      const flips = 1 + Math.floor(rnd() * 4);
      for (let k = 0; k < flips; k++) bad[2 + Math.floor(rnd() * (bad.length - 10))] ^= 1 << Math.floor(rnd() * 8);
      const sealed = await reseal(bad);
      try {
        decodeChannelMessage(sealed);
        decoded++;
      } catch (e) {
        if (!(e instanceof LogFormatError)) throw new Error(`seed ${SEED} trial ${trial}: ${(e as Error).stack}`);
      }
    }
    // Most flips land in data bytes, which decode (the checksum, not the decoder, catches those on the wire).
    expect(decoded, `seed ${SEED}`).to.be.greaterThan(0);
  });
});
