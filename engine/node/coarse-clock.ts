/**
 * A millisecond wall clock that costs a memory load to read.
 *
 * The recorder looks at the time on every host call (digest every M ms, flush a batch once it is old, the
 * duration cap), and Date.now() costs about 50 ns on Node 20: on a guest that makes a host call every
 * microsecond, three reads are a sixth of the whole budget. Here a small worker thread stores Date.now()
 * into shared memory every millisecond and readers load it. Resolution: about 1 ms (more when the machine
 * is overloaded and the worker is scheduled late; readers then see time move in steps, never backwards).
 *
 * Until the worker has published its first value (its start takes some milliseconds), and where workers
 * are unavailable, readers fall back to Date.now(). The worker is unref'd: it never keeps a process alive.
 * This is for drivers only; the protocol core never reads a clock.
 */
import { Worker } from 'node:worker_threads';

const TICK_MS = 1;

const workerSource = `
const { workerData } = require('node:worker_threads');
const now = new Float64Array(workerData);
const tick = () => { now[0] = Date.now(); };
tick();
setInterval(tick, ${TICK_MS});
`;

let cell: Float64Array | undefined;
let started = false;

function start(): void {
  started = true;
  try {
    const shared = new SharedArrayBuffer(8);
    const worker = new Worker(workerSource, { eval: true, workerData: shared, stdout: false, stderr: false });
    worker.unref();
    // A failing worker (e.g. resource limits) leaves the fallback in place.
    worker.on('error', () => {
      cell = undefined;
    });
    cell = new Float64Array(shared);
  } catch {
    cell = undefined;
  }
}

/** Milliseconds since the epoch, to about 1 ms; starts the ticker on first use. */
export function coarseNowMs(): number {
  if (!started) start();
  const c = cell;
  if (c !== undefined) {
    const v = c[0]!;
    if (v !== 0) return v;
  }
  return Date.now();
}
