/**
 * The VM-agnostic machine interface that the protocol drives.
 *
 * A machine runs a guest until its next host call and shows that call to a driver (a `HostCallHandler`).
 * The driver decides what the call returns:
 *   - live (primary, plain `run`): perform it for real (`InputCall.live()`), emit outputs;
 *   - record: like live, and append the result to the event log;
 *   - replay (secondary, CI): feed the logged result instead of performing the call, compare outputs.
 * Any handler method may answer `PAUSE`: the machine then stops the guest AT that host-call boundary
 * (before the call has any effect), `run()` returns `{status: 'paused'}`, and a later `run()` re-presents
 * the very same call (same index) to the handler. Snapshots are taken at such boundaries.
 *
 * Researchers plug in their own machine by implementing `Machine` (see docs/ARCHITECTURE.md).
 */
import type { EntryColumns } from '../log/entry-block.ts';
import type { InputRun } from './input-run.ts';

/**
 * pure:   the result follows from VM state (file system, args, env, fd table). Never logged.
 * input:  nondeterministic (clocks, random, stdin, poll readiness, yield). The primary logs the result.
 * output: externally visible (stdout/stderr bytes, exit). Held by the output gate, compared by the secondary.
 */
export type CallKind = 'pure' | 'input' | 'output';

/** Returned by a handler to stop the guest at the current host-call boundary. */
export const PAUSE: unique symbol = Symbol('twinstep.pause');
export type Pause = typeof PAUSE;

/** What every host call shows before it is classified. */
export interface HostCallInfo {
  /** 0-based position of this call among all host calls the guest has made since `_start`. */
  readonly index: number;
  /** Import name, e.g. `clock_time_get` (module is implied by the machine, e.g. wasi_snapshot_preview1). */
  readonly name: string;
}

export interface InputCall extends HostCallInfo {
  /**
   * The parameters that fix the SHAPE of the result (clock id, byte count, subscriptions...). Logged with the
   * result and compared on replay, so a guest that asks for something else at the same index is caught.
   */
  readonly request: Uint8Array;
  /** Performs the call on the live devices (real clock, real entropy, real stdin) and returns the result bytes. */
  live(): Uint8Array;
}

export interface OutputCall extends HostCallInfo {
  /** Where the bytes go: a file descriptor (1 stdout, 2 stderr), or EXIT_CHANNEL for proc_exit. */
  readonly channel: number;
  /** The bytes written (for EXIT_CHANNEL: the exit code as 4 little-endian bytes). */
  readonly data: Uint8Array;
}

export const EXIT_CHANNEL = -1;

/**
 * RULE: the call objects a handler is shown belong to the machine and are refilled at the next call: read them
 * during the handler's call, never keep them (keep their fields). The request and data arrays they carry are
 * the handler's to keep and are never changed once shown (the same array again means the same bytes).
 * live()'s result is valid until the next host call only (the machine copies it into the guest at once): a
 * handler that keeps it copies it. Likewise the machine copies what input() returns at once, so a handler may
 * refill the same array for its next result.
 */
export interface HostCallHandler {
  /**
   * Called first at EVERY host call (pure ones too), before it has any effect. Return PAUSE to stop here,
   * e.g. to take a snapshot at host call K or to wait for log entries that have not arrived yet.
   */
  beforeCall?(call: HostCallInfo): Pause | void;
  /**
   * A promise that beforeCall has nothing to do at any call whose index is at most this (it would neither pause
   * nor change anything): the machine may skip it there. A handler that keeps it (the replayer, between two
   * input entries it can see) updates it as it goes; absent or -1: beforeCall is called at every call.
   */
  readonly quietThrough?: number;
  /**
   * Repeated input calls the handler takes in runs (input-run.ts), read by the machine at the start of each
   * run(). While the run is open, the calls it takes are performed live and given to it instead of to input().
   * A machine may ignore it (every call then reaches input()).
   */
  readonly inputRun?: InputRun;
  /** Input call: return the result bytes (`call.live()` when live or recording, the logged bytes when replaying). */
  input(call: InputCall): Uint8Array | Pause;
  /** Output call: take the bytes (emit, hold or compare). The guest always sees the full write succeed. */
  output(call: OutputCall): Pause | void;
  /** A pure call completed (optional; used for per-call tracing and statistics). */
  pure?(call: HostCallInfo): void;
}

