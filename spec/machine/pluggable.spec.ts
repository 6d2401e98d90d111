/**
 * The machine interface is pluggable: a machine that is not WebAssembly (spec/support/toy-machine.ts, a register
 * machine in TypeScript) is recorded by the real Recorder, written to and read from a real trace, and replayed by
 * the real Replayer, with nothing WASI-specific in between. Divergences of a changed program, of changed state
 * only, and of a flipped memory byte are found at the right entry; pausing at any call and restoring a snapshot
 * leave the run unchanged. Seeds are printed with every failure; TOY_SEED=N reruns with another one.
 */
import { expect } from 'chai';
import { EntryKind, type LogEntry } from '../../engine/log/entry.ts';
import { PAUSE, type HostCallHandler } from '../../engine/machine/machine.ts';
import { Recorder } from '../../engine/node/recorder.ts';
import { Replayer } from '../../replay/replayer.ts';
import { singleFault } from '../../replay/fault.ts';
import { ArraySink, ArraySource, traceSourceOf } from '../replay/support.ts';
import { NO_DEVICES, ToyMachine, seededToyDevices as seededDevices, type ToyOp } from '../support/toy-machine.ts';

const SEED = Number(process.env.TOY_SEED ?? 31_337);

/** Seven rounds of: read a clock, fill 16 random bytes, hash them, count pages, store the hash, print it. */
const PROGRAM: readonly ToyOp[] = [
  { op: 'add', reg: 3, value: 6 },
  { op: 'store', reg: 3, addr: 0 },
  { op: 'clock', reg: 0, clockId: 1 },
  { op: 'random', addr: 64, len: 16 },
  { op: 'mix', reg: 1, addr: 64, len: 16 },
  { op: 'mix', reg: 1, addr: 0, len: 4 },
  { op: 'pages', reg: 2 },
  { op: 'store', reg: 1, addr: 4096 + 8 },
  { op: 'print', label: 'mix', reg: 1 },
  { op: 'loop', counterAddr: 0, to: 2 },
  { op: 'print', label: 'last clock', reg: 0 },
  { op: 'halt', reg: 2 },
];
/** A new build that prints its lines differently. */
const PRINTS_OTHERWISE = PROGRAM.map((o) => (o.op === 'print' && o.label === 'mix' ? { ...o, label: 'hash' } : o));
/** A new build that keeps one more value in memory (page 1) and prints exactly the same. */
const EXTRA_STORE: ToyOp = { op: 'store', reg: 0, addr: 4096 + 512 };
const STATE_ONLY: readonly ToyOp[] = [...PROGRAM.slice(0, 8), EXTRA_STORE, ...PROGRAM.slice(8)]; // after pc 2: the loop target stands

function record(program: readonly ToyOp[], seed: number, digestEveryCalls: number) {
  const machine = new ToyMachine(program, seededDevices(seed));
  const sink = new ArraySink();
  let out = '';
  const recorder = new Recorder({ machine, sink, emit: (_ch, data) => (out += Buffer.from(data).toString()), digestEveryCalls });
  const result = machine.run(recorder);
  recorder.finish(result, machine);
  return { entries: sink.entries, result, out, calls: machine.callIndex };
}

function replay(program: readonly ToyOp[], entries: readonly LogEntry[], opts: { via?: 'array' | 'trace'; keepGoing?: boolean; fault?: ReturnType<typeof singleFault> } = {}) {
  const machine = new ToyMachine(program, NO_DEVICES);
  let out = '';
  const replayer = new Replayer({
    machine,
    source: opts.via === 'trace' ? traceSourceOf(entries) : new ArraySource(entries),
    keepGoing: opts.keepGoing,
    fault: opts.fault,
    emit: (_ch, data) => (out += Buffer.from(data).toString()),
  });
  const outcome = replayer.finish(machine.run(replayer));
  return { outcome, replayer, out };
}

