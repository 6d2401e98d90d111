/**
 * Bounds-checked access to guest linear memory over one buffer of it. Growth replaces `memory.buffer` (and
 * detaches the old one of a non-shared memory), so a view is only valid while `memory.buffer` is still its
 * `buffer`: the host checks that before each use, also after anything that may have run guest code or grown
 * memory (see WasiHost.mem).
 * Every out-of-range pointer becomes EFAULT: a guest bug, never a host crash.
 */
import { Errno, fail } from './errno.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export interface Iovec {
  readonly ptr: number;
  readonly len: number;
}

export class GuestMemory {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** Over a SharedArrayBuffer (a shared memory): growth does not detach it, so emptiness shows nothing. */
  readonly shared: boolean;

  constructor(readonly buffer: ArrayBuffer | SharedArrayBuffer) {
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
    this.shared = typeof SharedArrayBuffer !== 'undefined' && buffer instanceof SharedArrayBuffer;
  }

  check(ptr: number, len: number): void {
    // Pointers arrive as i32 (possibly negative): reinterpret as unsigned before checking.
    if (ptr >>> 0 !== ptr || len < 0 || ptr + len > this.bytes.length) fail(Errno.FAULT);
  }

  u8(ptr: number): number {
    this.check(ptr, 1);
    return this.view.getUint8(ptr);
  }
  u16(ptr: number): number {
    this.check(ptr, 2);
    return this.view.getUint16(ptr, true);
  }
  u32(ptr: number): number {
    this.check(ptr, 4);
    return this.view.getUint32(ptr, true);
  }
  u64(ptr: number): bigint {
    this.check(ptr, 8);
    return this.view.getBigUint64(ptr, true);
  }
  setU8(ptr: number, v: number): void {
    this.check(ptr, 1);
    this.view.setUint8(ptr, v);
  }
  setU16(ptr: number, v: number): void {
    this.check(ptr, 2);
    this.view.setUint16(ptr, v, true);
  }
  setU32(ptr: number, v: number): void {
    this.check(ptr, 4);
    this.view.setUint32(ptr, v, true);
  }
  setU64(ptr: number, v: bigint): void {
    this.check(ptr, 8);
    this.view.setBigUint64(ptr, BigInt.asUintN(64, v), true);
  }

  slice(ptr: number, len: number): Uint8Array {
    this.check(ptr, len);
    return this.bytes.subarray(ptr, ptr + len);
  }

  write(ptr: number, data: Uint8Array): void {
    this.check(ptr, data.length);
    this.bytes.set(data, ptr);
  }

  /** write() of exactly 8 bytes (data.length must be 8), without the per-call cost of TypedArray.set. */
  write8(ptr: number, data: Uint8Array): void {
    this.check(ptr, 8);
    // All bytes are read before any is written, as set() copies them (data may even view guest memory); the
    // masks convert each element as set() would (only matters if a handler broke the type).
    const lo = (data[0] & 255) | ((data[1] & 255) << 8) | ((data[2] & 255) << 16) | ((data[3] & 255) << 24);
    const hi = (data[4] & 255) | ((data[5] & 255) << 8) | ((data[6] & 255) << 16) | ((data[7] & 255) << 24);
    this.view.setInt32(ptr, lo, true);
    this.view.setInt32(ptr + 4, hi, true);
  }

  /** A path or name argument: must be valid UTF-8 (EILSEQ otherwise). */
  string(ptr: number, len: number): string {
    const raw = this.slice(ptr, len);
    try {
      return utf8.decode(raw);
    } catch {
      fail(Errno.ILSEQ);
    }
  }

  /** Reads an iovec/ciovec array, checking every buffer lies inside memory. */
  iovecs(ptr: number, count: number): Iovec[] {
    ptr >>>= 0;
    count >>>= 0;
    this.check(ptr, count * 8);
    const out: Iovec[] = [];
    for (let i = 0; i < count; i++) {
      const p = this.view.getUint32(ptr + i * 8, true);
      const l = this.view.getUint32(ptr + i * 8 + 4, true);
      this.check(p, l);
      out.push({ ptr: p, len: l });
    }
    return out;
  }

  /** Concatenates the bytes of ciovecs. */
  gather(iovs: readonly Iovec[]): Uint8Array {
    let total = 0;
    for (const v of iovs) total += v.len;
    const out = new Uint8Array(total);
    let at = 0;
    for (const v of iovs) {
      out.set(this.bytes.subarray(v.ptr, v.ptr + v.len), at);
      at += v.len;
    }
    return out;
  }

  /** Spreads `data` over iovecs in order; returns bytes placed. */
  scatter(iovs: readonly Iovec[], data: Uint8Array): number {
    let at = 0;
    for (const v of iovs) {
      if (at >= data.length) break;
      const n = Math.min(v.len, data.length - at);
      this.bytes.set(data.subarray(at, at + n), v.ptr);
      at += n;
    }
    return at;
  }
}

export function totalLength(iovs: readonly Iovec[]): number {
  let t = 0;
  for (const v of iovs) t += v.len;
  return t;
}
