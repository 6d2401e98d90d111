/**
 * Trace size per entry kind. Batches are columnar, so a batch frame's bytes are attributed to entries:
 * each entry gets exactly the column bytes it occupies (kind, call id, 32-bit chain link, its varints, its
 * payload, its channel when Output, its custom name), and the remainder (frame header, FlatBuffers
 * vtable/offsets/alignment, batch-level fields) is shared equally among the batch's entries. The per-kind
 * totals therefore add up to the batch frames' bytes exactly.
 */
import type { EntryKind } from './entry.ts';

export interface KindBytes {
  /** Entries per kind, indexed by EntryKind. */
  readonly entries: [number, number, number];
  /** Attributed bytes per kind, indexed by EntryKind. */
  readonly bytes: [number, number, number];
}

export function emptyKindBytes(): KindBytes {
  return { entries: [0, 0, 0], bytes: [0, 0, 0] };
}

/**
 * Attributes one batch frame from per-kind totals (as BatchEncoder and the decoder count them): `entries[k]` entries
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
