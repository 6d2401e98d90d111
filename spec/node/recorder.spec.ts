/**
 * The Recorder's digest placement and budget: digests land at logged calls only (before the call's own
 * entry), at the call interval when there is no budget; with a budget, the time digests take stays within
 * their share of the recording's time, measured on a clock the test drives (every host call "takes" 1 µs,
 * every digest DIGEST_MS), and the trace still replays identically. The coarse time comes from a cell the test
 * moves (as the clock thread moves coarseClockCell's): digests by ms and the sink's ticks follow it, and the
 * clock function is asked only while the cell holds nothing. Seeds are printed with every failure.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { loadModule } from '../../engine/wasi/loader.ts';
import { WasiMachine } from '../../engine/wasi/machine.ts';
import { EntryKind, type LogEntry } from '../../engine/log/entry.ts';
import { Recorder } from '../../engine/node/recorder.ts';
import { fakeDevices } from '../support/fake-devices.ts';
import { EXAMPLE_GUESTS, type GuestCase } from '../support/guests.ts';
import { ArraySink, configFor, replayEntries } from '../replay/support.ts';

const SEED = Number(process.env.RECORDER_SEED ?? 20261202);
const HOSTCALLS: GuestCase = { ...EXAMPLE_GUESTS.find((g) => g.name === 'c/hostcalls')!, args: ['3000'] };
const FILES = EXAMPLE_GUESTS.find((g) => g.name === 'c/files');
const DIGEST_MS = 1;
const CALL_MS = 0.001;

async function record(g: GuestCase, opts: { every: number; budget?: number; capBytes?: number }) {
  const module = await loadModule(readFileSync(g.path), 'all');
  const config = configFor(g);
  const machine = WasiMachine.create(module, { config, devices: fakeDevices(SEED, Buffer.alloc(0)) });
  // The test's clock: host calls and digests advance it, nothing else.
  let digestsMs = 0;
  const digest = machine.digest.bind(machine);
  machine.digest = () => {
    digestsMs += DIGEST_MS;
    return digest();
  };
  const sink = new ArraySink();
  const recorder = new Recorder({
    machine,
    sink,
    emit: () => {},
    digestEveryCalls: opts.every,
    digestBudget: opts.budget,
    capBytes: opts.capBytes,
    fineNowMs: () => machine.callIndex * CALL_MS + digestsMs,
  });
  const result = machine.run(recorder);
  recorder.finish(result, machine);
  return { entries: sink.entries, config, recorder, calls: machine.callIndex, digestsMs, result };
}

const digestsOf = (es: readonly LogEntry[]) => es.filter((e) => e.kind === EntryKind.Digest);

describe('Recorder: where digests go and what they may cost', function () {
  this.timeout(60_000);

  it('digests only at logged calls, right before the call entry, every N calls without a budget', async () => {
    const guests = [HOSTCALLS, ...(FILES ? [FILES] : [])];
    for (const g of guests) {
      const r = await record(g, { every: 1 });
      const ds = digestsOf(r.entries);
      expect(ds.length, `${g.name} seed ${SEED}`).to.be.greaterThan(2);
      r.entries.forEach((e, i) => {
        if (e.kind !== EntryKind.Digest) return;
        const next = r.entries[i + 1];
        expect(next, `${g.name} seed ${SEED}: digest #${e.seq} is followed by its call`).to.not.equal(undefined);
        expect(next.kind, `${g.name} seed ${SEED}: digest #${e.seq}`).to.not.equal(EntryKind.Digest);
        expect(next.callIndex, `${g.name} seed ${SEED}: digest #${e.seq} at the index of the logged call after it`).to.equal(e.callIndex);
      });
      // Every logged call but the first (index 0 is never digested) has its digest.
      const logged = new Set(r.entries.filter((e) => e.kind !== EntryKind.Digest && e.callIndex > 0).map((e) => e.callIndex));
      expect(new Set(ds.map((d) => d.callIndex)), `${g.name} seed ${SEED}`).to.deep.equal(logged);
      const replayed = await replayEntries(g.path, r);
      expect(replayed.outcome.status, `${g.name} seed ${SEED}`).to.equal('identical');
    }
  });

  it('with no budget, the call interval is exact', async () => {
    const r = await record(HOSTCALLS, { every: 100 });
    const periodic = digestsOf(r.entries).slice(0, -1);
    expect(periodic.length, `seed ${SEED}`).to.be.greaterThan(10);
    for (let i = 1; i < periodic.length; i++) {
      // The next logged call at or after 100 calls on (hostcalls logs every call).
      expect(periodic[i].callIndex - periodic[i - 1].callIndex, `seed ${SEED}: digest ${i}`).to.equal(100);
    }
    expect(r.recorder.postponedDigests, `seed ${SEED}`).to.equal(0);
  });

  it('with a budget, digests take no more than their share of the time, and the trace replays identically', async () => {
    const exact = await record(HOSTCALLS, { every: 100 });
    for (const budget of [0.05, 0.2]) {
      const r = await record(HOSTCALLS, { every: 100, budget });
      const n = digestsOf(r.entries).length;
      const elapsed = r.calls * CALL_MS + r.digestsMs;
      // The final digest (before exit) is outside the budget; one digest may overshoot it.
      const periodicMs = r.digestsMs - DIGEST_MS;
      expect(periodicMs, `seed ${SEED} budget ${budget}: ${n} digests in ${elapsed} ms`).to.be.at.most(budget * elapsed + DIGEST_MS);
      expect(n, `seed ${SEED} budget ${budget}`).to.be.lessThan(digestsOf(exact.entries).length);
      expect(n, `seed ${SEED} budget ${budget}: the budget is used, not just obeyed`).to.be.greaterThan(Math.floor((budget * elapsed) / DIGEST_MS) - 2);
      expect(r.recorder.postponedDigests, `seed ${SEED} budget ${budget}`).to.be.greaterThan(0);
      const replayed = await replayEntries(HOSTCALLS.path, r);
      expect(replayed.outcome.status, `seed ${SEED} budget ${budget}`).to.equal('identical');
    }
  });

  it('refuses a negative budget', () => {
    expect(() => new Recorder({ machine: {} as never, sink: new ArraySink(), emit: () => {}, digestBudget: -0.1 })).to.throw(/digest budget -0.1/);
  });

  it('a size cap still stops at a call boundary (the cap check runs before every call)', async () => {
    const r = await record(HOSTCALLS, { every: 0, capBytes: 500 });
    expect(r.result.status, `seed ${SEED}`).to.equal('paused');
    expect(r.recorder.capped, `seed ${SEED}`).to.match(/size cap of 500 bytes/);
    const replayed = await replayEntries(HOSTCALLS.path, r);
    expect(replayed.outcome.status, `seed ${SEED}`).to.equal('identical');
  });
  it('reads the time from its cell once the cell holds one: digests every M ms and the sink ticks follow the cell', async () => {
    const module = await loadModule(readFileSync(HOSTCALLS.path), 'all');
    const config = configFor(HOSTCALLS);
    const machine = WasiMachine.create(module, { config, devices: fakeDevices(SEED, Buffer.alloc(0)) });
    // The cell stays 0 (not known yet) for the first 20 entries, then moves 1 ms every 10 entries; the clock
    // function is the same clock (what coarseNowMs is to its cell).
    const cell = new Float64Array(1);
    let asked = 0;
    const nowMs = (): number => {
      asked++;
      return cell[0] || 1000;
    };
    class TickSink extends ArraySink {
      readonly ticks: Array<{ ms: number; entries: number }> = [];
      readonly digestMs: number[] = [];
      override add(kind: EntryKind, callIndex: number, call: string, channel: number, request: Uint8Array, data: Uint8Array): void {
        super.add(kind, callIndex, call, channel, request, data);
        if (kind === EntryKind.Digest) this.digestMs.push(cell[0] || 1000);
        const n = this.entries.length;
        if (n === 20) cell[0] = 2000;
        else if (n > 20 && n % 10 === 0) cell[0]++;
      }
      tick(ms: number): void {
        this.ticks.push({ ms, entries: this.entries.length });
      }
    }
    const sink = new TickSink();
    // Per-call looks at the time (input runs would look once per run: spec/node/input-runs.spec.ts).
    const recorder = new Recorder({ machine, sink, emit: () => {}, digestEveryCalls: 0, digestEveryMs: 5, nowMs, nowCell: cell, inputRuns: false });
    const result = machine.run(recorder);
    recorder.finish(result, machine);
    expect(result, `seed ${SEED}`).to.deep.include({ status: 'exited', code: 0 });
    const calls = machine.callIndex;
    // The clock was asked while the cell held 0 (and when a digest starts the next interval), not per call.
    expect(asked, `seed ${SEED}: clock reads for ${calls} calls`).to.be.below(20 + sink.digestMs.length + 5);
    // One tick per millisecond the recorder saw, in order, each after the entry of the call that saw it.
    const ms = sink.ticks.map((t) => t.ms);
    expect(ms[0], `seed ${SEED}`).to.equal(1000);
    expect(ms[1], `seed ${SEED}`).to.equal(2000);
    for (let i = 1; i < ms.length; i++) expect(ms[i], `seed ${SEED}: tick ${i}`).to.be.greaterThan(ms[i - 1]);
    expect(ms.at(-1), `seed ${SEED}`).to.be.at.least(cell[0] - 1);
    for (const t of sink.ticks) expect(t.entries, `seed ${SEED}`).to.be.greaterThan(0);
    // Digests every 5 ms of the cell (the last one is the exit's), at no other time.
    const periodic = sink.digestMs.slice(0, -1);
    expect(periodic.length, `seed ${SEED}`).to.be.within(Math.floor((cell[0] - 2000) / 5) - 1, Math.floor((cell[0] - 2000) / 5) + 1);
    for (let i = 1; i < periodic.length; i++) expect(periodic[i] - periodic[i - 1], `seed ${SEED}: digest ${i}`).to.equal(5);
    const replayed = await replayEntries(HOSTCALLS.path, { entries: sink.entries, config });
    expect(replayed.outcome.status, `seed ${SEED}`).to.equal('identical');
  });

  it('the hostcalls guest with work between its calls (the bench sweep) records and replays identically', async () => {
    const g: GuestCase = { ...HOSTCALLS, args: ['2000', '50'] };
    const r = await record(g, { every: 500 });
    expect(r.result, `seed ${SEED}`).to.deep.include({ status: 'exited', code: 0 });
    const out = Buffer.concat(r.entries.filter((e) => e.kind === EntryKind.Output && e.channel === 1).map((e) => e.data)).toString();
    expect(out, `seed ${SEED}`).to.match(/hostcalls n=2000 clock_time_get=2000 random_get=32 writes=2 ok\nwork=50 acc=[0-9a-f]{16}\n$/);
    const rep = await replayEntries(g.path, { entries: r.entries, config: r.config }, { via: 'trace' });
    expect(rep.outcome.status, `seed ${SEED}`).to.equal('identical');
  });
});
