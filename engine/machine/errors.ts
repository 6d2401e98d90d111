/**
 * Operating errors of a machine: a user-facing condition with a fixed code (bad module, unsupported import,
 * bad snapshot...). Programmer errors are plain Errors and are never caught as MachineError.
 */
export type MachineErrorCode =
  | 'E_NOT_WASM'
  | 'E_INVALID_WASM'
  | 'E_UNSUPPORTED_IMPORT'
  /** A WASI function imported with other types than preview1 declares. */
  | 'E_IMPORT_TYPE'
  | 'E_NO_START'
  | 'E_NO_MEMORY'
  | 'E_CONFIG'
  | 'E_NOT_UNWINDABLE'
  | 'E_STATE'
  | 'E_SNAPSHOT'
  | 'E_LIMIT'
  | 'E_IO'
  /** The instrumentation of a module failed for a reason other than the module (see loader.ts). */
  | 'E_INSTRUMENT';

export class MachineError extends Error {
  constructor(
    readonly code: MachineErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'MachineError';
  }
}
