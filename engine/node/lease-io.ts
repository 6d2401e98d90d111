/**
 * Performs the lease I/O a core asks for (acquire at an epoch, release) against a real lease backend and
 * turns the outcome into the core's lease events. The core fences by epoch; the backend guarantees that at
 * most one holder has an unexpired lease at any time.
 */
import type { Lease } from '../lease/lease.ts';
import { fenceAllows, type Fence } from '../lease/fence.ts';
import type { LeaseRequest } from '../core/lease-state.ts';

export type LeaseOutcome =
  | { readonly type: 'lease-acquired'; readonly untilMs: number; readonly epoch: number }
  | { readonly type: 'lease-denied'; readonly holder: string | null; readonly fenced: boolean; readonly error?: string }
  | { readonly type: 'lease-lost' };

export class LeaseIo {
  private busy = false;
  /**
   * The request that came while one was under way: the latest one only (a newer request is what the core wants
   * now), run as soon as the current one is over. Never dropped: a core that asked to release a lease it took
   * too late (it rejoined meanwhile) asks once, and a dropped release would leave the lease with a node that is
   * not going live, deposing the primary that wants it back.
   */
  private next: { readonly req: LeaseRequest; readonly done: (outcome: LeaseOutcome) => void } | undefined;
  /** The epoch of the last grant to this holder (-1: none). */
  private grantedEpoch = -1;

  constructor(
    private readonly lease: Lease,
    private readonly holder: string,
    private readonly nowMs: () => number,
    private readonly fence?: Fence,
  ) {}

  /** Requests that are waiting or under way (0 when idle): for tests and status. */
  get outstanding(): number {
    return (this.busy ? 1 : 0) + (this.next ? 1 : 0);
  }

  /**
   * Runs one request at a time. A request made while one is under way (also from inside `done`) waits, and
   * replaces any request already waiting.
   */
  perform(req: LeaseRequest, done: (outcome: LeaseOutcome) => void): void {
    if (this.busy) {
      this.next = { req, done };
      return;
    }
    this.busy = true;
    const run = async (): Promise<LeaseOutcome | undefined> => {
      if (req.kind === 'release') {
        await this.lease.release();
        return undefined;
      }
      const startedMs = this.nowMs();
      if (this.fence) {
        const f = await this.fence.read();
        if (!fenceAllows(f, req.epoch, this.holder)) return { type: 'lease-denied', holder: f!.holder, fenced: true };
      }
      const r = await this.lease.acquire(this.holder);
      // The grant counts from when it was asked for: a slow backend must not stretch it.
      if (r.ok) {
        if (this.fence) {
          await this.fence.raise({ epoch: req.epoch, holder: this.holder });
          // Someone fenced higher between our check and our acquire: step back.
          const f = await this.fence.read();
          if (!fenceAllows(f, req.epoch, this.holder)) {
            await this.lease.release();
            return { type: 'lease-denied', holder: f!.holder, fenced: true };
          }
        }
        this.grantedEpoch = req.epoch;
        return { type: 'lease-acquired', untilMs: startedMs + this.lease.ttlMs, epoch: req.epoch };
      }
      return { type: 'lease-denied', holder: r.holder, fenced: false };
    };
    run()
      .then((o) => o && done(o))
      // Not granted: the backend's failure is named (a lease directory that cannot be written, etcd down).
      .catch((e: unknown) => done({ type: 'lease-denied', holder: null, fenced: false, error: e instanceof Error ? e.message : String(e) }))
      .finally(() => {
        this.busy = false;
        const n = this.next;
        this.next = undefined;
        if (n) this.perform(n.req, n.done);
      });
  }

  /**
   * The run ended cleanly (the guest's end released): marks the fence ended at the epoch this holder was last
   * granted, so that a new run of the VM may start at the next epoch, then releases the lease. Resolves whether
   * the fence was marked (false: no fence, no grant, or a newer epoch fenced meanwhile).
   */
  async endRun(): Promise<boolean> {
    await this.idle();
    let marked = false;
    try {
      if (this.fence && this.grantedEpoch >= 0) marked = await this.fence.markEnded(this.grantedEpoch, this.holder);
    } finally {
      await this.lease.release();
    }
    return marked;
  }

  /**
   * Gives the lease up for a switch-over (the run goes on on the secondary, so the fence is left as it is), once
   * no other request is under way. A failure is the caller's to report: the secondary then waits for the TTL.
   */
  async giveUp(): Promise<void> {
    await this.idle();
    await this.lease.release();
  }

  /** Once no request is under way (endRun and giveUp act on the lease themselves). */
  private async idle(): Promise<void> {
    while (this.busy) await new Promise((r) => setTimeout(r, 5));
  }

  async close(): Promise<void> {
    await this.fence?.close();
    await this.lease.close();
  }
}
