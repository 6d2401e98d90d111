/**
 * LeaseIo runs the core's lease requests one at a time against a backend, and must never lose one: a secondary
 * that took the lease too late (it had rejoined meanwhile) asks once to release it, from inside the acquire's
 * outcome, and a dropped release left the lease with a node that was not going live while the primary that
 * wanted it back was deposed (nobody live: a protected run that never ended).
 */
import { expect } from 'chai';
import { LeaseIo, type LeaseOutcome } from '../../engine/node/lease-io.ts';
import type { AcquireResult, Lease, LeaseRecord } from '../../engine/lease/lease.ts';
import { FileLease } from '../../engine/lease/file-lease.ts';
import { FileFence } from '../../engine/lease/fence.ts';


import { join } from 'node:path';
import { tempDir } from '../support/temp-dirs.ts';

/** A lease whose every call waits until the test lets it answer; it records the calls in order. */
class GatedLease implements Lease {
  readonly ttlMs = 1000;
  readonly calls: string[] = [];
  private gates: Array<() => void> = [];
  holder: string | null = null;

  private gate(): Promise<void> {
    return new Promise((resolve) => this.gates.push(resolve));
  }

  /** Lets the oldest waiting call answer. */
  open(): void {
    const g = this.gates.shift();
    if (!g) throw new Error('no lease call is waiting');
    g();
  }

  get waiting(): number {
    return this.gates.length;
  }

  async acquire(holder: string): Promise<AcquireResult> {
    this.calls.push(`acquire ${holder}`);
    await this.gate();
    if (this.holder === null || this.holder === holder) {
      this.holder = holder;
      return { ok: true, epoch: 1 };
    }
    return { ok: false, holder: this.holder, epoch: 1 };
  }

  async renew(): Promise<boolean> {
    return this.holder !== null;
  }

  async release(): Promise<void> {
    this.calls.push('release');
    await this.gate();
    this.holder = null;
  }

  async current(): Promise<LeaseRecord | null> {
    return this.holder === null ? null : { holder: this.holder, epoch: 1, expiresAtMs: Infinity };
  }

  async close(): Promise<void> {}
}

/** Lets pending promise callbacks run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
}

describe('LeaseIo', () => {
  it('runs a release asked for from inside an acquire outcome (the late-lease case) once the acquire is over', async () => {
    const lease = new GatedLease();
    const io = new LeaseIo(lease, 'secondary-1', () => 0);
    const outcomes: LeaseOutcome[] = [];
    io.perform({ kind: 'acquire', epoch: 3 }, (o) => {
      outcomes.push(o);
      // The core no longer wants the lease (it rejoined while the acquire was out): it asks to release at once.
      if (o.type === 'lease-acquired') io.perform({ kind: 'release' }, () => {});
    });
    await settle();
    lease.open(); // the acquire answers: granted
    await settle();
    expect(outcomes.map((o) => o.type)).to.deep.equal(['lease-acquired']);
    expect(lease.calls).to.deep.equal(['acquire secondary-1', 'release']);
    lease.open(); // the release goes through
    await settle();
    expect(lease.holder).to.equal(null);
    expect(io.outstanding).to.equal(0);
  });

  it('keeps the latest request that comes while one is under way, and runs it next', async () => {
    const lease = new GatedLease();
    const io = new LeaseIo(lease, 'n', () => 0);
    const seen: string[] = [];
    io.perform({ kind: 'acquire', epoch: 1 }, (o) => seen.push(`first ${o.type}`));
    io.perform({ kind: 'acquire', epoch: 1 }, (o) => seen.push(`second ${o.type}`));
    io.perform({ kind: 'release' }, () => seen.push('release done'));
    expect(io.outstanding).to.equal(2);
    await settle();
    lease.open();
    await settle();
    // The second acquire was replaced by the release (the newer wish); the release now runs.
    expect(lease.calls).to.deep.equal(['acquire n', 'release']);
    lease.open();
    await settle();
    expect(seen).to.deep.equal(['first lease-acquired']);
    expect(lease.holder).to.equal(null);
    expect(io.outstanding).to.equal(0);
  });

  it('answers a failing backend with a denial and still runs the waiting request', async () => {
    let calls = 0;
    const failing: Lease = {
      ttlMs: 1000,
      acquire: async () => {
        calls++;
        throw new Error('backend down');
      },
      renew: async () => false,
      release: async () => {
        calls++;
      },
      current: async () => null,
      close: async () => {},
    };
    const io = new LeaseIo(failing, 'n', () => 0);
    const seen: LeaseOutcome[] = [];
    io.perform({ kind: 'acquire', epoch: 1 }, (o) => seen.push(o));
    io.perform({ kind: 'release' }, () => {});
    await settle();
    expect(seen).to.deep.equal([{ type: 'lease-denied', holder: null, fenced: false, error: 'backend down' }]);
    expect(calls).to.equal(2);
    expect(io.outstanding).to.equal(0);
  });

  it("endRun marks the fence ended at this holder's granted epoch, then releases; a fence raised by another run is left alone", async () => {
    const dir = tempDir('twinstep-fence-');
    for (const other of [false, true]) {
      const lease = new FileLease(join(dir, `lease-${other}`), { ttlMs: 5000 });
      const fence = new FileFence(join(dir, `lease-${other}.fence`));
      const io = new LeaseIo(lease, 'node-a', () => Date.now(), fence);
      const got = await new Promise<LeaseOutcome>((resolve) => io.perform({ kind: 'acquire', epoch: 7 }, resolve));
      expect(got.type).to.equal('lease-acquired');
      expect(await fence.read()).to.deep.equal({ epoch: 7, holder: 'node-a' });
      if (other) await fence.raise({ epoch: 8, holder: 'node-b' });
      expect(await io.endRun()).to.equal(!other);
      expect(await fence.read()).to.deep.equal(other ? { epoch: 8, holder: 'node-b' } : { epoch: 7, holder: 'node-a', ended: true });
      expect(await lease.current()).to.equal(null);
      // A run that raises the fence again starts a new run's history: no longer ended.
      await fence.raise({ epoch: 9, holder: 'node-c' });
      expect(await fence.read()).to.deep.equal({ epoch: 9, holder: 'node-c' });
    }
    // A fence that cannot be read is an error, never "no fence" (which would let any epoch through).
    const unreadable = new FileFence(dir);
    let err: unknown;
    await unreadable.read().catch((e: unknown) => (err = e));
    expect((err as NodeJS.ErrnoException)?.code).to.equal('EISDIR');
  });
});
