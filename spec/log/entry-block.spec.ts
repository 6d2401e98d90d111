/**
 * Entry blocks (engine/log/entry-block.ts): the channel's form of log entries. Every entry written comes back
 * field for field (from the writer's blocks, from their bytes decoded as a receiver would, and from slices),
 * requests are repeated only within a block (so any block or slice stands alone), and the decoder refuses
 * every malformed record with a LogFormatError instead of handing the replayer something it cannot trust.
 */
import { expect } from 'chai';
import { EntryKind, type LogEntry } from '../../engine/log/entry.ts';
import { EntryBlock, EntryBlockWriter } from '../../engine/log/entry-block.ts';
import { LogFormatError } from '../../engine/log/errors.ts';
import { seededRandom, testSeed } from '../support/seeded-random.ts';
import { hostBlock } from '../support/host-block.ts';
import { callId } from '../../engine/log/call-table.ts';

/** A log as a host-call-heavy guest makes it: clock reads with the host's shared request array, random, writes, digests, custom calls. */
function log(seed: number, n: number, firstSeq = 0): LogEntry[] {
  const rand = seededRandom(seed);
  const bytes = (k: number) => Uint8Array.from({ length: k }, () => Math.floor(rand() * 256));
  const clockReq = Uint8Array.of(1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0);
  const otherClock = Uint8Array.of(0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0);
  const out: LogEntry[] = [];
  let index = 3;
  for (let i = 0; i < n; i++) {
    const r = rand();
    const seq = firstSeq + i;
    index += rand() < 0.9 ? 1 : 1 + Math.floor(rand() * 5000);
    if (r < 0.55) out.push({ seq, callIndex: index, kind: EntryKind.Input, call: 'clock_time_get', channel: 0, request: rand() < 0.9 ? clockReq : otherClock, data: bytes(8) });
    else if (r < 0.7) out.push({ seq, callIndex: index, kind: EntryKind.Input, call: 'random_get', channel: 0, request: Uint8Array.of(16, 0, 0, 0), data: bytes(Math.floor(rand() * 40)) });
    else if (r < 0.8) out.push({ seq, callIndex: index, kind: EntryKind.Output, call: 'fd_write', channel: 1 + Math.floor(rand() * 2), request: new Uint8Array(0), data: bytes(Math.floor(rand() * 300)) });
    else if (r < 0.9) {
      // A digest stands at the index of the call after it.
      out.push({ seq, callIndex: index, kind: EntryKind.Digest, call: '', channel: 0, request: new Uint8Array(0), data: bytes(8 + 8 * Math.floor(rand() * 4)) });
      index--;
    } else if (r < 0.95) out.push({ seq, callIndex: index, kind: EntryKind.Input, call: 'research_tick', channel: 0, request: bytes(Math.floor(rand() * 5)), data: bytes(3) });
    else out.push({ seq, callIndex: index, kind: EntryKind.Output, call: 'proc_exit', channel: -1, request: new Uint8Array(0), data: bytes(4) });
  }
  return out;
}

function plain(e: LogEntry) {
  return { ...e, request: [...e.request], data: [...e.data] };
}

function expectSame(got: readonly LogEntry[], want: readonly LogEntry[], seed: number): void {
  expect(got.length, `seed ${seed}`).to.equal(want.length);
  for (let i = 0; i < want.length; i++) expect(plain(got[i]!), `seed ${seed}, entry ${i}`).to.deep.equal(plain(want[i]!));
}

