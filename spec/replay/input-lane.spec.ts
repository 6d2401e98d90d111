/**
 * The input lane (engine/wasi/input-lane.ts, schema/wasm/lane.wat): recorded clock and random results fed inside
 * WebAssembly. First the lane on its own (a memory standing in for the guest's, its imports called directly),
 * then replays with and without it, which must come out the same in every respect a user can see: outcome,
 * entries, output, final state, divergence reports with their context, pauses and snapshots.
 * Seeds are printed with every failure; REPLAY_SEED=N reruns with another base seed.
 */
import { expect } from 'chai';
import { EntryKind, type LogEntry } from '../../engine/log/entry.ts';
import { EntryBlock, type EntryColumns } from '../../engine/log/entry-block.ts';
import { decodeFlatBatch, encodeEntryBatch } from '../../engine/log/entry-codec.ts';
import { WasiInputLane } from '../../engine/wasi/input-lane.ts';
import { PAUSE, type HostCallHandler } from '../../engine/machine/machine.ts';
import { Replayer } from '../../replay/replayer.ts';
import { EXAMPLE_GUESTS, scratchDir, type GuestCase } from '../support/guests.ts';
import { recordGuest, replayEntries, traceSourceOf, withEntry, type Recording } from './support.ts';
import { loadModule } from '../../engine/wasi/loader.ts';
import { WasiMachine } from '../../engine/wasi/machine.ts';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { wat } from '../support/wat.ts';
import { decodeMachineState } from '../../engine/wasi/snapshot.ts';
import { refusingDevices } from './support.ts';
import { hostBlock } from '../support/host-block.ts';

const BASE_SEED = Number(process.env.REPLAY_SEED ?? 20261207);

function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}
function clockReq(id: number, precision: bigint): Uint8Array {
  const b = new Uint8Array(12);
  const v = new DataView(b.buffer);
  v.setUint32(0, id, true);
  v.setBigUint64(4, precision, true);
  return b;
}
function u64(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return b;
}
const clock = (seq: number, callIndex: number, id: number, precision: bigint, t: bigint): LogEntry => ({
  seq, callIndex, kind: EntryKind.Input, call: 'clock_time_get', channel: 0, request: clockReq(id, precision), data: u64(t),
});
const random = (seq: number, callIndex: number, bytes: number[]): LogEntry => ({
  seq, callIndex, kind: EntryKind.Input, call: 'random_get', channel: 0, request: u32(bytes.length), data: Uint8Array.from(bytes),
});

