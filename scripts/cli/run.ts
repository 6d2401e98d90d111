/** `twinstep run`: runs a guest live, unprotected, like `wasmtime run`. */
import { bootMachine } from '../../engine/wasi/boot.ts';
import { liveDevices } from '../../engine/wasi/devices.ts';
import { EXIT_CHANNEL, type HostCallHandler } from '../../engine/machine/machine.ts';
import { writeAllSync } from '../../engine/node/stdio-sink.ts';
import { parseRunArgs } from './run-options.ts';
import { exitForResult } from './result.ts';
import { basename } from 'node:path';

export const RUN_USAGE = 'twinstep run [--dir HOST[::GUEST]]... [--env KEY=VALUE]... [--unwind all|io|none] MODULE.wasm [ARGS...]';

export async function runCommand(argv: readonly string[]): Promise<number> {
  const { run } = parseRunArgs(argv);
  const { machine } = await bootMachine({
    modulePath: run.module,
    config: { args: [basename(run.module), ...run.args], env: run.env, preopens: run.preopens },
    unwind: run.unwind,
    devices: liveDevices(),
  });
  const live: HostCallHandler = {
    input: (call) => call.live(),
    output: (call) => {
      if (call.channel !== EXIT_CHANNEL) writeAllSync(call.channel, call.data);
    },
  };
  return exitForResult(machine.run(live));
}
