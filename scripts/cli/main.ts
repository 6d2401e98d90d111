/** The twinstep command line: dispatches subcommands and turns user errors into one line + exit code. */
import { MachineError } from '../../engine/machine/errors.ts';
import { CliError } from './cli-error.ts';
import { EXIT } from './exit-codes.ts';
import { RUN_ARGS, RUN_USAGE, runCommand } from './run.ts';
import { RECORD_ARGS, RECORD_USAGE, recordCommand } from './record.ts';
import { REPLAY_ARGS, REPLAY_USAGE, replayCommand } from './replay.ts';
import { INSPECT_ARGS, INSPECT_USAGE, inspectCommand } from './inspect.ts';
import { PRIMARY_ARGS, PRIMARY_USAGE, SECONDARY_ARGS, SECONDARY_USAGE, primaryCommand, secondaryCommand } from './pair.ts';
import { commandHelp } from './help.ts';
import type { CommandArgs } from './run-options.ts';

interface Command {
  readonly usage: string;
  readonly args: CommandArgs;
  /** One line for `twinstep CMD --help`. */
  readonly about: string;
  readonly run: (argv: readonly string[]) => Promise<number>;
}

export const COMMANDS: Record<string, Command> = {
  run: { usage: RUN_USAGE, args: RUN_ARGS, about: 'run a guest, like `wasmtime run`; exits with the guest\'s exit code', run: runCommand },
  record: { usage: RECORD_USAGE, args: RECORD_ARGS, about: 'run a guest live and write a trace of its inputs, outputs and state digests', run: recordCommand },
  replay: { usage: REPLAY_USAGE, args: REPLAY_ARGS, about: 're-execute a guest against one or more traces and report the first divergence; exit 0 identical, 1 diverged, 2 unusable', run: replayCommand },
  inspect: { usage: INSPECT_USAGE, args: INSPECT_ARGS, about: "a trace's header and summary, or its entries as JSON lines", run: inspectCommand },
  primary: { usage: PRIMARY_USAGE, args: PRIMARY_ARGS, about: 'run a guest protected by a secondary: outputs are held until the secondary has the log', run: primaryCommand },
  secondary: { usage: SECONDARY_USAGE, args: SECONDARY_ARGS, about: "wait for a primary, replay its log, and take over when it dies", run: secondaryCommand },
};

function help(): string {
  return ['usage:', ...Object.values(COMMANDS).map((c) => `  ${c.usage}`), '  twinstep help [COMMAND] | twinstep COMMAND --help | twinstep --version', ''].join('\n');
}

const isHelp = (a: string | undefined) => a === '--help' || a === '-h';

const MACHINE_EXIT: Record<string, number> = {
  E_NOT_WASM: EXIT.dataError,
  E_INVALID_WASM: EXIT.dataError,
  E_SNAPSHOT: EXIT.dataError,
  E_UNSUPPORTED_IMPORT: EXIT.unavailable,
  E_IMPORT_TYPE: EXIT.unavailable,
  E_NO_START: EXIT.unavailable,
  E_NO_MEMORY: EXIT.unavailable,
  E_IO: EXIT.noInput,
  E_CONFIG: EXIT.usage,
  E_LIMIT: EXIT.unavailable,
};

export async function main(argv: readonly string[]): Promise<number> {
  // A reader of stdout that goes away (`| head`) ends what stdout still had to say, not the command: its exit
  // code stands, and no stack trace.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === 'help' || isHelp(cmd)) {
    const about = cmd === 'help' && rest[0] !== undefined ? COMMANDS[rest[0]] : undefined;
    if (cmd === 'help' && rest[0] !== undefined && !about) {
      process.stderr.write(`twinstep: unknown command '${rest[0]}'\n${help()}`);
      return EXIT.usage;
    }
    process.stdout.write(about ? commandHelp(rest[0], about.args, about.about) : help());
    return cmd ? 0 : EXIT.usage;
  }
  if (cmd === '--version') {
    process.stdout.write('twinstep 0.1.0\n');
    return 0;
  }
  const command = COMMANDS[cmd];
  if (!command) {
    process.stderr.write(`twinstep: unknown command '${cmd}'\n${help()}`);
    return EXIT.usage;
  }
  // Only as the first argument: after the module, --help is the guest's.
  if (isHelp(rest[0])) {
    process.stdout.write(commandHelp(cmd, command.args, command.about));
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    if (e instanceof CliError) {
      process.stderr.write(`twinstep ${cmd}: ${e.message}\n`);
      return e.exitCode;
    }
    if (e instanceof MachineError) {
      process.stderr.write(`twinstep ${cmd}: ${e.message}\n`);
      return MACHINE_EXIT[e.code] ?? EXIT.software;
    }
    process.stderr.write(`twinstep ${cmd}: internal error: ${(e as Error).stack ?? e}\n`);
    return EXIT.software;
  }
}

