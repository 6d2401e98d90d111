/**
 * The lease decides who may be live: only its holder may release outputs or take over the guest.
 * Backends: FileLease (embedded default, a directory both hosts reach) and EtcdLease (multi-host deployments).
 *
 * Every successful acquisition bumps the epoch, so messages and outputs from an older holder can be fenced
 * off by comparing epochs (the transport refuses peers with a stale epoch).
 */

/** What a lease looks like to an observer. `expiresAtMs` is on the observer's clock (see each backend's skew notes). */
export interface LeaseRecord {
  readonly holder: string;
  readonly epoch: number;
  readonly expiresAtMs: number;
}

export type AcquireResult =
  | { readonly ok: true; readonly epoch: number }
  | { readonly ok: false; readonly holder: string; readonly epoch: number };

export interface Lease {
  /** Lease duration granted on acquire and on every renew. */
  readonly ttlMs: number;
  /**
   * Take the lease if it is free or expired (the epoch goes up by at least one), or keep it if THIS instance already
   * holds it (same epoch, expiry extended). Otherwise report the live holder. Another instance using the same holder
   * name does not count as "this instance": a restarted process must wait for its old lease to expire.
   */
  acquire(holder: string): Promise<AcquireResult>;
  /**
   * Extend the lease held by this instance. false once it was lost (expired, taken over, released or never held);
   * after false the caller must stop acting as the holder and go through acquire() again (new epoch).
   */
  renew(): Promise<boolean>;
  /** Give the lease up if this instance holds it (the epoch is kept, so the next acquirer still bumps it). */
  release(): Promise<void>;
  /**
   * The lease as the store sees it, or null when nobody holds it (free or expired). Backends with server-side expiry
   * (etcd) may briefly report a record whose expiresAtMs has passed but that still blocks acquire().
   */
  current(): Promise<LeaseRecord | null>;
  /** Free client resources (connections); does not release the lease. */
  close(): Promise<void>;
}

export type LeaseErrorCode =
  /** A lease spec string (file:..., etcd:...) that cannot be used. */
  | 'E_LEASE_SPEC'
  /** The backing store failed (file system error, etcd unreachable or timing out). */
  | 'E_LEASE_BACKEND'
  /** The stored lease state is unreadable (not written by twinstep, or corrupted). */
  | 'E_LEASE_CORRUPT';

/** Operating errors of a lease backend; programmer errors (bad arguments) are plain Errors. */
export class LeaseError extends Error {
  constructor(
    readonly code: LeaseErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'LeaseError';
  }
}

export interface LeaseOptions {
  /** Lease duration; default 3000 ms. */
  ttlMs?: number;
  /** Clock in ms. Injectable so tests can use virtual time; defaults to Date.now. */
  now?: () => number;
}

export const LEASE_TTL_MS_DEFAULT = 3000;

export function checkHolder(holder: string): void {
  // Holder names end up in files and etcd values and logs; keep them short and printable.
  if (typeof holder !== 'string' || holder.length === 0 || holder.length > 200 || /[\u0000-\u001f]/.test(holder)) {
    throw new Error(`invalid lease holder name ${JSON.stringify(holder)}`);
  }
}

export function checkTtl(ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) throw new Error(`invalid lease ttlMs ${ttlMs}`);
}
