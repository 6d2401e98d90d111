/**
 * EtcdLease: the lease for real multi-host deployments, kept in etcd v3.
 *
 * HOW IT WORKS. The lease is one key. Acquiring grants an etcd lease with the TTL and, in one transaction, creates
 * the key attached to it only if the key does not exist (create_revision == 0). etcd deletes the key when its lease
 * expires or is revoked, so "free or expired" is simply "key absent", and the server decides expiry on ONE clock,
 * which removes the skew problem of the file lease for takeover. The epoch is the key's create_revision: etcd's
 * revision is cluster-wide and strictly increasing, so every acquisition gets a larger epoch (not a consecutive one).
 *
 * Renewal is explicit (renew() sends one keepalive), as with FileLease, so the driver owns the timing and both
 * backends behave the same; there is no background keepalive that could keep a wedged process "alive".
 *
 * LIMITS. etcd enforces a minimum TTL (1.5 s rounded up with default settings) and whole seconds; the server may grant
 * more than asked, which only delays takeover. The holder's view of its expiry (expiresAtMs in current()) is computed
 * from the local clock read BEFORE the request, so it is conservative; it is still wrong if the local clock jumps.
 */
import type { Etcd3, IKeyValue } from 'etcd3';
import { loadEtcd3 } from './etcd-client.ts';
import {
  LEASE_TTL_MS_DEFAULT,
  LeaseError,
  checkHolder,
  checkTtl,
  type AcquireResult,
  type Lease,
  type LeaseOptions,
  type LeaseRecord,
} from './lease.ts';

export interface EtcdLeaseOptions extends LeaseOptions {
  /** Client endpoints, e.g. ['http://127.0.0.1:2379']. */
  hosts: string[];
  /** The lease key; default 'twinstep/lease'. */
  key?: string;
  /** Every etcd call fails with E_LEASE_BACKEND after this long; default 2000 ms. */
  callTimeoutMs?: number;
}

export const ETCD_LEASE_KEY_DEFAULT = 'twinstep/lease';
const ACQUIRE_ATTEMPTS_MAX = 16;

