/** The twinstep command line: dispatches subcommands and turns user errors into one line + exit code. */
import { MachineError } from '../../engine/machine/errors.ts';
import { CliError } from './cli-error.ts';
import { EXIT } from './exit-codes.ts';
import { RUN_USAGE, runCommand } from './run.ts';
import { RECORD_USAGE, recordCommand } from './record.ts';
import { REPLAY_USAGE, replayCommand } from './replay.ts';
import { INSPECT_USAGE, inspectCommand } from './inspect.ts';
import { PRIMARY_USAGE, SECONDARY_USAGE, primaryCommand, secondaryCommand } from './pair.ts';

const COMMANDS: Record<string, { usage: string; run: (argv: readonly string[]) => Promise<number> }> = {
  run: { usage: RUN_USAGE, run: runCommand },
  record: { usage: RECORD_USAGE, run: recordCommand },
  replay: { usage: REPLAY_USAGE, run: replayCommand },
  inspect: { usage: INSPECT_USAGE, run: inspectCommand },
  primary: { usage: PRIMARY_USAGE, run: primaryCommand },
  secondary: { usage: SECONDARY_USAGE, run: secondaryCommand },
};

function help(): string {
  return ['usage:', ...Object.values(COMMANDS).map((c) => `  ${c.usage}`), '  twinstep help | --version', ''].join('\n');
}

const MACHINE_EXIT: Record<string, number> = {
  E_NOT_WASM: EXIT.dataError,
  E_INVALID_WASM: EXIT.dataError,
  E_SNAPSHOT: EXIT.dataError,
  E_UNSUPPORTED_IMPORT: EXIT.unavailable,
  E_NO_START: EXIT.unavailable,
  E_NO_MEMORY: EXIT.unavailable,
  E_IO: EXIT.noInput,
  E_CONFIG: EXIT.usage,
  E_LIMIT: EXIT.unavailable,
};

export async function main(argv: readonly string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    process.stdout.write(help());
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

