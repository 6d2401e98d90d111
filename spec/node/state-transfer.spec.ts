/**
 * State transfers of the live pair (engine/node/state-transfer.ts): a checkpoint encodes the live memory
 * without copying it first, so the chunks must not depend on memory the guest changes afterwards; pieces
 * are gathered across chunk boundaries; a full piece and a delta of one transfer apply together; and a diff
 * applied to a held machine leaves that machine as it was until the new one replaces it.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PAUSE } from '../../engine/machine/machine.ts';
import { loadModule, type LoadedModule } from '../../engine/wasi/loader.ts';
import { WasiMachine } from '../../engine/wasi/machine.ts';
import { liveDevices } from '../../engine/wasi/devices.ts';
import { MachineError } from '../../engine/machine/errors.ts';
import { Precopy, applyTransfer, pieces, stateHashes, takeCheckpoint } from '../../engine/node/state-transfer.ts';
import { decodeSnapshot, encodeSnapshot } from '../../engine/checkpoint/snapshot-codec.ts';
import { ROOT } from '../support/pair-procs.ts';

const MEMHOG = join(ROOT, 'guests/build/c/memhog.wasm');

/** memhog holding 4 MiB and dirtying a page every 10 ms: runs `calls` host calls, then stands paused. */
function machineAt(module: LoadedModule, calls: number): WasiMachine {
  const m = WasiMachine.create(module, { config: { args: ['memhog', '4', '100000'], env: [], preopens: [] }, devices: liveDevices() });
  runOn(m, calls);
  return m;
}

function runOn(m: WasiMachine, calls: number): void {
  let n = 0;
  const r = m.run({ beforeCall: () => (n++ >= calls ? PAUSE : undefined), input: (x) => x.live(), output: () => {} });
  expect(r.status).to.equal('paused');
}

/** The same bytes cut at the given offsets (a transfer's chunk boundaries are the sender's choice). */
function cutAt(chunks: readonly Uint8Array[], at: readonly number[]): Uint8Array[] {
  const all = Buffer.concat(chunks);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const to of [...at, all.length]) {
    out.push(new Uint8Array(all.subarray(from, to)));
    from = to;
  }
  return out;
}

