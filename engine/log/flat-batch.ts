/**
 * A decoded EntryBatch kept in columns: what a replay walks entry by entry without making a LogEntry per
 * entry (the objects and their payload views cost more than the rest of a replayed host call). Entries are
 * made on demand (entry(i)) and then kept, so the same entry is always the same object.
 *
 * readFlatBatch is THE decoder of EntryBatch tables: it validates everything it reads (E_MALFORMED for
 * structure, E_CHAIN for the batch-internal chain) and never reads out of range; readEntryBatch
 * (entry-codec.ts) is this plus making every entry.
 */
import type { ByteBuffer } from 'flatbuffers';
import type { EntryBatch } from '../../schema/generated/twinstep/entry-batch.js';
import { EntryKind, type LogEntry } from './entry.ts';
import { LogFormatError } from './errors.ts';
import { callIdCustom, callName } from './call-table.ts';
import { BatchChain, type DecodeFailure } from './chain-hash.ts';
import { hex } from './hash-chain.ts';
import { checkLength, safeNumber } from './checked-buffer.ts';
import type { EntryColumns } from './entry-block.ts';

/**
 * How many bytes more than stored a batch's payloads may come to once back from their forms (a request left out
 * and a difference of a few bytes stand for more): bounds what a hostile batch can make a reader allocate.
 */
export const PAYLOADS_EXPANSION_MAX = 256 * 1024 * 1024;

/** Entries per batch a decoder accepts (bounds memory per batch; writers use far smaller batches). */
export const batchEntriesMax = 1 << 20;

/** Shared by decoded entries with no request or data (never written to). */
const emptyBytes = new Uint8Array(0);

function malformed(what: string): LogFormatError {
  return new LogFormatError('E_MALFORMED', `entry batch: ${what}`);
}

export class FlatBatch implements EntryColumns {
  /**
   * Per entry, descBytes bytes (the layout BatchChain hashes from, see chain-hash.ts): call index f64 at
   * [0], channel i32 at [2], request length at [3], data length at [4] (in i32 units), kind and call id bytes
   * at 20 and 21. Read through f64 and i32.
   */
  readonly f64: Float64Array;
  readonly i32: Int32Array;
  /** Where each entry's request starts in the blob (its data follows it). */
  readonly payAt: Int32Array;
  /** Entries made so far (entry(i)). */
  private readonly made: Array<LogEntry | undefined>;
  /** Per entry, its call name when the call id is callIdCustom (otherwise undefined). */
  private readonly customNames: Array<string | undefined> | undefined;
  /** The request view made last per call id: equal requests share one view. */
  private readonly lastRequest: Uint8Array[] = [];

  constructor(
    readonly count: number,
    readonly firstSeq: number,
    readonly kinds: Uint8Array,
    readonly ids: Uint8Array,
    desc: Uint8Array,
    payAt: Int32Array,
    readonly blob: Uint8Array,
    customNames: Array<string | undefined> | undefined,
    readonly prevChecksum: bigint,
    readonly lastChecksum: bigint,
    /** Entries and own column bytes per kind (trace-stats.ts). */
    readonly kindEntries: readonly number[],
    readonly kindBytes: readonly number[],
  ) {
    this.f64 = new Float64Array(desc.buffer, desc.byteOffset, count * 3);
    this.i32 = new Int32Array(desc.buffer, desc.byteOffset, count * 6);
    this.payAt = payAt;
    this.customNames = customNames;
    this.made = new Array<LogEntry | undefined>(count);
  }

  private view: DataView | undefined;

  /** The blob as a DataView (made once): word reads at any offset. */
  blobView(): DataView {
    return (this.view ??= new DataView(this.blob.buffer, this.blob.byteOffset, this.blob.length));
  }

  callIndex(i: number): number {
    return this.f64[i * 3]!;
  }

  // EntryColumns (the replayer's fast path): request and data sit back to back at payAt[i] in the blob.
  kind(i: number): EntryKind {
    return this.kinds[i] as EntryKind;
  }
  id(i: number): number {
    return this.ids[i]!;
  }
  requestAt(i: number): number {
    return this.payAt[i]!;
  }
  dataAt(i: number): number {
    return this.payAt[i]! + this.requestLength(i);
  }
  get bytes(): Uint8Array {
    return this.blob;
  }
  bytesView(): DataView {
    return this.blobView();
  }

