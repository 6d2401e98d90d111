import { expect } from 'chai';
import { decodeEntryBatch, encodeEntryBatch } from '../../engine/log/entry-codec.ts';
import { HashChain, entryChecksum } from '../../engine/log/hash-chain.ts';
import { LogFormatError } from '../../engine/log/errors.ts';
import { EntryKind, type LogEntry } from '../../engine/log/entry.ts';
import { flipEachByte, mixedEntries } from './entries.ts';
import { xxh64 } from '@node-rs/xxhash';
import { BatchChain } from '../../engine/log/chain-hash.ts';
import { seededRandom } from '../support/seeded-random.ts';

function batches(entries: LogEntry[], size: number): { bytes: Uint8Array; lastChecksum: bigint }[] {
  const out = [];
  let prev = 0n;
  for (let i = 0; i < entries.length; i += size) {
    const b = encodeEntryBatch(entries.slice(i, i + size), prev);
    prev = b.lastChecksum;
    out.push(b);
  }
  return out;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof LogFormatError) return err.code;
    throw err;
  }
  return undefined;
}

describe('hash chain', () => {
  const entries = mixedEntries(100);

  it('producer and batch encoding agree; the checker accepts the stream incrementally', () => {
    const producer = new HashChain();
    for (const e of entries) producer.append(e);
    const checker = new HashChain();
    for (const b of batches(entries, 16)) checker.accept(decodeEntryBatch(b.bytes));
    expect(checker.checksum).to.equal(producer.checksum);
    expect(checker.nextSeq).to.equal(100);
  });

  it('the value depends on every field and on the previous value', () => {
    const e = entries[0]!;
    const base = entryChecksum(0n, e);
    expect(entryChecksum(1n, e)).to.not.equal(base);
    expect(entryChecksum(0n, { ...e, callIndex: e.callIndex + 1 })).to.not.equal(base);
    expect(entryChecksum(0n, { ...e, call: 'random_get' })).to.not.equal(base);
    expect(entryChecksum(0n, { ...e, data: Uint8Array.from([...e.data, 0]) })).to.not.equal(base);
  });

  it('detects a lost batch, a repeated batch, reordering, and a batch from another chain', () => {
    const bs = batches(entries, 10).map((b) => decodeEntryBatch(b.bytes));
    const lost = new HashChain();
    lost.accept(bs[0]!);
    expect(codeOf(() => lost.accept(bs[2]!))).to.equal('E_CHAIN');
    const repeated = new HashChain();
    repeated.accept(bs[0]!);
    expect(codeOf(() => repeated.accept(bs[0]!))).to.equal('E_CHAIN');
    // Same seqs, different history: re-encode batch 1 as if it followed a different prefix.
    const forged = decodeEntryBatch(encodeEntryBatch(entries.slice(10, 20), 12345n).bytes);
    const other = new HashChain();
    other.accept(bs[0]!);
    expect(codeOf(() => other.accept(forged))).to.equal('E_CHAIN');
  });

  it('detects an altered entry inside a batch (E_CHAIN), even though the batch is well-formed', () => {
    const { bytes } = encodeEntryBatch(entries.slice(0, 20));
    // Alter one data byte: find the blob by looking for the digest/clock payload pattern is fragile, so
    // flip each byte in turn and require that no flip is silently accepted with different content.
    const view = (es: readonly LogEntry[]) => es.map((e) => Buffer.from(e.data).toString('hex'));
    const chainErrors = flipEachByte(bytes, view, view(decodeEntryBatch(bytes).entries));
    expect(chainErrors).to.be.greaterThan(100);
  });
});

describe('hash chain: the WebAssembly xxh64', () => {
  it('equals the reference xxh64 for every length 0..600 (seeded bytes)', () => {
    const rand = seededRandom(11);
    const scratch = new BatchChain();
    for (let len = 0; len <= 600; len++) {
      const data = Uint8Array.from({ length: len }, () => Math.floor(rand() * 256));
      expect(scratch.xxh64(data), `length ${len} (seed 11)`).to.equal(xxh64(data));
    }
  });

  it('an entry checksum is xxh64(prev || canonical record), as documented', () => {
    const rand = seededRandom(12);
    const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
    // Every short length of name, request and data (the record is assembled in wasm by word copies with an
    // overlapping tail: lengths below 4, 4 to 7, 8 and more, and their boundaries must all come out right).
    const sweep: LogEntry[] = [];
    for (let len = 0; len <= 40; len++) {
      sweep.push({ seq: len, callIndex: 3 * len, kind: EntryKind.Input, call: 'x'.repeat(1 + (len % 23)), channel: 0, request: bytes(len), data: bytes(40 - len) });
      sweep.push({ seq: 100 + len, callIndex: 5 * len, kind: EntryKind.Output, call: 'fd_write', channel: 1, request: new Uint8Array(0), data: bytes(len) });
    }
    for (const e of [...mixedEntries(200), ...sweep]) {
      const prev = BigInt.asUintN(64, BigInt(Math.floor(rand() * 2 ** 53)) * 2027n);
      const name = new TextEncoder().encode(e.call);
      const rec = Buffer.alloc(8 + 8 + 8 + 1 + 2 + name.length + 4 + 4 + e.request.length + 4 + e.data.length);
      let p = rec.writeBigUInt64LE(prev, 0);
      p = rec.writeBigUInt64LE(BigInt(e.seq), p);
      p = rec.writeBigUInt64LE(BigInt(e.callIndex), p);
      p = rec.writeUInt8(e.kind, p);
      p = rec.writeUInt16LE(name.length, p);
      rec.set(name, p);
      p += name.length;
      p = rec.writeInt32LE(e.channel, p);
      p = rec.writeUInt32LE(e.request.length, p);
      rec.set(e.request, p);
      p += e.request.length;
      p = rec.writeUInt32LE(e.data.length, p);
      rec.set(e.data, p);
      expect(entryChecksum(prev, e), `seq ${e.seq}`).to.equal(xxh64(rec));
    }
  });
});