describe('input lane (alone)', () => {
  /** A lane over a 1-page memory, with fallbacks that note their calls. */
  function laneOver() {
    const fallbacks: string[] = [];
    const lane = new WasiInputLane(
      (id: number, precision: bigint, ptr: number) => (fallbacks.push(`clock ${id} ${precision} ${ptr}`), 99),
      (ptr: number, len: number) => (fallbacks.push(`random ${ptr} ${len}`), 98),
    );
    const memory = new WebAssembly.Memory({ initial: 1 });
    lane.attach(memory);
    const clockGet = lane.imports.clock_time_get as (id: number, p: bigint, ptr: number) => number;
    const randomGet = lane.imports.random_get as (ptr: number, len: number) => number;
    return { lane, memory, fallbacks, clockGet, randomGet };
  }

  it('answers the calls that match the head exactly, and hands every other call to the machine unchanged', () => {
    const { lane, memory, fallbacks, clockGet, randomGet } = laneOver();
    const block = EntryBlock.fromEntries([
      clock(10, 5, 1, 1000n, 111n),
      random(11, 7, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
      clock(12, 8, 0, 0n, 1_700_000_000_123_456_789n),
      clock(13, 9, 1, 1000n, 222n),
    ]);
    lane.cur = 5;
    expect(lane.offer(block, 0)).to.equal(4);
    expect(lane.pending).to.equal(4);
    const mem = new DataView(memory.buffer);
    // Another precision than recorded: the machine's import, with the call's own arguments.
    expect(clockGet(1, 999n, 64)).to.equal(99);
    expect(fallbacks).to.deep.equal(['clock 1 999 64']);
    expect(lane.fed).to.equal(0);
    // The recorded call: stored at the pointer, call index and fed count advanced.
    expect(clockGet(1, 1000n, 64)).to.equal(0);
    expect(mem.getBigUint64(64, true)).to.equal(111n);
    expect(lane.cur).to.equal(6);
    expect(lane.fed).to.equal(1);
    // Call 6 is a call the log does not have (a pure call): the head (call 7) is not fed to it.
    expect(randomGet(128, 11)).to.equal(98);
    lane.cur = 7; // the machine counted that call
    // Another length than recorded, then a region past the end of memory: the machine's import both times.
    expect(randomGet(128, 10)).to.equal(98);
    expect(randomGet(65536 - 10, 11)).to.equal(98);
    expect(randomGet(128, 11)).to.equal(0);
    expect([...new Uint8Array(memory.buffer, 128, 12)]).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0]);
    // Realtime: fed and remembered for the file timestamps, once.
    expect(lane.takeRealtime()).to.equal(undefined);
    expect(clockGet(0, 0n, 65536 - 8)).to.equal(0);
    expect(mem.getBigUint64(65536 - 8, true)).to.equal(1_700_000_000_123_456_789n);
    expect(lane.takeRealtime()).to.equal(1_700_000_000_123_456_789n);
    expect(lane.takeRealtime()).to.equal(undefined);
    // Off (a rewound call must reach the machine): not fed; on again: fed.
    lane.enabled = false;
    expect(clockGet(1, 1000n, 64)).to.equal(99);
    lane.enabled = true;
    expect(clockGet(1, 1000n, 65536 - 7)).to.equal(99); // 8 bytes do not fit
    expect(clockGet(1, 1000n, 72)).to.equal(0);
    expect(mem.getBigUint64(72, true)).to.equal(222n);
    expect(lane.fed).to.equal(4);
    expect(lane.pending).to.equal(0);
    // Empty: everything goes to the machine.
    expect(clockGet(1, 1000n, 64)).to.equal(99);
    expect(fallbacks).to.deep.equal([
      'clock 1 999 64', 'random 128 11', 'random 128 10', `random ${65536 - 10} 11`, 'clock 1 1000 64', `clock 1 1000 ${65536 - 7}`, 'clock 1 1000 64',
    ]);
  });

  it('takes only what the JavaScript path would accept from the same entry, and stops at the first it cannot take', () => {
    const { lane } = laneOver();
    const ok = clock(0, 1, 1, 1n, 5n);
    const cases: Array<[string, LogEntry]> = [
      ['a clock result of 7 bytes', withEntry(clock(1, 2, 1, 1n, 5n), { data: new Uint8Array(7) })],
      ['a clock request of 8 bytes', withEntry(clock(1, 2, 1, 1n, 5n), { request: new Uint8Array(8) })],
      ['a clock id the host refuses (4)', clock(1, 2, 4, 1n, 5n)],
      ['random bytes of another length than asked', withEntry(random(1, 2, [1, 2, 3]), { request: u32(4) })],
      ['an output', { seq: 1, callIndex: 2, kind: EntryKind.Output, call: 'fd_write', channel: 1, request: new Uint8Array(0), data: Uint8Array.from([65]) }],
      ['another input call', { seq: 1, callIndex: 2, kind: EntryKind.Input, call: 'poll_oneoff', channel: 0, request: new Uint8Array(4), data: new Uint8Array(8) }],
      ['a digest', { seq: 1, callIndex: 2, kind: EntryKind.Digest, call: '', channel: 0, request: new Uint8Array(0), data: new Uint8Array(8) }],
    ];
    for (const [what, bad] of cases) {
      const block = EntryBlock.fromEntries([ok, bad, withEntry(clock(2, 3, 1, 1n, 6n), {})]);
      expect(lane.offer(block, 0), what).to.equal(1);
      expect(lane.offer(block, 1), what).to.equal(0);
      expect(lane.pending, what).to.equal(0);
    }
    // Withdrawn: nothing pending, and the fed count stays what was fed.
    const block = EntryBlock.fromEntries([ok, clock(1, 2, 1, 1n, 6n)]);
    expect(lane.offer(block, 0)).to.equal(2);
    lane.withdraw();
    expect(lane.pending).to.equal(0);
    expect(lane.fed).to.equal(0);
  });

  it('holds a long run and a large random result (the memory grows)', () => {
    const { lane, memory, clockGet, randomGet } = laneOver();
    const entries: LogEntry[] = [];
    // One request array for all: the block then stores it once (SAME_REQUEST), as a primary's capture does, and
    // each result sits apart from the request it answers.
    const request = clockReq(1, 1n);
    for (let i = 0; i < 5000; i++) entries.push(withEntry(clock(i, i, 1, 1n, BigInt(i) * 3n), { request }));
    const big = Array.from({ length: 100_000 }, (_, k) => k & 255);
    entries.push(random(5000, 5000, big));
    const block = EntryBlock.fromEntries(entries);
    expect(lane.offer(block, 0)).to.equal(5001);
    memory.grow(1);
    for (let i = 0; i < 5000; i++) {
      expect(clockGet(1, 1n, 8)).to.equal(0);
      expect(new DataView(memory.buffer).getBigUint64(8, true)).to.equal(BigInt(i) * 3n);
    }
    expect(randomGet(16, 100_000)).to.equal(0);
    expect(Buffer.from(memory.buffer, 16, 100_000).equals(Buffer.from(big))).to.equal(true);
    expect(lane.fed).to.equal(5001);
  });
});

