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
import { callIdCustom, callIdNone, callName } from './call-table.ts';
import { BatchChain, callNameBytes, descBytes, setDesc } from './chain-hash.ts';
import { hex } from './hash-chain.ts';
import { VarintReader } from './varint.ts';
import { checkLength, safeNumber } from './checked-buffer.ts';
import type { EntryColumns } from './entry-block.ts';

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

/**
 * Reads and fully validates an EntryBatch table (bb must be a CheckedByteBuffer, see readFlat).
 * Verifies the batch-internal chain; whether the batch continues a stream is HashChain.accept's job.
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
  const blob = t.blobArray() ?? emptyBytes;
  if (kinds.length !== n || calls.length !== n || chain.length !== n) {
    throw malformed(`column lengths (kinds ${kinds.length}, calls ${calls.length}, chain ${chain.length}) differ from count ${n}`);
  }
  const channelCount = checkLength(bb, t.channelsLength(), 4, 'channels');
  const customCount = checkLength(bb, t.customCallsLength(), 4, 'custom calls');
  const deltas = new VarintReader(t.callIndexDeltasArray() ?? emptyBytes, 'call_index_deltas');
  const reqLens = new VarintReader(t.requestLengthsArray() ?? emptyBytes, 'request_lengths');
  const dataLens = new VarintReader(t.dataLengthsArray() ?? emptyBytes, 'data_lengths');
  const prevChecksum = t.prevChecksum();
  const lastChecksum = t.lastChecksum();
  const desc = new Uint8Array(n * descBytes);
  const descF64 = new Float64Array(desc.buffer, 0, n * 3);
  const descI32 = new Int32Array(desc.buffer, 0, n * 6);
  const payAt = new Int32Array(n);
  let customNames: Array<string | undefined> | undefined;
  const chainNames: string[] = [];
  const kindEntries = [0, 0, 0];
  const kindBytes = [0, 0, 0];
  let recordMax = 0;
  let callIndex = firstCallIndex;
  let blobPos = 0;
  let channelIdx = 0;
  let customIdx = 0;
  for (let i = 0; i < n; i++) {
    const kind = kinds[i]!;
    if (kind > EntryKind.Digest) throw malformed(`entry #${i}: unknown kind ${kind}`);
    const id = calls[i]!;
    let nameBytes = 0xff;
    if (id === callIdCustom) {
      if (customIdx >= customCount) throw malformed(`entry #${i}: custom call name missing`);
      const call = t.customCalls(customIdx++);
      if (call === '' || call === null) throw malformed(`entry #${i}: empty custom call name`);
      (customNames ??= new Array<string | undefined>(n))[i] = call;
      chainNames.push(call);
      nameBytes = callNameBytes(id, call).length;
    } else if (callName(id) === undefined) {
      throw malformed(`entry #${i}: unknown call id ${id}`);
    }
    if ((kind === EntryKind.Digest) !== (id === callIdNone)) {
      throw malformed(`entry #${i}: call id ${id} does not fit kind ${kind}`);
    }
    let channel = 0;
    let own = 1 + 1 + 4;
    if (kind === EntryKind.Output) {
      if (channelIdx >= channelCount) throw malformed(`entry #${i}: channel missing`);
      channel = t.channels(channelIdx++)!;
      own += 4;
    }
    const varintsAt = deltas.consumed + reqLens.consumed + dataLens.consumed;
    callIndex += deltas.next();
    if (callIndex > Number.MAX_SAFE_INTEGER) throw malformed(`entry #${i}: call index overflows`);
    const reqLen = reqLens.next();
    const dataLen = dataLens.next();
    own += reqLen + dataLen + deltas.consumed + reqLens.consumed + dataLens.consumed - varintsAt;
    if (id === callIdCustom) own += 8 + customNames![i]!.length;
    kindEntries[kind]++;
    kindBytes[kind] += own;
    if (reqLen > blob.length - blobPos || dataLen > blob.length - blobPos - reqLen) {
      throw malformed(`entry #${i}: payload lengths run past the blob`);
    }
    payAt[i] = blobPos;
    blobPos += reqLen + dataLen;
    setDesc(descF64, descI32, desc, i, callIndex, channel, reqLen, dataLen, kind, id);
    const size = reqLen + dataLen + nameBytes;
    if (size > recordMax) recordMax = size;
  }
  if (blobPos !== blob.length) throw malformed(`blob holds ${blob.length - blobPos} unreferenced bytes`);
  // The chain of the whole batch in one pass, then the first entry whose stored link differs.
  const { links, last: running } = decodeChain.run(n, prevChecksum, firstSeq, desc, blob, chainNames, recordMax);
  for (let i = 0; i < n; i++) {
    if (chain[i] !== links[i]) {
      throw new LogFormatError('E_CHAIN', `hash chain broken at seq ${firstSeq + i}: entry links to ${chain[i]!.toString(16)}, previous entry hashes to ${links[i]!.toString(16)}`);
    }
  }
  if (!deltas.done() || !reqLens.done() || !dataLens.done()) throw malformed('varint columns hold more values than count');
  if (channelIdx !== channelCount) throw malformed(`${channelCount} channels for ${channelIdx} output entries`);
  if (customIdx !== customCount) throw malformed(`${customCount} custom call names for ${customIdx} custom ids`);
  if (running !== lastChecksum) {
    throw new LogFormatError('E_CHAIN', `batch end checksum ${hex(lastChecksum)} does not match its entries (${hex(running)})`);
  }
  return new FlatBatch(n, firstSeq, kinds, calls, desc, payAt, blob, customNames, prevChecksum, lastChecksum, kindEntries, kindBytes);
}
