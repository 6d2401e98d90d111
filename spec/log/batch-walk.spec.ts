/**
 * The column walk of a batch being decoded (readFlatBatch, run in WebAssembly by BatchChain.decode): every
 * check, forged one at a time into an otherwise valid batch, gives E_MALFORMED (or E_CHAIN) with its own
 * message naming the entry; a valid batch decodes to exactly the entries encoded.
 */
import { expect } from 'chai';
import { Builder, ByteBuffer } from 'flatbuffers';
import { EntryBatch } from '../../schema/generated/twinstep/entry-batch.js';
import { decodeEntryBatch, decodeFlatBatch, encodeEntryBatch, entryBatchTable } from '../../engine/log/entry-codec.ts';
import { EntryKind, type LogEntry } from '../../engine/log/entry.ts';
import { LogFormatError } from '../../engine/log/errors.ts';
import { clockEntry, digestEntry, outputEntry, randomEntry } from './entries.ts';

/** A batch's columns, as read from an encoded batch, to be altered and written back. */
interface Columns {
  firstSeq: bigint;
  count: number;
  firstCallIndex: bigint;
  deltas: number[];
  kinds: number[];
  calls: number[];
  custom: string[];
  channels: number[];
  reqLens: number[];
  dataLens: number[];
  blob: number[];
  chain: number[];
  prev: bigint;
  last: bigint;
}

function columnsOf(entries: LogEntry[]): Columns {
  const { bytes } = encodeEntryBatch(entries);
  const t = EntryBatch.getRootAsEntryBatch(new ByteBuffer(bytes));
  const list = <T>(n: number, at: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => at(i));
  return {
    firstSeq: t.firstSeq(),
    count: t.count(),
    firstCallIndex: t.firstCallIndex(),
    deltas: [...(t.callIndexDeltasArray() ?? [])],
    kinds: [...(t.kindsArray() ?? [])],
    calls: [...(t.callsArray() ?? [])],
    custom: list(t.customCallsLength(), (i) => t.customCalls(i)),
    channels: list(t.channelsLength(), (i) => t.channels(i)!),
    reqLens: [...(t.requestLengthsArray() ?? [])],
    dataLens: [...(t.dataLengthsArray() ?? [])],
    blob: [...(t.blobArray() ?? [])],
    chain: [...(t.chainArray() ?? [])],
    prev: t.prevChecksum(),
    last: t.lastChecksum(),
  };
}

function build(c: Columns): Uint8Array {
  const b = new Builder(1024);
  const custom = c.custom.length > 0 ? EntryBatch.createCustomCallsVector(b, c.custom.map((s) => b.createString(s))) : 0;
  const channels = c.channels.length > 0 ? EntryBatch.createChannelsVector(b, c.channels) : 0;
  const deltas = EntryBatch.createCallIndexDeltasVector(b, c.deltas);
  const kinds = EntryBatch.createKindsVector(b, c.kinds);
  const calls = EntryBatch.createCallsVector(b, c.calls);
  const req = EntryBatch.createRequestLengthsVector(b, c.reqLens);
  const data = EntryBatch.createDataLengthsVector(b, c.dataLens);
  const blob = EntryBatch.createBlobVector(b, c.blob);
  const chain = EntryBatch.createChainVector(b, c.chain);
  b.finish(entryBatchTable(b, {
    firstSeq: c.firstSeq, count: c.count, firstCallIndex: c.firstCallIndex, deltas, kinds, calls, custom, channels,
    requestLengths: req, dataLengths: data, blob, chain, prevChecksum: c.prev, lastChecksum: c.last,
  }));
  return b.asUint8Array();
}

function expectFailure(c: Columns, code: string, message: RegExp): void {
  try {
    decodeFlatBatch(build(c));
  } catch (err) {
    expect(err, String(err)).to.be.instanceOf(LogFormatError);
    expect((err as LogFormatError).code, (err as Error).message).to.equal(code);
    expect((err as Error).message).to.match(message);
    return;
  }
  expect.fail(`expected ${code} ${message}`);
}

/** Entries 0..4: clock, random, output on channel 2, digest, a custom-named input. */
function sample(): LogEntry[] {
  return [
    clockEntry(0, 3, 1_000n),
    randomEntry(1, 4, 8),
    outputEntry(2, 9, 'hi\n', 2),
    digestEntry(3, 9, 0xabcdefn),
    { seq: 4, callIndex: 200, kind: EntryKind.Input, call: 'sensor_read', channel: 0, request: new Uint8Array([1, 2]), data: new Uint8Array([3, 4, 5]) },
  ];
}

