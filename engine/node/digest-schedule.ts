/**
 * When a periodic Digest entry is due: every `everyCalls` host calls and/or every `everyMs` ms, within a
 * budget. Shared by the trace recorder and the pair's primary.
 *
 * A digest hashes the whole state (memory pages, files, devices), so on a guest that makes a host call every
 * 100 ns a digest every few thousand calls costs as much as the guest itself once its memory is a few MiB.
 * With a budget (a share of the elapsed time), a digest that falls due while the digests so far took more than
 * their share waits: it is looked at again after an eighth of the interval, until the run has gone on long
 * enough. Digests stay periodic in time, never stop, and never cost more than the share.
 */
import { performance } from 'node:perf_hooks';

export interface DigestScheduleOptions {
  /** A digest every this many host calls (0: never by count). */
  readonly everyCalls?: number;
  /** A digest when this many ms passed since the last one (0: never by time). Needs `nowMs`. */
  readonly everyMs?: number;
  /** Coarse clock for everyMs. */
  readonly nowMs?: () => number;
  /** The share of the elapsed time digests may take (0.02: 2%); 0, absent or >= 1: no limit. */
  readonly budget?: number;
  /** Sub-millisecond clock for the budget (default performance.now); injected so tests control it. */
  readonly fineNowMs?: () => number;
}

/** With a budget, a digest it postponed is considered again after this share of the interval. */
const POSTPONE_SHARE = 8;

export class DigestSchedule {
  private readonly everyCalls: number;
  private readonly everyMs: number;
  private readonly clock: (() => number) | undefined;
  private readonly budget: number;
  private readonly fine: () => number;
  private readonly fineStart: number;
  /** Time the digests took so far (fine clock, ms). */
  private spentMs = 0;
  /** Digests the budget postponed. */
  postponed = 0;
  /** The call index from which the call interval makes a digest due (Infinity: never by count). */
  private nextIndex = Infinity;
  /** The coarse time from which the ms interval makes a digest due (Infinity: never by time). */
  private nextMs = Infinity;
  /** Call index of the last digest taken (-1: none). */
  private lastIndex = -1;

  constructor(o: DigestScheduleOptions) {
    const every = o.everyCalls ?? 0;
    if (!(every >= 0)) throw new RangeError(`digest interval ${every} is not a call count >= 0`);
    this.everyCalls = every;
    this.clock = o.nowMs;
    this.everyMs = this.clock ? (o.everyMs ?? 0) : 0;
    const budget = o.budget ?? 0;
    if (!(budget >= 0)) throw new RangeError(`digest budget ${budget} is not a share >= 0`);
    this.budget = budget > 0 && budget < 1 ? budget : 0;
    this.fine = o.fineNowMs ?? (() => performance.now());
    this.fineStart = this.budget > 0 ? this.fine() : 0;
    this.schedule(-1);
  }

  /** Whether the logged call at `index` reached the call or ms interval (the cheap per-call check). */
  due(index: number): boolean {
    return index >= this.nextIndex || (this.everyMs > 0 && this.clock!() >= this.nextMs);
  }

  /**
   * A digest is due at `index` (due() said so): true when it is to be taken now; false when the budget
   * postpones it (it is due again after an eighth of the interval).
   */
  admit(index: number): boolean {
    if (this.budget > 0 && this.spentMs > this.budget * (this.fine() - this.fineStart)) {
      this.postponed++;
      this.nextIndex = this.everyCalls > 0 ? index + Math.max(1, Math.floor(this.everyCalls / POSTPONE_SHARE)) : Infinity;
      if (this.everyMs > 0) this.nextMs = this.clock!() + Math.max(1, Math.floor(this.everyMs / POSTPONE_SHARE));
      return false;
    }
    return true;
  }

  /**
   * Whether a periodic digest is to be taken at the logged call `index` now: the interval is reached, it is not
   * the first call, no digest was taken at this index yet, and the budget allows it (else it is postponed).
   */
  periodic(index: number): boolean {
    return this.due(index) && index !== 0 && index !== this.lastIndex && this.admit(index);
  }

  /**
   * periodic() with the coarse time read by the caller (a driver that reads the time once per host call for
   * all its checks). `nowMs` must come from the same clock as `nowMs` of the options; with no ms interval it is
   * not looked at.
   */
  periodicAt(index: number, nowMs: number): boolean {
    return (index >= this.nextIndex || nowMs >= this.nextMs) && index !== 0 && index !== this.lastIndex && this.admit(index);
  }

  /**
   * How many logged calls from `index` on may pass without looking at the schedule, as far as the call interval
   * goes: none is due by count before `index + callsBeforeDue(index)` (Infinity without a call interval).
   */
  callsBeforeDue(index: number): number {
    return this.nextIndex - index;
  }

  /** Whether a digest was taken at call `index` already (one per index, periodic or not). */
  takenAt(index: number): boolean {
    return index === this.lastIndex;
  }

  /** Runs `take` (a digest at `index`, periodic or not), timing it for the budget, and starts the next interval. */
  take<T>(index: number, take: () => T): T {
    const t0 = this.budget > 0 ? this.fine() : 0;
    this.lastIndex = index;
    this.schedule(index);
    const r = take();
    if (this.budget > 0) this.spentMs += this.fine() - t0;
    return r;
  }

  private schedule(index: number): void {
    this.nextIndex = this.everyCalls > 0 ? index + this.everyCalls : Infinity;
    this.nextMs = this.everyMs > 0 ? this.clock!() + this.everyMs : Infinity;
  }
}