export class EtcdLease implements Lease {
  readonly ttlMs: number;
  readonly key: string;
  private readonly keyBytes: Buffer;
  private readonly now: () => number;
  private readonly callTimeoutMs: number;
  private readonly client: Etcd3;
  private mine: { holder: string; epoch: number; leaseId: string } | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: EtcdLeaseOptions) {
    this.ttlMs = options.ttlMs ?? LEASE_TTL_MS_DEFAULT;
    checkTtl(this.ttlMs);
    this.key = options.key ?? ETCD_LEASE_KEY_DEFAULT;
    this.keyBytes = Buffer.from(this.key);
    this.now = options.now ?? Date.now;
    this.callTimeoutMs = options.callTimeoutMs ?? 2000;
    this.client = new (loadEtcd3())({ hosts: options.hosts, dialTimeout: this.callTimeoutMs });
  }

  private get ttlSeconds(): number {
    return Math.max(1, Math.ceil(this.ttlMs / 1000));
  }

  acquire(holder: string): Promise<AcquireResult> {
    checkHolder(holder);
    return this.serial(async () => {
      if (this.mine) {
        if (this.mine.holder === holder && (await this.renewHeld())) return { ok: true, epoch: this.mine.epoch };
        if (this.mine && this.mine.holder !== holder) {
          // Held by this instance under another name: report it like any live holder.
          return { ok: false, holder: this.mine.holder, epoch: this.mine.epoch };
        }
      }
      for (let attempt = 0; attempt < ACQUIRE_ATTEMPTS_MAX; attempt++) {
        const grant = await this.call('grant', (o) => this.client.leaseClient.leaseGrant({ TTL: this.ttlSeconds }, o));
        const leaseId = grant.ID;
        const res = await this.call('txn', (o) =>
          this.client.kv.txn(
            {
              compare: [{ key: this.keyBytes, target: 'Create', result: 'Equal', create_revision: 0 }],
              success: [{ request_put: { key: this.keyBytes, value: Buffer.from(JSON.stringify({ holder })), lease: leaseId } }],
              failure: [{ request_range: { key: this.keyBytes } }],
            },
            o,
          ),
        );
        if (res.succeeded) {
          // The put is the transaction's only write, so its revision is the key's create_revision.
          const epoch = Number(res.header.revision);
          this.mine = { holder, epoch, leaseId };
          return { ok: true, epoch };
        }
        await this.revoke(leaseId);
        const kv = res.responses[0]?.response_range?.kvs?.[0];
        // The key vanished between compare and range is impossible in one txn, but expiry right after is not: retry.
        if (kv) return { ok: false, holder: parseHolder(kv, this.key), epoch: Number(kv.create_revision) };
      }
      throw new LeaseError('E_LEASE_BACKEND', `etcd lease ${this.key}: too much contention`);
    });
  }

  renew(): Promise<boolean> {
    return this.serial(() => this.renewHeld());
  }

  release(): Promise<void> {
    return this.serial(async () => {
      const mine = this.mine;
      this.mine = null;
      // Revoking deletes the key atomically with the lease, so no stale key lingers for the TTL.
      if (mine) await this.revoke(mine.leaseId, true);
    });
  }

  current(): Promise<LeaseRecord | null> {
    return this.serial(async () => {
      const t0 = this.now();
      const res = await this.call('range', (o) => this.client.kv.range({ key: this.keyBytes }, o));
      const kv = res.kvs[0];
      if (!kv) return null;
      const ttl = await this.call('ttl', (o) => this.client.leaseClient.leaseTimeToLive({ ID: kv.lease }, o));
      const ttlSeconds = Number(ttl.TTL);
      // -1: the lease is gone, and etcd deletes its key in the same step. 0: expired but not yet revoked (etcd's
      // expiry loop runs every ~500 ms); the key still blocks acquire(), so report it as still held.
      if (ttlSeconds < 0) return null;
      return { holder: parseHolder(kv, this.key), epoch: Number(kv.create_revision), expiresAtMs: t0 + ttlSeconds * 1000 };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.catch(() => undefined);
    this.client.close();
  }

  private async renewHeld(): Promise<boolean> {
    const mine = this.mine;
    if (!mine) return false;
    const alive = await this.keepaliveOnce(mine.leaseId);
    if (alive) {
      // The lease alone is not enough: the key must still be the one we created (nobody deleted and re-created it).
      const res = await this.call('range', (o) => this.client.kv.range({ key: this.keyBytes }, o));
      const kv = res.kvs[0];
      if (kv && Number(kv.create_revision) === mine.epoch && kv.lease === mine.leaseId) return true;
      await this.revoke(mine.leaseId);
    }
    this.mine = null;
    return false;
  }

  private async keepaliveOnce(leaseId: string): Promise<boolean> {
    const res = await this.call('keepalive', async (o) => {
      const stream = await this.client.leaseClient.leaseKeepAlive(o);
      try {
        return await new Promise<{ TTL: string }>((resolve, reject) => {
          stream.on('data', resolve);
          stream.on('error', reject);
          stream.write({ ID: leaseId });
        });
      } finally {
        stream.end();
      }
    });
    // etcd answers TTL 0 for a lease that expired or was revoked.
    return Number(res.TTL) > 0;
  }

  private async revoke(leaseId: string, mustSucceed = false): Promise<void> {
    try {
      await this.call('revoke', (o) => this.client.leaseClient.leaseRevoke({ ID: leaseId }, o));
    } catch (err) {
      // A lease that is already gone is fine; an unreachable etcd only matters when the caller asked for a release.
      if (mustSucceed && err instanceof LeaseError && !/not found|requested lease/i.test(err.message)) throw err;
    }
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('EtcdLease used after close()'));
    const run = this.queue.then(op, op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** One etcd call with a deadline; every failure becomes a typed backend error. */
  private async call<T>(what: string, fn: (o: { deadline: Date }) => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        fn({ deadline: new Date(Date.now() + this.callTimeoutMs) }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${this.callTimeoutMs} ms`)), this.callTimeoutMs + 100);
        }),
      ]);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      throw new LeaseError('E_LEASE_BACKEND', `etcd lease ${this.key} (${this.options.hosts.join(',')}): ${what}: ${msg}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }
}

function parseHolder(kv: IKeyValue, key: string): string {
  try {
    const v = JSON.parse(kv.value.toString('utf8')) as { holder?: unknown };
    if (typeof v.holder === 'string') return v.holder;
  } catch {
    /* fall through */
  }
  throw new LeaseError('E_LEASE_CORRUPT', `etcd key ${key} does not hold a twinstep lease value`);
}