describe('batch column walk (decoding)', () => {
  it('decodes a valid batch to the entries encoded, with channels, custom names and per-kind statistics', () => {
    const entries = sample();
    const c = columnsOf(entries);
    const back = decodeEntryBatch(build(c));
    expect(back.entries.map((e) => ({ ...e, request: [...e.request], data: [...e.data] }))).to.deep.equal(entries.map((e) => ({ ...e, request: [...e.request], data: [...e.data] })));
    expect(back.kindEntries).to.deep.equal([3, 1, 1]);
    // Own column bytes: 6 + payload + the varints' bytes (+4 for the channel, +8 + name for the custom call,
    // whose call-index delta of 191 takes two bytes).
    expect(back.kindBytes[EntryKind.Output]).to.equal(6 + 3 + 3 + 4);
    expect(back.kindBytes[EntryKind.Digest]).to.equal(6 + 8 + 3);
    expect(back.kindBytes[EntryKind.Input]).to.equal(6 + 20 + 3 + (6 + 12 + 3) + (6 + 5 + 4 + 8 + 'sensor_read'.length));
  });

  it('names the entry of each per-entry fault', () => {
    const base = () => columnsOf(sample());
    let c = base();
    c.kinds[1] = 7;
    expectFailure(c, 'E_MALFORMED', /entry #1: unknown kind 7$/);
    c = base();
    c.calls[1] = 200;
    expectFailure(c, 'E_MALFORMED', /entry #1: unknown call id 200$/);
    c = base();
    c.calls[0] = 0;
    expectFailure(c, 'E_MALFORMED', /entry #0: call id 0 does not fit kind 0$/);
    c = base();
    c.calls[3] = 6;
    expectFailure(c, 'E_MALFORMED', /entry #3: call id 6 does not fit kind 2$/);
    c = base();
    c.channels = [];
    expectFailure(c, 'E_MALFORMED', /entry #2: channel missing$/);
    c = base();
    c.custom = [];
    expectFailure(c, 'E_MALFORMED', /entry #4: custom call name missing$/);
    c = base();
    c.custom = [''];
    expectFailure(c, 'E_MALFORMED', /entry #4: empty custom call name$/);
    c = base();
    c.reqLens[1] = 100;
    expectFailure(c, 'E_MALFORMED', /entry #1: payload lengths run past the blob$/);
    c = base();
    // A delta of 2^53 - 1 is a valid varint; added to the call index so far it is not a safe integer.
    c.deltas.splice(2, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f);
    expectFailure(c, 'E_MALFORMED', /entry #2: call index overflows$/);
  });

  it('words varint faults by column as the format always did', () => {
    const base = () => columnsOf(sample());
    let c = base();
    c.deltas = c.deltas.slice(0, 4).concat([0x80]);
    expectFailure(c, 'E_MALFORMED', /^varint column call_index_deltas ends inside a value$/);
    c = base();
    c.reqLens[0] = 0x8c;
    c.reqLens.splice(1, 0, 0x00);
    expectFailure(c, 'E_MALFORMED', /^overlong varint in column request_lengths$/);
    c = base();
    c.dataLens.splice(0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f);
    expectFailure(c, 'E_MALFORMED', /^varint too large in column data_lengths$/);
    c = base();
    c.dataLens.splice(0, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01);
    expectFailure(c, 'E_MALFORMED', /^varint too long in column data_lengths$/);
  });

  it('checks what is left over after the walk, then the chain', () => {
    const base = () => columnsOf(sample());
    let c = base();
    c.blob.push(9);
    expectFailure(c, 'E_MALFORMED', /blob holds 1 unreferenced bytes$/);
    c = base();
    c.dataLens.push(1);
    expectFailure(c, 'E_MALFORMED', /varint columns hold more values than count$/);
    c = base();
    c.channels.push(1);
    expectFailure(c, 'E_MALFORMED', /2 channels for 1 output entries$/);
    c = base();
    c.custom.push('other');
    expectFailure(c, 'E_MALFORMED', /2 custom call names for 1 custom ids$/);
    c = base();
    c.blob[0] ^= 1;
    expectFailure(c, 'E_CHAIN', /hash chain broken at seq 1:/);
    c = base();
    c.last ^= 1n;
    expectFailure(c, 'E_CHAIN', /batch end checksum .* does not match its entries/);
  });
});
