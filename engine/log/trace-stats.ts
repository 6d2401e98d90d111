/**
 * Trace size per entry kind. Batches are columnar, so a batch frame's bytes are attributed to entries:
 * each entry gets exactly the column bytes it occupies (kind, call id, 32-bit chain link, its varints, its
 * payload, its channel when Output, its custom name), and the remainder (frame header, FlatBuffers
 * vtable/offsets/alignment, batch-level fields) is shared equally among the batch's entries. The per-kind
 * totals therefore add up to the batch frames' bytes exactly.
 */
import { EntryKind, type LogEntry } from './entry.ts';
import { callId, callIdCustom } from './call-table.ts';
import { varintSize } from './varint.ts';

export interface KindBytes {
  /** Entries per kind, indexed by EntryKind. */
  readonly entries: [number, number, number];
  /** Attributed bytes per kind, indexed by EntryKind. */
  readonly bytes: [number, number, number];
}

export function emptyKindBytes(): KindBytes {
  return { entries: [0, 0, 0], bytes: [0, 0, 0] };
}

/** Attributes one batch frame of `frameBytes` holding `entries` into `into`. */
export function attributeBatch(entries: readonly LogEntry[], frameBytes: number, into: KindBytes): void {
  if (entries.length === 0) return;
  const own: number[] = new Array(entries.length);
  let ownTotal = 0;
  let prevCallIndex = entries[0]!.callIndex;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    let b = 1 + 1 + 4 + varintSize(e.callIndex - prevCallIndex) + varintSize(e.request.length) + varintSize(e.data.length);
    b += e.request.length + e.data.length;
    if (e.kind === EntryKind.Output) b += 4;
    if (callId(e.call) === callIdCustom) b += 8 + e.call.length; // offset + length prefix + bytes (approx. padding)
    prevCallIndex = e.callIndex;
    own[i] = b;
    ownTotal += b;
  }
  const shared = (frameBytes - ownTotal) / entries.length;
  for (let i = 0; i < entries.length; i++) {
    const k = entries[i]!.kind;
    into.entries[k]++;
    into.bytes[k] += own[i]! + shared;
  }
}

/**
 * The same attribution from per-kind totals (as BatchEncoder counts them while encoding): `entries[k]` entries
 * of kind k occupy `own[k]` column bytes; the rest of the frame is shared equally per entry.
 */
export function attributeColumns(entries: readonly number[], own: readonly number[], frameBytes: number, into: KindBytes): void {
  let n = 0;
  let ownTotal = 0;
  for (let k = 0; k < 3; k++) {
    n += entries[k]!;
    ownTotal += own[k]!;
  }
  if (n === 0) return;
  const shared = (frameBytes - ownTotal) / n;
  for (let k = 0; k < 3; k++) {
    into.entries[k] += entries[k]!;
    into.bytes[k] += own[k]! + shared * entries[k]!;
  }
}

/** Bytes per entry of a kind (NaN when there is none). */
export function bytesPerEntry(stats: KindBytes, kind: EntryKind): number {
  return stats.bytes[kind] / stats.entries[kind];
}
