import { expect } from 'chai';
import fc from 'fast-check';
import { decodeMessage, encodeMessage, encodeMessageFrame, type Message, type MessageBody } from '../../engine/log/message-codec.ts';
import { FrameReader, FrameType } from '../../engine/log/frame.ts';
import { HashChain } from '../../engine/log/hash-chain.ts';
import { LogFormatError } from '../../engine/log/errors.ts';
import { entriesArb, mixedEntries, plain, propertySeed } from './entries.ts';

const bytesArb = fc.uint8Array({ maxLength: 64 });
const n53 = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

const bodyArb: fc.Arbitrary<MessageBody> = fc.oneof(
  fc.record({ type: fc.constant('hello' as const), formatVersion: fc.integer({ min: 0, max: 0xffff }), node: fc.string(), createdBy: fc.string() }),
  fc.record({ type: fc.constant('challenge' as const), nonce: bytesArb }),
  fc.record({ type: fc.constant('auth' as const), nonce: bytesArb, hmac: bytesArb }),
  fc.record({ type: fc.constant('entries' as const), entries: entriesArb, prevChecksum: u64 }),
  fc.record({ type: fc.constant('ack' as const), endSeq: n53 }),
  fc.record({ type: fc.constant('matchAck' as const), endSeq: n53 }),
  fc.record({ type: fc.constant('heartbeat' as const), seq: n53, tick: n53 }),
  fc.record({ type: fc.constant('divergence' as const), seq: n53, reason: fc.string() }),
  fc.record({ type: fc.constant('pageHashes' as const), callIndex: n53, firstPage: u32, digests: fc.array(u64, { maxLength: 20 }) }),
  fc
    .record({ type: fc.constant('checkpointChunk' as const), callIndex: n53, index: u32, count: u32, hash: u64, bytes: bytesArb })
    .filter((c) => c.index < c.count),
  fc.record({ type: fc.constant('resyncDone' as const), callIndex: n53 }),
  fc.record({ type: fc.constant('error' as const), code: fc.string(), text: fc.string() }),
);

function comparable(m: Message): unknown {
  if (m.body.type !== 'entries') return m;
  const { lastChecksum: _l, ...body } = m.body;
  return { ...m, body: { ...body, entries: body.entries.map(plain) } };
}

describe('message codec', () => {
  it('round-trips every message type (property)', () => {
    fc.assert(
      fc.property(fc.string(), n53, bodyArb, (vmId, epoch, body) => {
        const msg: Message = { vmId, epoch, body };
        const back = decodeMessage(encodeMessage(msg));
        expect(comparable(back)).to.deep.equal(comparable(msg));
      }),
      { seed: propertySeed, numRuns: 500 },
    );
  });

  it('streams entries messages over frames; the receiver verifies the chain across messages', () => {
    const entries = mixedEntries(30);
    const producer = new HashChain();
    const stream: Uint8Array[] = [];
    for (let i = 0; i < 30; i += 10) {
      const slice = entries.slice(i, i + 10);
      const prev = producer.checksum;
      for (const e of slice) producer.append(e);
      stream.push(encodeMessageFrame({ vmId: 'vm', epoch: 3, body: { type: 'entries', entries: slice, prevChecksum: prev } }));
    }
    const reader = new FrameReader();
    const checker = new HashChain();
    const got = [];
    for (const chunk of stream) {
      reader.push(chunk);
      for (let f = reader.next(); f; f = reader.next()) {
        expect(f.type).to.equal(FrameType.Message);
        const m = decodeMessage(f.payload);
        if (m.body.type !== 'entries') throw new Error('wrong body');
        checker.accept({ entries: m.body.entries, prevChecksum: m.body.prevChecksum, lastChecksum: m.body.lastChecksum! });
        got.push(...m.body.entries);
      }
    }
    expect(got.map(plain)).to.deep.equal(entries.map(plain));
    expect(checker.checksum).to.equal(producer.checksum);
  });

  it('rejects corrupted messages with LogFormatError only (property)', () => {
    const samples = [
      encodeMessage({ vmId: 'vm', epoch: 1, body: { type: 'entries', entries: mixedEntries(10), prevChecksum: 0n } }),
      encodeMessage({ vmId: 'vm', epoch: 1, body: { type: 'pageHashes', callIndex: 5, firstPage: 0, digests: [1n, 2n, 3n] } }),
      encodeMessage({ vmId: 'vm', epoch: 1, body: { type: 'auth', nonce: new Uint8Array(16), hmac: new Uint8Array(32) } }),
    ];
    fc.assert(
      fc.property(fc.nat(samples.length - 1), fc.array(fc.tuple(fc.nat(10_000), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 3 }), fc.nat(10_000), (which, flips, cut) => {
        const src = samples[which]!;
        const bad = src.slice(0, cut % (src.length + 1));
        for (const [at, x] of flips) if (bad.length > 0) bad[at % bad.length]! ^= x;
        try {
          decodeMessage(bad);
        } catch (err) {
          if (!(err instanceof LogFormatError)) throw err;
        }
      }),
      { seed: propertySeed, numRuns: 3000 },
    );
  });
});
