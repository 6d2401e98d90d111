/**
 * When a guest slice is over. The drivers run the guest synchronously in slices (acks, heartbeats and new
 * entries only arrive on the event loop between them) and ask at every host call whether the slice has run
 * for `sliceMs`. Reading the clock costs about 40 ns, as much as a whole host call of a call-heavy guest, so
 * it is read once every CHECK_EVERY_CALLS calls: a slice ends at most that many host calls late.
 */
import { performance } from 'node:perf_hooks';

export const CHECK_EVERY_CALLS = 16;

export class SliceTimer {
  private startMs = 0;
  private countdown = CHECK_EVERY_CALLS;

  constructor(private readonly sliceMs: number) {}

  /** A slice starts now. */
  start(): void {
    this.startMs = performance.now();
    this.countdown = CHECK_EVERY_CALLS;
  }

  /** Milliseconds since the slice started (reads the clock). */
  elapsedMs(): number {
    return performance.now() - this.startMs;
  }

  /** True once the slice has run for sliceMs (the clock is read at every CHECK_EVERY_CALLS-th ask). */
  expired(): boolean {
    if (--this.countdown > 0) return false;
    this.countdown = CHECK_EVERY_CALLS;
    return performance.now() - this.startMs >= this.sliceMs;
  }
}
