import { CliError } from './cli-error.ts';
import { EXIT } from './exit-codes.ts';

/** A non-negative integer flag (last one wins), with a clear error for anything else. */
export function intFlag(flags: Map<string, string[]>, name: string, fallback: number): number {
  const v = flags.get(name)?.at(-1);
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new CliError(`${name} expects a non-negative integer, got '${v}'`, EXIT.usage);
  return Number(v);
}

export function oneOf<T extends string>(flags: Map<string, string[]>, name: string, allowed: readonly T[], fallback: T): T {
  const v = flags.get(name)?.at(-1);
  if (v === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(v)) throw new CliError(`${name} expects one of ${allowed.join(', ')}, got '${v}'`, EXIT.usage);
  return v as T;
}

/**
 * --digest-budget PCT: the share of the run's time periodic digests may take (0 < PCT <= 100; 100: no budget).
 * Default: `fallback` with the default intervals, none (exact intervals) when one of `intervalFlags` is given.
 */
export function digestBudgetFlag(flags: Map<string, string[]>, intervalFlags: readonly string[], fallback: number): number {
  const v = flags.get('--digest-budget')?.at(-1);
  if (v === undefined) return intervalFlags.some((f) => flags.has(f)) ? 0 : fallback;
  const pct = /^\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
  if (!(pct > 0 && pct <= 100)) throw new CliError(`--digest-budget expects a percentage above 0 and at most 100, got '${v}'`, EXIT.usage);
  return pct >= 100 ? 0 : pct / 100;
}
