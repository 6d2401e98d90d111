/**
 * A wall-clock limit on a synchronous stretch of work, such as a guest's run: a guest that loops without a host
 * call never comes back to JavaScript, so no timer or check between calls can stop it. Node's vm module can:
 * a script run with a timeout is watched by a thread of its own, which terminates the execution (guest code
 * included) when the time is up. The work is started from such a script; the termination unwinds everything
 * it was doing, so what it leaves behind (a machine in the middle of a run) must not be used again.
 */
import { Script } from 'node:vm';

const SLOT = Symbol.for('twinstep.time-limited-work');
const START = new Script(`globalThis[Symbol.for('twinstep.time-limited-work')]()`, { filename: 'twinstep-time-limit' });

export class TimeLimitExceeded extends Error {
  constructor(readonly limitMs: number) {
    super(`did not finish within ${limitMs} ms`);
  }
}

/** Runs work(); throws TimeLimitExceeded when it has not returned after limitMs (no limit when limitMs <= 0). */
export function runWithin<T>(limitMs: number, work: () => T): T {
  if (!(limitMs > 0)) return work();
  const g = globalThis as unknown as Record<symbol, (() => T) | undefined>;
  if (g[SLOT] !== undefined) throw new Error('runWithin does not nest');
  g[SLOT] = work;
  try {
    return START.runInThisContext({ timeout: limitMs }) as T;
  } catch (e) {
    if ((e as { code?: string })?.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw new TimeLimitExceeded(limitMs);
    throw e;
  } finally {
    g[SLOT] = undefined;
  }
}
