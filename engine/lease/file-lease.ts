/**
 * FileLease: the embedded lease, kept in a directory that every host reaches (local disk for tests and single-host
 * setups, a shared file system across hosts).
 *
 * HOW IT WORKS. The directory holds an append-only sequence of immutable records `<seq>.rec` (seq zero-padded).
 * The record with the highest seq is the lease state. Every change (acquire, renew, release) appends record seq+1,
 * built from record seq, by writing a unique temp file and link()ing it to the new name. link() fails with EEXIST
 * when the name exists, so for every seq exactly one writer wins: this is a compare-and-swap on the whole state, and
 * a writer that read an old state loses instead of overwriting a newer one. There is no lock file, so a process that
 * dies at any point never blocks the others (a dead holder's lease simply expires).
 *
 * Each record carries a random token and its predecessor's token (prevToken). Old records are deleted (only those at
 * least RECORDS_KEPT below the top), which opens an ABA hole: a writer that read seq N a long time ago could link a
 * "new" N+1 into a slot that was deleted. So after linking, the writer walks from the current top down to its own
 * record checking that every prevToken matches; a record in a reused slot is never on that chain, and the writer
 * reports failure. Failure is always the safe answer: it never makes two holders, at worst an extra acquire round.
 *
 * GUARANTEES. At most one instance holds a given epoch; epochs only go up; a takeover happens only once the previous
 * record is expired by the taker's clock.
 *
 * LIMITS.
 * - Clock skew: expiresAtMs is written on the writer's clock and compared on the reader's. A taker whose clock runs
 *   ahead by d takes over d ms early, so the holder must stop acting (releasing outputs) at least the maximum skew
 *   before expiresAtMs. Keep hosts NTP-synced and the TTL much larger than the skew. expiresAtMs is computed from a
 *   clock reading taken BEFORE the write, so the holder's own view is conservative.
 * - NFS: relies on link() being atomic on the server (true for NFSv3/v4). A retransmitted link whose first attempt
 *   succeeded can report EEXIST; we detect that by reading the target back and comparing our token. Directory
 *   attribute caching may delay seeing a new record: that costs extra EEXIST/verification rounds, never safety, but
 *   renew() must run well inside the TTL; mount with lookupcache=positive (or none) for faster takeover.
 * - The file system must not lose a linked record after a crash (we fsync the temp file and the directory).
 * - SMB/CIFS and object-store FUSE mounts that emulate link() non-atomically are not supported.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { link, mkdir, open, readFile, readdir, stat, unlink } from 'node:fs/promises';
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

/** Records below top - RECORDS_KEPT are garbage; the top ones are never deleted, which the chain check relies on. */
const RECORDS_KEPT = 16;
/** CAS retries per operation: each conflict means another writer made progress, so this only bounds livelock. */
const APPEND_ATTEMPTS_MAX = 64;
/** Temp files left by crashed writers are removed after this long (housekeeping, not correctness). */
const TEMP_STALE_MS = 60 * 60 * 1000;
const SEQ_DIGITS = 16;
const RECORD_NAME = /^(\d{16})\.rec$/;
const TEMP_PREFIX = '.tmp-';

interface StoredRecord {
  v: 1;
  seq: number;
  /** '' when free. */
  holder: string;
  epoch: number;
  expiresAtMs: number;
  token: string;
  prevToken: string;
}

interface Top {
  seq: number;
  rec: StoredRecord;
}

/** The state before the first record: free, epoch 0. Its token is fixed so the first record can chain to it. */
const GENESIS: StoredRecord = { v: 1, seq: 0, holder: '', epoch: 0, expiresAtMs: 0, token: 'genesis', prevToken: '' };

export class FileLease implements Lease {
  readonly ttlMs: number;
  private readonly now: () => number;
  /** What this instance holds, if anything: the (holder, epoch) pair identifies one acquisition. */
  private mine: { holder: string; epoch: number } | null = null;
  /** Operations of one instance run one at a time, so renew() and release() never race each other. */
  private queue: Promise<unknown> = Promise.resolve();
  private dirReady = false;

  constructor(
    readonly dir: string,
    options: LeaseOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? LEASE_TTL_MS_DEFAULT;
    checkTtl(this.ttlMs);
    this.now = options.now ?? Date.now;
  }

