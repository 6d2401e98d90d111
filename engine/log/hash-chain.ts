/**
 * The hash chain over log entries. Each entry's chain value is
 *
 *   checksum(e) = xxh64( prev u64 LE || canonical(e) )      (seed 0)
 *
 * where prev is the chain value of the entry before (the trace's start_checksum, 0 at seq 0) and
 * canonical(e) is, little-endian:
 *
 *   seq u64 | callIndex u64 | kind u8 | call-name length u16 | call name UTF-8 | channel i32 |
 *   request length u32 | request | data length u32 | data
 *
 * The canonical form uses the call NAME, not its table id, so the chain is independent of how a batch is
 * laid out. Batches store, per entry, the low 32 bits of the previous value, plus the full 64-bit values at
 * both batch ends; HashChain verifies (or produces) them incrementally, one batch at a time, so a stream
 * can be checked as it arrives without ever holding more than one batch.
 */
import { xxh64 } from '@node-rs/xxhash';
import type { LogEntry } from './entry.ts';
import { LogFormatError } from './errors.ts';

const encoder = new TextEncoder();
const nameBytesCache = new Map<string, Uint8Array>();
function nameBytes(name: string): Uint8Array {
  let b = nameBytesCache.get(name);
  if (b === undefined) {
    b = encoder.encode(name);
    if (nameBytesCache.size < 1024) nameBytesCache.set(name, b);
  }
  return b;
}

/** Reused scratch for canonical encodings (single-threaded; grows to the largest entry seen). */
let scratch = new Uint8Array(256);
let scratchView = new DataView(scratch.buffer);

/** Chain value after `entry`, given the chain value before it. */
export function entryChecksum(prev: bigint, entry: LogEntry): bigint {
  const name = nameBytes(entry.call);
  const size = 8 + 8 + 8 + 1 + 2 + name.length + 4 + 4 + entry.request.length + 4 + entry.data.length;
  if (size > scratch.length) {
    scratch = new Uint8Array(Math.max(size, scratch.length * 2));
    scratchView = new DataView(scratch.buffer);
  }
  const v = scratchView;
  let p = 0;
  v.setBigUint64(p, BigInt.asUintN(64, prev), true);
  p += 8;
  // seq and callIndex are safe integers: write them as two 32-bit halves (same bytes as a u64, no BigInt).
  v.setUint32(p, entry.seq >>> 0, true);
  v.setUint32(p + 4, Math.floor(entry.seq / 4294967296), true);
  p += 8;
  v.setUint32(p, entry.callIndex >>> 0, true);
  v.setUint32(p + 4, Math.floor(entry.callIndex / 4294967296), true);
  p += 8;
  v.setUint8(p, entry.kind);
  p += 1;
  v.setUint16(p, name.length, true);
  p += 2;
  scratch.set(name, p);
  p += name.length;
  v.setInt32(p, entry.channel, true);
  p += 4;
  v.setUint32(p, entry.request.length, true);
  p += 4;
  scratch.set(entry.request, p);
  p += entry.request.length;
  v.setUint32(p, entry.data.length, true);
  p += 4;
  scratch.set(entry.data, p);
  p += entry.data.length;
  return xxh64(scratch.subarray(0, p));
}

/** Low 32 bits of a chain value, as stored per entry in EntryBatch.chain. */
export function chainLink(checksum: bigint): number {
  return Number(checksum & 0xffffffffn);
}

/** A batch as the chain sees it (what decodeEntryBatch returns). */
export interface ChainedEntries {
  readonly entries: readonly LogEntry[];
  /** Chain value before the first entry. */
  readonly prevChecksum: bigint;
  /** Chain value after the last entry. */
  readonly lastChecksum: bigint;
}

/**
 * Running chain state: the value after the last entry and the seq expected next. The producer (recorder)
 * and the checker (replayer, secondary) hold one each.
 */
export class HashChain {
  constructor(
    /** Chain value after the last accepted entry (start_checksum initially). */
    public checksum: bigint = 0n,
    /** seq of the next entry. */
    public nextSeq = 0,
  ) {}

  /** Producer: advances over one entry (which must have seq === nextSeq); returns the new chain value. */
  append(entry: LogEntry): bigint {
    if (entry.seq !== this.nextSeq) {
      throw new LogFormatError('E_ENTRY', `entry seq ${entry.seq} where ${this.nextSeq} was expected`);
    }
    this.checksum = entryChecksum(this.checksum, entry);
    this.nextSeq++;
    return this.checksum;
  }

  /**
   * Checker: a decoded batch (whose internal chain the codec has already verified) must continue this
   * chain exactly: same seq, same 64-bit chain value. Throws E_CHAIN otherwise; state is unchanged then.
   */
  accept(batch: ChainedEntries): void {
    if (batch.entries.length === 0) {
      if (batch.prevChecksum !== this.checksum) {
        throw new LogFormatError('E_CHAIN', `empty batch does not continue the chain`);
      }
      return;
    }
    const first = batch.entries[0]!.seq;
    if (first !== this.nextSeq) {
      throw new LogFormatError('E_CHAIN', `batch starts at seq ${first}, expected ${this.nextSeq} (entries lost or repeated)`);
    }
    if (batch.prevChecksum !== this.checksum) {
      throw new LogFormatError(
        'E_CHAIN',
        `hash chain broken before seq ${first}: batch continues ${hex(batch.prevChecksum)}, chain is at ${hex(this.checksum)}`,
      );
    }
    this.checksum = batch.lastChecksum;
    this.nextSeq = first + batch.entries.length;
  }
}

export function hex(v: bigint): string {
  return '0x' + v.toString(16).padStart(16, '0');
}
