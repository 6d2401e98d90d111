/**
 * An in-process pair for driver specs: a SecondaryDriver listening on a fresh mem:// address, and primaries
 * wired to it, both with a file lease in one temporary directory. Both sides run in the spec's process, so a
 * spec can give either side its own clock or bounds.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { liveDevices } from '../../engine/wasi/devices.ts';
import { SleepGate } from '../../engine/node/guest-sleep.ts';
import { SecondaryDriver } from '../../engine/node/secondary-driver.ts';
import { PrimaryDriver, type PrimaryDriverOptions } from '../../engine/node/primary-driver.ts';
import { WasiMachine } from '../../engine/wasi/machine.ts';
import { loadModule, type LoadedModule } from '../../engine/wasi/loader.ts';
import { LeaseIo } from '../../engine/node/lease-io.ts';
import { FileLease } from '../../engine/lease/file-lease.ts';
import { FileFence } from '../../engine/lease/fence.ts';
import { connect, listen } from '../../engine/net/endpoint.ts';
import type { Listener } from '../../engine/net/transport.ts';
import type { SecondaryConfig } from '../../engine/core/config.ts';
import { tempDir } from './temp-dirs.ts';

const secret = Buffer.from('in-process pair test secret');
let pairs = 0;

export interface MemSecondary {
  /**
   * A primary of this pair for `machine`: its lease on the pair's file (judged on opts.nowMs), its connect,
   * and the epoch it announces kept from its status; `opts` adds or overrides the rest.
   */
  primary(machine: WasiMachine, module: LoadedModule, sleep: SleepGate, opts: Partial<PrimaryDriverOptions>): PrimaryDriver;
  /** Starts listening (at once, or later for a late join); resolves with the listener. */
  listen(): Promise<Listener>;
  stop(): Promise<void>;
}

export function memSecondary(opts: { readonly log?: (l: string) => void; readonly nowMs?: () => number; readonly core?: Partial<SecondaryConfig> } = {}): MemSecondary {
  const dir = tempDir('twinstep-mem-pair-');
  const addr = `mem://pair-${process.pid}-${pairs++}`;
  const leaseFor = (node: string, clock: () => number = () => Date.now()) =>
    new LeaseIo(new FileLease(join(dir, 'lease'), { ttlMs: 5000 }), node, clock, new FileFence(join(dir, 'lease.fence')));
  const driver = new SecondaryDriver({
    vmId: 'vm',
    nodeId: 'sec',
    core: opts.core ?? {},
    primaryCore: {},
    sleep: new SleepGate(liveDevices()),
    lease: leaseFor('sec', opts.nowMs),
    emit: () => {},
    log: opts.log ?? (() => {}),
    nowMs: opts.nowMs,
  });
  let listener: Promise<Listener> | undefined;
  return {
    primary(machine, module, sleep, o) {
      let epoch = 0;
      return new PrimaryDriver({
        machine,
        module,
        sleep,
        vmId: 'vm',
        nodeId: 'pri',
        core: {},
        start: { mode: 'unprotected' },
        lease: leaseFor('pri', o.nowMs),
        connect: () => connect(addr, { secret, vmId: 'vm', role: 'primary', epoch: () => epoch, minPeerEpoch: 0 }),
        emit: () => {},
        log: () => {},
        ...o,
        onStatus: (s) => {
          epoch = s.epoch;
          o.onStatus?.(s);
        },
      });
    },
    listen: () =>
      (listener ??= listen(addr, { secret, vmId: 'vm', role: 'secondary', epoch: 0, minPeerEpoch: 0 }).then((l) => {
        l.onConnection((t) => driver.attach(t));
        void driver.run();
        return l;
      })),
    stop: async () => {
      driver.stop();
      await (await listener)?.close();
    },
  };
}

/**
 * Runs the guest at `path` (with `args`, argv[0] included) protected to its end by a primary of a fresh pair
 * (waiting for its secondary; `opts` adds or overrides), then stops both sides. `watch` sees the primary before
 * it runs. Returns the exit code and whether the exit was released.
 */
export async function runMemPair(
  path: string,
  args: string[],
  opts: Partial<PrimaryDriverOptions>,
  watch?: (primary: PrimaryDriver) => void,
): Promise<{ code: number; exitReleased: boolean }> {
  const sec = memSecondary();
  await sec.listen();
  const module = await loadModule(readFileSync(path));
  const sleep = new SleepGate(liveDevices());
  const machine = WasiMachine.create(module, { config: { args, env: [], preopens: [] }, devices: sleep.devices });
  let exitReleased = false;
  const primary = sec.primary(machine, module, sleep, {
    waitForSecondary: true,
    ...opts,
    onExitReleased: () => {
      exitReleased = true;
      opts.onExitReleased?.();
    },
  });
  watch?.(primary);
  try {
    return { code: await primary.run(), exitReleased };
  } finally {
    primary.stop();
    await sec.stop();
  }
}
