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
import type { LogEntry } from './entry.ts';
import { LogFormatError } from './errors.ts';
import { ChainScratch, joinChecksum, recordOffset, splitChecksum } from './chain-hash.ts';
import { callId, callIdCustom, callIdsUsed, callName } from './call-table.ts';

const encoder = new TextEncoder();
/** UTF-8 of each call-table name, by id (the hot path: no map lookup, no encoding). */
const tableNameBytes: readonly Uint8Array[] = Array.from({ length: callIdsUsed }, (_, id) => encoder.encode(callName(id)!));
const customNameBytes = new Map<string, Uint8Array>();

/** UTF-8 bytes of a call name (`id` its call-table id, or callIdCustom). */
export function callNameBytes(id: number, name: string): Uint8Array {
  if (id !== callIdCustom) return tableNameBytes[id]!;
  let b = customNameBytes.get(name);
  if (b === undefined) {
    b = encoder.encode(name);
    if (customNameBytes.size < 1024) customNameBytes.set(name, b);
  }
  return b;
}

/** Size of the canonical record of an entry (without the 8-byte previous value). */
export function recordBytes(name: Uint8Array, request: Uint8Array, data: Uint8Array): number {
  return 8 + 8 + 1 + 2 + name.length + 4 + 4 + request.length + 4 + data.length;
}

/**
 * Writes the canonical record of an entry into the chain scratch and hashes it after (prevLo, prevHi);
 * the new chain value is then in scratch.lo / scratch.hi. `seq` and `callIndex` are safe integers, written
 * as two u32 halves (the same bytes as a u64, without BigInt).
 */
export function chainStep(
  scratch: ChainScratch,
  prevLo: number,
  prevHi: number,
  seq: number,
  callIndex: number,
  kind: number,
  name: Uint8Array,
  channel: number,
  request: Uint8Array,
  data: Uint8Array,
): void {
  const len = recordBytes(name, request, data);
  scratch.reserve(len);
  const v = scratch.view;
  const b = scratch.bytes;
  let p = recordOffset;
  v.setUint32(p, seq >>> 0, true);
  v.setUint32(p + 4, Math.floor(seq / 4294967296), true);
  v.setUint32(p + 8, callIndex >>> 0, true);
  v.setUint32(p + 12, Math.floor(callIndex / 4294967296), true);
  b[p + 16] = kind;
  v.setUint16(p + 17, name.length, true);
  p += 19;
  if (name.length > 0) b.set(name, p);
  p += name.length;
  v.setInt32(p, channel, true);
  v.setUint32(p + 4, request.length, true);
  p += 8;
  if (request.length > 0) b.set(request, p);
  p += request.length;
  v.setUint32(p, data.length, true);
  p += 4;
  if (data.length > 0) b.set(data, p);
  scratch.step(prevLo, prevHi, len);
}

/** Chain value after `entry`, given the chain value before it. */
export function entryChecksum(prev: bigint, entry: LogEntry): bigint {
  const scratch = ChainScratch.get();
  const { lo, hi } = splitChecksum(prev);
  chainStep(scratch, lo, hi, entry.seq, entry.callIndex, entry.kind, callNameBytes(callId(entry.call), entry.call), entry.channel, entry.request, entry.data);
  return joinChecksum(scratch.lo, scratch.hi);
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
