/**
 * How the Recorder stops a guest early and hands control back: a requested stop (an interrupt) ends the log at
 * the next call the guest can pause at, as a cap does, and the log replays identically to there; slices pause
 * the guest without stopping anything, and a sliced recording is the same log as one made in one go; a cap
 * under `--unwind io` waits for a call that can pause instead of failing at one that cannot. The clock is a
 * counter the test drives (a ms per logged call). Seeds are printed with every failure.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { loadModule, type LoadedModule } from '../../engine/wasi/loader.ts';
import { WasiMachine } from '../../engine/wasi/machine.ts';
import { EntryKind } from '../../engine/log/entry.ts';
import { END_CAP } from '../../engine/log/end-marker.ts';
import { Recorder, type RecorderOptions } from '../../engine/node/recorder.ts';
import { fakeDevices } from '../support/fake-devices.ts';
import { EXAMPLE_GUESTS, type GuestCase } from '../support/guests.ts';
import { ArraySink, configFor, recordThrough, replayEntries } from '../replay/support.ts';

const SEED = Number(process.env.RECORDER_SEED ?? 20261207);
const HOSTCALLS: GuestCase = { ...EXAMPLE_GUESTS.find((g) => g.name === 'c/hostcalls')!, args: ['3000'] };

async function record(unwind: 'all' | 'io', opts: Partial<RecorderOptions>, resume = false) {
  const module: LoadedModule = await loadModule(readFileSync(HOSTCALLS.path), unwind);
  const config = configFor(HOSTCALLS);
  const machine = WasiMachine.create(module, { config, devices: fakeDevices(SEED, Buffer.alloc(0)) });
  const sink = new ArraySink();
  let ms = 0;
  const pausedAt: string[] = [];
  const recorder = new Recorder({
    machine,
    sink,
    emit: () => {},
    digestEveryCalls: 500,
    nowMs: () => ++ms,
    // The clock counts the recorder's looks, one per logged call without input runs (with them, one per run:
    // spec/node/input-runs.spec.ts).
    inputRuns: false,
    canPause: (name) => {
      const ok = module.unwindable.has(name);
      if (ok) pausedAt.push(name);
      return ok;
    },
    ...opts,
  });
  const { result, yields } = recordThrough(machine, recorder, resume);
  return { entries: sink.entries, config, recorder, result, yields, module, calls: machine.callIndex, lastPausable: pausedAt.at(-1) };
}

describe('Recorder: stops and slices', function () {
  this.timeout(60_000);

  it('a requested stop ends the log at the next call that can pause, with a cap marker naming it; the log replays identically', async () => {
    let asked = 0;
    const r = await record('io', { stopRequested: () => (++asked >= 400 ? 'interrupted by SIGINT' : undefined) });
    const msg = `seed ${SEED}`;
    expect(r.result.status, msg).to.equal('paused');
    expect(r.recorder.capped).to.equal('interrupted by SIGINT');
    const end = r.entries.at(-1)!;
    expect(end).to.deep.include({ kind: EntryKind.Output, channel: END_CAP });
    expect(Buffer.from(end.data).toString()).to.equal('interrupted by SIGINT');
    expect(r.entries.at(-2)!.kind, 'a final digest before the marker').to.equal(EntryKind.Digest);
    expect(r.module.unwindable.has(r.lastPausable!), `stopped at ${r.lastPausable}`).to.equal(true);
    expect(r.calls, 'stopped soon after the request').to.be.within(380, 420);
    const replay = await replayEntries(HOSTCALLS.path, r);
    expect(replay.outcome, msg).to.deep.include({ status: 'identical', capped: true, entries: r.entries.length });
  });

  it('slices hand control back without stopping anything, and make the same log as one run', async () => {
    const whole = await record('all', {});
    const sliced = await record('all', { sliceMs: 7 }, true);
    const msg = `seed ${SEED}`;
    expect(whole.result, msg).to.deep.equal({ status: 'exited', code: 0 });
    expect(sliced.result, msg).to.deep.equal(whole.result);
    expect(sliced.recorder.capped).to.equal(undefined);
    expect(sliced.yields, 'about one yield per 7 logged calls').to.be.greaterThan(whole.entries.length / 10);
    expect(sliced.entries, msg).to.deep.equal(whole.entries);
  });

  it('a size cap under --unwind io waits for a call that can pause (it failed at the first pure call before)', async () => {
    const r = await record('io', { capBytes: 2000 });
    expect(r.recorder.capped).to.equal('size cap of 2000 bytes reached');
    const end = r.entries.at(-1)!;
    expect(end.channel).to.equal(END_CAP);
    expect(r.module.unwindable.has(r.lastPausable!)).to.equal(true);
    const replay = await replayEntries(HOSTCALLS.path, r);
    expect(replay.outcome, `seed ${SEED}`).to.deep.include({ status: 'identical', capped: true });
  });
});