describe('entry blocks', () => {
  it('give back every entry written, from the writer, from decoded bytes and per column', () => {
    const seed = testSeed();
    const entries = log(seed, 3000, 17);
    // Small arenas: blocks are also cut where an arena fills.
    const w = new EntryBlockWriter(17, 4096);
    const blocks: EntryBlock[] = [];
    const rand = seededRandom(seed + 1);
    for (const e of entries) {
      w.add(e.kind, e.callIndex, e.call, e.channel, e.request, e.data);
      if (rand() < 0.02) w.seal();
      blocks.push(...w.take());
    }
    w.seal();
    blocks.push(...w.take());
    expect(blocks.length, `seed ${seed}`).to.be.greaterThan(20);
    let seq = 17;
    for (const b of blocks) {
      expect(b.firstSeq, `seed ${seed}`).to.equal(seq);
      seq += b.count;
    }
    expectSame(blocks.flatMap((b) => b.entries()), entries, seed);
    // What a receiver decodes from a block's bytes alone (a copy: nothing shared with the writer).
    const decoded = blocks.map((b) => EntryBlock.decode(b.bytes.slice(), b.firstSeq, b.count));
    expectSame(decoded.flatMap((b) => b.entries()), entries, seed);
    for (const b of decoded) {
      for (let i = 0; i < b.count; i++) {
        const e = entries[b.firstSeq - 17 + i]!;
        expect(b.kind(i)).to.equal(e.kind);
        expect(b.callIndex(i)).to.equal(e.callIndex);
        expect([...b.bytes.subarray(b.requestAt(i), b.requestAt(i) + b.requestLength(i))]).to.deep.equal([...e.request]);
        expect([...b.bytes.subarray(b.dataAt(i), b.dataAt(i) + b.dataLength(i))]).to.deep.equal([...e.data]);
      }
      const outs = b.entries().filter((e) => e.kind === EntryKind.Output);
      expect(b.outputs.map((o) => [o.seq, o.channel, [...o.data]])).to.deep.equal(outs.map((o) => [o.seq, o.channel, [...o.data]]));
      const hosts = b.entries().filter((e) => e.kind !== EntryKind.Digest);
      expect(b.lastHostCallIndex).to.equal(hosts.length ? hosts[hosts.length - 1]!.callIndex : -1);
    }
  });

  it('repeat a request within a block only, so every block and every slice decodes alone', () => {
    const seed = testSeed();
    const entries = log(seed, 800);
    const block = EntryBlock.fromEntries(entries);
    // Repeated clock requests are written once: the block is smaller than the same entries with every request.
    const fullRequests = entries.reduce((n, e) => n + e.request.length, 0);
    expect(block.payloadBytes, `seed ${seed}`).to.equal(fullRequests + entries.reduce((n, e) => n + e.data.length, 0));
    const rand = seededRandom(seed);
    for (let k = 0; k < 50; k++) {
      const from = Math.floor(rand() * entries.length);
      const to = from + Math.floor(rand() * (entries.length - from));
      const s = block.slice(from, to);
      expect(s.firstSeq).to.equal(from);
      expectSame(EntryBlock.decode(s.bytes.slice(), s.firstSeq, s.count).entries(), entries.slice(from, to + 1), seed);
    }
    expect(block.slice(0)).to.equal(block);
    expect(() => block.slice(5, 2)).to.throw(RangeError);
    expect(() => block.slice(0, entries.length)).to.throw(RangeError);
  });

  it('a decoded block lists the outputs its check found, as many as it holds, the same as a written block', () => {
    for (const n of [0, 1, 63, 64, 65, 300]) {
      const entries: LogEntry[] = [];
      // n outputs spread over 400 entries, the rest clock reads.
      const every = n > 0 ? Math.floor(400 / n) : Infinity;
      let outs = 0;
      for (let i = 0; i < 400; i++) {
        const out = outs < n && i % every === 0;
        if (out) outs++;
        entries.push(out
          ? { seq: i, callIndex: i, kind: EntryKind.Output, call: 'fd_write', channel: 1 + (i % 2), request: new Uint8Array(0), data: Uint8Array.of(i & 255, 7) }
          : { seq: i, callIndex: i, kind: EntryKind.Input, call: 'clock_time_get', channel: 0, request: new Uint8Array(12), data: new Uint8Array(8).fill(i & 255) });
      }
      const written = EntryBlock.fromEntries(entries);
      const decoded = EntryBlock.decode(written.bytes.slice(), 0, entries.length);
      const want = entries.filter((e) => e.kind === EntryKind.Output).map((e) => [e.seq, e.callIndex, e.channel, [...e.data]]);
      expect(want.length, `${n} outputs`).to.equal(n);
      const list = (b: EntryBlock) => b.outputs.map((o) => [o.seq, o.callIndex, o.channel, [...o.data]]);
      expect(list(decoded), `${n} outputs, decoded`).to.deep.equal(want);
      expect(list(written), `${n} outputs, written`).to.deep.equal(want);
    }
  });

  it('a writer reset drops what was written since the last seal and renumbers', () => {
    const entries = log(7, 40);
    const w = new EntryBlockWriter(0);
    for (const e of entries.slice(0, 10)) w.add(e.kind, e.callIndex, e.call, e.channel, e.request, e.data);
    w.seal();
    for (const e of entries.slice(10, 20)) w.add(e.kind, e.callIndex, e.call, e.channel, e.request, e.data);
    w.reset(500);
    expect(w.openEntries).to.equal(0);
    expect(w.take()).to.deep.equal([]);
    const again = log(8, 5, 500);
    for (const e of again) w.add(e.kind, e.callIndex, e.call, e.channel, e.request, e.data);
    w.seal();
    const [b] = w.take();
    expect(b!.firstSeq).to.equal(500);
    expectSame(b!.entries(), again, 8);
  });

  it('an entry larger than the arena gets an arena of its own', () => {
    const w = new EntryBlockWriter(0, 1024);
    const big = new Uint8Array(5000).fill(9);
    w.add(EntryKind.Output, 1, 'fd_write', 1, new Uint8Array(0), Uint8Array.of(1));
    w.add(EntryKind.Output, 2, 'fd_write', 1, new Uint8Array(0), big);
    w.seal();
    const blocks = w.take();
    expect(blocks.map((b) => b.count)).to.deep.equal([1, 1]);
    expect([...blocks[1]!.entry(0).data]).to.deep.equal([...big]);
  });

  it('written into a recycled buffer, blocks hold exactly the bytes of a fresh writer (padding included)', () => {
    const seed = testSeed();
    const arena = 2048;
    // Fill buffers with one log; a second writer gets those buffers back and writes another log over the old
    // records. Its blocks must come out byte for byte as a fresh writer's blocks of the same log.
    const old = new EntryBlockWriter(0, arena);
    for (const e of log(seed, 600)) old.add(e.kind, e.callIndex, e.call, e.channel, e.request, e.data);
    old.seal();
    const used = [...new Set(old.take().map((b) => b.bytes.buffer))];
    expect(used.length, `seed ${seed}`).to.be.greaterThan(4);
    const second = log(seed + 1, 300, 600);
    const reusing = new EntryBlockWriter(600, arena);
    const fresh = new EntryBlockWriter(600, arena);
    const reused: EntryBlock[] = [];
    const plainBlocks: EntryBlock[] = [];
    const pool = [...used];
    for (const buf of pool.splice(0, 2)) reusing.recycle(buf);
    for (const e of second) {
      reusing.add(e.kind, e.callIndex, e.call, e.channel, e.request, e.data);
      fresh.add(e.kind, e.callIndex, e.call, e.channel, e.request, e.data);
      const sealed = reusing.take();
      reused.push(...sealed);
      plainBlocks.push(...fresh.take());
      // A buffer comes back whenever a block leaves, as acks would hand them back.
      if (sealed.length > 0 && pool.length > 0) reusing.recycle(pool.pop()!);
    }
    reusing.seal();
    fresh.seal();
    reused.push(...reusing.take());
    plainBlocks.push(...fresh.take());
    const wroteOld = new Set(reused.map((b) => b.bytes.buffer).filter((buf) => used.includes(buf)));
    expect(wroteOld.size, `seed ${seed}: old buffers written again`).to.be.greaterThan(2);
    expect(reused.length, `seed ${seed}`).to.equal(plainBlocks.length);
    for (let i = 0; i < reused.length; i++) {
      expect(Buffer.compare(reused[i]!.bytes, plainBlocks[i]!.bytes), `seed ${seed}, block ${i}`).to.equal(0);
    }
    expectSame(reused.flatMap((b) => b.entries()), second, seed);
  });

  it('recycle ignores the arena being written, buffers of another size, and more than a few', () => {
    const w = new EntryBlockWriter(0, 1024);
    w.add(EntryKind.Output, 1, 'fd_write', 1, new Uint8Array(0), Uint8Array.of(1));
    w.seal();
    const [b] = w.take();
    const current = b!.bytes.buffer;
    // The buffer still being written, one of another size, then ten of the right size (only a few are kept).
    const small = new ArrayBuffer(512);
    const right = Array.from({ length: 10 }, () => new ArrayBuffer(1024));
    w.recycle(current);
    w.recycle(small);
    for (const buf of right) w.recycle(buf);
    const arenas: ArrayBufferLike[] = [current];
    for (let i = 0; i < 200; i++) {
      w.add(EntryKind.Output, 2 + i, 'fd_write', 1, new Uint8Array(0), new Uint8Array(100).fill(i));
      w.seal();
      for (const x of w.take()) {
        if (x.bytes.buffer !== arenas[arenas.length - 1]) arenas.push(x.bytes.buffer);
        expect(x.entry(0).data[0]).to.equal(i & 255);
      }
    }
    expect(arenas.length, 'arenas filled').to.be.greaterThan(10);
    expect(new Set(arenas).size, 'no buffer is an arena twice').to.equal(arenas.length);
    expect(arenas.includes(small), 'a buffer of another size').to.equal(false);
    // The next arenas were the kept ones (last handed back, first used), then fresh buffers.
    expect(arenas.slice(1, 5).map((a) => right.indexOf(a as ArrayBuffer))).to.deep.equal([3, 2, 1, 0]);
    expect(arenas.filter((a) => right.includes(a as ArrayBuffer))).to.have.length(4);
  });

  describe('decode refuses', () => {
    const entries = log(11, 60);
    const good = EntryBlock.fromEntries(entries);
    const refuse = (bytes: Uint8Array, code: string, count = good.count, firstSeq = 0) => {
      let err: unknown;
      try {
        EntryBlock.decode(bytes, firstSeq, count);
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(LogFormatError);
      expect((err as LogFormatError).code).to.equal(code);
    };
    const patch = (at: number, f: (v: DataView) => void) => {
      const b = good.bytes.slice();
      f(new DataView(b.buffer));
      return b;
    };

    it('a count that does not match the records', () => {
      refuse(good.bytes.slice(), 'E_MALFORMED', good.count + 1);
      refuse(good.bytes.slice(), 'E_MALFORMED', good.count - 1);
      refuse(good.bytes.slice(), 'E_MALFORMED', 0);
      // A count far beyond what the bytes hold is refused before anything is sized by it (no huge allocation).
      refuse(good.bytes.slice(), 'E_MALFORMED', 2 ** 40);
      refuse(good.bytes.slice(), 'E_MALFORMED', Math.floor(good.bytes.length / 24) + 1);
    });

    it('a truncated block and a bad seq range', () => {
      refuse(good.bytes.slice(0, good.bytes.length - 8), 'E_MALFORMED');
      refuse(good.bytes.slice(0, good.bytes.length - 3), 'E_MALFORMED');
      refuse(good.bytes.slice(), 'E_MALFORMED', good.count, -1);
      refuse(good.bytes.slice(), 'E_MALFORMED', good.count, Number.MAX_SAFE_INTEGER);
    });

    it('an unknown kind, an unknown call id, a named table call, a channel off an output', () => {
      refuse(patch(0, (v) => v.setUint8(0, 7)), 'E_MALFORMED');
      refuse(patch(0, (v) => v.setUint8(1, 200)), 'E_MALFORMED');
      refuse(patch(0, (v) => v.setUint16(2, 3, true)), 'E_MALFORMED');
      const input = entries.findIndex((e) => e.kind === EntryKind.Input && e.call === 'clock_time_get');
      const at = good.requestAt(input) - 24;
      refuse(patch(0, (v) => v.setInt32(at + 4, 2, true)), 'E_MALFORMED');
    });

    it('lengths that run past the end, a negative length, a request repeated from outside the block', () => {
      refuse(patch(0, (v) => v.setInt32(20, 1 << 30, true)), 'E_MALFORMED');
      refuse(patch(0, (v) => v.setInt32(20, -5, true)), 'E_MALFORMED');
      refuse(patch(0, (v) => v.setInt32(16, -7, true)), 'E_MALFORMED');
      // The first record repeating a request: nothing earlier in the block to repeat.
      const first = EntryBlock.fromEntries([{ seq: 0, callIndex: 1, kind: EntryKind.Input, call: 'clock_time_get', channel: 0, request: new Uint8Array(12), data: new Uint8Array(8) }]);
      const b = first.bytes.slice();
      new DataView(b.buffer).setInt32(16, -1, true);
      refuse(b.slice(0, 32), 'E_MALFORMED', 1);
    });

    it('call indices that go back, or two host calls at one index (E_CHAIN), and a non-integer index', () => {
      const e2 = [
        { seq: 0, callIndex: 10, kind: EntryKind.Input, call: 'random_get', channel: 0, request: Uint8Array.of(1, 0, 0, 0), data: Uint8Array.of(1) },
        { seq: 1, callIndex: 10, kind: EntryKind.Input, call: 'random_get', channel: 0, request: Uint8Array.of(1, 0, 0, 0), data: Uint8Array.of(2) },
      ];
      refuse(EntryBlock.fromEntries(e2).bytes.slice(), 'E_CHAIN', 2);
      const back = EntryBlock.fromEntries([e2[0]!, { ...e2[1]!, callIndex: 11 }]).bytes.slice();
      new DataView(back.buffer).setFloat64(8, 12, true);
      refuse(back, 'E_CHAIN', 2);
      const frac = EntryBlock.fromEntries([e2[0]!]).bytes.slice();
      new DataView(frac.buffer).setFloat64(8, 1.5, true);
      refuse(frac, 'E_MALFORMED', 1);
    });

    it('never anything but a LogFormatError for random damage (or a block that decodes)', () => {
      const seed = testSeed();
      const rand = seededRandom(seed);
      for (let k = 0; k < 2000; k++) {
        const b = good.bytes.slice();
        const flips = 1 + Math.floor(rand() * 4);
        for (let f = 0; f < flips; f++) b[Math.floor(rand() * b.length)] ^= 1 << Math.floor(rand() * 8);
        try {
          const d = EntryBlock.decode(b, 0, good.count);
          d.entries(); // whatever decodes is usable
        } catch (e) {
          expect(e, `seed ${seed}, round ${k}`).to.be.instanceOf(LogFormatError);
        }
      }
    });
  });

  describe('packed runs (repeated clock reads as a host hands them over)', () => {
    /** Clock reads at consecutive call indices with the host's arrays, broken by a random read, an output or a jump. */
    function clockLog(seed: number, n: number): LogEntry[] {
      const rand = seededRandom(seed);
      const out: LogEntry[] = [];
      const req = Uint8Array.of(1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0);
      let index = 5;
      for (let seq = 0; seq < n; seq++) {
        const r = rand();
        index += r < 0.02 ? 2 + Math.floor(rand() * 100) : 1;
        const data = Uint8Array.from({ length: 8 }, () => Math.floor(rand() * 256));
        if (r < 0.95) out.push({ seq, callIndex: index, kind: EntryKind.Input, call: 'clock_time_get', channel: 0, request: req, data });
        else if (r < 0.98) out.push({ seq, callIndex: index, kind: EntryKind.Input, call: 'random_get', channel: 0, request: Uint8Array.of(16, 0, 0, 0), data: Uint8Array.from({ length: 16 }, () => Math.floor(rand() * 256)) });
        else out.push({ seq, callIndex: index, kind: EntryKind.Output, call: 'fd_write', channel: 1, request: new Uint8Array(0), data: Uint8Array.of(1, 2, 3) });
      }
      return out;
    }

    it('give back every entry from the writer, from decoded bytes and per column, in about 8 bytes a clock read', () => {
      const seed = testSeed();
      const entries = clockLog(seed, 5000);
      const block = hostBlock(entries);
      expectSame(block.entries(), entries, seed);
      const decoded = EntryBlock.decode(block.bytes.slice(), 0, block.count);
      expectSame(decoded.entries(), entries, seed);
      for (let i = 0; i < decoded.count; i++) {
        const e = entries[i]!;
        expect(decoded.callIndex(i), `seed ${seed}, entry ${i}`).to.equal(e.callIndex);
        expect(decoded.dataLength(i)).to.equal(e.data.length);
        expect([...decoded.bytes.subarray(decoded.requestAt(i), decoded.requestAt(i) + decoded.requestLength(i))]).to.deep.equal([...e.request]);
      }
      expect(decoded.lastHostCallIndex).to.equal(entries[entries.length - 1]!.callIndex);
      // Unpacked, a clock read is a 32-byte record.
      expect(block.bytes.length, `seed ${seed}: block bytes`).to.be.lessThan(EntryBlock.fromEntries(entries).bytes.length / 2);
      // Sliced and written again: every slice decodes alone.
      const rand = seededRandom(seed);
      for (let k = 0; k < 30; k++) {
        const from = Math.floor(rand() * entries.length);
        const to = from + Math.floor(rand() * (entries.length - from));
        const s = decoded.slice(from, to);
        expectSame(EntryBlock.decode(s.bytes.slice(), s.firstSeq, s.count).entries(), entries.slice(from, to + 1), seed);
      }
    });

    it('never run across a seal: blocks cut anywhere decode alone', () => {
      const seed = testSeed();
      const entries = clockLog(seed, 3000);
      const w = new EntryBlockWriter(0, 4096);
      const requests = new Map<string, Uint8Array>();
      const result = new Uint8Array(8);
      const rand = seededRandom(seed + 2);
      const blocks: EntryBlock[] = [];
      for (const e of entries) {
        const key = `${e.call}:${[...e.request].join(',')}`;
        if (!requests.has(key)) requests.set(key, e.request.slice());
        let data = e.data;
        if (e.call === 'clock_time_get') {
          result.set(e.data);
          data = result;
        }
        w.add(e.kind, e.callIndex, e.call, e.channel, requests.get(key)!, data);
        if (rand() < 0.01) w.seal();
        blocks.push(...w.take());
      }
      w.seal();
      blocks.push(...w.take());
      expect(blocks.length, `seed ${seed}`).to.be.greaterThan(10);
      const decoded = blocks.map((b) => EntryBlock.decode(b.bytes.slice(), b.firstSeq, b.count));
      expectSame(decoded.flatMap((b) => b.entries()), entries, seed);
    });

    describe('decode refuses a damaged run', () => {
      // Two clock reads go the general way (48 and 32 bytes), then a run of 18 at byte 80.
      const req = Uint8Array.of(1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0);
      const entries: LogEntry[] = Array.from({ length: 20 }, (_, i) => ({ seq: i, callIndex: 10 + i, kind: EntryKind.Input, call: 'clock_time_get', channel: 0, request: req, data: Uint8Array.of(i, 0, 0, 0, 0, 0, 0, 0) }));
      const good = hostBlock(entries);
      const at = 80;
      const damaged = (f: (v: DataView) => void, count = 20): () => EntryBlock => {
        const b = good.bytes.slice();
        f(new DataView(b.buffer));
        return () => EntryBlock.decode(b, 0, count);
      };
      const refused = (d: () => EntryBlock, code: string, message: RegExp) => {
        let err: unknown;
        try {
          d();
        } catch (e) {
          err = e;
        }
        expect(err).to.be.instanceOf(LogFormatError);
        expect((err as LogFormatError).code).to.equal(code);
        expect((err as LogFormatError).message).to.match(message);
      };

      it('decodes intact (the layout the cases below damage)', () => {
        expect(good.bytes.length).to.equal(at + 32 + 18 * 8);
        expect(new DataView(good.bytes.buffer, good.bytes.byteOffset).getInt32(at + 24, true)).to.equal(18);
        expectSame(damaged(() => {})().entries(), entries, 0);
      });
      it('a count of none, or more than the entries left or the bytes hold', () => {
        refused(damaged((v) => v.setInt32(at + 24, 0, true)), 'E_MALFORMED', /packed run of 0 entries/);
        refused(damaged((v) => v.setInt32(at + 24, 19, true)), 'E_MALFORMED', /packed run of 19 entries \(18 left of 20\)/);
        refused(damaged((v) => v.setInt32(at + 24, 19, true), 21), 'E_MALFORMED', /runs past the end/);
        refused(damaged((v) => v.setInt32(at + 24, -1, true)), 'E_MALFORMED', /packed run of -1 entries/);
      });
      it('a data length other than 8 or 16, an output, a custom or unknown call, a channel', () => {
        refused(damaged((v) => v.setInt32(at + 20, 12, true)), 'E_MALFORMED', /packed run of 12-byte data/);
        refused(damaged((v) => v.setUint8(at, EntryKind.Output)), 'E_MALFORMED', /a packed run of kind/);
        refused(damaged((v) => v.setUint8(at + 1, 250)), 'E_MALFORMED', /a packed run of kind 0, call id 250/);
        refused(damaged((v) => v.setUint16(at + 2, 4, true)), 'E_MALFORMED', /a packed run of kind/);
        refused(damaged((v) => v.setInt32(at + 4, 1, true)), 'E_MALFORMED', /channel 1 on a non-output entry/);
      });
      it('a request not in the block', () => {
        refused(damaged((v) => v.setUint8(at + 1, callId('random_get'))), 'E_MALFORMED', /repeats a request not in the block/);
      });
      it('call indices that do not come after the last host call (E_CHAIN), or pass the largest safe integer', () => {
        refused(damaged((v) => v.setFloat64(at + 8, 11, true)), 'E_CHAIN', /record 2 at call 11 after call 11/);
        refused(damaged((v) => v.setFloat64(at + 8, 2.5, true)), 'E_MALFORMED', /call index 2.5/);
        refused(damaged((v) => v.setFloat64(at + 8, Number.MAX_SAFE_INTEGER - 3, true)), 'E_MALFORMED', /call index 9007199254740988/);
      });
      it('never anything but a LogFormatError for random damage (or a block that decodes)', () => {
        const seed = testSeed();
        const rand = seededRandom(seed);
        const big = hostBlock(clockLog(seed, 400));
        for (let k = 0; k < 2000; k++) {
          const b = big.bytes.slice();
          const flips = 1 + Math.floor(rand() * 4);
          for (let f = 0; f < flips; f++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
          try {
            EntryBlock.decode(b, 0, big.count);
          } catch (e) {
            expect(e, `seed ${seed}, case ${k}`).to.be.instanceOf(LogFormatError);
          }
        }
      });
    });
  });
});
