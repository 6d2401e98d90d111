import type { RunResult } from '../../engine/machine/machine.ts';
import { EXIT } from './exit-codes.ts';

/** Maps the end of a guest run to the process exit code, printing one line for a trap. */
export function exitForResult(result: RunResult): number {
  switch (result.status) {
    case 'exited':
      return result.code & 0xff;
    case 'paused':
      throw new Error('a live run paused without a driver asking it to');
    case 'trapped': {
      const e = result.error;
      process.stderr.write(`twinstep: ${e.message} (at host call ${e.index})\n`);
      return e.reason === 'oom' ? EXIT.outOfMemory : e.reason === 'stack' ? EXIT.stackExhausted : EXIT.trap;
    }
  }
}