  channel(i: number): number {
    return this.i32[i * 6 + 2]!;
  }

  requestLength(i: number): number {
    return this.i32[i * 6 + 3]!;
  }

  dataLength(i: number): number {
    return this.i32[i * 6 + 4]!;
  }

  /** The call name of entry i. */
  call(i: number): string {
    const id = this.ids[i]!;
    return id === callIdCustom ? this.customNames![i]! : callName(id)!;
  }

  /** Entry i as a LogEntry (made once, then the same object). */
  entry(i: number): LogEntry {
    const have = this.made[i];
    if (have !== undefined) return have;
    const id = this.ids[i]!;
    const at = this.payAt[i]!;
    const reqLen = this.requestLength(i);
    const dataLen = this.dataLength(i);
    const blob = this.blob;
    let request = this.lastRequest[id];
    if (request === undefined || request.length !== reqLen || !sameBytes(request, blob, at)) {
      request = reqLen === 0 ? emptyBytes : blob.subarray(at, at + reqLen);
      this.lastRequest[id] = request;
    }
    const data = dataLen === 0 ? emptyBytes : blob.subarray(at + reqLen, at + reqLen + dataLen);
    const e: LogEntry = { seq: this.firstSeq + i, callIndex: this.callIndex(i), kind: this.kinds[i] as EntryKind, call: this.call(i), channel: this.channel(i), request, data };
    this.made[i] = e;
    return e;
  }

  /** The per-entry custom call names (undefined when the batch has none). */
  customCalls(): Array<string | undefined> | undefined {
    return this.customNames;
  }

