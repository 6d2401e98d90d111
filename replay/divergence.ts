/** What a replay found: the first (or every) place where a run parts from its recording. */

export type DivergenceKind =
  /** Same index and call, different output bytes or channel. */
  | 'output-mismatch'
  /** The guest made a different call at a logged index (or skipped a logged call). */
  | 'call-mismatch'
  /** The guest made an input/output call the recording does not have (at that index, or after its end). */
  | 'extra-call'
  /** The same input call asked for a different result shape (clock id, byte count, subscriptions). */
  | 'request-mismatch'
  /** The state digest at a Digest entry differs: memory, files or device state changed silently. */
  | 'digest-mismatch'
  /** The run ended differently: exit code, trap, or exit without the recorded end. */
  | 'exit-mismatch'
  /** The run ended while the recording goes on. */
  | 'missing-call'
  /**
   * The run was stopped before it ended (`twinstep replay --timeout`): it computes or waits where the recording
   * went on, or is too slow for the limit. The position is where it stood; the expected entry is the next one.
   */
  | 'timeout';

/** The most divergences a --keep-going replay lists; it stops at the one that reaches it (and the report says so). */
export const KEEP_GOING_DIVERGENCES_MAX = 1000;

/** A log entry as reports show it. */
export interface EntryView {
  readonly seq: number;
  readonly callIndex: number;
  readonly kind: 'input' | 'output' | 'digest';
  readonly call: string;
  readonly channel: number;
  readonly request: Uint8Array;
  readonly data: Uint8Array;
}

export interface Divergence {
  readonly kind: DivergenceKind;
  /** Sequence number of the recorded entry involved (-1: none, e.g. past the end of the log). */
  readonly seq: number;
  /** Host-call index in the replayed run where it was detected. */
  readonly callIndex: number;
  readonly message: string;
  /** The recorded entry. */
  readonly expected: EntryView | undefined;
  /** What this run did instead (output bytes, request bytes). */
  readonly actual: { readonly channel?: number; readonly data?: Uint8Array; readonly request?: Uint8Array } | undefined;
  /** The entries consumed just before, oldest first. */
  readonly context: readonly EntryView[];
  /** For digest mismatches: which memory pages (4 KiB) and which virtual-disk files differ. */
  readonly state: { readonly pages: readonly number[]; readonly files: readonly string[]; readonly devices: boolean } | undefined;
}

/** Where a divergence is: `entry #S, host call C`, or `host call C (no recorded entry)` past the log's entries. */
export function divergenceWhere(d: Pick<Divergence, 'seq' | 'callIndex'>): string {
  return d.seq >= 0 ? `entry #${d.seq}, host call ${d.callIndex}` : `host call ${d.callIndex} (no recorded entry)`;
}
