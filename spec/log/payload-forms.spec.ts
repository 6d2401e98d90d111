/**
 * Payload forms (trace format 2, EntryBatch.payload_forms): a batch of a trace stores a request that repeats the
 * previous one of its call only once, and 8 bytes of data as a varint difference from the previous 8-byte data of
 * its call. Packed batches must decode to exactly the entries, chain and statistics of the same batch stored
 * whole; a damaged one is refused (never read as other entries), with the entry and the fault named. Seeded;
 * TWINSTEP_SEED=N reruns one.
 */
import { expect } from 'chai';
import { Builder, ByteBuffer } from 'flatbuffers';
import { BatchEncoder, decodeEntryBatch, encodeEntryBatch } from '../../engine/log/entry-codec.ts';
import { EntryKind, type LogEntry } from '../../engine/log/entry.ts';
import { LogFormatError } from '../../engine/log/errors.ts';
import { EntryBatch } from '../../schema/generated/twinstep/entry-batch.js';
import { BatchChain } from '../../engine/log/chain-hash.ts';
import { seededRandom, testSeed } from '../support/seeded-random.ts';
import { clockEntry, flipEachByte, testHeader } from './entries.ts';
import { TraceWriter } from '../../engine/log/trace-writer.ts';
import { TraceReader } from '../../engine/log/trace-reader.ts';
import { traceFormatVersion } from '../../engine/log/version.ts';

/** Entries made to hit every form: few requests (some of one length with other bytes), clocks that move a little, go back, wrap or jump. */
function entries(seed: number, n: number): LogEntry[] {
  const rnd = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const bytes = (k: number) => Uint8Array.from({ length: k }, () => Math.floor(rnd() * 256));
  const requests = [bytes(12), bytes(12), bytes(4), new Uint8Array(0), bytes(3), bytes(40)];
  const calls = ['clock_time_get', 'random_get', 'fd_read', 'a_custom_call', 'another_custom'];
  const last = new Map<string, bigint>();
  const out: LogEntry[] = [];
  let call = 0;
  for (let i = 0; i < n; i++) {
    const r = rnd();
    if (r < 0.05) {
      out.push({ seq: i, callIndex: call, kind: EntryKind.Digest, call: '', channel: 0, request: new Uint8Array(0), data: bytes(pick([8, 67])) });
    } else if (r < 0.12) {
      out.push({ seq: i, callIndex: call, kind: EntryKind.Output, call: 'fd_write', channel: pick([1, 2, -1]), request: new Uint8Array(0), data: bytes(pick([0, 4, 8, 30])) });
    } else {
      const name = pick(calls);
      let data: Uint8Array;
      const size = rnd() < 0.7 ? 8 : pick([0, 5, 16]);
      if (size === 8) {
        const prev = last.get(name) ?? BigInt(Math.floor(rnd() * 2 ** 52));
        const step = pick([1n, 1000n, 123456n, -1n, -5000n, 1n << 48n, 1n << 56n, -(1n << 60n)]);
        const v = BigInt.asUintN(64, prev + step);
        last.set(name, v);
        data = new Uint8Array(8);
        new DataView(data.buffer).setBigUint64(0, v, true);
      } else {
        data = bytes(size);
      }
      // The same bytes in a new array now and then (forms compare bytes, not arrays).
      const req = pick(requests);
      out.push({ seq: i, callIndex: call, kind: EntryKind.Input, call: name, channel: 0, request: rnd() < 0.5 ? req : req.slice(), data });
    }
    call += Math.floor(rnd() * 3);
  }
  return out;
}

/** The batch stored as trace files of format 2 store it. */
function packed(es: readonly LogEntry[], prev = 0n): { bytes: Uint8Array; lastChecksum: bigint; kindBytes: number[] } {
  const enc = new BatchEncoder(true);
  enc.start(es[0]?.seq ?? 0, prev);
  for (const e of es) enc.add(e.kind, e.callIndex, e.call, e.channel, e.request, e.data);
  const b = new Builder(1024);
  b.finish(enc.build(b));
  return { bytes: b.asUint8Array().slice(), lastChecksum: enc.lastChecksum, kindBytes: [...enc.kindBytes] };
}