describe('state transfer (pieces, checkpoint, apply)', () => {
  let module: LoadedModule;
  before(async () => {
    module = await loadModule(readFileSync(MEMHOG));
  });

  it('a full checkpoint stays what it was when the guest runs on and writes its memory', async () => {
    const m = machineAt(module, 40);
    const r = takeCheckpoint(m, module, 'vm', { transferId: 1, kind: 'full', stun: false });
    expect(r.root).to.equal(m.digest().root);
    runOn(m, 40); // memhog dirties pages: the memory the checkpoint was encoded from changes
    expect(m.digest().root).to.not.equal(r.root);
    const back = await applyTransfer(r.chunks, undefined, liveDevices());
    expect(back.machine.digest().root).to.equal(r.root);
    expect(back.machine.callIndex).to.equal(r.callIndex);
  });

  it('a full piece and the delta after it apply as one transfer, whatever the chunk boundaries', async () => {
    const m = machineAt(module, 40);
    const full = takeCheckpoint(m, module, 'vm', { transferId: 1, kind: 'full', stun: false });
    runOn(m, 40);
    const delta = takeCheckpoint(m, module, 'vm', { transferId: 1, kind: 'delta', stun: true }, full.pageDigests);
    expect(delta.sentBytes).to.be.lessThan(full.sentBytes / 4);
    const f = 4 + full.sentBytes; // where the delta's piece header starts
    const cuts: Array<readonly number[]> = [
      [], // as sent
      [2, f + 1, f + 3, f + 4], // both piece headers split, an empty chunk
      [1000, 4097, 65_537, f - 1, f + 4 + 100], // a piece ends one byte into a chunk
    ];
    for (const at of cuts) {
      const chunks = at.length === 0 ? [...full.chunks, ...delta.chunks] : cutAt([...full.chunks, ...delta.chunks], at);
      expect(pieces(chunks).map((p) => p.length)).to.deep.equal([full.sentBytes, delta.sentBytes]);
      const back = await applyTransfer(chunks, undefined, liveDevices());
      expect(back.machine.digest().root, `cut at ${at.join(',')}`).to.equal(m.digest().root);
    }
  });

  it('a pre-copy taken in steps while the guest runs, then the stunned delta, ends at exactly the stun state', async () => {
    const m = machineAt(module, 40);
    const pre = new Precopy(m, module, 'vm');
    let steps = 0;
    while (!pre.done) {
      expect(pre.step(256 * 1024)).to.be.greaterThan(0);
      steps++;
      runOn(m, 3); // the guest dirties pages between the steps (some already copied)
    }
    expect(steps).to.equal(Math.ceil(m.memoryBytes / (256 * 1024)));
    const delta = takeCheckpoint(m, module, 'vm', { transferId: 1, kind: 'delta', stun: true }, pre.pageDigests);
    expect(delta.sentBytes, 'the delta sends only what changed after its copy').to.be.lessThan(pre.sentBytes / 4);
    const back = await applyTransfer([...pre.chunks(), ...delta.chunks], undefined, liveDevices());
    expect(back.machine.digest().root).to.equal(m.digest().root);
    // Without the delta the receiver would hold pages of different moments: not the state of any call.
    const stale = await applyTransfer(pre.chunks(), undefined, liveDevices());
    expect(stale.machine.digest().root).to.not.equal(m.digest().root);
  });

  it('a pre-copy whose guest grows its memory meanwhile: the delta brings the new pages', async () => {
    const small = WasiMachine.create(module, { config: { args: ['memhog', '6', '100000'], env: [], preopens: [] }, devices: liveDevices() });
    runOn(small, 0); // before memhog's first host call: it allocates after this
    const pre = new Precopy(small, module, 'vm');
    const before = small.memoryBytes;
    while (!pre.done) pre.step(1 << 20);
    runOn(small, 30);
    expect(small.memoryBytes).to.be.greaterThan(before);
    const delta = takeCheckpoint(small, module, 'vm', { transferId: 1, kind: 'delta', stun: true }, pre.pageDigests);
    const back = await applyTransfer([...pre.chunks(), ...delta.chunks], undefined, liveDevices());
    expect(back.machine.memoryBytes).to.equal(small.memoryBytes);
    expect(back.machine.digest().root).to.equal(small.digest().root);
  });

  it('a diff against a held machine leaves that machine untouched', async () => {
    const m = machineAt(module, 40);
    const held = (await applyTransfer(takeCheckpoint(m, module, 'vm', { transferId: 1, kind: 'full', stun: false }).chunks, undefined, liveDevices())).machine;
    const heldRoot = held.digest().root;
    runOn(m, 40);
    const diff = takeCheckpoint(m, module, 'vm', { transferId: 2, kind: 'diff', stun: true, against: stateHashes(held) });
    const back = await applyTransfer(diff.chunks, { machine: held, module }, liveDevices());
    expect(back.machine.digest().root).to.equal(m.digest().root);
    expect(held.digest().root).to.equal(heldRoot);
  });

  it('a transfer cut short is refused with a typed error', async () => {
    const m = machineAt(module, 10);
    const r = takeCheckpoint(m, module, 'vm', { transferId: 1, kind: 'full', stun: false });
    const bytes = Buffer.concat(r.chunks);
    expect(() => pieces([bytes.subarray(0, 2)])).to.throw(MachineError, /inside a piece header/);
    expect(() => pieces([bytes.subarray(0, bytes.length - 1)])).to.throw(MachineError, /inside a piece$/);
    expect(pieces([])).to.deep.equal([]);
  });

  it('a snapshot is encoded in place and decoded without copying its memory', () => {
    const m = machineAt(module, 10);
    const data = m.snapshot().toData({ vmId: 'vm', module });
    for (const reserve of [0, 4, 13]) {
      const bytes = encodeSnapshot(data, reserve);
      expect(bytes.byteOffset).to.be.at.least(reserve);
      expect(bytes.byteOffset % 8, 'the payload after the 16-byte envelope is 8-aligned').to.equal(0);
      expect(bytes.byteOffset + bytes.length).to.equal(bytes.buffer.byteLength);
      const d = decodeSnapshot(bytes);
      expect(d.memory.buffer, 'memory is a view of the encoded bytes').to.equal(bytes.buffer);
      expect(Buffer.compare(d.memory, data.memory)).to.equal(0);
    }
    // A copy that is not 8-aligned is still read (copied first), with the same result.
    const bytes = encodeSnapshot(data);
    const odd = new Uint8Array(bytes.length + 1).subarray(1);
    odd.set(bytes);
    const d = decodeSnapshot(odd);
    expect(d.memory.buffer).to.not.equal(odd.buffer);
    expect(Buffer.compare(d.memory, data.memory)).to.equal(0);
  });
});
