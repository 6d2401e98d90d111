/** Everything a replay report says, independent of its format. */
import type { Divergence } from '../divergence.ts';

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
  /** The recording stopped at a cap; replay stopped there too. */
  readonly capped: boolean;
  /** A torn or corrupt tail of the trace, reported separately from divergences. */
  readonly traceTail: string | undefined;
  readonly durationMs: number;
}

export function differential(r: ReplayReport): boolean {
  return r.recordedModuleHash !== r.replayedModuleHash;
}
