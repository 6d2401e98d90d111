/** Everything a replay report says, independent of its format. */
import type { Divergence } from '../divergence.ts';
import type { DigestMode } from '../replayer.ts';

export interface ReplayReport {
  readonly trace: string;
  readonly guest: string;
  /** Recorded module hash vs the module replayed (differential replay when they differ). */
  readonly recordedModuleHash: string;
  readonly replayedModuleHash: string;
  readonly status: 'identical' | 'diverged' | 'incomplete';
  readonly entries: number;
  readonly entriesTotal: number | undefined;
  readonly callIndex: number;
  readonly divergences: readonly Divergence[];
  /**
   * How the replay lined up with the recording: host call by host call (calls), or inputs in order and outputs
   * as byte streams per channel (stream, replay/stream-replayer.ts).
   */
  readonly match: 'calls' | 'stream';
  /** What the trace's state digests were compared against, and how many were compared or skipped. */
  readonly digests: { readonly mode: DigestMode; readonly compared: number; readonly skipped: number };
  /** The recording stopped at a cap; replay stopped there too. */
  readonly capped: boolean;
  /** Set when --keep-going stopped at its limit of divergences (this many): later ones are not listed. */
  readonly divergenceLimit?: number;
  /** A torn or corrupt tail of the trace, reported separately from divergences. */
  readonly traceTail: string | undefined;
  readonly durationMs: number;
}

/** A trace that could not be replayed at all (unreadable, its module missing), among several. */
export interface UnusableTrace {
  readonly trace: string;
  readonly status: 'unusable';
  readonly message: string;
}

/** What one trace of a replay of several came to. */
export type TraceResult = ReplayReport | UnusableTrace;

/** How many traces came to each status. */
export function totals(results: readonly TraceResult[]): { traces: number; identical: number; diverged: number; incomplete: number; unusable: number } {
  const n = (s: TraceResult['status']) => results.filter((r) => r.status === s).length;
  return { traces: results.length, identical: n('identical'), diverged: n('diverged'), incomplete: n('incomplete'), unusable: n('unusable') };
}

/** `5 traces: 3 identical, 1 diverged, 1 unusable` (statuses nobody came to are left out). */
export function totalsLine(results: readonly TraceResult[]): string {
  const t = totals(results);
  const parts = (['identical', 'diverged', 'incomplete', 'unusable'] as const).filter((k) => t[k] > 0).map((k) => `${t[k]} ${k}`);
  return `${t.traces} traces: ${parts.join(', ')}`;
}

export function differential(r: ReplayReport): boolean {
  return r.recordedModuleHash !== r.replayedModuleHash;
}

/** What the digests mode compares, in words. */
export function digestScope(mode: DigestMode): string {
  return mode === 'full' ? 'memory, globals, device state and files' : mode === 'files' ? 'file contents only' : 'not compared';
}

/**
 * A hint for a differential replay under --match calls that a looser comparison might pass:
 *   - it parted only at state digests: two builds of one program lay out their memory differently even when they
 *     behave the same (--digests files or off);
 *   - it parted at an output whose bytes are a piece of the recorded ones, or the other way round: the new build
 *     writes the same bytes in other pieces (--match stream).
 */
export function replayHint(r: ReplayReport): string | undefined {
  if (!differential(r) || r.match !== 'calls' || r.divergences.length === 0) return undefined;
  if (r.digests.mode === 'full' && r.divergences.every((d) => d.kind === 'digest-mismatch')) {
    return 'a new build lays out its memory differently even when it behaves the same: --digests files compares only the files of the virtual disk, --digests off only calls and outputs';
  }
  const d = r.divergences[0]!;
  const expected = d.expected?.data;
  const actual = d.actual?.data;
  if (d.kind === 'output-mismatch' && expected && actual && d.actual?.channel === d.expected?.channel && expected.length !== actual.length && isPrefix(expected.length < actual.length ? expected : actual, expected.length < actual.length ? actual : expected)) {
    return 'the new build writes these bytes in other pieces: --match stream compares outputs as one byte stream per channel, and inputs in recorded order';
  }
  return undefined;
}

function isPrefix(short: Uint8Array, long: Uint8Array): boolean {
  for (let i = 0; i < short.length; i++) if (short[i] !== long[i]) return false;
  return true;
}
