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
import { BatchChain, callNameBytes, descBytes } from './chain-hash.ts';
import { callId, callIdCustom } from './call-table.ts';

/** Chain value after `entry`, given the chain value before it (a batch of one, see BatchChain). */
export function entryChecksum(prev: bigint, entry: LogEntry): bigint {
  const id = callId(entry.call);
  const desc = new DataView(single.buffer);
  desc.setFloat64(0, entry.callIndex, true);
  desc.setInt32(8, entry.channel, true);
  desc.setInt32(12, entry.request.length, true);
  desc.setInt32(16, entry.data.length, true);
  single[20] = entry.kind;
  single[21] = id;
  const blob = new Uint8Array(entry.request.length + entry.data.length);
  blob.set(entry.request);
  blob.set(entry.data, entry.request.length);
  const name = callNameBytes(id, entry.call);
  return (singleChain ??= new BatchChain()).run(1, prev, entry.seq, single, blob, id === callIdCustom ? [entry.call] : [], name.length + blob.length).last;
}

const single = new Uint8Array(descBytes);
let singleChain: BatchChain | undefined;

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
    this.acceptBatch(batch.entries[0]?.seq ?? this.nextSeq, batch.entries.length, batch.prevChecksum, batch.lastChecksum);
  }

  /** accept() for a batch given by its first seq, entry count and chain values at both ends. */
  acceptBatch(first: number, count: number, prevChecksum: bigint, lastChecksum: bigint): void {
    if (count === 0) {
      if (prevChecksum !== this.checksum) {
        throw new LogFormatError('E_CHAIN', `empty batch does not continue the chain`);
      }
      return;
    }
    if (first !== this.nextSeq) {
      throw new LogFormatError('E_CHAIN', `batch starts at seq ${first}, expected ${this.nextSeq} (entries lost or repeated)`);
    }
    if (prevChecksum !== this.checksum) {
      throw new LogFormatError(
        'E_CHAIN',
        `hash chain broken before seq ${first}: batch continues ${hex(prevChecksum)}, chain is at ${hex(this.checksum)}`,
      );
    }
    this.checksum = lastChecksum;
    this.nextSeq = first + count;
  }
}

export function hex(v: bigint): string {
  return '0x' + v.toString(16).padStart(16, '0');
}
