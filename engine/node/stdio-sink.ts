/**
 * Writes guest output to the host's stdout/stderr synchronously, so output order is exactly the guest's
 * order across both streams, and a full pipe (EAGAIN on a non-blocking descriptor) waits instead of
 * dropping bytes.
 */
import { writeSync } from 'node:fs';

const waitCell = new Int32Array(new SharedArrayBuffer(4));

export function writeAllSync(fd: number, data: Uint8Array): boolean {
  let off = 0;
  let waitMs = 1;
  while (off < data.length) {
    try {
      off += writeSync(fd, data, off, data.length - off);
      waitMs = 1;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        Atomics.wait(waitCell, 0, 0, waitMs);
        waitMs = Math.min(waitMs * 2, 50);
        continue;
      }
      // The reader went away (EPIPE): the output is no longer observable; stop writing rather than crash.
      if (code === 'EPIPE') return false;
      throw e;
    }
  }
  return true;
}
