/**
 * When a guest slice is over. The drivers run the guest synchronously in slices (acks, heartbeats and new
 * entries only arrive on the event loop between them) and ask at every host call whether the slice has run
 * for `sliceMs`. Reading the clock costs about 40 ns, as much as a whole host call of a call-heavy guest, so
 * it is read once every CHECK_EVERY_CALLS calls: a slice ends at most that many host calls late.
 */
import { performance } from 'node:perf_hooks';

export const CHECK_EVERY_CALLS = 16;
/** A long slice is reported at most once in this many ms (a compute-heavy guest would repeat it every slice). */
const LONG_SLICE_REPORT_EVERY_MS = 10_000;

export class SliceTimer {
  private startMs = 0;
  private countdown = CHECK_EVERY_CALLS;
  private reportedAt = -Infinity;

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

  /**
   * A warning when the slice that just ended (it ran `ran` ms, elapsedMs()) ran for half the peer timeout or more
   * and the peer heard nothing meanwhile: the guest computed that long without a host call, and the channel's
   * stand-in could not send heartbeats for this side (`stoodIn` false: a transport without one, or a slice that
   * began with our own bytes still queued), so the peer may take this side for dead (docs/PROTOCOL.md, "Failure
   * detection"). At most one every LONG_SLICE_REPORT_EVERY_MS.
   */
  longSliceWarning(ran: number, peerTimeoutMs: number, stoodIn: boolean): string | undefined {
    if (ran < peerTimeoutMs / 2 || stoodIn || !this.mayReport()) return undefined;
    return `WARNING: the guest ran ${Math.round(ran)} ms without a host call (peer timeout ${peerTimeoutMs} ms) and no heartbeat could leave meanwhile, so the peer may take this side for dead; raise --peer-timeout-ms and --lease-ttl-ms on both sides for such a guest`;
  }

  /**
   * A note when the primary's lease ran out during a slice of `ran` ms that the stand-in covered: the lease is
   * renewed between slices only, so the outputs after the stretch waited for its renewal. At most one every
   * LONG_SLICE_REPORT_EVERY_MS (shared with the warning).
   */
  leaseLapseNote(ran: number): string | undefined {
    if (!this.mayReport()) return undefined;
    return `note: the guest ran ${Math.round(ran)} ms without a host call; the helper thread kept the heartbeats going, but the lease, renewed between guest slices only, ran out meanwhile: the outputs after the stretch waited for its renewal (a --lease-ttl-ms above the guest's longest stretch avoids that)`;
  }

  private mayReport(): boolean {
    const now = performance.now();
    if (now - this.reportedAt < LONG_SLICE_REPORT_EVERY_MS) return false;
    this.reportedAt = now;
    return true;
  }

  /** True once the slice has run for sliceMs (the clock is read at every CHECK_EVERY_CALLS-th ask). */
  expired(): boolean {
    if (--this.countdown > 0) return false;
    this.countdown = CHECK_EVERY_CALLS;
    return performance.now() - this.startMs >= this.sliceMs;
  }
}
