/**
 * Options shared by every command that starts a guest (run, record, primary), shaped like `wasmtime run`:
 *   [--dir HOST[::GUEST]]... [--env KEY=VALUE]... [--unwind all|io|none] MODULE.wasm [ARGS...]
 * Everything after MODULE belongs to the guest.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Preopen } from '../../engine/wasi/context.ts';
import { parseUnwindMode, unwindModeString, type UnwindMode } from '../../engine/wasi/loader.ts';
import { CliError } from './cli-error.ts';
import { EXIT } from './exit-codes.ts';

export interface RunOptions {
  module: string;
  args: string[];
  env: string[];
  preopens: Preopen[];
  unwind: UnwindMode;
  /** --unwind was on the command line (else `unwind` is the default, all). */
  unwindGiven: boolean;
}

/** A flag the command itself defines; `takesValue` flags consume the next argument (or `--flag=value`). */
export interface FlagSpec {
  readonly takesValue: boolean;
  /** What the value looks like, for `twinstep CMD --help` (`CALLS`, `ws://HOST:PORT`). */
  readonly value?: string;
  /** One line for `twinstep CMD --help`: what the flag does and its default. */
  readonly help: string;
  /** The command refuses to start without it (checked by the command; shown outside brackets). */
  readonly required?: boolean;
  /** May be given several times (each one counts). */
  readonly repeatable?: boolean;
  /** Accepted, but left out of usage and help (an alias another flag's help names). */
  readonly hidden?: boolean;
}

export type SharedFlag = '--dir' | '--env' | '--unwind';

/** The options every command that starts a guest takes (run, record, primary; replay takes --dir). */
export const SHARED_FLAGS: Record<SharedFlag, FlagSpec> = {
  '--dir': { takesValue: true, repeatable: true, value: 'HOST[::GUEST]', help: 'preopen host directory HOST as GUEST (default: the same path); its files are loaded into the virtual disk, which the guest changes without touching HOST' },
  '--env': { takesValue: true, repeatable: true, value: 'KEY=VALUE', help: 'an environment variable for the guest; the guest sees no other' },
  '--unwind': { takesValue: true, value: 'all|io|none', help: 'which host calls can be pause points (snapshots, a pair\'s backpressure): all (default), io (input and output calls), none, or a list of call names' },
};

/** The arguments a command takes: its own flags, which shared ones, and its operand. */
export interface CommandArgs {
  readonly flags: Record<string, FlagSpec>;
  /** Which of SHARED_FLAGS it takes. */
  readonly shared: readonly SharedFlag[];
  /** What a shared flag means for this command, where that differs from SHARED_FLAGS' help. */
  readonly sharedHelp?: Partial<Record<SharedFlag, string>>;
  /** The positional operand ('MODULE.wasm', 'TRACE'), or null: the command takes none. */
  readonly operand: string | null;
  /** What may follow the operand: nothing, the guest's arguments, or more operands of the same kind. */
  readonly rest: false | 'guest' | 'more';
}

/**
 * Parses `argv` (after the subcommand). Known run flags fill RunOptions; the command's own flags are returned
 * in `flags` (repeatable ones as arrays). The first non-flag argument is the operand (the module, or replay's
 * and inspect's TRACE); what follows goes to the guest, when the command has one. A flag the command does not
 * take, or an argument it has no place for, is a usage error: nothing is silently ignored.
 */
export function parseRunArgs(argv: readonly string[], spec: CommandArgs): { run: RunOptions; flags: Map<string, string[]> } {
  const extra = spec.flags;
  const operand = spec.operand;
  const run: RunOptions = { module: '', args: [], env: [], preopens: [], unwind: 'all', unwindGiven: false };
  const flags = new Map<string, string[]>();
  let i = 0;
  const value = (flag: string, inline: string | undefined): string => {
    if (inline !== undefined) return inline;
    if (i + 1 >= argv.length) throw new CliError(`${flag} needs a value`, EXIT.usage);
    return argv[++i];
  };
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    const eq = a.indexOf('=');
    const flag = eq > 0 && a.startsWith('--') ? a.slice(0, eq) : a;
    const inline = eq > 0 && a.startsWith('--') ? a.slice(eq + 1) : undefined;
    if (flag in SHARED_FLAGS && !spec.shared.includes(flag as SharedFlag)) throw new CliError(`unknown option '${flag}' (see 'twinstep help')`, EXIT.usage);
    switch (flag) {
      case '--dir':
        run.preopens.push(parseDir(value(flag, inline)));
        break;
      case '--env': {
        const kv = value(flag, inline);
        if (!/^[^=]+=/.test(kv)) throw new CliError(`--env expects KEY=VALUE, got '${kv}'`, EXIT.usage);
        run.env.push(kv);
        break;
      }
      case '--unwind': {
        run.unwind = parseUnwindMode(value(flag, inline));
        run.unwindGiven = true;
        break;
      }
      default: {
        const spec = extra[flag];
        if (!spec) throw new CliError(`unknown option '${flag}' (see 'twinstep help')`, EXIT.usage);
        const list = flags.get(flag) ?? [];
        list.push(spec.takesValue ? value(flag, inline) : 'true');
        flags.set(flag, list);
      }
    }
  }
  if (operand === null) {
    if (i < argv.length) throw new CliError(`unexpected argument '${argv[i]}' (this command takes options only)`, EXIT.usage);
    return { run, flags };
  }
  if (i >= argv.length) throw new CliError(`missing ${operand}`, EXIT.usage);
  run.module = argv[i];
  run.args = argv.slice(i + 1);
  if (!spec.rest && run.args.length) throw new CliError(`unexpected arguments after ${operand}: ${run.args.join(' ')}`, EXIT.usage);
  const late = spec.rest === 'more' ? run.args.find((x) => x.startsWith('-') && x !== '-') : undefined;
  if (late !== undefined) throw new CliError(`options go before ${operand} (got '${late}' after it)`, EXIT.usage);
  return { run, flags };
}

/** `HOST[::GUEST]`: the guest name defaults to the host path as given (like wasmtime). */
export function parseDir(spec: string): Preopen {
  const sep = spec.indexOf('::');
  const host = sep >= 0 ? spec.slice(0, sep) : spec;
  const guest = sep >= 0 ? spec.slice(sep + 2) : spec;
  if (!host || !guest) throw new CliError(`--dir expects HOST[::GUEST], got '${spec}'`, EXIT.usage);
  if (!existsSync(host)) throw new CliError(`--dir: host directory '${host}' does not exist`, EXIT.noInput);
  if (!statSync(host).isDirectory()) throw new CliError(`--dir: '${host}' is not a directory`, EXIT.usage);
  return { host: resolve(host), guest };
}

/**
 * The boot time of a new guest: the host's realtime clock when it starts. Files loaded from --dir get it as
 * their timestamps (never the host's mtimes), so it is part of the machine config and goes into traces.
 */
export function bootTimeNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/**
 * Why a flag that stops the guest at a host call cannot be used: under --unwind none no call can pause; under
 * another mode the guest imports no host call that can (a module with no WASI imports, or none of the kind).
 */
export function noPausePoint(what: string, unwind: UnwindMode): string {
  return unwindModeString(unwind) === 'none'
    ? `${what} the guest at a host call, which --unwind none cannot pause at; use --unwind io or all`
    : `${what} the guest at a host call, and this guest imports none it can pause at (under --unwind ${unwindModeString(unwind)})`;
}
