/**
 * What a driver keeps of a message it sends later (engine/node/channel.ts keepForLater): an entries message is
 * encoded at once, so the core may write over its block's buffer meanwhile (PrimaryConfig.reuseLogBuffers), and
 * what goes out later is still the message as it was.
 */
import { expect } from 'chai';
import { keepForLater, sendAllOnChannel } from '../../engine/node/channel.ts';
import { decodeChannelMessage } from '../../engine/log/channel-codec.ts';
import { EntryBlock } from '../../engine/log/entry-block.ts';
import { EntryKind, type LogEntry } from '../../engine/log/entry.ts';
import type { Message } from '../../engine/core/messages.ts';
import { MemoryTransport } from '../../engine/net/memory.ts';

function entries(n: number): LogEntry[] {
  return Array.from({ length: n }, (_, i) => ({ seq: i, callIndex: i, kind: EntryKind.Input, call: 'random_get', channel: 0, request: Uint8Array.of(4, 0, 0, 0), data: Uint8Array.of(i, i + 1, i + 2, i + 3) }));
}

describe('channel: messages kept for later', () => {
  it('an entries message is kept encoded: changing its block afterwards changes nothing that is sent', async () => {
    const block = EntryBlock.fromEntries(entries(20));
    const m: Message = { type: 'entries', vmId: 'vm', epoch: 2, block, releasedSeq: -1, lastSeq: 19 };
    const kept = keepForLater(m, () => undefined);
    expect(kept !== undefined && 'encoded' in kept).to.equal(true);
    // The buffer is written over, as a log reusing it would.
    block.bytes.fill(0xee);
    const [a, b] = MemoryTransport.pair();
    const got: Message[] = [];
    b.onMessage((bytes) => got.push(decodeChannelMessage(bytes)));
    const heartbeat: Message = { type: 'primary-heartbeat', vmId: 'vm', epoch: 2, mode: 'protected', joinId: 'j', releasedSeq: -1, lastSeq: 19 } as Message;
    const sizes: number[] = [];
    sendAllOnChannel(a, [kept!, heartbeat], () => undefined, (n) => sizes.push(n));
    await new Promise((r) => setTimeout(r, 10));
    expect(got.map((x) => x.type)).to.deep.equal(['entries', 'primary-heartbeat']);
    const back = got[0]!;
    if (back.type !== 'entries') throw new Error('not entries');
    expect(back.block.entries().map((e) => [e.seq, [...e.data]])).to.deep.equal(entries(20).map((e) => [e.seq, [...e.data]]));
    expect(sizes).to.have.length(2);
  });

  it('any other message is kept as it is; one that does not encode is logged as a failed send and dropped', () => {
    const ack: Message = { type: 'ack', vmId: 'vm', epoch: 1, receivedSeq: 3, matchedSeq: 2 };
    expect(keepForLater(ack, () => undefined)).to.equal(ack);
    const broken = { type: 'entries', vmId: 'vm', epoch: 1, releasedSeq: -1, lastSeq: 0, block: { get bytes(): Uint8Array { throw new Error('no bytes'); }, firstSeq: 0, count: 1 } } as unknown as Message;
    const lines: string[] = [];
    expect(keepForLater(broken, (l) => lines.push(l))).to.equal(undefined);
    expect(lines).to.deep.equal(['send failed: no bytes']);
  });
});
