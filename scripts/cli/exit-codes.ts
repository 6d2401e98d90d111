/**
 * Process exit codes of the CLI for conditions that are not the guest's own exit code. They follow
 * sysexits(3) for host-side problems and 128+N conventions for guest faults, so scripts can tell them apart
 * from ordinary guest exit codes (which pass through unchanged, modulo 256).
 */
export const EXIT = {
  /** Bad flag or argument. */
  usage: 64,
  /** The module (or another input file) is not valid: not wasm, invalid wasm, corrupt snapshot. */
  dataError: 65,
  /** An input file does not exist or cannot be read. */
  noInput: 66,
  /** The module needs something twinstep does not provide (an unsupported import, no _start). */
  unavailable: 69,
  /** Internal error: a bug in twinstep. */
  software: 70,
  /** An output file cannot be created (its directory is missing or not writable, or it is a directory). */
  cantCreate: 73,
  /** Writing an output failed on the way (a full disk, an I/O error): what was written before stays valid. */
  ioError: 74,
  /**
   * `twinstep primary` only: another node took the lease (the secondary went live after this one went silent
   * for longer than its peer timeout). This node released nothing after that and never will; its guest stays
   * where it stopped. Restart the host as a secondary of the new primary (EX_TEMPFAIL: try again, differently).
   */
  deposed: 75,
  /** The guest trapped (unreachable, out-of-bounds access, ...). */
  trap: 134,
  /** The guest exhausted its memory limit. */
  outOfMemory: 135,
  /** The guest exhausted the call stack. */
  stackExhausted: 136,
} as const;