  /** Every entry, in order. */
  entries(): LogEntry[] {
    const out = new Array<LogEntry>(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.entry(i);
    return out;
  }
}

function sameBytes(a: Uint8Array, blob: Uint8Array, at: number): boolean {
  for (let k = 0; k < a.length; k++) if (a[k] !== blob[at + k]) return false;
  return true;
}

/** The decoder's chain (decoding never yields mid-batch). */
const decodeChain = new BatchChain();

/** Names of the varint columns in messages, in decodeColumns' order. */
const varintColumns = ['call_index_deltas', 'request_lengths', 'data_lengths'] as const;

/** The LogFormatError of a failed column walk (BatchChain.decode), worded as the checks always were. */
function walkError(f: DecodeFailure, kinds: Uint8Array): LogFormatError {
  const i = f.entry;
  switch (f.code) {
    case 1:
      return malformed(`entry #${i}: unknown kind ${f.detail}`);
    case 2:
      return malformed(`entry #${i}: custom call name missing`);
    case 3:
      return malformed(`entry #${i}: unknown call id ${f.detail}`);
    case 4:
      return malformed(`entry #${i}: call id ${f.detail} does not fit kind ${kinds[i]}`);
    case 5:
      return malformed(`entry #${i}: channel missing`);
    case 6: {
      const column = varintColumns[f.detail >> 3];
      const why = f.detail & 7;
      return new LogFormatError('E_MALFORMED', why === 1 ? `varint column ${column} ends inside a value` : why === 2 ? `overlong varint in column ${column}` : why === 3 ? `varint too large in column ${column}` : `varint too long in column ${column}`);
    }
    case 7:
      return malformed(`entry #${i}: call index overflows`);
    case 8:
      return malformed(`entry #${i}: payload lengths run past the blob`);
    case 9:
      return malformed(`entry #${i}: empty custom call name`);
    default:
      return malformed(`entry #${i}: column walk failed (code ${f.code})`);
  }
}

/**
 * Reads and fully validates an EntryBatch table (bb must be a CheckedByteBuffer, see readFlat).
 * Verifies the batch-internal chain; whether the batch continues a stream is HashChain.accept's job.
 * The per-entry walk and the chain run in WebAssembly (BatchChain.decode); the checks and their order are
 * those of the format: per entry kind, call id, kind/id fit, channel, the three varints, the call index and
 * the payload lengths; then unreferenced blob bytes, the chain links, leftover varints, channels and custom
 * names, and the batch's end value.
 */
export function readFlatBatch(t: EntryBatch, bb: ByteBuffer): FlatBatch {
  const n = t.count();
  checkLength(bb, n, 1, 'entry batch count');
  if (n > batchEntriesMax) throw malformed(`count ${n} exceeds ${batchEntriesMax}`);
  const firstSeq = safeNumber(t.firstSeq(), 'first seq');
  if (firstSeq + n > Number.MAX_SAFE_INTEGER) throw malformed('seq range exceeds safe integers');
  const firstCallIndex = safeNumber(t.firstCallIndex(), 'first call index');
  const kinds = t.kindsArray() ?? emptyBytes;
  const calls = t.callsArray() ?? emptyBytes;
  const chain = t.chainArray() ?? new Uint32Array(0);
  let blob = t.blobArray() ?? emptyBytes;
  if (kinds.length !== n || calls.length !== n || chain.length !== n) {
    throw malformed(`column lengths (kinds ${kinds.length}, calls ${calls.length}, chain ${chain.length}) differ from count ${n}`);
  }
  const deltas = t.callIndexDeltasArray() ?? emptyBytes;
  const reqLens = t.requestLengthsArray() ?? emptyBytes;
  const dataLens = t.dataLengthsArray() ?? emptyBytes;
  // Payloads stored in their forms (trace format 2): back to whole payloads first, and the rest reads them as
  // format 1 has them. Bad length varints are left for the column walk to name.
  const forms = t.payloadFormsArray();
  let saved: readonly number[] | undefined;
  if (forms !== null) {
    if (forms.length !== n) throw malformed(`${forms.length} payload forms for ${n} entries`);
    const u = decodeChain.unpack(n, kinds, calls, forms, reqLens, dataLens, blob, blob.length + PAYLOADS_EXPANSION_MAX);
    if (u !== undefined && 'fault' in u) throw malformed(u.entry >= 0 ? `entry #${u.entry}: ${u.fault}` : u.fault);
    if (u !== undefined) {
      blob = u.blob;
      saved = u.saved;
    }
  }
  const channelCount = checkLength(bb, t.channelsLength(), 4, 'channels');
  const customCount = checkLength(bb, t.customCallsLength(), 4, 'custom calls');
  const channels = new Int32Array(channelCount);
  for (let k = 0; k < channelCount; k++) channels[k] = t.channels(k)!;
  const customNames: Array<string | null> = [];
  const customStat: number[] = [];
  for (let k = 0; k < customCount; k++) {
    const name = t.customCalls(k);
    customNames.push(name);
    customStat.push(name?.length ?? 0);
  }
  const prevChecksum = t.prevChecksum();
  const lastChecksum = t.lastChecksum();
  const r = decodeChain.decode({ n, firstSeq, firstCallIndex, prev: prevChecksum, kinds, calls, deltas, reqLens, dataLens, channels, customNames, customStat, blob });
  if ('code' in r) throw walkError(r, kinds);
  if (r.blobUsed !== blob.length) throw malformed(`blob holds ${blob.length - r.blobUsed} unreferenced bytes`);
  const links = r.links;
  for (let i = 0; i < n; i++) {
    if (chain[i] !== links[i]) {
      throw new LogFormatError('E_CHAIN', `hash chain broken at seq ${firstSeq + i}: entry links to ${chain[i]!.toString(16)}, previous entry hashes to ${links[i]!.toString(16)}`);
    }
  }
  if (r.varintsUsed[0] !== deltas.length || r.varintsUsed[1] !== reqLens.length || r.varintsUsed[2] !== dataLens.length) throw malformed('varint columns hold more values than count');
  if (r.channelsUsed !== channelCount) throw malformed(`${channelCount} channels for ${r.channelsUsed} output entries`);
  if (r.customUsed !== customCount) throw malformed(`${customCount} custom call names for ${r.customUsed} custom ids`);
  if (r.last !== lastChecksum) {
    throw new LogFormatError('E_CHAIN', `batch end checksum ${hex(lastChecksum)} does not match its entries (${hex(r.last)})`);
  }
  let perEntryNames: Array<string | undefined> | undefined;
  if (customCount > 0) {
    perEntryNames = new Array<string | undefined>(n);
    for (let i = 0, k = 0; i < n; i++) if (calls[i] === callIdCustom) perEntryNames[i] = customNames[k++]!;
  }
  // The statistics count what is stored: what the forms saved is not there, their bytes are.
  const kindBytes = saved === undefined ? r.kindBytes : r.kindBytes.map((b, k) => b + r.kindEntries[k]! - saved[k]!);
  return new FlatBatch(n, firstSeq, kinds, calls, r.desc, r.payAt, blob, perEntryNames, prevChecksum, lastChecksum, r.kindEntries, kindBytes);
}