  acquire(holder: string): Promise<AcquireResult> {
    checkHolder(holder);
    return this.serial(async () => {
      for (let attempt = 0; attempt < APPEND_ATTEMPTS_MAX; attempt++) {
        const top = await this.readTop();
        const now = this.now();
        const live = top.rec.holder !== '' && top.rec.expiresAtMs > now;
        const ours = this.mine !== null && top.rec.holder === this.mine.holder && top.rec.epoch === this.mine.epoch;
        if (live && !(ours && holder === top.rec.holder)) {
          return { ok: false, holder: top.rec.holder, epoch: top.rec.epoch };
        }
        // Held by us and live: extend. Free or expired: take over with a new epoch.
        const epoch = live ? top.rec.epoch : top.rec.epoch + 1;
        if (await this.append(top, { holder, epoch, expiresAtMs: now + this.ttlMs })) {
          this.mine = { holder, epoch };
          return { ok: true, epoch };
        }
      }
      throw new LeaseError('E_LEASE_BACKEND', `file lease ${this.dir}: too much contention, gave up after ${APPEND_ATTEMPTS_MAX} attempts`);
    });
  }

  renew(): Promise<boolean> {
    return this.serial(async () => {
      for (let attempt = 0; attempt < APPEND_ATTEMPTS_MAX && this.mine; attempt++) {
        const top = await this.readTop();
        const now = this.now();
        // An expired lease is not renewed even if nobody took it yet: others may already act on its expiry.
        if (top.rec.holder !== this.mine.holder || top.rec.epoch !== this.mine.epoch || top.rec.expiresAtMs <= now) break;
        if (await this.append(top, { holder: this.mine.holder, epoch: this.mine.epoch, expiresAtMs: now + this.ttlMs })) return true;
      }
      this.mine = null;
      return false;
    });
  }

  release(): Promise<void> {
    return this.serial(async () => {
      for (let attempt = 0; attempt < APPEND_ATTEMPTS_MAX && this.mine; attempt++) {
        const top = await this.readTop();
        if (top.rec.holder !== this.mine.holder || top.rec.epoch !== this.mine.epoch) break;
        if (await this.append(top, { holder: '', epoch: this.mine.epoch, expiresAtMs: 0 })) break;
      }
      this.mine = null;
    });
  }

  current(): Promise<LeaseRecord | null> {
    return this.serial(async () => {
      const { rec } = await this.readTop();
      if (rec.holder === '' || rec.expiresAtMs <= this.now()) return null;
      return { holder: rec.holder, epoch: rec.epoch, expiresAtMs: rec.expiresAtMs };
    });
  }

