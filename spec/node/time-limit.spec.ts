/**
 * runWithin (engine/node/time-limit.ts): a wall-clock limit that stops even a guest looping without a host call,
 * and a machine stopped that way is retired (WasiMachine.interrupted): its host-call index is brought up to date
 * and nothing may run or snapshot it again.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TimeLimitExceeded, runWithin } from '../../engine/node/time-limit.ts';
import { loadModule } from '../../engine/wasi/loader.ts';
import { WasiMachine } from '../../engine/wasi/machine.ts';
import { liveDevices } from '../../engine/wasi/devices.ts';
import { MachineError } from '../../engine/machine/errors.ts';
import { GUEST_DIR } from '../support/guests.ts';

const live = { input: (c: { live(): Uint8Array }) => c.live(), output: () => {} };

describe('node/time-limit: runWithin', function () {
  this.timeout(60_000);

  it('returns what the work returns, and passes its errors through, within the limit (and with none)', () => {
    expect(runWithin(5000, () => 7)).to.equal(7);
    expect(runWithin(0, () => 'no limit')).to.equal('no limit');
    expect(() => runWithin(5000, () => { throw new RangeError('its own'); })).to.throw(RangeError, 'its own');
    // It can be used again after an error (the work's slot is cleared).
    expect(runWithin(5000, () => 8)).to.equal(8);
  });

  it('does not nest', () => {
    expect(() => runWithin(5000, () => runWithin(5000, () => 1))).to.throw(/does not nest/);
  });

  it('stops a guest that loops without a host call; the machine is retired with its index up to date', async () => {
    const module = await loadModule(readFileSync(join(GUEST_DIR, 'c/lines-hang.wasm')));
    const lines: string[] = [];
    const m = WasiMachine.create(module, { config: { args: ['lines'], env: [], preopens: [] }, devices: liveDevices() });
    const handler = { input: live.input, output: (c: { data: Uint8Array }) => void lines.push(Buffer.from(c.data).toString()) };
    const t0 = Date.now();
    let err: unknown;
    try {
      runWithin(300, () => m.run(handler));
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(TimeLimitExceeded);
    expect((err as TimeLimitExceeded).limitMs).to.equal(300);
    expect(Date.now() - t0).to.be.below(30_000);
    m.interrupted();
    // Six lines printed (six fd_write calls after the fstat of stdout), then the loop where line 7 was printed.
    expect(lines.join('')).to.equal(['line 1: 1', 'line 2: 4', 'line 3: 9', 'line 4: 16', 'line 5: 25', 'line 6: 36', ''].join('\n'));
    expect(m.callIndex).to.equal(7);
    expect(() => m.state).to.throw(MachineError, /stopped in the middle/);
    expect(() => m.run(live)).to.throw(MachineError, /stopped in the middle/);
    expect(() => m.snapshot()).to.throw(MachineError, /stopped in the middle/);
    // The process goes on: another machine runs to its end.
    const ok = WasiMachine.create(await loadModule(readFileSync(join(GUEST_DIR, 'c/lines.wasm'))), { config: { args: ['lines'], env: [], preopens: [] }, devices: liveDevices() });
    expect(runWithin(30_000, () => ok.run(live))).to.deep.equal({ status: 'exited', code: 0 });
  });
});
