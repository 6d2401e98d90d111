/**
 * Replay by streams (replay/stream-replayer.ts, `twinstep replay --match stream`): a new build that makes the same
 * inputs and writes the same bytes through other host calls replays identically, where replay by calls parts at
 * the first write; another input, other bytes, fewer inputs, another exit are still divergences, named at the
 * recorded entry; a capped recording replays to its cap. On the toy machine (any Machine) and on a WASI guest,
 * from an array of entries and through a trace. Seeds are printed with every failure; STREAM_SEED=N reruns.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EntryKind, type LogEntry } from '../../engine/log/entry.ts';
import { Recorder } from '../../engine/node/recorder.ts';
import { loadModule } from '../../engine/wasi/loader.ts';
import { WasiMachine } from '../../engine/wasi/machine.ts';
import { Replayer } from '../../replay/replayer.ts';
import { StreamReplayer } from '../../replay/stream-replayer.ts';
import { ArraySink, ArraySource, recordGuest, refusingDevices, traceSourceOf } from './support.ts';
import { EXAMPLE_GUESTS, GUEST_DIR } from '../support/guests.ts';
import { NO_DEVICES, ToyMachine, seededToyDevices as seededDevices, type ToyOp } from '../support/toy-machine.ts';

const SEED = Number(process.env.STREAM_SEED ?? 4711);
const LINES = EXAMPLE_GUESTS.find((g) => g.name === 'c/lines')!;
const LINES_SPLIT = join(GUEST_DIR, 'c/lines-split.wasm');
const LINES_V2 = join(GUEST_DIR, 'c/lines-v2.wasm');

/** Five rounds of: read a clock, fill random bytes, hash them, print the hash; then print the clock, exit 2. */
const PROGRAM: readonly ToyOp[] = [
  { op: 'add', reg: 3, value: 4 },
  { op: 'store', reg: 3, addr: 0 },
  { op: 'clock', reg: 0, clockId: 1 },
  { op: 'random', addr: 64, len: 16 },
  { op: 'mix', reg: 1, addr: 64, len: 16 },
  { op: 'print', label: 'mix', reg: 1 },
  { op: 'loop', counterAddr: 0, to: 2 },
  { op: 'print', label: 'clock', reg: 0 },
  { op: 'add', reg: 2, value: 2 },
  { op: 'halt', reg: 2 },
];
/** The same inputs and bytes through other calls: each line in two writes, after a pure call (inserted after pc 2: the loop target stands). */
const SPLIT: readonly ToyOp[] = PROGRAM.flatMap((o): ToyOp[] => (o.op === 'print' ? [{ op: 'pages', reg: 3 }, { ...o, op: 'printParts' }] : [o]));
const replace = (at: number, ...ops: ToyOp[]) => [...PROGRAM.slice(0, at), ...ops, ...PROGRAM.slice(at + 1)];

function recordToy(seed: number, capBytes = 0) {
  const machine = new ToyMachine(PROGRAM, seededDevices(seed));
  const sink = new ArraySink();
  let out = '';
  const recorder = new Recorder({ machine, sink, emit: (_c, d) => (out += Buffer.from(d).toString()), digestEveryCalls: 3, capBytes });
  const result = machine.run(recorder);
  recorder.finish(result, machine);
  return { entries: sink.entries, out };
}

function streamReplay(program: readonly ToyOp[], entries: readonly LogEntry[], via: 'array' | 'trace', keepGoing = false) {
  const machine = new ToyMachine(program, NO_DEVICES);
  let out = '';
  const r = new StreamReplayer({ machine, source: via === 'trace' ? traceSourceOf(entries) : new ArraySource(entries), keepGoing, emit: (_c, d) => (out += Buffer.from(d).toString()) });
  const outcome = r.finish(machine.run(r));
  return { outcome, r, out };
}