  async close(): Promise<void> {
    await this.queue.catch(() => undefined);
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op, op);
    this.queue = run.catch(() => undefined);
    return run.then(undefined, (err: unknown) => {
      throw err instanceof LeaseError || !(err instanceof Error && 'code' in err)
        ? err
        : new LeaseError('E_LEASE_BACKEND', `file lease ${this.dir}: ${err.message}`, { cause: err });
    });
  }

  private async ensureDir(): Promise<void> {
    if (this.dirReady) return;
    await mkdir(this.dir, { recursive: true });
    this.dirReady = true;
  }

  private async listSeqs(): Promise<{ seqs: number[]; temps: string[] }> {
    await this.ensureDir();
    const seqs: number[] = [];
    const temps: string[] = [];
    for (const name of await readdir(this.dir)) {
      const m = RECORD_NAME.exec(name);
      if (m) seqs.push(Number(m[1]));
      else if (name.startsWith(TEMP_PREFIX)) temps.push(name);
    }
    seqs.sort((a, b) => a - b);
    return { seqs, temps };
  }

  private recordPath(seq: number): string {
    return join(this.dir, `${String(seq).padStart(SEQ_DIGITS, '0')}.rec`);
  }

  /** The record at seq, or null if the slot is empty (never written or garbage-collected). */
  private async readRecord(seq: number): Promise<StoredRecord | null> {
    let text: string;
    try {
      text = await readFile(this.recordPath(seq), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    return parseRecord(text, seq, this.recordPath(seq));
  }

  private async readTop(): Promise<Top> {
    // The top can only vanish if RECORDS_KEPT newer records appeared between readdir and readFile; just look again.
    for (let attempt = 0; attempt < APPEND_ATTEMPTS_MAX; attempt++) {
      const { seqs } = await this.listSeqs();
      if (seqs.length === 0) return { seq: 0, rec: GENESIS };
      const seq = seqs[seqs.length - 1]!;
      const rec = await this.readRecord(seq);
      if (rec) return { seq, rec };
    }
    throw new LeaseError('E_LEASE_BACKEND', `file lease ${this.dir}: records keep disappearing`);
  }

  /** Append the record after `prev`. true only if it is now part of the lease's history (see the header comment). */
  private async append(prev: Top, next: Pick<StoredRecord, 'holder' | 'epoch' | 'expiresAtMs'>): Promise<boolean> {
    const rec: StoredRecord = {
      v: 1,
      seq: prev.seq + 1,
      ...next,
      token: randomBytes(16).toString('hex'),
      prevToken: prev.rec.token,
    };
    const target = this.recordPath(rec.seq);
    const temp = join(this.dir, `${TEMP_PREFIX}${hostname()}-${process.pid}-${randomBytes(6).toString('hex')}`);
    const fh = await open(temp, 'wx');
    try {
      await fh.writeFile(JSON.stringify(rec));
      // The record must be durable before its name exists, or a crash could leave an empty top record.
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await link(temp, target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // Someone else won this slot, unless this is an NFS retransmission of our own successful link.
      const there = await this.readRecord(rec.seq).catch(() => null);
      if (there?.token !== rec.token) return false;
    } finally {
      await unlink(temp).catch(() => undefined);
    }
    await this.syncDir();
    return this.verifyAndCollect(rec);
  }

  /** Walk from the top down to `mine` along prevToken links; also delete garbage while we hold a fresh listing. */
  private async verifyAndCollect(mine: StoredRecord): Promise<boolean> {
    const { seqs, temps } = await this.listSeqs();
    const top = seqs[seqs.length - 1] ?? 0;
    const ok = await this.onChain(mine, top);
    await this.collect(seqs, temps, top);
    return ok;
  }

  private async onChain(mine: StoredRecord, top: number): Promise<boolean> {
    // More successors than we keep: the links below may be gone, so we cannot prove anything. Such a record was
    // superseded anyway (only its own holder could have renewed or released it), so "not ours" is the right answer.
    if (top < mine.seq || top - mine.seq > RECORDS_KEPT) return false;
    let cur = await this.readRecord(top);
    while (cur && cur.seq > mine.seq) {
      const below: StoredRecord | null = await this.readRecord(cur.seq - 1);
      if (!below || below.token !== cur.prevToken) return false;
      cur = below;
    }
    return cur !== null && cur.token === mine.token;
  }

  private async collect(seqs: number[], temps: string[], top: number): Promise<void> {
    for (const seq of seqs) {
      if (seq > top - RECORDS_KEPT) break;
      await unlink(this.recordPath(seq)).catch(() => undefined);
    }
    for (const name of temps) {
      // Our own temp files are removed right after link; only crashed writers leave them. Wall clock on purpose:
      // mtime is file-system time, unrelated to the injected lease clock.
      const path = join(this.dir, name);
      const st = await stat(path).catch(() => null);
      if (st && Date.now() - st.mtimeMs > TEMP_STALE_MS) await unlink(path).catch(() => undefined);
    }
  }

  private async syncDir(): Promise<void> {
    // Makes the new name durable; some platforms refuse fsync on a directory, which only weakens crash durability.
    try {
      const dh = await open(this.dir, 'r');
      try {
        await dh.sync();
      } finally {
        await dh.close();
      }
    } catch {
      /* best effort */
    }
  }
}

function parseRecord(text: string, seq: number, path: string): StoredRecord {
  let r: unknown;
  try {
    r = JSON.parse(text);
  } catch {
    throw new LeaseError('E_LEASE_CORRUPT', `lease record ${path} is not JSON`);
  }
  const o = r as Partial<StoredRecord>;
  if (
    typeof r !== 'object' || r === null || o.v !== 1 || o.seq !== seq ||
    typeof o.holder !== 'string' || !Number.isSafeInteger(o.epoch) || typeof o.expiresAtMs !== 'number' ||
    typeof o.token !== 'string' || typeof o.prevToken !== 'string'
  ) {
    throw new LeaseError('E_LEASE_CORRUPT', `lease record ${path} is not a twinstep lease record (v1)`);
  }
  return o as StoredRecord;
}
