/**
 * Input runs (engine/machine/input-run.ts): the machine gives a recording handler's repeated input calls to the
 * handler's open run instead of calling input() for each. What a recording makes must not depend on it: the same
 * entries (digests at the same calls), the same trace file byte for byte (in the recording thread and on the
 * encoder thread, across capture chunks), stops, slices and a size cap that still end the log at a call and
 * replay identically. The run itself: what it takes, what it refuses, and its copies of results the host refills.
 * The clock and entropy are seeded (fakeDevices); seeds are printed with every failure.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModule } from '../../engine/wasi/loader.ts';
import { WasiMachine } from '../../engine/wasi/machine.ts';
import { EntryKind, type LogEntry } from '../../engine/log/entry.ts';
import { END_CAP } from '../../engine/log/end-marker.ts';
import { INPUT_RUN_CAPACITY, InputRun } from '../../engine/machine/input-run.ts';
import { Recorder, type EntrySink, type RecorderOptions } from '../../engine/node/recorder.ts';
import { OffloadingTraceWriter } from '../../engine/log/trace-offload.ts';
import { TraceReader } from '../../engine/log/trace-reader.ts';
import { traceEntrySink, traceHeaderOf } from '../../scripts/cli/record.ts';
import { fakeDevices } from '../support/fake-devices.ts';
import { EXAMPLE_GUESTS, type GuestCase } from '../support/guests.ts';
import { ArraySink, configFor, recordThrough, replayEntries } from '../replay/support.ts';
import type { Devices } from '../../engine/wasi/context.ts';
import { ENCODER_BOOT, startHelperThread } from '../../engine/log/helper-threads.ts';
import { SessionThread } from '../../engine/log/session-thread.ts';

const SEED = Number(process.env.RECORDER_SEED ?? 20261208);
const guest = (name: string, args?: string[]): GuestCase => {
  const g = EXAMPLE_GUESTS.find((x) => x.name === name);
  if (!g) throw new Error(`no example guest ${name}`);
  return args ? { ...g, args } : g;
};
const HOSTCALLS = guest('c/hostcalls', ['20000']);

/** A sink that takes runs (EntrySink.addRun) and keeps every entry as add() would have made it. */
class RunSink extends ArraySink {
  runs = 0;
  runEntries = 0;
  private lastRequest = new Map<string, Uint8Array>();
  override add(kind: EntryKind, callIndex: number, call: string, channel: number, request: Uint8Array, data: Uint8Array): void {
    this.lastRequest.set(call, request);
    super.add(kind, callIndex, call, channel, request, data);
  }
  addRun(kind: EntryKind, first: number, call: string, channel: number, request: Uint8Array, words: Int32Array, width: number, count: number): void {
    // The contract: the run repeats the entry added last for its call, with that very request array.
    if (this.lastRequest.get(call) !== request) throw new Error(`run of ${call} at ${first}: not the request added last for the call`);
    this.runs++;
    this.runEntries += count;
    for (let k = 0; k < count; k++) {
      const data = new Uint8Array(words.buffer, words.byteOffset + k * width * 4, width * 4);
      super.add(kind, first + k, call, channel, request, data);
    }
  }
}

async function record(g: GuestCase, sink: EntrySink, opts: Partial<RecorderOptions>, devices?: Devices, resume = false) {
  const module = await loadModule(readFileSync(g.path), 'all');
  const config = configFor(g);
  const machine = WasiMachine.create(module, { config, devices: devices ?? fakeDevices(SEED, Buffer.from('one\ntwo\nthree\n')) });
  const recorder = new Recorder({ machine, sink, emit: () => {}, ...opts });
  const { result, yields } = recordThrough(machine, recorder, resume);
  return { recorder, result, calls: machine.callIndex, config, yields };
}

const show = (es: readonly LogEntry[]) => es.map((e) => `${e.seq} ${e.callIndex} ${e.kind} ${e.call} ${e.channel} ${Buffer.from(e.request).toString('hex')} ${Buffer.from(e.data).toString('hex')}`);

