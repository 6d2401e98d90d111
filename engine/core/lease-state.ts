/**
 * What a core knows about its lease. The lease I/O (file, etcd, the simulator's fake) is the driver's: the core
 * asks for 'acquire' (which renews when already held) and the driver steps the outcome back in.
 *
 * The lease is FENCED BY EPOCH: every acquire carries an epoch; the lease service stores the highest epoch it
 * granted and its holder, and grants only a HIGHER epoch, or the SAME epoch to the SAME holder (a renewal),
 * even after expiry. A primary that moves to a new epoch (secondary lost, replaced, resync) re-acquires at that
 * epoch BEFORE releasing anything; a secondary going live acquires at the epoch it will go live with (its own
 * + 1). Both sides may claim "the next epoch" independently after a split; the fence lets only one win, so a
 * secondary can never take over after the primary released outputs its log lacks, nor the reverse.
 * The core also stops releasing leaseGuardMs BEFORE the lease runs out, so a late tick cannot overlap a takeover.
 */
import type { PairConfig } from './config.ts';

export type LeaseRequest = { readonly kind: 'acquire'; readonly epoch: number } | { readonly kind: 'release' };

export class LeaseState {
  held = false;
  untilMs = 0;
  /** Fencing epoch of the lease we hold. */
  epoch = -1;
  /** An acquire is out with the driver; do not ask again until it answers or leaseRetryMs passes. */
  private pendingSinceMs: number | null = null;
  /** When the first of the unanswered acquires went out (asks repeated after leaseRetryMs keep it). */
  private unansweredSinceMs: number | null = null;
  private lastDeniedMs = -Infinity;

  constructor(private readonly config: PairConfig) {}

  /**
   * An acquire is out with the driver, unanswered (granted, denied or lost), and the first unanswered ask went out
   * less than leaseRenewMs ago: answers that take longer are taken as lost (a backend cut off never answers), so
   * waiting for them cannot stall the caller for good.
   */
  asking(nowMs: number): boolean {
    return this.unansweredSinceMs !== null && nowMs - this.unansweredSinceMs < this.config.leaseRenewMs;
  }

  /** May this side release outputs at nowMs, being at `epoch`? */
  valid(nowMs: number, epoch: number): boolean {
    return this.held && this.epoch >= epoch && nowMs < this.untilMs - this.config.leaseGuardMs;
  }

  acquired(untilMs: number, epoch: number): void {
    this.held = true;
    this.untilMs = untilMs;
    this.epoch = epoch;
    this.pendingSinceMs = null;
    this.unansweredSinceMs = null;
  }

  lost(nowMs: number): void {
    this.held = false;
    this.pendingSinceMs = null;
    this.unansweredSinceMs = null;
    this.lastDeniedMs = nowMs;
  }

  /** True when the lease ran out (or is about to) without renewal: the caller reports E_LEASE_LOST. */
  expired(nowMs: number): boolean {
    if (this.held && nowMs >= this.untilMs - this.config.leaseGuardMs) {
      this.held = false;
      return true;
    }
    return false;
  }

  /** Should the driver be asked to acquire, renew or re-fence now? (wanted: this side needs the lease.) */
  wantAcquire(nowMs: number, wanted: boolean, epoch: number): boolean {
    if (!wanted) return false;
    if (this.pendingSinceMs !== null && nowMs - this.pendingSinceMs < this.config.leaseRetryMs) return false;
    const fresh = this.held && this.epoch >= epoch;
    if (fresh && nowMs < this.untilMs - this.config.leaseRenewMs) return false;
    if (!this.held && nowMs - this.lastDeniedMs < this.config.leaseRetryMs) return false;
    this.pendingSinceMs = nowMs;
    this.unansweredSinceMs ??= nowMs;
    return true;
  }
}