for (const via of ['array', 'trace'] as const)
describe(`StreamReplayer (toy machine, entries from ${via === 'array' ? 'an array' : 'a trace read back'})`, () => {
  it('replays a build that writes the same bytes through other calls identically; replay by calls parts at its first write', () => {
    const rec = recordToy(SEED);
    const msg = `seed ${SEED}`;
    const split = new ToyMachine(SPLIT, NO_DEVICES);
    const byCalls = new Replayer({ machine: split, source: new ArraySource(rec.entries) });
    const calls = byCalls.finish(split.run(byCalls));
    expect(calls.status, msg).to.equal('diverged');
    expect(byCalls.divergences[0]!.kind, msg).to.equal('call-mismatch');
    const r = streamReplay(SPLIT, rec.entries, via);
    expect(r.outcome, msg).to.deep.include({ status: 'identical', capped: false, entries: rec.entries.length });
    expect(r.out, msg).to.equal(rec.out);
    const digests = rec.entries.filter((e) => e.kind === EntryKind.Digest).length;
    expect(r.r.digestCounts).to.deep.equal({ compared: 0, skipped: digests });
  });

  it('another input is a call-mismatch naming the next recorded input', () => {
    const rec = recordToy(SEED + 1);
    const r = streamReplay(replace(3, { op: 'clock', reg: 2, clockId: 1 }), rec.entries, via);
    const firstRandom = rec.entries.find((e) => e.call === 'random_fill')!;
    expect(r.outcome.status, `seed ${SEED + 1}`).to.equal('diverged');
    expect(r.r.divergences[0]).to.deep.include({ kind: 'call-mismatch', seq: firstRandom.seq, callIndex: 1 });
    expect(r.r.divergences[0]!.message).to.equal('the next recorded input is random_fill (recorded at host call 1); this run asked for clock_read at host call 1');
    const other = streamReplay(replace(2, { op: 'clock', reg: 0, clockId: 0 }), rec.entries, via);
    expect(other.r.divergences[0]).to.deep.include({ kind: 'request-mismatch', seq: rec.entries.find((e) => e.call === 'clock_read')!.seq });
  });

  it('other bytes are an output-mismatch at the recorded entry and stream byte; keep-going finds each line', () => {
    const rec = recordToy(SEED + 2);
    const prints = rec.entries.filter((e) => e.kind === EntryKind.Output && e.channel === 1);
    const r = streamReplay(replace(5, { op: 'print', label: 'max', reg: 1 }), rec.entries, via, true);
    expect(r.outcome.status, `seed ${SEED + 2}`).to.equal('diverged');
    const ds = r.r.divergences;
    expect(ds.map((d) => [d.kind, d.seq])).to.deep.equal(prints.slice(0, 5).map((p) => ['output-mismatch', p.seq]));
    expect(ds[0]!.message).to.match(/wrote different bytes than recorded on channel 1 \(byte 1 of its stream; recorded by print at host call \d+\)/);
    expect(Buffer.from(ds[1]!.expected!.data).toString()).to.equal(Buffer.from(prints[1]!.data).toString());
  });

  it('a run that leaves recorded bytes unwritten is a missing call; another exit code an exit-mismatch', () => {
    const rec = recordToy(SEED + 3);
    const last = rec.entries.filter((e) => e.kind === EntryKind.Output && e.channel === 1).at(-1)!;
    const fewer = streamReplay([...PROGRAM.slice(0, 7), ...PROGRAM.slice(8)], rec.entries, via);
    expect(fewer.r.divergences.map((d) => [d.kind, d.seq]), `seed ${SEED + 3}`).to.deep.equal([['missing-call', last.seq]]);
    expect(fewer.r.divergences[0]!.message).to.equal(`the run ended, but the recording has ${last.data.length} more byte(s) on channel 1 (from print at host call ${last.callIndex})`);
    const exit = streamReplay(replace(8, { op: 'add', reg: 2, value: 3 }), rec.entries, via);
    expect(exit.r.divergences.map((d) => d.kind)).to.deep.equal(['exit-mismatch']);
    expect(exit.r.divergences[0]!.message).to.equal('the guest exited with 3; the recording ends with exit 2');
  });

  it('a capped recording replays to its cap', () => {
    const rec = recordToy(SEED + 4, 200);
    expect(rec.entries.at(-1)!.call, 'capped').to.equal('_cap');
    const r = streamReplay(SPLIT, rec.entries, via);
    expect(r.outcome, `seed ${SEED + 4}`).to.deep.include({ status: 'identical', capped: true });
  });
});

describe('StreamReplayer on a WASI guest: lines recorded, lines-split (each line in two writes) replayed', function () {
  this.timeout(60_000);
  it('is identical by streams, and parts at the first write by calls', async () => {
    const rec = await recordGuest(LINES, { seed: SEED, digestEveryCalls: 2 });
    for (const [path, expected] of [[LINES_SPLIT, 'identical'], [LINES.path, 'identical'], [LINES_V2, 'diverged']] as const) {
      const machine = WasiMachine.create(await loadModule(readFileSync(path), 'all'), { config: rec.config, devices: refusingDevices });
      let out = '';
      const r = new StreamReplayer({ machine, source: traceSourceOf(rec.entries), emit: (_c, d) => (out += Buffer.from(d).toString('latin1')) });
      const outcome = r.finish(machine.run(r));
      expect(outcome.status, `${path}, seed ${SEED}`).to.equal(expected);
      if (expected === 'identical') expect(out).to.equal(rec.stdout);
      else expect(r.divergences[0]).to.deep.include({ kind: 'output-mismatch', seq: rec.entries.find((e) => Buffer.from(e.data).toString() === 'line 7: 49\n')!.seq });
    }
  });
});
