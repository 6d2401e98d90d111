/**
 * Output files a command will write (a trace, a report, a snapshot, a checkpoint), checked before the command
 * does any work: a recording must not run to its end only to find it has nowhere to go.
 */
import { accessSync, constants, existsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CliError } from './cli-error.ts';
import { EXIT } from './exit-codes.ts';

/**
 * Throws a CliError naming `flag` unless `path` can be created or overwritten as a file. `newFileInDir`: the
 * writer makes a new file beside it and renames it over (atomic replacement), so the directory must be writable
 * even when the file exists.
 */
export function checkOutputPath(path: string, flag: string, exitCode: number = EXIT.cantCreate, newFileInDir = false): void {
  const abs = resolve(path);
  const dir = dirname(abs);
  if (existsSync(abs) && statSync(abs).isDirectory()) throw new CliError(`${flag} '${path}' is a directory; give a file name`, exitCode);
  if (!existsSync(dir)) throw new CliError(`${flag} '${path}': directory '${dir}' does not exist`, exitCode);
  if (!statSync(dir).isDirectory()) throw new CliError(`${flag} '${path}': '${dir}' is not a directory`, exitCode);
  try {
    if (existsSync(abs)) accessSync(abs, constants.W_OK);
    if (newFileInDir || !existsSync(abs)) accessSync(dir, constants.W_OK);
  } catch {
    throw new CliError(`${flag} '${path}': not writable`, exitCode);
  }
}

/**
 * Throws a CliError naming `flag` when `path` is one of the command's input files (the same file by device and
 * inode, whatever the path's spelling): writing it would destroy the input, a trace or a module.
 */
export function checkNotAnInput(path: string, flag: string, inputs: ReadonlyArray<string | undefined>, exitCode: number = EXIT.usage): void {
  if (!existsSync(path)) return;
  const out = statSync(path);
  for (const input of inputs) {
    if (input === undefined || !existsSync(input)) continue;
    const st = statSync(input);
    if (st.dev === out.dev && st.ino === out.ino) throw new CliError(`${flag} '${path}' is an input of this command ('${input}'); writing it would destroy it`, exitCode);
  }
}

/** writeFileSync, with a failure (a full disk, a directory removed meanwhile) as a CliError naming `flag`. */
export function writeOutputFile(path: string, data: string | Uint8Array, flag: string, exitCode: number = EXIT.cantCreate): void {
  try {
    writeFileSync(path, data);
  } catch (e) {
    throw new CliError(`${flag}: cannot write '${path}': ${(e as Error).message}`, exitCode);
  }
}
