/**
 * A guest that returns from _start (wasi-libc does so for exit code 0, without proc_exit) right after an output
 * that filled the output gate: its end is an output too, and it must wait for the gate like any other, not
 * break the core's bound. Both drivers in this process over mem://, with a gate of one output.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModule } from '../../engine/wasi/loader.ts';
import { WasiMachine } from '../../engine/wasi/machine.ts';
import { liveDevices } from '../../engine/wasi/devices.ts';
import { SleepGate } from '../../engine/node/guest-sleep.ts';
import { PrimaryDriver } from '../../engine/node/primary-driver.ts';
import { SecondaryDriver } from '../../engine/node/secondary-driver.ts';
import { LeaseIo } from '../../engine/node/lease-io.ts';
import { FileLease } from '../../engine/lease/file-lease.ts';
import { FileFence } from '../../engine/lease/fence.ts';
import { connect, listen } from '../../engine/net/endpoint.ts';
import { ROOT } from '../support/pair-procs.ts';

const LINES = join(ROOT, 'guests/build/c/lines.wasm');
const secret = Buffer.from('exit-gate test secret');

describe('a guest returning from _start with a full output gate', function () {
  this.timeout(30_000);

  it('its exit waits for the gate; every line and the exit are released in order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'twinstep-exit-'));
    const addr = `mem://exit-gate-${process.pid}`;
    const lease = (node: string) => new LeaseIo(new FileLease(join(dir, 'lease'), { ttlMs: 5000 }), node, () => Date.now(), new FileFence(join(dir, 'lease.fence')));
    const secondary = new SecondaryDriver({
      vmId: 'vm',
      nodeId: 'sec',
      core: {},
      primaryCore: {},
      sleep: new SleepGate(liveDevices()),
      lease: lease('sec'),
      emit: () => {},
      log: () => {},
    });
    const listener = await listen(addr, { secret, vmId: 'vm', role: 'secondary', epoch: 0, minPeerEpoch: 0 });
    listener.onConnection((t) => secondary.attach(t));
    void secondary.run();
    const module = await loadModule(readFileSync(LINES));
    const sleep = new SleepGate(liveDevices());
    const machine = WasiMachine.create(module, { config: { args: ['lines'], env: [], preopens: [] }, devices: sleep.devices });
    const out: string[] = [];
    let epoch = 0;
    let exitReleased = false;
    const primary = new PrimaryDriver({
      machine,
      module,
      sleep,
      vmId: 'vm',
      nodeId: 'pri',
      core: { heldOutputsMax: 1 },
      start: { mode: 'unprotected' },
      lease: lease('pri'),
      connect: () => connect(addr, { secret, vmId: 'vm', role: 'primary', epoch: () => epoch, minPeerEpoch: 0 }),
      emit: (_channel, data) => {
        expect(exitReleased, 'no output after the exit').to.equal(false);
        out.push(Buffer.from(data).toString());
      },
      log: () => {},
      waitForSecondary: true,
      onStatus: (s) => (epoch = s.epoch),
      onExitReleased: () => (exitReleased = true),
    });
    try {
      expect(await primary.run()).to.equal(0);
      expect(exitReleased).to.equal(true);
      const lines = out.join('').trim().split('\n');
      expect(lines.length).to.be.greaterThan(3);
      lines.forEach((l, i) => expect(l).to.match(new RegExp(`^line ${i + 1}: `)));
    } finally {
      primary.stop();
      secondary.stop();
      await listener.close();
    }
  });
});
