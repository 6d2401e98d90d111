/** `twinstep run`: runs a guest live, unprotected, like `wasmtime run`. */
import { constants as osConstants } from 'node:os';
import { bootMachine } from '../../engine/wasi/boot.ts';
import { liveDevices } from '../../engine/wasi/devices.ts';
import { EXIT_CHANNEL, PAUSE, type HostCallHandler } from '../../engine/machine/machine.ts';
import { intFlag } from './flags.ts';
import { CliError } from './cli-error.ts';
import { checkNotAnInput, checkOutputPath, writeOutputFile } from './output-path.ts';
import { EXIT } from './exit-codes.ts';
import { writeAllSync } from '../../engine/node/stdio-sink.ts';
import { bootTimeNs, noPausePoint, parseRunArgs, type CommandArgs } from './run-options.ts';
import { usageLine } from './help.ts';
import { exitForResult } from './result.ts';
import { basename } from 'node:path';

export const RUN_ARGS: CommandArgs = {
  flags: {
    '--snapshot-at': { takesValue: true, value: 'CALL', help: 'take a snapshot when the guest reaches host call CALL (with --snapshot-out); `record --from` starts a trace there' },
    '--snapshot-out': { takesValue: true, value: 'FILE', help: 'where --snapshot-at writes the snapshot' },
  },
  shared: ['--dir', '--env', '--unwind'],
  operand: 'MODULE.wasm',
  rest: 'guest',
};

export const RUN_USAGE = usageLine('run', RUN_ARGS);

export async function runCommand(argv: readonly string[]): Promise<number> {
  const { run, flags } = parseRunArgs(argv, RUN_ARGS);
  const snapshotOut = flags.get('--snapshot-out')?.at(-1);
  const snapshotAt = intFlag(flags, '--snapshot-at', -1);
  if ((snapshotOut === undefined) !== (snapshotAt < 0)) throw new CliError('--snapshot-at and --snapshot-out go together', EXIT.usage);
  if (snapshotOut !== undefined) {
    checkOutputPath(snapshotOut, '--snapshot-out');
    checkNotAnInput(snapshotOut, '--snapshot-out', [run.module]);
  }
  const { module, machine } = await bootMachine({
    modulePath: run.module,
    config: { args: [basename(run.module), ...run.args], env: run.env, preopens: run.preopens, bootTimeNs: bootTimeNs() },
    unwind: run.unwind,
    devices: liveDevices(),
  });
  if (snapshotOut !== undefined && module.unwindable.size === 0) {
    throw new CliError(noPausePoint('--snapshot-at stops', module.unwind), EXIT.usage);
  }
  let taken = false;
  const live: HostCallHandler = {
    // Stop once at host call K, or (under --unwind io) at the first call from K on that can pause, so the
    // snapshot captures the guest exactly there; then carry on.
    beforeCall: (call) => (!taken && call.index >= snapshotAt && snapshotAt >= 0 && module.unwindable.has(call.name) ? PAUSE : undefined),
    input: (call) => call.live(),
    output: (call) => {
      // The reader went away (`| head`): the guest ends as a program writing there ends by SIGPIPE, at once
      // and quietly (exit 141); a guest writing for ever would otherwise run for ever, seen by nobody.
      if (call.channel !== EXIT_CHANNEL && !writeAllSync(call.channel, call.data)) process.exit(128 + osConstants.signals.SIGPIPE);
    },
  };
  let result = machine.run(live);
  if (result.status === 'paused' && snapshotOut) {
    writeOutputFile(snapshotOut, machine.snapshot().encode(), '--snapshot-out');
    taken = true;
    const at = machine.callIndex;
    const moved = at === snapshotAt ? '' : ` (the first call from ${snapshotAt} on that the guest can pause at under --unwind ${typeof module.unwind === 'string' ? module.unwind : module.unwind.join(',')})`;
    process.stderr.write(`twinstep run: snapshot at host call ${at}${moved} -> ${snapshotOut}\n`);
    result = machine.run(live);
  } else if (snapshotOut && result.status === 'exited') {
    process.stderr.write(`twinstep run: the guest made only ${machine.callIndex} host calls; no snapshot at ${snapshotAt}\n`);
  }
  return exitForResult(result);
}