const show = (es: readonly LogEntry[]) => es.map((e) => `${e.seq} ${e.callIndex} ${e.kind} ${e.call} ${e.channel} ${Buffer.from(e.request).toString('hex')} ${Buffer.from(e.data).toString('hex')}`);

function formsOf(bytes: Uint8Array): Uint8Array {
  const f = EntryBatch.getRootAsEntryBatch(new ByteBuffer(bytes)).payloadFormsArray();
  if (f === null) throw new Error('the batch has no payload forms');
  return f;
}

function faultOf(bytes: Uint8Array): string {
  try {
    decodeEntryBatch(bytes);
  } catch (e) {
    expect(e).to.be.instanceOf(LogFormatError);
    return `${(e as LogFormatError).code}: ${(e as Error).message}`;
  }
  return 'accepted';
}

describe('payload forms (trace format 2)', () => {
  it('packed batches decode to the entries, chain and statistics of the same batches stored whole, and are never larger', () => {
    const base = testSeed();
    let withForms = 0;
    for (let k = 0; k < 40; k++) {
      const seed = (base + k) >>> 0;
      const msg = `TWINSTEP_SEED=${seed}`;
      const es = entries(seed, 1 + Math.floor(seededRandom(seed)() * 400));
      const whole = encodeEntryBatch(es, 77n);
      const p = packed(es, 77n);
      expect(p.lastChecksum, msg).to.equal(whole.lastChecksum);
      const d = decodeEntryBatch(p.bytes);
      expect(show(d.entries), msg).to.deep.equal(show(es));
      expect(d.lastChecksum, msg).to.equal(whole.lastChecksum);
      // The reader's statistics count the stored bytes as the writer did.
      expect([...d.kindBytes], msg).to.deep.equal(p.kindBytes);
      expect(p.bytes.length, msg).to.be.at.most(whole.bytes.length);
      if (p.bytes.length < whole.bytes.length) {
        expect(formsOf(p.bytes).length, msg).to.equal(es.length);
        withForms++;
      } else {
        expect(p.bytes.length, `${msg}: stored whole when the forms save nothing`).to.equal(whole.bytes.length);
      }
    }
    expect(withForms, `TWINSTEP_SEED=${base}: batches stored in forms`).to.be.greaterThan(30);
  });

  it('stores a run of clock reads in about 12 bytes each, and leaves a batch with nothing to save whole', () => {
    const clocks = Array.from({ length: 4096 }, (_, i) => clockEntry(i, i, 1_700_000_000_000_000_000n + BigInt(i) * 1234n));
    const p = packed(clocks);
    expect(p.bytes.length / clocks.length).to.be.below(12.5);
    expect(show(decodeEntryBatch(p.bytes).entries)).to.deep.equal(show(clocks));
    // One entry of each call: nothing repeats, so no forms column at all.
    const single = packed([clocks[0]!]);
    expect(EntryBatch.getRootAsEntryBatch(new ByteBuffer(single.bytes)).payloadFormsLength()).to.equal(0);
    expect(single.bytes.length).to.equal(encodeEntryBatch([clocks[0]!]).bytes.length);
  });

  it('unpacks payloads that expand far past their stored bytes (long requests left out), within the bound a reader sets', () => {
    const request = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    const es: LogEntry[] = Array.from({ length: 200 }, (_, i) => ({ seq: i, callIndex: i, kind: EntryKind.Input, call: 'poll_oneoff', channel: 0, request, data: new Uint8Array([i & 0xff, 1]) }));
    const p = packed(es);
    expect(p.bytes.length).to.be.below(encodeEntryBatch(es).bytes.length / 10);
    expect(show(decodeEntryBatch(p.bytes).entries)).to.deep.equal(show(es));
    // The same columns against a bound below their whole size: refused, naming the bound.
    const t = EntryBatch.getRootAsEntryBatch(new ByteBuffer(p.bytes));
    const r = new BatchChain().unpack(es.length, t.kindsArray()!, t.callsArray()!, t.payloadFormsArray()!, t.requestLengthsArray()!, t.dataLengthsArray()!, t.blobArray()!, 10_000);
    expect(r).to.deep.equal({ fault: 'payloads of 60400 bytes exceed the 10000 a batch may hold', entry: -1 });
  });

  it('a writer asked for format 1 stores every payload whole and says format 1; a format it does not write is refused', () => {
    const clocks = Array.from({ length: 3000 }, (_, i) => clockEntry(i, i, 1_000_000n + BigInt(i) * 1000n));
    const write = (formatVersion?: number): Uint8Array => {
      const parts: Uint8Array[] = [];
      const w = new TraceWriter({ write: (b) => void parts.push(b.slice()) }, testHeader, { fsync: 'none', formatVersion });
      for (const e of clocks) w.append(e);
      w.close();
      return Buffer.concat(parts);
    };
    const v1 = write(1);
    const cur = write();
    const r1 = TraceReader.fromBytes(v1);
    expect(r1.formatVersion).to.equal(1);
    expect(show([...r1])).to.deep.equal(show(clocks));
    const rc = TraceReader.fromBytes(cur);
    expect(rc.formatVersion).to.equal(traceFormatVersion);
    expect(show([...rc])).to.deep.equal(show(clocks));
    expect(v1.length).to.be.above(cur.length * 2);
    for (const v of [0, traceFormatVersion + 1, 1.5]) {
      expect(() => write(v), `version ${v}`).to.throw(LogFormatError, /cannot write trace format version/);
    }
  });

  it('every flipped byte of a packed batch is refused or changes nothing (most break the chain)', () => {
    const seed = testSeed();
    const es = entries(seed, 60);
    const { bytes } = packed(es);
    const chainErrors = flipEachByte(bytes, show, show(es), `TWINSTEP_SEED=${seed}: `);
    expect(chainErrors, `TWINSTEP_SEED=${seed}`).to.be.greaterThan(50);
  });

  it('refuses forms that do not unpack, naming the entry and the fault', () => {
    const clocks = Array.from({ length: 6 }, (_, i) => clockEntry(i, i, 1_000_000n + BigInt(i) * 10n));
    const out = { seq: 6, callIndex: 6, kind: EntryKind.Output, call: 'fd_write', channel: 1, request: new Uint8Array(0), data: new Uint8Array([104, 105, 10]) } satisfies LogEntry;
    const { bytes } = packed([...clocks, out]);
    expect(Array.from(formsOf(bytes))).to.deep.equal([0, 3, 3, 3, 3, 3, 0]);
    const mutate = (f: (forms: Uint8Array) => void): Uint8Array => {
      const b = bytes.slice();
      f(formsOf(b));
      return b;
    };
    expect(faultOf(mutate((f) => void (f[2] = 4)))).to.equal('E_MALFORMED: entry batch: entry #2: unknown payload form');
    expect(faultOf(mutate((f) => void (f[0] = 1)))).to.match(/^E_MALFORMED: entry batch: entry #0: request left out with no earlier request/);
    expect(faultOf(mutate((f) => void (f[0] = 2)))).to.match(/^E_MALFORMED: entry batch: entry #0: data stored as a difference with no earlier 8-byte data/);
    expect(faultOf(mutate((f) => void (f[6] = 2)))).to.match(/^E_MALFORMED: entry batch: entry #6: data stored as a difference .* or not 8 bytes long/);
    // Entry 1 stored whole while its bytes are stored as a form: the stored bytes run out (or are misread).
    expect(faultOf(mutate((f) => void (f[1] = 0)))).to.match(/^E_MALFORMED: entry batch: entry #\d: /);
    // Entry 6's data read as a difference: left-over stored bytes.
    expect(faultOf(mutate((f) => void (f[5] = 1)))).to.match(/^E_(MALFORMED|CHAIN): /);
  });
});
