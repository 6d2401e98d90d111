/**
 * A bounded latency histogram for live status lines (the primary's output hold time): O(1) per sample, a
 * fixed number of buckets whatever the rate, so an output-heavy guest (100k outputs a second) costs no sorting
 * on the event loop, where sorting would itself delay the outputs being measured.
 *
 * Buckets are logarithmic: each spans RATIO (5%) of its lower bound, from MIN_MS up to MAX_MS; a sample below
 * MIN_MS counts in the first bucket, one above MAX_MS in the last (and `max` keeps its exact value). A
 * percentile is the upper bound of the bucket it falls in, capped at the largest sample seen: at most 5% above
 * the exact value, never below it.
 */

import { monitorEventLoopDelay } from 'node:perf_hooks';

/** Smallest latency told apart (1 µs). */
export const MIN_MS = 0.001;
/** Largest latency bucketed (10 minutes); anything above counts in the last bucket. */
export const MAX_MS = 600_000;
const RATIO = 1.05;
const LOG_RATIO = Math.log(RATIO);
const BUCKETS = Math.ceil(Math.log(MAX_MS / MIN_MS) / LOG_RATIO) + 1;

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export class LatencyHistogram {
  private readonly counts = new Uint32Array(BUCKETS);
  private n = 0;
  private maxMs = 0;

  /** Adds one sample in milliseconds (negative or NaN samples are a caller's bug and rejected). */
  add(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`latency sample must be a non-negative number of ms, got ${ms}`);
    const b = ms <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / MIN_MS) / LOG_RATIO));
    this.counts[b]++;
    this.n++;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  get count(): number {
    return this.n;
  }

  /** The p-th percentile (0 < p <= 100), in ms; NaN when empty. */
  percentile(p: number): number {
    if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
    if (this.n === 0) return NaN;
    const rank = Math.ceil((p / 100) * this.n);
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.counts[b]!;
      if (seen >= rank) return Math.min(this.maxMs, MIN_MS * RATIO ** b);
    }
    return this.maxMs;
  }

  summary(): LatencySummary {
    return { count: this.n, p50: this.percentile(50), p99: this.percentile(99), max: this.n ? this.maxMs : NaN };
  }

  /** The summary so far, then starts over (one status interval each). */
  take(): LatencySummary {
    const s = this.summary();
    this.counts.fill(0);
    this.n = 0;
    this.maxMs = 0;
    return s;
  }
}

/** "p50 0.41 ms, p99 2.10 ms, max 3.20 ms over 512 outputs" for status lines; '' when there were no samples. */
export function formatLatency(s: LatencySummary): string {
  if (s.count === 0) return '';
  const f = (ms: number) => (ms < 10 ? ms.toFixed(2) : ms.toFixed(0));
  return `p50 ${f(s.p50)} ms, p99 ${f(s.p99)} ms, max ${f(s.max)} ms over ${s.count} outputs`;
}

/** Event-loop lateness resolution (ms): the monitor's timer fires this often. */
export const LOOP_DELAY_RESOLUTION_MS = 10;

/**
 * How late this process's event loop ran, per status interval: the longest delay of a timer beyond its due
 * time (perf_hooks' monitor). Acks, heartbeats and outputs wait that long, so a long output hold that lines
 * up with it was this host's stall (guest slice, GC, the scheduler), not the network's.
 */
export function eventLoopDelay(): { takeMs(): number; stop(): void } {
  const h = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  h.enable();
  return {
    takeMs() {
      // The histogram holds the timer's whole period plus the lateness: subtract the period.
      const lateMs = h.count > 0 ? Math.max(0, h.max / 1e6 - LOOP_DELAY_RESOLUTION_MS) : 0;
      h.reset();
      return lateMs;
    },
    stop() {
      h.disable();
    },
  };
}

/** "; event loop late by up to 1.3 ms" for status lines. */
export function formatLoopLate(ms: number): string {
  return `; event loop late by up to ${ms.toFixed(1)} ms`;
}
