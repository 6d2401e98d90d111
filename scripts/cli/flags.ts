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
