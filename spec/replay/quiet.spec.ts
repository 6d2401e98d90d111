/**
 * HostCallHandler.quietThrough: a handler may promise that its beforeCall has nothing to do up to a call index,
 * and the machine then skips it there. The replayer makes that promise between two input entries it can see in
 * the same columns (a trace's decoded batch), which spares a replay of a host-call-heavy guest a handler call per
 * host call; the promise must never hide a divergence, a digest, or a stop.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { loadModule } from '../../engine/wasi/loader.ts';
import { WasiMachine } from '../../engine/wasi/machine.ts';
import { liveDevices } from '../../engine/wasi/devices.ts';
import { EntryKind, type LogEntry } from '../../engine/log/entry.ts';
import { TraceWriter } from '../../engine/log/trace-writer.ts';
import { TraceReader } from '../../engine/log/trace-reader.ts';
import { TraceSource } from '../../replay/trace-source.ts';
import { Replayer } from '../../replay/replayer.ts';
import type { HostCallInfo, InputCall } from '../../engine/machine/machine.ts';
import { EXAMPLE_GUESTS } from '../support/guests.ts';
import { BOOT_NS, recordGuest, refusingDevices, type Recording } from './support.ts';

const HOSTCALLS = EXAMPLE_GUESTS.find((g) => g.name === 'c/hostcalls')!;

/** `entries` as an in-memory trace with batches of 4096 entries (one or two batches here), read back. */
function traceOf(entries: readonly LogEntry[]): TraceSource {
  const parts: Uint8Array[] = [];
  const header = {
    vmId: 'quiet', moduleHash: 0n, moduleSizeBytes: 0, args: [], env: [], preopens: [], diskDigest: 0n,
    machine: { clockResolutionNs: 1000n, bootTimeNs: BOOT_NS, unwind: 'all' as const, digestIntervalCalls: 0, digestIntervalMs: 0 },
    start: { callIndex: 0, seq: 0, checksum: 0n, snapshot: false },
  };
  const w = new TraceWriter({ write: (b) => void parts.push(b.slice()) }, header, { fsync: 'none', batchEntriesMax: 4096 });
  entries.forEach((e, seq) => w.append({ ...e, seq }));
  w.close();
  return new TraceSource(TraceReader.fromBytes(Buffer.concat(parts)));
}

async function replay(rec: Recording, entries: readonly LogEntry[]) {
  const module = await loadModule(readFileSync(HOSTCALLS.path), 'all');
  const machine = WasiMachine.create(module, { config: rec.config, devices: refusingDevices });
  const replayer = new Replayer({ machine, source: traceOf(entries) });
  let beforeCalls = 0;
  const before = replayer.beforeCall.bind(replayer);
  replayer.beforeCall = (c: HostCallInfo) => {
    beforeCalls++;
    return before(c);
  };
  const outcome = replayer.finish(machine.run(replayer));
  return { outcome, beforeCalls, calls: machine.callIndex };
}

describe('quiet stretches: beforeCall skipped where the handler promises it has nothing to do', function () {
  this.timeout(30_000);
  let rec: Recording;
  before(async () => {
    rec = await recordGuest(HOSTCALLS, { seed: 7, digestEveryCalls: 500 });
  });

  it('the machine skips beforeCall at every call up to quietThrough, and only there', async () => {
    const module = await loadModule(readFileSync(HOSTCALLS.path), 'all');
    const machine = WasiMachine.create(module, { config: { args: ['hostcalls', '50'], env: [], preopens: [] }, devices: liveDevices() });
    const seen: number[] = [];
    const handler = {
      quietThrough: 20,
      beforeCall: (c: HostCallInfo) => void seen.push(c.index),
      input: (c: InputCall) => c.live(),
      output: () => {},
    };
    const r = machine.run(handler);
    expect(r.status).to.equal('exited');
    expect(seen[0]).to.equal(21);
    expect(seen).to.deep.equal(Array.from({ length: machine.callIndex - 21 }, (_, k) => 21 + k));
  });

  it('a replay of the recording is identical, with beforeCall skipped at most calls', async () => {
    const r = await replay(rec, rec.entries);
    expect(r.outcome.status).to.equal('identical');
    expect(r.outcome.entries).to.equal(rec.entries.length);
    // Clock reads between inputs are skipped; calls before digests, outputs and batch starts are not.
    expect(r.beforeCalls, `beforeCall at ${r.beforeCalls} of ${r.calls} calls`).to.be.lessThan(r.calls / 4);
  });

  it('an output the recording lacks, inside a quiet stretch, is still the first divergence at its call', async () => {
    const outputs = rec.entries.filter((e) => e.kind === EntryKind.Output && e.channel === 1);
    const dropped = outputs[1]!; // "iteration 1000": clock reads on both sides of it
    const at = rec.entries.indexOf(dropped);
    expect(rec.entries[at - 1]!.kind, 'an input before it').to.equal(EntryKind.Input);
    expect(rec.entries[at + 1]!.kind, 'an input after it').to.equal(EntryKind.Input);
    const r = await replay(rec, rec.entries.filter((e) => e !== dropped));
    expect(r.outcome.status).to.equal('diverged');
    if (r.outcome.status !== 'diverged') return;
    const d = r.outcome.divergences[0]!;
    expect(d.callIndex).to.equal(dropped.callIndex);
    expect(d.kind).to.equal('extra-call');
  });

  it('a digest inside a stretch of inputs is still checked (a changed root is caught at its call)', async () => {
    const digests = rec.entries.filter((e) => e.kind === EntryKind.Digest);
    expect(digests.length).to.be.greaterThan(2);
    const target = digests[2]!;
    const at = rec.entries.indexOf(target);
    expect(rec.entries[at - 1]!.kind, 'an input before it').to.equal(EntryKind.Input);
    const data = target.data.slice();
    data[0] ^= 1;
    const r = await replay(rec, rec.entries.map((e) => (e === target ? { ...e, data } : e)));
    expect(r.outcome.status).to.equal('diverged');
    if (r.outcome.status !== 'diverged') return;
    expect(r.outcome.divergences[0]!.callIndex).to.equal(target.callIndex);
    expect(r.outcome.divergences[0]!.kind).to.equal('digest-mismatch');
  });
});
