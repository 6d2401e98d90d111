/**
 * The epoch fence beside a lease: the highest epoch ever granted and to whom. It outlives lease expiry, which
 * is the point: a replica whose history is older than what was released must never become live, even after
 * the newer holder's lease expired (a primary that ran unprotected, then stopped). A request is granted only
 * for an epoch above the fence, or the fence's own epoch by its own holder (a renewal).
 *
 * The check runs before the lease acquire and the fence is raised right after it succeeds; the lease itself
 * keeps two acquirers from both winning, so the fence only has to remember, not arbitrate.
 *
 * A run that ends cleanly (the guest exited or trapped and every output was released) marks the fence `ended`
 * at its own epoch before it gives the lease up: a new run of the VM then starts at the next epoch. A fence
 * not marked ended belongs to a run that may still be going on somewhere (a secondary that went live), so a
 * new run is refused unless the operator says the old one is gone (`twinstep primary --new-run`).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { loadEtcd3 } from './etcd-client.ts';
import { parseLeaseSpecString } from './lease-spec.ts';

export interface FenceRecord {
  readonly epoch: number;
  readonly holder: string;
  /** The run at this epoch ended cleanly (absent: it may still be going on). */
  readonly ended?: boolean;
}

export interface Fence {
  read(): Promise<FenceRecord | null>;
  raise(r: FenceRecord): Promise<void>;
  /** Marks the fence ended when it still names exactly this epoch and holder; false when it names another. */
  markEnded(epoch: number, holder: string): Promise<boolean>;
  close(): Promise<void>;
}

function parseFence(text: string): FenceRecord | null {
  try {
    const r = JSON.parse(text);
    if (typeof r.epoch !== 'number' || typeof r.holder !== 'string') return null;
    return r.ended === true ? { epoch: r.epoch, holder: r.holder, ended: true } : { epoch: r.epoch, holder: r.holder };
  } catch {
    return null;
  }
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
    let text;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    return parseFence(text);
  }

  async raise(r: FenceRecord): Promise<void> {
    const cur = await this.read();
    if (cur && cur.epoch > r.epoch) return;
    this.write({ epoch: r.epoch, holder: r.holder });
  }

  async markEnded(epoch: number, holder: string): Promise<boolean> {
    const cur = await this.read();
    if (!cur || cur.epoch !== epoch || cur.holder !== holder) return false;
    this.write({ epoch, holder, ended: true });
    return true;
  }

  private write(r: FenceRecord): void {
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
    return v ? parseFence(v) : null;
  }

  async raise(r: FenceRecord): Promise<void> {
    const cur = await this.read();
    if (cur && cur.epoch > r.epoch) return;
    await this.client.put(this.key).value(JSON.stringify({ epoch: r.epoch, holder: r.holder }));
  }

  async markEnded(epoch: number, holder: string): Promise<boolean> {
    // Compare-and-swap on the exact value: a fence raised meanwhile by a newer run is left alone.
    const v = await this.client.get(this.key).string();
    const cur = v ? parseFence(v) : null;
    if (!v || !cur || cur.epoch !== epoch || cur.holder !== holder) return false;
    const r = await this.client
      .if(this.key, 'Value', '==', v)
      .then(this.client.put(this.key).value(JSON.stringify({ epoch, holder, ended: true })))
      .commit();
    return r.succeeded;
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