export type RunResult =
  | { readonly status: 'paused'; readonly index: number }
  | { readonly status: 'exited'; readonly code: number }
  | { readonly status: 'trapped'; readonly error: GuestTrap };

/** The guest trapped (unreachable, out-of-bounds, stack overflow, out of memory...). */
export class GuestTrap extends Error {
  constructor(
    message: string,
    readonly reason: 'trap' | 'oom' | 'stack' | 'host',
    readonly index: number,
  ) {
    super(message);
    this.name = 'GuestTrap';
  }
}

/** Page and root digests of the whole VM state (linear memory + virtual disk + device state). */
export interface StateDigest {
  /** Digest over everything below, the one number two replicas compare. */
  readonly root: bigint;
  /** xxh64 of each PAGE_BYTES page of linear memory, in page order. */
  readonly pages: BigUint64Array;
  /** Digest of the device state (fd table, offsets, clocks config) and the file system. */
  readonly devices: bigint;
  /** Per-file digests of the virtual disk, keyed by guest path. */
  readonly files: ReadonlyMap<string, bigint>;
}

export const PAGE_BYTES = 4096;

/** A machine state captured at a host-call boundary, restorable into a fresh machine (in any process). */
export interface MachineSnapshot {
  /** The host-call index at which the guest stands: the next call it makes has this index. */
  readonly callIndex: number;
  /** Serialised, versioned form (FlatBuffers, see schema/twinstep.fbs). */
  encode(): Uint8Array;
  /** Page digests of linear memory at snapshot time, for pagesChangedSince and incremental transfers. */
  readonly pageDigests: BigUint64Array;
}

export interface Machine {
  /** Number of host calls made so far; the next call has this index. */
  readonly callIndex: number;
  /** 'ready' before the first run, 'paused' at a boundary, 'exited'/'trapped' at the end. */
  readonly state: 'ready' | 'paused' | 'exited' | 'trapped';
  /** Runs (or resumes) the guest until it exits, traps, or the handler answers PAUSE. */
  run(handler: HostCallHandler): RunResult;
  /** Captures the whole VM state. Only valid when state is ready, paused or exited. */
  snapshot(): MachineSnapshot;
  /** Digest of the current VM state. */
  digest(): StateDigest;
  /** Indices of linear-memory pages whose content differs from the given page digests. */
  pagesChangedSince(base: BigUint64Array): number[];
  /** Live view of linear memory, for fault-injection hooks and research tools (optional). */
  memoryView?(): Uint8Array;
  /** Feeds recorded inputs without a handler call per call, when the machine has that fast path (optional). */
  readonly inputLane?: InputLane;
}

/**
 * A replay fast path a machine may offer: the replayer hands it a run of recorded input entries, and the machine
 * answers each of the guest's calls that matches the head of the run EXACTLY (the same call index, call and
 * request) from it, without calling the handler. Any call that does not match reaches the handler as always,
 * and the entries not fed stay where they are in the log, so nothing a run can tell apart changes: only the
 * handler's calls for matching inputs are skipped.
 *
 * The handler learns what was fed from `fed` (a count since the machine was made): the fed entries are the
 * first entries of the last offer, in order. It must account for them (take them from its source) before
 * it looks at the log again; every handler call is such a point, and so is the end of run().
 */
export interface InputLane {
  /**
   * Offers entries from..count-1 of `cols` (they must be the log's next entries); replaces any earlier offer.
   * An offer lasts until it is withdrawn or the run() it was made in returns.
   * The lane takes the longest prefix it can feed (inputs of the calls it knows, well formed, up to its
   * capacity) and returns how many it took: 0 when the entry at `from` is not one it can feed.
   */
  offer(cols: EntryColumns, from: number): number;
  /** Takes back what is offered and not fed yet (the handler takes the log's head itself). */
  withdraw(): void;
  /** Entries fed since the machine was made. */
  readonly fed: number;
  /** Entries offered and not fed yet. */
  readonly pending: number;
}
