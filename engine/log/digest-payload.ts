/**
 * The data of a Digest entry: the root and device digests, the page digests that changed since the previous
 * Digest entry, and the file digests that changed (0 = removed). Deltas keep the entry small while letting a
 * replayer rebuild the recorder's full page and file maps, so a mismatch names WHICH pages and files differ.
 *
 * Layout (little endian): u64 root, u64 devices, u32 pageCount, u32 changedPages, {u32 page, u64 digest}*,
 * u32 changedFiles, {u16 pathBytes, path UTF-8, u64 digest}*.
 */
import type { StateDigest } from '../machine/machine.ts';

export interface DigestPayload {
  readonly root: bigint;
  readonly devices: bigint;
  readonly pageCount: number;
  readonly pages: ReadonlyArray<readonly [number, bigint]>;
  readonly files: ReadonlyArray<readonly [string, bigint]>;
}

/** The full picture a sequence of payloads builds up. */
export class DigestTrack {
  pages = new BigUint64Array(0);
  files = new Map<string, bigint>();

  /** The payload for `d`, as a delta against what this track has seen; then remembers `d`. */
  delta(d: StateDigest): DigestPayload {
    const pages: Array<[number, bigint]> = [];
    for (let i = 0; i < d.pages.length; i++) if (i >= this.pages.length || this.pages[i] !== d.pages[i]) pages.push([i, d.pages[i]]);
    const files: Array<[string, bigint]> = [];
    for (const [p, h] of d.files) if (this.files.get(p) !== h) files.push([p, h]);
    for (const p of this.files.keys()) if (!d.files.has(p)) files.push([p, 0n]);
    const payload = { root: d.root, devices: d.devices, pageCount: d.pages.length, pages, files };
    this.apply(payload);
    return payload;
  }

  apply(p: DigestPayload): void {
    const next = new BigUint64Array(p.pageCount);
    next.set(this.pages.subarray(0, Math.min(this.pages.length, p.pageCount)));
    for (const [i, h] of p.pages) {
      if (i >= p.pageCount) throw new RangeError(`digest payload names page ${i} beyond page count ${p.pageCount}`);
      next[i] = h;
    }
    this.pages = next;
    for (const [path, h] of p.files) {
      if (h === 0n) this.files.delete(path);
      else this.files.set(path, h);
    }
  }
}

export function encodeDigestPayload(p: DigestPayload): Uint8Array {
  const paths = p.files.map(([path]) => Buffer.from(path, 'utf8'));
  const size = 8 + 8 + 4 + 4 + p.pages.length * 12 + 4 + paths.reduce((n, b) => n + 2 + b.length + 8, 0);
  const out = Buffer.alloc(size);
  let o = 0;
  out.writeBigUInt64LE(p.root, o); o += 8;
  out.writeBigUInt64LE(p.devices, o); o += 8;
  out.writeUInt32LE(p.pageCount, o); o += 4;
  out.writeUInt32LE(p.pages.length, o); o += 4;
  for (const [i, h] of p.pages) {
    out.writeUInt32LE(i, o); o += 4;
    out.writeBigUInt64LE(h, o); o += 8;
  }
  out.writeUInt32LE(p.files.length, o); o += 4;
  p.files.forEach(([, h], k) => {
    if (paths[k].length > 0xffff) throw new RangeError('file path too long for a digest entry');
    out.writeUInt16LE(paths[k].length, o); o += 2;
    out.set(paths[k], o); o += paths[k].length;
    out.writeBigUInt64LE(h, o); o += 8;
  });
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** Decodes a digest payload; throws RangeError on malformed bytes (callers map it to a trace error). */
export function decodeDigestPayload(bytes: Uint8Array): DigestPayload & { rootOnly?: boolean } {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // A root-only digest (8 bytes): what a driver that tracks no page digests records.
  if (b.length === 8) return { root: b.readBigUInt64LE(0), devices: 0n, pageCount: 0, pages: [], files: [], rootOnly: true };
  let o = 0;
  const need = (n: number) => {
    if (o + n > b.length) throw new RangeError(`digest payload truncated at byte ${o}`);
  };
  need(24);
  const root = b.readBigUInt64LE(0);
  const devices = b.readBigUInt64LE(8);
  const pageCount = b.readUInt32LE(16);
  const nPages = b.readUInt32LE(20);
  o = 24;
  need(nPages * 12);
  const pages: Array<[number, bigint]> = [];
  for (let k = 0; k < nPages; k++) {
    pages.push([b.readUInt32LE(o), b.readBigUInt64LE(o + 4)]);
    o += 12;
  }
  need(4);
  const nFiles = b.readUInt32LE(o); o += 4;
  const files: Array<[string, bigint]> = [];
  for (let k = 0; k < nFiles; k++) {
    need(2);
    const len = b.readUInt16LE(o); o += 2;
    need(len + 8);
    const path = b.toString('utf8', o, o + len); o += len;
    files.push([path, b.readBigUInt64LE(o)]); o += 8;
  }
  if (o !== b.length) throw new RangeError(`digest payload has ${b.length - o} trailing bytes`);
  return { root, devices, pageCount, pages, files };
}
