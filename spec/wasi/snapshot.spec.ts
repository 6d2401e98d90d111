/**
 * Snapshot at host call K and restore gives identical output and exit code, for every example guest and K
 * sampled across the run (fast-check, seeded; the seed is printed on failure). Restores happen in this
 * process into fresh instances, and in separate processes from the encoded bytes.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModule, type LoadedModule } from '../../engine/wasi/loader.ts';
import { WasiMachine } from '../../engine/wasi/machine.ts';
import { decodeMachineState } from '../../engine/wasi/snapshot.ts';
import type { WasiConfig } from '../../engine/wasi/context.ts';
import { fakeDevices } from '../support/fake-devices.ts';
import { EXAMPLE_GUESTS, preopensFor, scratchDir, type GuestCase } from '../support/guests.ts';
import { newTape, outputText, player, recorder, type Tape } from '../support/tape.ts';
import { tempDir } from '../support/temp-dirs.ts';

const SEED = Number(process.env.FC_SEED ?? 20261121);
const work = tempDir('twinstep-snap-');

interface Reference {
  module: LoadedModule;
  config: WasiConfig;
  tape: Tape;
  result: unknown;
  stdin: Uint8Array;
}

async function reference(g: GuestCase): Promise<Reference> {
  const module = await loadModule(readFileSync(g.path));
  const config: WasiConfig = { args: [g.name, ...g.args], env: ['TWINSTEP_GREETING=hi'], preopens: preopensFor(g, scratchDir()) };
  const stdin = Buffer.from(g.stdin ?? '');
  const m = WasiMachine.create(module, { config, devices: fakeDevices(SEED, stdin) });
  const tape = newTape();
  const result = m.run(recorder(tape));
  expect(result.status, `${g.name} reference run`).to.equal('exited');
  return { module, config, tape, result, stdin };
}

function pauseAt(ref: Reference, k: number): { machine: WasiMachine; before: Tape } {
  const m = WasiMachine.create(ref.module, { config: ref.config, devices: fakeDevices(SEED, ref.stdin) });
  const before = newTape();
  expect(m.run(recorder(before, k))).to.deep.equal({ status: 'paused', index: k });
  return { machine: m, before };
}

describe('snapshot and restore of the example guests (seed ' + SEED + ')', function () {
  this.timeout(180_000);
  for (const g of EXAMPLE_GUESTS) {
    describe(g.name, () => {
      let ref: Reference;
      before(async () => {
        ref = await reference(g);
      });

      it('restores in-process at sampled host calls with identical output and exit code', () => {
        fc.assert(
          fc.property(fc.integer({ min: 0, max: ref.tape.calls - 1 }), (k) => {
            const { machine, before } = pauseAt(ref, k);
            const bytes = machine.snapshot().encode();
            const fresh = WasiMachine.restore(ref.module, decodeMachineState(bytes).state, fakeDevices(1));
            expect(fresh.digest().root).to.equal(machine.digest().root);
            const after: Tape['outputs'] = [];
            expect(fresh.run(player(ref.tape, after))).to.deep.equal(ref.result);
            expect(outputText([...before.outputs, ...after])).to.equal(outputText(ref.tape.outputs));
          }),
          { seed: SEED, numRuns: 12, endOnFailure: true },
        );
      });

      it('restores in a fresh process from the encoded snapshot', () => {
        const ks = [0, Math.floor(ref.tape.calls / 2), ref.tape.calls - 1];
        for (const k of ks) {
          const { machine, before } = pauseAt(ref, k);
          const snapFile = join(work, `${g.name.replace('/', '_')}-${k}.twsnap`);
          writeFileSync(snapFile, machine.snapshot().encode());
          const inputs = Object.fromEntries([...ref.tape.inputs].map(([i, v]) => [i, Buffer.from(v).toString('hex')]));
          const jobFile = join(work, `${g.name.replace('/', '_')}-${k}.json`);
          writeFileSync(jobFile, JSON.stringify({ module: g.path, snapshot: snapFile, inputs }));
          const out = JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', new URL('../support/restore-child.ts', import.meta.url).pathname, jobFile], { encoding: 'utf8' }));
          expect(out.result, `${g.name} at ${k}`).to.deep.equal(ref.result);
          const after = out.outputs.map((o: { index: number; channel: number; data: string }) => ({ ...o, data: Buffer.from(o.data, 'hex') }));
          expect(outputText([...before.outputs, ...after]), `${g.name} at ${k}`).to.equal(outputText(ref.tape.outputs));
        }
      });
    });
  }
});