describe('a machine that is not WebAssembly, driven by the recorder, the trace and the replayer', () => {
  it('records and replays identically, from an array of entries and through a trace', () => {
    const rec = record(PROGRAM, SEED, 2);
    const msg = `seed ${SEED}`;
    expect(rec.result, msg).to.deep.equal({ status: 'exited', code: 2 });
    expect(rec.out.split('\n').filter(Boolean), msg).to.have.length(8);
    const kinds = new Set(rec.entries.filter((e) => e.kind === EntryKind.Input).map((e) => e.call));
    expect([...kinds].sort(), msg).to.deep.equal(['clock_read', 'random_fill']);
    expect(rec.entries.some((e) => e.call === 'page_count'), 'a pure call is never logged').to.equal(false);
    for (const via of ['array', 'trace'] as const) {
      const r = replay(PROGRAM, rec.entries, { via });
      expect(r.outcome.status, `${via}, ${msg}`).to.equal('identical');
      expect(r.out, `${via}, ${msg}`).to.equal(rec.out);
      expect(r.replayer.digestCounts.compared, via).to.equal(rec.entries.filter((e) => e.kind === EntryKind.Digest).length).and.greaterThan(5);
    }
  });

  it('a new program that prints differently diverges at its first line (output-mismatch)', () => {
    const rec = record(PROGRAM, SEED + 1, 0);
    const firstPrint = rec.entries.find((e) => e.kind === EntryKind.Output && e.call === 'print')!;
    for (const via of ['array', 'trace'] as const) {
      const r = replay(PRINTS_OTHERWISE, rec.entries, { via });
      expect(r.outcome.status, `${via}, seed ${SEED + 1}`).to.equal('diverged');
      expect(r.replayer.divergences[0]).to.deep.include({ kind: 'output-mismatch', seq: firstPrint.seq, callIndex: firstPrint.callIndex });
      expect(Buffer.from(r.replayer.divergences[0]!.actual!.data!).toString()).to.match(/^hash \d+\n$/);
    }
  });

  it('a new program that changes memory only is caught by a digest naming the page, before any output differs', () => {
    const rec = record(PROGRAM, SEED + 2, 1);
    const r = replay(STATE_ONLY, rec.entries, { keepGoing: true });
    const ds = r.replayer.divergences;
    expect(r.outcome.status, `seed ${SEED + 2}`).to.equal('diverged');
    expect(ds.every((d) => d.kind === 'digest-mismatch'), ds.map((d) => d.kind).join(',')).to.equal(true);
    expect(ds[0]!.state?.pages).to.deep.equal([1]);
    expect(r.out, 'the outputs agree').to.equal(rec.out);
  });

  it('a memory byte flipped during replay is caught at the next digest', () => {
    const rec = record(PROGRAM, SEED + 3, 1);
    const r = replay(PROGRAM, rec.entries, { fault: singleFault('memory', 9, 4096 + 2000) });
    expect(r.outcome.status, `seed ${SEED + 3}`).to.equal('diverged');
    const d = r.replayer.divergences[0]!;
    expect(d.kind).to.equal('digest-mismatch');
    expect(d.callIndex).to.equal(9);
    expect(d.state?.pages).to.deep.equal([1]);
  });

  it('keeps the machine contract: a pause at every host call, and a snapshot restored mid-run, change nothing', () => {
    const rec = record(PROGRAM, SEED + 4, 0);
    // Pause before every call once, then let it through: the same calls, the same outputs.
    const m = new ToyMachine(PROGRAM, seededDevices(SEED + 4));
    let out = '';
    let pausedAt = -1;
    let pauses = 0;
    const live: HostCallHandler = {
      beforeCall: (c) => {
        if (c.index === pausedAt) return;
        pausedAt = c.index;
        pauses++;
        return PAUSE;
      },
      input: (c) => c.live(),
      output: (c) => void (out += Buffer.from(c.data).toString()),
    };
    let r = m.run(live);
    while (r.status === 'paused') r = m.run(live);
    expect(r).to.deep.equal(rec.result);
    expect(out).to.equal(rec.out);
    expect(pauses).to.equal(rec.calls);
    // Stop at call 13, restore the snapshot in a fresh machine, and replay the rest of the recording there.
    const a = new ToyMachine(PROGRAM, NO_DEVICES);
    const first = new Replayer({ machine: a, source: new ArraySource(rec.entries.filter((e) => e.callIndex < 13)) });
    const stopAt: HostCallHandler = { beforeCall: (c) => (c.index === 13 ? PAUSE : first.beforeCall(c)), input: (c) => first.input(c), output: (c) => first.output(c) };
    expect(a.run(stopAt)).to.deep.equal({ status: 'paused', index: 13 });
    const b = ToyMachine.restore(PROGRAM, NO_DEVICES, a.snapshot().encode());
    expect(b.digest().root).to.equal(a.digest().root);
    const rest = new Replayer({ machine: b, source: new ArraySource(rec.entries.filter((e) => e.callIndex >= 13)) });
    expect(rest.finish(b.run(rest)).status, `seed ${SEED + 4}`).to.equal('identical');
  });
});
