/**
 * A lease service with the semantics the cores need from the real ones (file lease, etcd): one holder at a
 * time, a TTL, renewal by the holder, takeover only after expiry, and an epoch FENCE: the service keeps the
 * highest epoch it granted and who got it; an acquire must carry a higher epoch, or the same epoch from the
 * same holder (renewal). So two sides that each moved to "the next epoch" on their own cannot both get it.
 * A host may be cut off (its requests get no answer).
 */
import type { HostId } from './fake-network.ts';

export type LeaseAnswer =
  | { readonly ok: true; readonly untilMs: number; readonly epoch: number }
  | { readonly ok: false; readonly holder: string | null; readonly fenced: boolean };

export class FakeLease {
  private holder: string | null = null;
  private untilMs = 0;
  private fence = -1;
  private fenceHolder: string | null = null;
  private readonly cutUntil = new Map<HostId, number>();

  constructor(readonly ttlMs: number) {}

  /** Acquire or renew. undefined: the request did not get through. */
  acquire(host: HostId, who: string, epoch: number, nowMs: number): LeaseAnswer | undefined {
    if ((this.cutUntil.get(host) ?? -1) > nowMs) return undefined;
    if (epoch < this.fence || (epoch === this.fence && who !== this.fenceHolder)) return { ok: false, holder: this.currentHolder(nowMs), fenced: true };
    if (this.holder === null || this.holder === who || nowMs >= this.untilMs) {
      this.holder = who;
      this.untilMs = nowMs + this.ttlMs;
      this.fence = epoch;
      this.fenceHolder = who;
      return { ok: true, untilMs: this.untilMs, epoch };
    }
    return { ok: false, holder: this.holder, fenced: false };
  }

  release(host: HostId, who: string, nowMs: number): void {
    if ((this.cutUntil.get(host) ?? -1) > nowMs) return;
    if (this.holder === who) this.holder = null;
  }

  holds(who: string, nowMs: number): boolean {
    return this.holder === who && nowMs < this.untilMs;
  }

  currentHolder(nowMs: number): string | null {
    return this.holder !== null && nowMs < this.untilMs ? this.holder : null;
  }

  cut(host: HostId, untilMs: number): void {
    this.cutUntil.set(host, untilMs);
  }

  cutOff(nowMs: number): boolean {
    for (const t of this.cutUntil.values()) if (t > nowMs) return true;
    return false;
  }

  heal(): void {
    this.cutUntil.clear();
  }
}
