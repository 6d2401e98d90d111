/**
 * A log entry, as the primary records it and the secondary (or an offline replayer) consumes it.
 * The same entries go into trace files and over the live logging channel; engine/log encodes them.
 */

export const enum EntryKind {
  /** Result of a nondeterministic host call (clock, random, stdin, poll, yield). */
  Input = 0,
  /** Externally visible bytes (stdout/stderr) or the exit code (channel EXIT_CHANNEL). */
  Output = 1,
  /** Root state digest at this host-call index, to catch silent state divergence before it reaches output. */
  Digest = 2,
}

export interface LogEntry {
  /** 0-based position in the log; consecutive. */
  readonly seq: number;
  /** Host-call index at which the entry happens (Digest: the index of the next call). */
  readonly callIndex: number;
  readonly kind: EntryKind;
  /** Host-call name, e.g. "clock_time_get", "fd_write", "proc_exit"; "" for Digest. */
  readonly call: string;
  /** Output: channel (fd 1/2, or -1 for exit). Otherwise 0. */
  readonly channel: number;
  /** Input: the request bytes that fix the shape of the result. Otherwise empty. */
  readonly request: Uint8Array;
  /** Input: result bytes. Output: bytes written (exit: code as 4 bytes LE). Digest: root digest as 8 bytes LE. */
  readonly data: Uint8Array;
}
