/** Timing helpers for `npm run bench`: medians of interleaved runs, so two variants see the same machine load. */

export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/**
 * Runs each variant `rounds` times, interleaved (A B C A B C ...), and returns every counted round's ms per
 * variant, in round order. The first `warmup` rounds are run the same way and not counted (the JIT tiers a
 * path up over its first runs).
 */
export async function interleavedRounds(rounds: number, variants: Record<string, () => unknown | Promise<unknown>>, warmup = 0): Promise<Record<string, number[]>> {
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (let r = -warmup; r < rounds; r++) {
    for (const [name, fn] of Object.entries(variants)) {
      const t0 = nowMs();
      await fn();
      if (r >= 0) times[name].push(nowMs() - t0);
    }
  }
  return times;
}

/** The median of each variant's rounds. */
export function medians<K extends string>(times: Record<K, number[]>): Record<K, number> {
  return Object.fromEntries(Object.entries<number[]>(times).map(([k, v]) => [k, median(v)])) as Record<K, number>;
}

/** interleavedRounds, reduced to the median ms of each variant. */
export async function interleaved(rounds: number, variants: Record<string, () => unknown | Promise<unknown>>, warmup = 0): Promise<Record<string, number>> {
  return medians(await interleavedRounds(rounds, variants, warmup));
}

/**
 * The spread of a ratio between two variants over the rounds: the 25th and 75th percentiles of a[i] / b[i],
 * each round's pair measured back to back (so slow drifts of the host cancel out in each pair).
 */
export function pairedRatioQuartiles(a: readonly number[], b: readonly number[]): { p25: number; p75: number } {
  if (a.length !== b.length || a.length === 0) throw new RangeError(`paired ratios need rounds of equal, non-zero counts (${a.length}, ${b.length})`);
  const r = a.map((x, i) => x / b[i]!);
  return { p25: percentile(r, 25), p75: percentile(r, 75) };
}
