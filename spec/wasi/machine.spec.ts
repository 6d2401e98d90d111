import { expect } from 'chai';
import { loadModule, parseUnwindMode, unwindModeString } from '../../engine/wasi/loader.ts';
import { WasiMachine } from '../../engine/wasi/machine.ts';
import { MachineError } from '../../engine/machine/errors.ts';
import { PAUSE, type HostCallHandler } from '../../engine/machine/machine.ts';
import { fakeDevices } from '../support/fake-devices.ts';
import { newTape, outputText, player, recorder, type Tape } from '../support/tape.ts';
import { RECURSIVE_WAT, wat } from '../support/wat.ts';
import { functionImports, describeType } from '../../engine/wasi/import-types.ts';
import { WASI_SIGNATURES } from '../../engine/wasi/calls.ts';
import { WasiHost } from '../../engine/wasi/host.ts';

const config = { args: ['guest'], env: [], preopens: [] };

describe('WasiMachine', () => {
  let bytes: Uint8Array;
  before(async () => {
    bytes = await wat(RECURSIVE_WAT);
  });

  async function reference(seed: number): Promise<{ tape: Tape; code: number }> {
    const m = WasiMachine.create(await loadModule(bytes), { config, devices: fakeDevices(seed) });
    const tape = newTape();
    const r = m.run(recorder(tape));
    expect(r.status).to.equal('exited');
    return { tape, code: (r as { code: number }).code };
  }

  it('runs a guest, classifies its calls, and exits with its code', async () => {
    const { tape, code } = await reference(1);
    // 13 levels, two lines each: 26 clock reads (inputs) and 26 writes, then proc_exit.
    expect(tape.inputs.size).to.equal(26);
    expect(tape.outputs.length).to.equal(27);
    expect(tape.calls).to.equal(53);
    expect(outputText(tape.outputs)).to.match(/^(d=\d t=\d\n){26}<exit \d+>$/);
    expect(code).to.be.within(0, 199);
  });

  it('pauses at every host call and resumes in the same instance with identical output', async () => {
    const seed = 7;
    const ref = await reference(seed);
    for (let k = 0; k < ref.tape.calls; k++) {
      const m = WasiMachine.create(await loadModule(bytes), { config, devices: fakeDevices(seed) });
      const tape = newTape();
      const first = m.run(recorder(tape, k));
      expect(first, `pause at ${k}`).to.deep.equal({ status: 'paused', index: k });
      expect(m.callIndex).to.equal(k);
      const second = m.run(recorder(tape));
      expect(second).to.deep.equal({ status: 'exited', code: ref.code });
      expect(outputText(tape.outputs), `pause at ${k}`).to.equal(outputText(ref.tape.outputs));
    }
  });

  it('restores a snapshot taken at any host call into a fresh instance that continues identically', async () => {
    const seed = 11;
    const ref = await reference(seed);
    const module = await loadModule(bytes);
    for (let k = 0; k < ref.tape.calls; k++) {
      const m = WasiMachine.create(module, { config, devices: fakeDevices(seed) });
      const before = newTape();
      expect(m.run(recorder(before, k)).status).to.equal('paused');
      const snap = m.snapshot();
      expect(snap.callIndex).to.equal(k);
      const fresh = WasiMachine.restore(module, snap.state, fakeDevices(999));
      expect(fresh.digest().root, `digest after restore at ${k}`).to.equal(m.digest().root);
      const after: Tape['outputs'] = [];
      const r = fresh.run(player(ref.tape, after));
      expect(r).to.deep.equal({ status: 'exited', code: ref.code });
      expect(outputText([...before.outputs, ...after]), `restore at ${k}`).to.equal(outputText(ref.tape.outputs));
    }
  });

  it('reports the pages changed since a snapshot', async () => {
    const module = await loadModule(bytes);
    const m = WasiMachine.create(module, { config, devices: fakeDevices(3) });
    expect(m.run(recorder(newTape(), 4)).status).to.equal('paused');
    const snap = m.snapshot();
    expect(m.pagesChangedSince(snap.pageDigests)).to.deep.equal([]);
    expect(m.run(recorder(newTape(), 20)).status).to.equal('paused');
    const changed = m.pagesChangedSince(snap.pageDigests);
    // The line buffer and clock result live in page 0; the shadow stack near 60000 is page 14.
    expect(changed).to.include(0);
    expect(changed.every((p) => p >= 0 && p < 16)).to.equal(true);
  });

  it('refuses to pause at a call that is not an unwind point', async () => {
    const module = await loadModule(bytes, 'none');
    const m = WasiMachine.create(module, { config, devices: fakeDevices(1) });
    const h: HostCallHandler = { beforeCall: () => PAUSE, input: (c) => c.live(), output: () => {} };
    expect(() => m.run(h)).to.throw(MachineError, /not an unwind point/);
  });

  it('reads unwind modes as traces and snapshots write them, lists included', async () => {
    for (const s of ['all', 'io', 'none', 'fd_write,fd_read', 'proc_exit']) expect(unwindModeString(parseUnwindMode(s))).to.equal(s);
    expect(parseUnwindMode('fd_write,fd_read')).to.deep.equal(['fd_write', 'fd_read']);
    // A list written into a snapshot loads as that list (it was once taken for a string of characters).
    const module = await loadModule(bytes, parseUnwindMode('fd_write,proc_exit'));
    expect(module.unwindable.size).to.be.greaterThan(0);
    expect([...module.unwindable].every((n) => n === 'fd_write' || n === 'proc_exit')).to.equal(true);
  });

  it('turns a trap into a trapped result naming the host call', async () => {
    const trap = await wat(`(module
      (import "wasi_snapshot_preview1" "sched_yield" (func $y (result i32)))
      (memory (export "memory") 1)
      (func (export "_start") (drop (call $y)) (drop (call $y)) unreachable))`);
    const m = WasiMachine.create(await loadModule(trap), { config, devices: fakeDevices(1) });
    const r = m.run({ input: (c) => c.live(), output: () => {} });
    expect(r.status).to.equal('trapped');
    if (r.status === 'trapped') {
      expect(r.error.reason).to.equal('trap');
      expect(r.error.index).to.equal(2);
    }
    expect(() => m.snapshot()).to.throw(MachineError);
  });

  it('rejects bad modules with typed errors', async () => {
    await expectCode(new Uint8Array([1, 2, 3]), 'E_NOT_WASM');
    await expectCode(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 9, 9]), 'E_INVALID_WASM');
    await expectCode(await wat(`(module (import "env" "f" (func)) (memory (export "memory") 1) (func (export "_start")))`), 'E_UNSUPPORTED_IMPORT');
    await expectCode(await wat(`(module (memory (export "memory") 1) (func (export "main")))`), 'E_NO_START');
  });

  it('refuses a WASI function imported with other types than preview1 declares, naming both', async () => {
    // The precision as an i32: it would link to the JavaScript host function, which wants a 64-bit value there.
    const bytes = await wat(`(module
      (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "clock_time_get" (func (param i32 i32 i32) (result i32)))
      (memory (export "memory") 1) (func (export "_start")))`);
    const e = await loadModule(bytes).then(() => undefined, (x: unknown) => x);
    expect(e).to.be.instanceOf(MachineError);
    expect((e as MachineError).code).to.equal('E_IMPORT_TYPE');
    expect((e as MachineError).message).to.equal(
      'the module imports wasi_snapshot_preview1::clock_time_get as (i32, i32, i32) -> i32; wasi_snapshot_preview1 declares it (i32, i64, i32) -> i32',
    );
    // A result where preview1 has none.
    await expectCode(await wat(`(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32) (result i32))) (memory (export "memory") 1) (func (export "_start")))`), 'E_IMPORT_TYPE');
  });

  it('reads the types of function imports among imports of every kind', async () => {
    const bytes = await wat(`(module
      (type $t (func (param i64 f32 f64) (result i32)))
      (import "a" "t" (table 2 10 funcref))
      (import "a" "f" (func (type $t)))
      (import "a" "m" (memory 1 2))
      (import "a" "g" (global (mut i32)))
      (import "b" "h" (func (param i32)))
      (func (export "_start")))`);
    expect(functionImports(bytes)).to.deep.equal([
      { module: 'a', name: 'f', type: 'IfF:i' },
      { module: 'b', name: 'h', type: 'i:' },
    ]);
    expect(describeType('IfF:i')).to.equal('(i64, f32, f64) -> i32');
    expect(describeType(':')).to.equal('() -> nothing');
  });

  it('knows a type for every preview1 function, with the host function taking as many arguments (the socket stubs aside)', () => {
    const host = new WasiHost(config, { memory: () => new WebAssembly.Memory({ initial: 1 }), input: () => new Uint8Array(0), output: () => {}, fsTimeNs: () => 0n }, fakeDevices(1));
    const fns = host.hostFunctions() as Record<string, Function>;
    expect(Object.keys(WASI_SIGNATURES).sort()).to.deep.equal(Object.keys(fns).sort());
    for (const [name, type] of Object.entries(WASI_SIGNATURES)) {
      if (name.startsWith('sock_')) continue;
      expect(fns[name]!.length, name).to.equal(type.split(':')[0]!.length);
    }
  });
});

async function expectCode(bytes: Uint8Array, code: string): Promise<void> {
  try {
    await loadModule(bytes);
  } catch (e) {
    expect(e).to.be.instanceOf(MachineError);
    expect((e as MachineError).code).to.equal(code);
    return;
  }
  expect.fail(`expected ${code}`);
}