describe('input lane: offers from a trace batch and from an entry block (packed in WebAssembly) and entry by entry (JavaScript)', () => {
  /** Seeded xorshift32 in [0, 1). */
  function rng(seed: number): () => number {
    let x = seed >>> 0 || 1;
    return () => {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      return x / 2 ** 32;
    };
  }
  /** Entries of every shape an offer must take or stop at, with payloads at every alignment. */
  function mix(seed: number, n: number): LogEntry[] {
    const r = rng(seed);
    const out: LogEntry[] = [];
    let index = 1;
    const bytes = (len: number) => Uint8Array.from({ length: len }, () => Math.floor(r() * 256));
    for (let seq = 0; seq < n; seq++) {
      index += r() < 0.9 ? 1 : 1 + Math.floor(r() * 1000);
      const x = r();
      const precision = BigInt(Math.floor(r() * 2 ** 32)) * BigInt(Math.floor(r() * 2 ** 20));
      let e: LogEntry;
      if (x < 0.5) e = clock(seq, index, Math.floor(r() * 4), precision, BigInt(Math.floor(r() * 2 ** 48)));
      else if (x < 0.53) e = clock(seq, index, 4 + Math.floor(r() * 3), precision, 5n);
      else if (x < 0.55) e = withEntry(clock(seq, index, 1, precision, 5n), { data: bytes(7) });
      else if (x < 0.57) e = withEntry(clock(seq, index, 1, precision, 5n), { request: bytes(8) });
      else if (x < 0.75) e = random(seq, index, [...bytes(Math.floor(r() * 41))]);
      else if (x < 0.77) e = withEntry(random(seq, index, [...bytes(5)]), { request: u32(6) });
      else if (x < 0.785) e = random(seq, index, [...bytes(100_000 + Math.floor(r() * 60_000))]);
      else if (x < 0.79) e = random(seq, index, [...bytes(256 * 1024 + 1)]);
      else if (x < 0.85) e = { seq, callIndex: index, kind: EntryKind.Output, call: 'fd_write', channel: 1 + Math.floor(r() * 2), request: new Uint8Array(0), data: bytes(Math.floor(r() * 30)) };
      else if (x < 0.9) e = { seq, callIndex: index, kind: EntryKind.Input, call: 'poll_oneoff', channel: 0, request: bytes(Math.floor(r() * 9)), data: bytes(8) };
      else if (x < 0.93) e = { seq, callIndex: index, kind: EntryKind.Digest, call: '', channel: 0, request: new Uint8Array(0), data: bytes(12) };
      else e = clock(seq, index, 1, 1000n, BigInt(seq));
      out.push(e);
    }
    return out;
  }
  function laneFor(): WasiInputLane {
    const lane = new WasiInputLane(() => 99, () => 98);
    lane.attach(new WebAssembly.Memory({ initial: 1 }));
    return lane;
  }
  /** The columns through the EntryColumns methods only (neither a batch nor a block: the lane's JavaScript path). */
  function generic(c: EntryColumns): EntryColumns {
    return {
      count: c.count,
      firstSeq: c.firstSeq,
      kind: (i) => c.kind(i),
      id: (i) => c.id(i),
      callIndex: (i) => c.callIndex(i),
      requestAt: (i) => c.requestAt(i),
      requestLength: (i) => c.requestLength(i),
      dataAt: (i) => c.dataAt(i),
      dataLength: (i) => c.dataLength(i),
      bytes: c.bytes,
      bytesView: () => c.bytesView(),
      entry: (i) => c.entry(i),
    };
  }
  /**
   * Every offer position of the entries: the batch's lane and the block's lane (both packed in WebAssembly) take the
   * same records as a lane offered the block entry by entry in JavaScript.
   */
  function compare(entries: LogEntry[], what: string): number {
    const batch = decodeFlatBatch(encodeEntryBatch(entries).bytes);
    const block = EntryBlock.fromEntries(entries);
    // The same entries as a primary writes them (repeated clock reads in packed runs), decoded as a secondary does.
    const written = hostBlock(entries);
    const packed = EntryBlock.decode(written.bytes.slice(), written.firstSeq, written.count);
    const js = generic(block);
    const a = laneFor();
    const b = laneFor();
    const c = laneFor();
    const d = laneFor();
    let offered = 0;
    for (let from = 0; from < entries.length; from++) {
      const n = c.offer(js, from);
      expect(a.offer(batch, from), `${what}: batch offer at ${from}`).to.equal(n);
      expect(b.offer(block, from), `${what}: block offer at ${from}`).to.equal(n);
      expect(d.offer(packed, from), `${what}: packed block offer at ${from}`).to.equal(n);
      expect(a.pending, `${what}: pending at ${from}`).to.equal(c.pending);
      expect(b.pending, `${what}: pending at ${from}`).to.equal(c.pending);
      expect(d.pending, `${what}: pending at ${from}`).to.equal(c.pending);
      expect(Buffer.compare(a.records(), c.records()), `${what}: records of the batch offer at ${from}`).to.equal(0);
      expect(Buffer.compare(b.records(), c.records()), `${what}: records of the block offer at ${from}`).to.equal(0);
      expect(Buffer.compare(d.records(), c.records()), `${what}: records of the packed block offer at ${from}`).to.equal(0);
      offered += n;
    }
    return offered;
  }

  for (let k = 0; k < 6; k++) {
    const seed = BASE_SEED + k;
    it(`takes the same records at every position of a mixed batch (seed ${seed})`, () => {
      expect(compare(mix(seed, 1500), `seed ${seed}`), `seed ${seed}: some offers take entries`).to.be.greaterThan(1000);
    });
  }

  it('stops a long run where the JavaScript path stops it (the offer limit), and goes on from there', () => {
    // 10000 clock reads: 8192 records fill an offer exactly.
    const entries = Array.from({ length: 10_000 }, (_, i) => clock(i, i + 1, 1, 1000n, BigInt(i)));
    const batch = decodeFlatBatch(encodeEntryBatch(entries).bytes);
    const lane = laneFor();
    expect(lane.offer(batch, 0)).to.equal(8192);
    expect(lane.offer(batch, 8192)).to.equal(10_000 - 8192);
    expect(compare(entries.slice(0, 9000), 'a long run')).to.be.greaterThan(0);
    // Written as a primary writes them, the 9000 clock reads are one packed run after two records.
    expect(hostBlock(entries.slice(0, 9000)).bytes.length).to.be.lessThan(9000 * 8 + 200);
    // A large random result first: one record of any size fits; after it, the run stops at the limit.
    const big = [random(0, 1, Array.from({ length: 200_000 }, (_, i) => i & 0xff)), ...Array.from({ length: 3000 }, (_, i) => clock(i + 1, i + 2, 1, 1n, 7n))];
    compare(big, 'a large random first');
  });
});

