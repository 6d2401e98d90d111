/**
 * The contract between the WASI preview1 host (engine/wasi/host.ts, the virtual hardware) and the machine
 * that embeds it (engine/wasi/machine.ts, which counts host calls, pauses via Asyncify and talks to drivers).
 *
 * The host implements every wasi_snapshot_preview1 import. For each call it decides the call's kind:
 *  - pure:   computes the result from its own state and returns; the context hears nothing.
 *  - input:  validates arguments first (pure errors such as EBADF/EFAULT return directly, unlogged), then
 *            calls `ctx.input(name, request, live)` and applies the returned bytes to guest memory / its state.
 *  - output: validates, then calls `ctx.output(name, channel, data)`, then reports full success to the guest.
 * RULE: a host function must have NO side effect (no memory write, no state change) before it calls
 * `ctx.input` / `ctx.output`, because those may throw `PauseSignal`, and the call is then re-executed from
 * the start when the guest resumes.
 */

/** Thrown by ctx.input / ctx.output to stop the guest at this call; the host lets it propagate. */
export class PauseSignal {
  readonly pause = true;
}

/** Thrown by proc_exit after ctx.output(EXIT_CHANNEL); the machine turns it into an exit result. */
export class ExitSignal {
  constructor(readonly code: number) {}
}

/** Live devices: where real nondeterminism comes from. Tests pass fakes. */
export interface Devices {
  /** Current time of a WASI clock id (0 realtime, 1 monotonic, 2 process cputime, 3 thread cputime), ns. */
  clockNs(id: number): bigint;
  /** `n` random bytes. */
  random(n: number): Uint8Array;
  /** Up to `max` bytes from stdin; empty array at end of input. Blocks until at least one byte or EOF. */
  stdinRead(max: number): Uint8Array;
  /** Whether stdin has data or EOF ready without blocking (for poll_oneoff). */
  stdinReady(): boolean;
  /**
   * For a driver that must not block (a protected primary): whether a read of stdin returns at once (data
   * buffered, end of input seen, or a file), asking nothing of stdin itself.
   */
  stdinBuffered?(): boolean;
  /**
   * Reads stdin in the background (not blocking this thread) until something is buffered or its end is seen,
   * then calls `done`. While such a read is out, stdinReady says false rather than read beside it.
   */
  stdinFill?(done: () => void): void;
  /** Block the process for `ns` nanoseconds (poll_oneoff clock subscriptions). */
  sleepNs(ns: bigint): void;
}

export interface WasiContext {
  /** The guest's linear memory; re-read `.buffer` after every call that may grow memory. */
  memory(): WebAssembly.Memory;
  /** Input call: returns the result bytes (live, or from a log). May throw PauseSignal. */
  input(name: string, request: Uint8Array, live: () => Uint8Array): Uint8Array;
  /** Output call: hands the bytes over. May throw PauseSignal. */
  output(name: string, channel: number, data: Uint8Array): void;
  /**
   * Deterministic time for file timestamps (mtime/atime/ctime, *_NOW flags): never the host wall clock,
   * so that a replay computes the same file system. The machine supplies the last realtime value the
   * guest observed (or the configured boot time).
   */
  fsTimeNs(): bigint;
}

/** A `--dir HOST::GUEST` mapping. */
export interface Preopen {
  /** Host directory to load into the virtual disk at boot. */
  readonly host: string;
  /** Name the guest sees (fd_prestat_dir_name), e.g. "/" or "." or "/data". */
  readonly guest: string;
}

export interface WasiConfig {
  readonly args: readonly string[];
  readonly env: readonly string[]; // "KEY=VALUE"
  readonly preopens: readonly Preopen[];
  /** Resolution reported by clock_res_get, ns (pure: part of the machine config). */
  readonly clockResolutionNs?: bigint;
  /** Initial value of fsTimeNs when the guest has not read the realtime clock yet. */
  readonly bootTimeNs?: bigint;
}
