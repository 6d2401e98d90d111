/**
 * The primary driver keeps to the core's bounds where it steps more than one entry for one host call: a guest
 * that returns from _start (wasi-libc does so for exit code 0, without proc_exit) right after an output that
 * filled the output gate (its end is an output too), and a periodic digest that reaches the in-flight bound
 * before the call's own entry. Both drivers in this process over mem://, with tiny bounds.
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
const HOSTCALLS = join(ROOT, 'guests/build/c/hostcalls.wasm');
const secret = Buffer.from('driver-bounds test secret');
let pairs = 0;

async function runPair(path: string, args: string[], core: Record<string, number>, digestEveryCalls = 0): Promise<{ code: number; out: string[]; exitReleased: boolean }> {
  const dir = mkdtempSync(join(tmpdir(), 'twinstep-bounds-'));
  const addr = `mem://driver-bounds-${process.pid}-${pairs++}`;
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
  const module = await loadModule(readFileSync(path));
  const sleep = new SleepGate(liveDevices());
  const machine = WasiMachine.create(module, { config: { args, env: [], preopens: [] }, devices: sleep.devices });
  const out: string[] = [];
  let epoch = 0;
  let exitReleased = false;
  const primary = new PrimaryDriver({
    machine,
    module,
    sleep,
    vmId: 'vm',
    nodeId: 'pri',
    core,
    digestEveryCalls,
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
    return { code: await primary.run(), out, exitReleased };
  } finally {
    primary.stop();
    secondary.stop();
    await listener.close();
  }
}

describe('the primary driver keeps to the core bounds', function () {
  this.timeout(30_000);

  it('its exit waits for a full gate; every line and the exit are released in order', async () => {
    const r = await runPair(LINES, ['lines'], { heldOutputsMax: 1 });
    expect(r.code).to.equal(0);
    expect(r.exitReleased).to.equal(true);
    const lines = r.out.join('').trim().split('\n');
    expect(lines.length).to.be.greaterThan(3);
    lines.forEach((l, i) => expect(l).to.match(new RegExp(`^line ${i + 1}: `)));
  });

  it('a digest that reaches the in-flight bound makes the call wait, not overrun the bound', async () => {
    // A digest before every logged call: with an odd bound, a digest lands one entry below it.
    const r = await runPair(HOSTCALLS, ['hostcalls', '300'], { inflightEntriesMax: 5, batchEntriesMax: 2 }, 1);
    expect(r.code).to.equal(0);
    expect(r.exitReleased).to.equal(true);
    expect(r.out.join('')).to.match(/\S/);
  });
});