describe('input lane (replays with and without it)', function () {
  this.timeout(120_000);
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  async function recordOf(g: GuestCase, seed: number): Promise<Recording> {
    const dir = g.needsDir ? scratchDir() : undefined;
    if (dir) dirs.push(dir);
    return recordGuest(g, { seed, digestEveryCalls: 50, dir });
  }

  EXAMPLE_GUESTS.forEach((g, k) => {
    it(`${g.name}: the same replay, with the lane feeding its clock and random reads`, async () => {
      const seed = BASE_SEED + k;
      const rec = await recordOf(g, seed);
      const on = await replayEntries(g.path, rec, { via: 'trace', inputLane: true });
      const off = await replayEntries(g.path, rec, { via: 'trace', inputLane: false });
      const msg = `seed ${seed}`;
      expect(on.outcome, msg).to.deep.equal(off.outcome);
      expect(on.outcome.status, msg).to.equal('identical');
      expect(on.stdout, msg).to.equal(rec.stdout);
      expect(on.machine.digest().root, msg).to.equal(off.machine.digest().root);
      expect(on.machine.snapshot().encode(), msg).to.deep.equal(off.machine.snapshot().encode());
      const laneable = rec.entries.filter((e) => e.kind === EntryKind.Input && (e.call === 'clock_time_get' || e.call === 'random_get')).length;
      expect(off.machine.inputLane, msg).to.equal(undefined);
      // A run of inputs is offered by the call before it, within a batch (7 entries in these traces): most go
      // through the lane.
      if (laneable >= 100) expect(on.machine.inputLane!.fed, msg).to.be.greaterThan(laneable * 0.7);
    });
  });

  it('file timestamps follow the last realtime clock value the lane fed', async () => {
    // Three realtime reads, then exit: the first reaches the replayer, which offers the other two to the lane.
    const bytes = await wat(`(module
      (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (drop (call $clock (i32.const 0) (i64.const 1) (i32.const 16)))
        (drop (call $clock (i32.const 0) (i64.const 1) (i32.const 16)))
        (drop (call $clock (i32.const 0) (i64.const 1) (i32.const 16)))
        (call $exit (i32.const 0))))`);
    const dir = mkdtempSync(join(tmpdir(), 'twinstep-lane-'));
    dirs.push(dir);
    const path = join(dir, 'realtime.wasm');
    writeFileSync(path, bytes);
    const seed = BASE_SEED + 50;
    const rec = await recordOf({ name: 'realtime', path, args: [] }, seed);
    const last = rec.entries.filter((e) => e.call === 'clock_time_get').at(-1)!;
    const on = await replayEntries(path, rec, { via: 'trace', inputLane: true });
    expect(on.outcome.status, `seed ${seed}`).to.equal('identical');
    expect(on.machine.inputLane!.fed, `seed ${seed}`).to.equal(2);
    const fsTime = decodeMachineState(on.machine.snapshot().encode()).state.fsTimeNs;
    expect(fsTime, `seed ${seed}`).to.equal(new DataView(last.data.buffer, last.data.byteOffset, 8).getBigUint64(0, true));
  });

  it('reports a divergence the same way, context included', async () => {
    const g = EXAMPLE_GUESTS.find((x) => x.name === 'c/hostcalls')!;
    const seed = BASE_SEED + 100;
    const rec = await recordOf(g, seed);
    // The 1500th clock read asked for another precision when recorded: this build's request differs there.
    const clocks = rec.entries.filter((e) => e.call === 'clock_time_get');
    const target = clocks[1500]!;
    const entries = rec.entries.map((e) => (e === target ? withEntry(e, { request: clockReq(1, 2n) }) : e));
    const on = await replayEntries(g.path, { ...rec, entries }, { via: 'trace', inputLane: true, contextEntries: 8 });
    const off = await replayEntries(g.path, { ...rec, entries }, { via: 'trace', inputLane: false, contextEntries: 8 });
    const msg = `seed ${seed}`;
    expect(on.outcome.status, msg).to.equal('diverged');
    expect(on.outcome, msg).to.deep.equal(off.outcome);
    if (on.outcome.status !== 'diverged') return;
    const d = on.outcome.divergences[0]!;
    expect(d.kind, msg).to.equal('request-mismatch');
    expect(d.seq, msg).to.equal(target.seq);
    expect(d.context.map((c) => c.seq), msg).to.deep.equal([...Array(8).keys()].map((j) => target.seq - 8 + j));
    expect(on.machine.inputLane!.fed, msg).to.be.greaterThan(1000);
  });

  it('pauses and resumes at the calls that reach the handler; a snapshot there is the same as without the lane', async () => {
    const g = EXAMPLE_GUESTS.find((x) => x.name === 'c/hostcalls')!;
    const seed = BASE_SEED + 200;
    const rec = await recordOf(g, seed);
    const module = await loadModule(readFileSync(g.path), 'all');
    // An output in the middle: a call that reaches the handler with the lane on or off.
    const outputAt = rec.entries.filter((e) => e.kind === EntryKind.Output)[1]!.callIndex;
    const sliced = (inputLane: boolean) => {
      const machine = WasiMachine.create(module, { config: rec.config, devices: refusingDevices, inputLane });
      const replayer = new Replayer({ machine, source: traceSourceOf(rec.entries) });
      let calls = 0;
      let pauses = 0;
      let snapshot: Uint8Array | undefined;
      let passed = -1;
      // Pauses at every third call it sees and at the output (where it snapshots); the call it paused at passes
      // when it is presented again.
      const handler: HostCallHandler = {
        beforeCall: (c) => {
          if (c.index !== passed && (c.index === outputAt || ++calls % 3 === 0)) {
            passed = c.index;
            pauses++;
            return PAUSE;
          }
          return replayer.beforeCall(c);
        },
        input: (c) => replayer.input(c),
        output: (c) => replayer.output(c),
      };
      for (;;) {
        const r = machine.run(handler);
        if (r.status !== 'paused') return { outcome: replayer.finish(r), pauses, snapshot: snapshot!, machine };
        replayer.catchUp();
        if (r.index === outputAt && snapshot === undefined) {
          expect(machine.callIndex).to.equal(outputAt);
          snapshot = machine.snapshot().encode();
        }
      }
    };
    const on = sliced(true);
    const off = sliced(false);
    const msg = `seed ${seed}`;
    expect(on.outcome.status, msg).to.equal('identical');
    expect(on.outcome, msg).to.deep.equal(off.outcome);
    expect(on.pauses, msg).to.be.greaterThan(3);
    expect(on.snapshot, msg).to.deep.equal(off.snapshot);
    expect(on.machine.snapshot().encode(), msg).to.deep.equal(off.machine.snapshot().encode());
    expect(on.machine.inputLane!.fed, msg).to.be.greaterThan(1000);
  });
});
