/**
 * The epoch fence beside a lease: the highest epoch ever granted and to whom. It outlives lease expiry, which
 * is the point: a replica whose history is older than what was released must never become live, even after
 * the newer holder's lease expired (a primary that ran unprotected, then stopped). A request is granted only
 * for an epoch above the fence, or the fence's own epoch by its own holder (a renewal).
 *
 * The check runs before the lease acquire and the fence is raised right after it succeeds; the lease itself
 * keeps two acquirers from both winning, so the fence only has to remember, not arbitrate.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { loadEtcd3 } from './etcd-client.ts';
import { parseLeaseSpecString } from './lease-spec.ts';

export interface FenceRecord {
  readonly epoch: number;
  readonly holder: string;
}

export interface Fence {
  read(): Promise<FenceRecord | null>;
  raise(r: FenceRecord): Promise<void>;
  close(): Promise<void>;
}

/** May `holder` be granted `epoch` under `fence`? */
export function fenceAllows(fence: FenceRecord | null, epoch: number, holder: string): boolean {
  if (!fence) return true;
  return epoch > fence.epoch || (epoch === fence.epoch && holder === fence.holder);
}

/** A small file beside the lease directory, replaced atomically (write then rename). */
export class FileFence implements Fence {
  constructor(private readonly path: string) {}

  async read(): Promise<FenceRecord | null> {
    try {
      const r = JSON.parse(readFileSync(this.path, 'utf8'));
      return typeof r.epoch === 'number' && typeof r.holder === 'string' ? r : null;
    } catch {
      return null;
    }
  }

  async raise(r: FenceRecord): Promise<void> {
    const cur = await this.read();
    if (cur && cur.epoch > r.epoch) return;
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(r));
    renameSync(tmp, this.path);
  }

  async close(): Promise<void> {}
}

/** A plain etcd key (no lease attached, so it survives expiry) beside the lease key. */
export class EtcdFence implements Fence {
  private readonly client: Etcd3;

  constructor(hosts: string[], private readonly key: string) {
    this.client = new (loadEtcd3())({ hosts, dialTimeout: 2000 });
  }

  async read(): Promise<FenceRecord | null> {
    const v = await this.client.get(this.key).string();
    if (!v) return null;
    try {
      return JSON.parse(v);
    } catch {
      return null;
    }
  }

  async raise(r: FenceRecord): Promise<void> {
    const cur = await this.read();
    if (cur && cur.epoch > r.epoch) return;
    await this.client.put(this.key).value(JSON.stringify(r));
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

/** The fence that belongs to a lease spec (file:DIR → DIR.fence; etcd key K → K.fence). */
export function fenceForSpec(spec: string): Fence {
  const s = parseLeaseSpecString(spec);
  return s.kind === 'file' ? new FileFence(`${s.dir}.fence`) : new EtcdFence(s.hosts, `${s.key}.fence`);
}
