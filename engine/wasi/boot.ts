/** Starting a WASI machine from a module file and run options: the one path every command shares. */
import { readFileSync } from 'node:fs';
import { MachineError } from '../machine/errors.ts';
import type { Devices, WasiConfig } from './context.ts';
import { loadModule, type LoadedModule, type UnwindMode } from './loader.ts';
import { WasiMachine } from './machine.ts';

export function readModuleFile(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new MachineError('E_IO', `cannot read module '${path}': ${why}`);
  }
}

export interface BootOptions {
  readonly modulePath: string;
  readonly config: WasiConfig;
  readonly unwind: UnwindMode;
  readonly devices: Devices;
}

export async function bootMachine(opts: BootOptions): Promise<{ module: LoadedModule; machine: WasiMachine }> {
  const module = await loadModule(readModuleFile(opts.modulePath), opts.unwind);
  const machine = WasiMachine.create(module, { config: opts.config, devices: opts.devices });
  return { module, machine };
}