describe('input runs', function () {
  this.timeout(120_000);

  describe('InputRun', () => {
    it('takes the calls that continue it (same request array, the next index, within its room), copying results the host refills', () => {
      const flushed: Array<{ first: number; count: number; call: string; values: number[] }> = [];
      const run = new InputRun((first, count, call, _request, words, width) => {
        flushed.push({ first, count, call, values: Array.from(words.subarray(0, count * width)) });
      });
      const req = new Uint8Array(12);
      const result = new Uint8Array(8);
      const words = new Int32Array(result.buffer);
      run.open(5, 'clock_time_get', req, 8, 3);
      expect(run.takes(5, 'clock_time_get', new Uint8Array(12)), 'another array with the same bytes').to.equal(false);
      expect(run.takes(5, 'random_get', req), 'another call with the same request array').to.equal(false);
      expect(run.takes(6, 'clock_time_get', req), 'not the next index').to.equal(false);
      for (let k = 0; k < 3; k++) {
        expect(run.takes(5 + k, 'clock_time_get', req)).to.equal(true);
        words[0] = 100 + k;
        words[1] = -k;
        expect(run.push(result)).to.equal(true);
      }
      expect(run.takes(8, 'clock_time_get', req), 'room used up').to.equal(false);
      expect(run.pending).to.equal(3);
      expect(() => run.open(9, 'clock_time_get', req, 8, 3), 'opened with entries not flushed').to.throw(/not flushed/);
      run.close();
      expect(flushed).to.deep.equal([{ first: 5, count: 3, call: 'clock_time_get', values: [100, 0, 101, -1, 102, -2] }]);
      run.close();
      expect(flushed.length, 'an empty close flushes nothing').to.equal(1);
    });

    it('refuses a result of another size (the run ends), takes unaligned results, and opens only for 8 or 16 bytes', () => {
      const flushed: number[][] = [];
      const run = new InputRun((_f, count, _c, _r, words, width) => void flushed.push(Array.from(words.subarray(0, count * width))));
      const req = new Uint8Array(4);
      run.open(0, 'random_get', req, 5, 10);
      expect(run.takes(0, 'random_get', req), 'a 5-byte result makes no run').to.equal(false);
      run.open(0, 'random_get', req, 16, 0);
      expect(run.takes(0, 'random_get', req), 'no room, no run').to.equal(false);
      run.open(0, 'random_get', req, 16, 10);
      const unaligned = new Uint8Array(new ArrayBuffer(32), 3, 16);
      unaligned.set([1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0]);
      expect(run.push(unaligned)).to.equal(true);
      expect(run.push(new Uint8Array(8)), 'a result of 8 bytes in a run of 16').to.equal(false);
      expect(run.takes(2, 'random_get', req), 'the run is over after a refusal').to.equal(false);
      run.close();
      expect(flushed).to.deep.equal([[1, 2, 3, 4]]);
      run.open(0, 'clock_time_get', req, 8, INPUT_RUN_CAPACITY * 4);
      let taken = 0;
      while (run.takes(taken, 'clock_time_get', req)) {
        run.push(new Uint8Array(8));
        taken++;
      }
      expect(taken, 'at most INPUT_RUN_CAPACITY calls per run').to.equal(INPUT_RUN_CAPACITY);
    });
  });

  describe('Recorder', () => {
    const cases: Array<[GuestCase, Partial<RecorderOptions>]> = [
      [HOSTCALLS, { digestEveryCalls: 0 }],
      [HOSTCALLS, { digestEveryCalls: 97 }],
      [guest('c/hostcalls', ['3000', '5']), { digestEveryCalls: 1 }],
      [guest('c/clockrand'), { digestEveryCalls: 10 }],
      [guest('c/files'), { digestEveryCalls: 7 }],
      [guest('c/echo'), { digestEveryCalls: 3 }],
      [guest('rust/tour'), { digestEveryCalls: 50 }],
    ];
    for (const [g, opts] of cases) {
      it(`${g.name} ${(g.args ?? []).join(' ')} (digest every ${opts.digestEveryCalls}): the same entries with and without runs, through add() or addRun()`, async () => {
        const plain = new ArraySink();
        const a = await record(g, plain, { ...opts, inputRuns: false });
        const added = new ArraySink();
        await record(g, added, opts);
        const runs = new RunSink();
        const c = await record(g, runs, opts);
        const msg = `${g.name} seed ${SEED}`;
        expect(a.result, msg).to.deep.equal(c.result);
        expect(show(added.entries), msg).to.deep.equal(show(plain.entries));
        expect(show(runs.entries), msg).to.deep.equal(show(plain.entries));
        expect(c.recorder.entries, msg).to.equal(plain.entries.length);
        if (g === HOSTCALLS) {
          expect(runs.runEntries, `${msg}: most clock reads went through runs`).to.be.greaterThan(plain.entries.length * 0.9);
          const replayed = await replayEntries(g.path, { entries: runs.entries, config: c.config });
          expect(replayed.outcome.status, msg).to.equal('identical');
        }
      });
    }

    it('the same trace file byte for byte with and without runs, written in the recording thread and on the encoder thread', async () => {
      // The encoder thread up first, so the offloaded recordings hand over at their first entry.
      startHelperThread('encoder');
      for (let i = 0; i < 1000 && !SessionThread.readyNow(ENCODER_BOOT); i++) await new Promise((r) => setTimeout(r, 10));
      expect(SessionThread.readyNow(ENCODER_BOOT), 'the encoder thread came up').to.equal(true);
      const dir = mkdtempSync(join(tmpdir(), 'twinstep-input-runs-'));
      try {
        const module = await loadModule(readFileSync(HOSTCALLS.path), 'all');
        // 60000 clock reads: about 2 MB of capture, so the encoder thread gets several chunks and runs cross them.
        const g = { ...HOSTCALLS, args: ['60000'] };
        const file = async (name: string, inputRuns: boolean, inThread: boolean): Promise<Buffer> => {
          const machine = WasiMachine.create(module, { config: configFor(g), devices: fakeDevices(SEED) });
          const header = traceHeaderOf(machine, module, { vmId: 'runs', modulePath: g.path, unwind: 'all', digestIntervalCalls: 500, digestIntervalMs: 0, fromSnapshot: false });
          const path = join(dir, name);
          const writer = OffloadingTraceWriter.create(path, header, inThread ? { offloadAfterEntries: Infinity } : { offloadAfterEntries: 1 });
          const recorder = new Recorder({ machine, sink: traceEntrySink(writer), emit: () => {}, digestEveryCalls: 500, inputRuns });
          recorder.finish(machine.run(recorder), machine);
          expect(writer.offloaded, `${name}: encoded where asked`).to.equal(!inThread);
          writer.close();
          return readFileSync(path);
        };
        // Where the recording hands over to the encoder thread, the batch open then is written as it stands: a
        // trace encoded in the recording thread and one handed over at its first entry differ in their frames,
        // so each is compared with the same recording without runs.
        for (const inThread of [true, false]) {
          const plain = await file(`plain-${inThread}.twt`, false, inThread);
          const runs = await file(`runs-${inThread}.twt`, true, inThread);
          expect(runs.equals(plain), `${inThread ? 'in the recording thread' : 'on the encoder thread'} (seed ${SEED}): ${runs.length} bytes against ${plain.length}`).to.equal(true);
          const entries = (path: string): string[] => {
            const reader = TraceReader.open(path);
            try {
              return show([...reader]);
            } finally {
              reader.close();
            }
          };
          if (!inThread) expect(entries(join(dir, 'runs-false.twt')), `seed ${SEED}`).to.deep.equal(entries(join(dir, 'plain-true.twt')));
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('a requested stop with runs ends the log within a run of the request, and the log replays identically', async () => {
      let asked = 0;
      let requestedAt = -1;
      let machineCalls = () => 0;
      const sink = new ArraySink();
      const module = await loadModule(readFileSync(HOSTCALLS.path), 'all');
      const machine = WasiMachine.create(module, { config: configFor(HOSTCALLS), devices: fakeDevices(SEED) });
      machineCalls = () => machine.callIndex;
      let ms = 0;
      const recorder = new Recorder({
        machine,
        sink,
        emit: () => {},
        digestEveryCalls: 500,
        nowMs: () => ++ms,
        stopRequested: () => {
          if (++asked < 40) return undefined;
          if (requestedAt < 0) requestedAt = machineCalls();
          return 'interrupted by SIGINT';
        },
      });
      const result = machine.run(recorder);
      recorder.finish(result, machine);
      const msg = `seed ${SEED}`;
      expect(result.status, msg).to.equal('paused');
      expect(sink.entries.at(-1), msg).to.deep.include({ kind: EntryKind.Output, channel: END_CAP });
      expect(machine.callIndex - requestedAt, `${msg}: stopped within a run of the request`).to.be.within(0, INPUT_RUN_CAPACITY + 1);
      const replay = await replayEntries(HOSTCALLS.path, { entries: sink.entries, config: configFor(HOSTCALLS) });
      expect(replay.outcome, msg).to.deep.include({ status: 'identical', capped: true, entries: sink.entries.length });
    });

    it('slices with runs hand control back and make the same log as one run', async () => {
      let ms = 0;
      const whole = new ArraySink();
      await record(HOSTCALLS, whole, { digestEveryCalls: 500, inputRuns: false });
      const sliced = new RunSink();
      const r = await record(HOSTCALLS, sliced, { digestEveryCalls: 500, nowMs: () => ++ms, sliceMs: 3 }, undefined, true);
      expect(r.yields, `seed ${SEED}`).to.be.greaterThan(5);
      expect(show(sliced.entries), `seed ${SEED}`).to.deep.equal(show(whole.entries));
    });

    it('a size cap with runs stops about at the cap, at a call, and replays identically', async () => {
      const sink = new ArraySink();
      const r = await record(HOSTCALLS, sink, { digestEveryCalls: 0, capBytes: 20_000 });
      const msg = `seed ${SEED}`;
      expect(r.recorder.capped, msg).to.equal('size cap of 20000 bytes reached');
      // ArraySink counts 16 bytes and the payload per entry: a clock read is 36; runs with a cap are 64 calls long.
      expect(sink.bytes, msg).to.be.within(20_000, 20_000 + 70 * 40 + 200);
      const replay = await replayEntries(HOSTCALLS.path, { entries: sink.entries, config: r.config });
      expect(replay.outcome, msg).to.deep.include({ status: 'identical', capped: true });
    });

    it('a host that hands back a result of another size fails the call the same way with and without runs (the run hands the call over)', async () => {
      // random_get of 16 bytes, then (from the third call on) a device that answers with 12.
      const devices = (): Devices => {
        const d = fakeDevices(SEED);
        let n = 0;
        return { ...d, random: (len: number) => d.random(++n > 2 ? len - 4 : len) };
      };
      const g = guest('c/hostcalls', ['500']);
      const failure = async (inputRuns: boolean): Promise<string> => {
        try {
          await record(g, new ArraySink(), { inputRuns }, devices());
        } catch (e) {
          return (e as Error).message;
        }
        return 'no failure';
      };
      const plain = await failure(false);
      expect(plain, `seed ${SEED}`).to.match(/malformed random_get result.*asked 16 bytes, got 12/);
      expect(await failure(true), `seed ${SEED}`).to.equal(plain);
    });
  });
});
