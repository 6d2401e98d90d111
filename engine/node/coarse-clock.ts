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
    const c = new Float64Array(shared);
    // A failing worker (e.g. resource limits) leaves the fallback in place; the cell goes back to 0 for those
    // who read it directly (coarseClockCell), which then fall back too.
    worker.on('error', () => {
      cell = undefined;
      c[0] = 0;
    });
    cell = c;
  } catch {
    cell = undefined;
  }
}

/**
 * The ticker's cell itself (starts the ticker): element 0 holds the milliseconds since the epoch, or 0 while
 * the ticker has not published yet or has failed; a reader then falls back to coarseNowMs(). Reading the
 * cell is a memory load with no call, for per-host-call checks (the recorder reads it at every logged call).
 * Undefined where workers are unavailable.
 */
export function coarseClockCell(): Float64Array | undefined {
  if (!started) start();
  return cell;
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
