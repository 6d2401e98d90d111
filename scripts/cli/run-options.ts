/**
 * Options shared by every command that starts a guest (run, record, primary), shaped like `wasmtime run`:
 *   [--dir HOST[::GUEST]]... [--env KEY=VALUE]... [--unwind all|io|none] MODULE.wasm [ARGS...]
 * Everything after MODULE belongs to the guest.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Preopen } from '../../engine/wasi/context.ts';
import type { UnwindMode } from '../../engine/wasi/loader.ts';
import { CliError } from './cli-error.ts';
import { EXIT } from './exit-codes.ts';

export interface RunOptions {
  module: string;
  args: string[];
  env: string[];
  preopens: Preopen[];
  unwind: UnwindMode;
}

/** A flag the command itself defines; `takesValue` flags consume the next argument (or `--flag=value`). */
export interface FlagSpec {
  readonly takesValue: boolean;
}

/**
 * Parses `argv` (after the subcommand). Known run flags fill RunOptions; `extra` flags are returned in
 * `flags` (repeatable ones as arrays). The first non-flag argument is the module (`operand`, named in the error
 * when it is missing: replay and inspect take a TRACE there); the rest go to the guest.
 */
export function parseRunArgs(argv: readonly string[], extra: Record<string, FlagSpec> = {}, operand = 'MODULE.wasm'): { run: RunOptions; flags: Map<string, string[]> } {
  const run: RunOptions = { module: '', args: [], env: [], preopens: [], unwind: 'all' };
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
        const u = value(flag, inline);
        run.unwind = u === 'all' || u === 'io' || u === 'none' ? u : u.split(',').filter(Boolean);
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
  if (i >= argv.length) throw new CliError(`missing ${operand}`, EXIT.usage);
  run.module = argv[i];
  run.args = argv.slice(i + 1);
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
