/**
 * Entry blocks: how log entries travel between a primary and a secondary, and how the protocol cores keep them.
 *
 * A block is a run of consecutive log entries (seq firstSeq .. firstSeq + count - 1) in the capture record
 * format (capture.ts: an 8-byte aligned header of four typed-array stores, then name, request and data), with
 * one difference: a block is SELF-CONTAINED. A record may say SAME_REQUEST, and a packed run may repeat a
 * request, only for a request written earlier in the same block, so a block can be kept, sent again, sliced and
 * decoded on its own. Repeated clock reads go into packed runs (capture.ts): several entries share one record,
 * so a block's index (recordIndex) gives every entry its record, request, data and call index.
 *
 * Why not the trace's FlatBuffers batches on the channel: a host-call-heavy guest makes a call every 100 ns,
 * and building columns, varints and a hash chain per entry costs the primary about as much again (the trace
 * pays it on an encoder thread, which a pair's two busy processes on two CPUs do not have to spare). Writing a
 * record is a few stores; the secondary reads the records in place. The entries are the same (every field of a
 * LogEntry, nothing else); the channel frame around a block carries its own checksum, and the secondary checks
 * the chain order (call indices, seqs) of every record when it decodes a block.
 *
 * Blocks are immutable once sealed: views of their bytes (LogEntry requests and data) stay valid for as long as
 * anybody holds them, unless their writer is handed the buffer back (EntryBlockWriter.recycle: the primary's log
 * does so for acknowledged entries when its driver asks, PrimaryConfig.reuseLogBuffers).
 */
import { callIdCustom, callIdNone, callIdsUsed, callName } from './call-table.ts';
import { runEntryBytes } from '../machine/input-run.ts';
import { CaptureChunk, addRunThrough, PACKED_RUN, SAME_REQUEST, captureHeaderBytes, capturedRequests, packedDataLength, packedRunHeaderBytes, type CapturedRequests } from './capture.ts';
import { EntryKind, type LogEntry } from './entry.ts';
import { LogFormatError } from './errors.ts';

const emptyBytes = new Uint8Array(0);
const decoder = new TextDecoder();

function align8(n: number): number {
  return (n + 7) & ~7;
}

/** An output entry of a block (what a secondary owes the world if it takes over before the primary released it). */
export interface BlockOutput {
  readonly seq: number;
  readonly callIndex: number;
  readonly channel: number;
  readonly data: Uint8Array;
}

/** The column view of a run of entries that the replayer's fast path reads (EntryBlock; FlatBatch of a trace). */
export interface EntryColumns {
  readonly count: number;
  readonly firstSeq: number;
  kind(i: number): EntryKind;
  /** Call-table id (callIdCustom: a name outside the table). */
  id(i: number): number;
  callIndex(i: number): number;
  /** Offset of entry i's request in `bytes`, and its length. */
  requestAt(i: number): number;
  requestLength(i: number): number;
  /** Offset of entry i's data in `bytes`, and its length. */
  dataAt(i: number): number;
  dataLength(i: number): number;
  readonly bytes: Uint8Array;
  /** `bytes` as a DataView (word reads at any offset). */
  bytesView(): DataView;
  /** Entry i as a LogEntry (made on demand). */
  entry(i: number): LogEntry;
}

/**
 * Index stride (in i32s): per entry its record offset, request offset, request length and data offset, then its
 * call index as an f64 (two words; 8-byte aligned, as the stride is 24 bytes). An entry of a packed run shares
 * its run's record (kind, call, channel, data length), so its call index is kept here.
 */
const IX = 6;
export const RECORD_INDEX_STRIDE = IX;

export class EntryBlock implements EntryColumns {
  private ix: Int32Array | undefined;
  /** The index as f64s (the call index of entry i is element i * IX / 2 + 2). */
  private ixF64: Float64Array | undefined;
  private summary: { firstCallIndex: number; lastCallIndex: number; firstHostCallIndex: number; lastHostCallIndex: number } | undefined;
  private outs: BlockOutput[] | undefined;
  /** Indices of the output entries, when decode found them (undefined: not looked for). */
  private outputAt: Int32Array | undefined;
  private view: DataView | undefined;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;

  /**
   * `bytes` must hold exactly `count` well-formed records and start at an 8-byte aligned offset: blocks are made
   * by EntryBlockWriter, EntryBlock.decode (untrusted bytes, validated) or EntryBlock.fromEntries.
   */
  private constructor(
    readonly firstSeq: number,
    readonly count: number,
    readonly bytes: Uint8Array,
  ) {
    this.i32 = new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2);
    this.f64 = new Float64Array(bytes.buffer, bytes.byteOffset, bytes.length >> 3);
  }

  /** Seq of the last entry. */
  get lastSeq(): number {
    return this.firstSeq + this.count - 1;
  }

  /** Request and data bytes of the entries (a repeated request counted in full). */
  get payloadBytes(): number {
    let n = 0;
    for (let i = 0; i < this.count; i++) n += this.requestLength(i) + this.dataLength(i);
    return n;
  }

  // ---- columns -------------------------------------------------------------------------------------------

  /**
   * Per entry, RECORD_INDEX_STRIDE i32s: its record's offset in `bytes`, its request's offset and length (a repeated
   * request resolved to where it was written), and its data's offset. For readers that walk many entries (the
   * input lane's offers).
   */
  recordIndex(): Int32Array {
    return this.index();
  }

  private index(): Int32Array {
    // Blocks written here are indexed with the same walk that checks untrusted ones: a block that does not pass
    // was written wrong, and says so at once.
    if (this.ix === undefined) this.setIndex(indexRecords(this.i32, this.f64, this.bytes, this.count));
    return this.ix!;
  }

  private setIndex(ix: Int32Array): void {
    this.ix = ix;
    this.ixF64 = new Float64Array(ix.buffer, ix.byteOffset, ix.length >> 1);
  }

  kind(i: number): EntryKind {
    return (this.i32[this.index()[i * IX]! >> 2]! & 0xff) as EntryKind;
  }

  id(i: number): number {
    return (this.i32[this.index()[i * IX]! >> 2]! >>> 8) & 0xff;
  }

  callIndex(i: number): number {
    this.index();
    return this.ixF64![i * (IX >> 1) + 2]!;
  }

  channel(i: number): number {
    return this.i32[(this.index()[i * IX]! >> 2) + 1]!;
  }

  requestAt(i: number): number {
    return this.index()[i * IX + 1]!;
  }

  requestLength(i: number): number {
    return this.index()[i * IX + 2]!;
  }

  dataAt(i: number): number {
    return this.index()[i * IX + 3]!;
  }

  dataLength(i: number): number {
    return this.i32[(this.index()[i * IX]! >> 2) + 5]!;
  }

  bytesView(): DataView {
    return (this.view ??= new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.length));
  }

  call(i: number): string {
    const rec = this.index()[i * IX]!;
    const head = this.i32[rec >> 2]!;
    const id = (head >>> 8) & 0xff;
    if (id !== callIdCustom) return callName(id)!;
    return decoder.decode(this.bytes.subarray(rec + captureHeaderBytes, rec + captureHeaderBytes + (head >>> 16)));
  }

  entry(i: number): LogEntry {
    if (!(i >= 0 && i < this.count)) throw new RangeError(`entry ${i} of a block of ${this.count}`);
    const reqAt = this.requestAt(i);
    const reqLen = this.requestLength(i);
    const dataAt = this.dataAt(i);
    const dataLen = this.dataLength(i);
    return {
      seq: this.firstSeq + i,
      callIndex: this.callIndex(i),
      kind: this.kind(i),
      call: this.call(i),
      channel: this.channel(i),
      request: reqLen === 0 ? emptyBytes : this.bytes.subarray(reqAt, reqAt + reqLen),
      data: dataLen === 0 ? emptyBytes : this.bytes.subarray(dataAt, dataAt + dataLen),
    };
  }

  entries(): LogEntry[] {
    const out = new Array<LogEntry>(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.entry(i);
    return out;
  }

  // ---- summary (what the receive side checks at block boundaries) ----------------------------------------

  private sum() {
    if (this.summary) return this.summary;
    let firstHost = -1;
    let lastHost = -1;
    for (let i = 0; i < this.count; i++) {
      if (this.kind(i) !== EntryKind.Digest) {
        firstHost = this.callIndex(i);
        break;
      }
    }
    for (let i = this.count - 1; i >= 0; i--) {
      if (this.kind(i) !== EntryKind.Digest) {
        lastHost = this.callIndex(i);
        break;
      }
    }
    return (this.summary = {
      firstCallIndex: this.callIndex(0),
      lastCallIndex: this.callIndex(this.count - 1),
      firstHostCallIndex: firstHost,
      lastHostCallIndex: lastHost,
    });
  }

  get firstCallIndex(): number {
    return this.sum().firstCallIndex;
  }
  get lastCallIndex(): number {
    return this.sum().lastCallIndex;
  }
  /** Call index of the first input or output entry (-1: the block holds digests only). */
  get firstHostCallIndex(): number {
    return this.sum().firstHostCallIndex;
  }
  /** Call index of the last input or output entry (-1: the block holds digests only). */
  get lastHostCallIndex(): number {
    return this.sum().lastHostCallIndex;
  }

  /** The output entries (seq order), data as views of the block. */
  get outputs(): readonly BlockOutput[] {
    if (this.outs) return this.outs;
    const outs: BlockOutput[] = [];
    const add = (i: number) => {
      const at = this.dataAt(i);
      outs.push({ seq: this.firstSeq + i, callIndex: this.callIndex(i), channel: this.channel(i), data: this.bytes.subarray(at, at + this.dataLength(i)) });
    };
    // A decoded block knows its outputs from its check (decode); a written one looks at every record.
    const known = this.outputAt;
    if (known !== undefined) for (let k = 0; k < known.length; k++) add(known[k]!);
    else for (let i = 0; i < this.count; i++) if (this.kind(i) === EntryKind.Output) add(i);
    return (this.outs = outs);
  }

  // ---- making blocks -------------------------------------------------------------------------------------

  /** The entries from seq `from` to seq `to` (inclusive, inside this block) as a block of their own. */
  slice(from: number, to: number = this.lastSeq): EntryBlock {
    if (from === this.firstSeq && to === this.lastSeq) return this;
    if (!(from >= this.firstSeq && to <= this.lastSeq && from <= to)) throw new RangeError(`slice ${from}..${to} of block ${this.firstSeq}..${this.lastSeq}`);
    const w = new EntryBlockWriter(from, align8(this.bytes.length));
    for (let s = from; s <= to; s++) {
      const e = this.entry(s - this.firstSeq);
      w.add(e.kind, e.callIndex, e.call, e.channel, e.request, e.data);
    }
    return w.sealOne()!;
  }

  /** A block of the given consecutive entries (tests, the simulator, retransmission paths). */
  static fromEntries(entries: readonly LogEntry[]): EntryBlock {
    if (entries.length === 0) throw new RangeError('a block holds at least one entry');
    const first = entries[0]!.seq;
    const w = new EntryBlockWriter(first, 64 * 1024);
    entries.forEach((e, k) => {
      if (e.seq !== first + k) throw new LogFormatError('E_ENTRY', `block entries not consecutive: seq ${e.seq} after ${first + k - 1}`);
      w.add(e.kind, e.callIndex, e.call, e.channel, e.request, e.data);
    });
    return w.sealOne()!;
  }

  /**
   * A block from untrusted bytes (the channel), checked completely: every record's lengths, kind, call id and
   * channel, requests repeated only within the block, call indices that are safe integers and never go back
   * (host calls strictly increasing), exactly `count` records and nothing after them. Misaligned bytes are
   * copied. Errors are LogFormatError E_MALFORMED / E_CHAIN.
   */
  static decode(bytes: Uint8Array, firstSeq: number, count: number): EntryBlock {
    if (!Number.isSafeInteger(firstSeq) || firstSeq < 0 || !Number.isSafeInteger(count) || count < 1 || firstSeq + count > Number.MAX_SAFE_INTEGER) {
      throw new LogFormatError('E_MALFORMED', `entry block: bad seq range ${firstSeq} + ${count}`);
    }
    if (bytes.length % 8 !== 0) throw new LogFormatError('E_MALFORMED', `entry block: ${bytes.length} bytes is not a whole number of records`);
    // Every entry takes 8 bytes at least (in a packed run): a count the bytes cannot hold is refused before anything
    // is sized by it.
    if (count > bytes.length / 8) throw new LogFormatError('E_MALFORMED', `entry block: ${count} entries cannot fit in ${bytes.length} bytes`);
    if (bytes.byteOffset % 8 !== 0) bytes = bytes.slice();
    const b = new EntryBlock(firstSeq, count, bytes);
    b.setIndex(indexRecords(b.i32, b.f64, bytes, count));
    // The records indexRecords found to be outputs (a receiver asks every block for them).
    b.outputAt = outputsFound === 0 ? noOutputs : foundOutputs.slice(0, outputsFound);
    return b;
  }

  /** For EntryBlockWriter only. */
  static sealed(firstSeq: number, count: number, bytes: Uint8Array): EntryBlock {
    return new EntryBlock(firstSeq, count, bytes);
  }
}

function malformed(detail: string): LogFormatError {
  return new LogFormatError('E_MALFORMED', `entry block: ${detail}`);
}

/**
 * Record offset, resolved request offset and length, and data offset of every entry, checking everything
 * EntryBlock.decode promises (the bytes may be untrusted).
 */
function indexRecords(i32: Int32Array, f64: Float64Array, u8: Uint8Array, count: number): Int32Array {
  const len = u8.length;
  // Every cell is written below (IX per entry) before the index is used, so it need not be zeroed first (a block
  // of 4096 entries has a 96 KiB index, allocated per block received).
  const ixBuf = Buffer.allocUnsafeSlow(count * IX * 4).buffer;
  const ix = new Int32Array(ixBuf, 0, count * IX);
  const ixF64 = new Float64Array(ixBuf, 0, (count * IX) >> 1);
  // Per call id: where its last request in the block starts and its length (-1: none yet). Typed, so the loop
  // below reads and writes it without checks of an array's shape.
  const last = lastRequests;
  last.fill(-1);
  let p = 0;
  let lastCall = -1;
  let lastHost = -1;
  outputsFound = 0;
  for (let i = 0; i < count; i++) {
    if (p + captureHeaderBytes > len) throw malformed(`record ${i} starts past the end (${p} of ${len} bytes)`);
    if (i32[(p >> 2) + 4] === PACKED_RUN) {
      // A packed run (capture.ts): entries i .. i + n - 1.
      const n = indexPackedRun(i32, f64, len, count, i, p, lastHost, ix, ixF64);
      const w = p >> 2;
      lastHost = f64[(p >> 3) + 1]! + n - 1;
      lastCall = lastHost;
      p += packedRunHeaderBytes + n * i32[w + 5]!;
      i += n - 1;
      continue;
    }
    const w = p >> 2;
    const head = i32[w]!;
    const kind = head & 0xff;
    const id = (head >>> 8) & 0xff;
    const nameLen = head >>> 16;
    const channel = i32[w + 1]!;
    const callIndex = f64[(p >> 3) + 1]!;
    const reqLen = i32[w + 4]!;
    const dataLen = i32[w + 5]!;
    if (kind > EntryKind.Digest) throw malformed(`record ${i}: unknown kind ${kind}`);
    if (id === callIdCustom) {
      if (nameLen === 0) throw malformed(`record ${i}: custom call without a name`);
    } else {
      if (nameLen !== 0) throw malformed(`record ${i}: call id ${id} with a name`);
      if (id >= callIdsUsed) throw malformed(`record ${i}: unknown call id ${id}`);
    }
    if ((kind === EntryKind.Digest) !== (id === callIdNone)) throw malformed(`record ${i}: call id ${id} does not fit kind ${kind}`);
    if (kind !== EntryKind.Output && channel !== 0) throw malformed(`record ${i}: channel ${channel} on a non-output entry`);
    // A safe integer >= 0 (NaN fails the first test).
    if (!(callIndex >= 0 && callIndex <= Number.MAX_SAFE_INTEGER && Math.floor(callIndex) === callIndex)) throw malformed(`record ${i}: call index ${callIndex}`);
    if (dataLen < 0) throw malformed(`record ${i}: data length ${dataLen}`);
    let q = p + captureHeaderBytes + nameLen;
    let reqAt = q;
    let rl = reqLen;
    if (reqLen === SAME_REQUEST) {
      if (id === callIdCustom || last[id * 2]! < 0) throw malformed(`record ${i}: repeats a request not in the block`);
      reqAt = last[id * 2]!;
      rl = last[id * 2 + 1]!;
    } else {
      if (reqLen < 0) throw malformed(`record ${i}: request length ${reqLen}`);
      if (reqLen > 0 && kind !== EntryKind.Input) throw malformed(`record ${i}: request on a non-input entry`);
      if (reqLen > 0 && id !== callIdCustom) {
        last[id * 2] = q;
        last[id * 2 + 1] = reqLen;
      }
      q += reqLen;
    }
    if (q > len || dataLen > len - q) throw malformed(`record ${i}: runs past the end of ${len} bytes`);
    if (callIndex < lastCall || (kind !== EntryKind.Digest && callIndex <= lastHost)) {
      throw new LogFormatError('E_CHAIN', `entry block: record ${i} at call ${callIndex} after call ${lastCall}`);
    }
    lastCall = callIndex;
    if (kind !== EntryKind.Digest) lastHost = callIndex;
    if (kind === EntryKind.Output) {
      if (outputsFound === foundOutputs.length) {
        const grown = new Int32Array(foundOutputs.length * 2);
        grown.set(foundOutputs);
        foundOutputs = grown;
      }
      foundOutputs[outputsFound++] = i;
    }
    const o = i * IX;
    ix[o] = p;
    ix[o + 1] = reqAt;
    ix[o + 2] = rl;
    ix[o + 3] = q;
    ixF64[(o >> 1) + 2] = callIndex;
    p = align8(q + dataLen);
  }
  if (p !== len) throw malformed(`${len - p} bytes after the last of ${count} records`);
  return ix;
}

/**
 * Checks the packed run at byte `p` (entry `i` of `count`) and writes the index rows of its entries; returns how
 * many entries it holds. A packed run is inputs of one call from the call table, on channel 0, whose request was
 * written earlier in the block, 8 or 16 data bytes each, at consecutive call indices after `lastHost`.
 */
function indexPackedRun(i32: Int32Array, f64: Float64Array, len: number, count: number, i: number, p: number, lastHost: number, ix: Int32Array, ixF64: Float64Array): number {
  const w = p >> 2;
  if (p + packedRunHeaderBytes > len) throw malformed(`record ${i}: packed run header runs past the end of ${len} bytes`);
  const head = i32[w]!;
  const kind = head & 0xff;
  const id = (head >>> 8) & 0xff;
  const channel = i32[w + 1]!;
  const first = f64[(p >> 3) + 1]!;
  const dataLen = i32[w + 5]!;
  const n = i32[w + 6]!;
  if (kind !== EntryKind.Input || head >>> 16 !== 0 || id === callIdCustom || id === callIdNone || id >= callIdsUsed) {
    throw malformed(`record ${i}: a packed run of kind ${kind}, call id ${id}`);
  }
  if (channel !== 0) throw malformed(`record ${i}: channel ${channel} on a non-output entry`);
  if (lastRequests[id * 2]! < 0) throw malformed(`record ${i}: repeats a request not in the block`);
  if (!packedDataLength(dataLen)) throw malformed(`record ${i}: packed run of ${dataLen}-byte data`);
  if (!(n >= 1 && n <= count - i)) throw malformed(`record ${i}: packed run of ${n} entries (${count - i} left of ${count})`);
  if (n * dataLen > len - p - packedRunHeaderBytes) throw malformed(`record ${i}: runs past the end of ${len} bytes`);
  if (!(first >= 0 && first + n - 1 <= Number.MAX_SAFE_INTEGER && Math.floor(first) === first)) throw malformed(`record ${i}: call index ${first}`);
  if (first <= lastHost) throw new LogFormatError('E_CHAIN', `entry block: record ${i} at call ${first} after call ${lastHost}`);
  const reqAt = lastRequests[id * 2]!;
  const reqLen = lastRequests[id * 2 + 1]!;
  let d = p + packedRunHeaderBytes;
  for (let k = 0; k < n; k++) {
    const o = (i + k) * IX;
    ix[o] = p;
    ix[o + 1] = reqAt;
    ix[o + 2] = reqLen;
    ix[o + 3] = d;
    ixF64[(o >> 1) + 2] = first + k;
    d += dataLen;
  }
  return n;
}

/** The output entries indexRecords found in the block it indexed last: their indices, and how many. */
let foundOutputs = new Int32Array(64);
let outputsFound = 0;
const noOutputs = new Int32Array(0);

/** indexRecords's table of last requests per call id (offset, length), reused (blocks are indexed one at a time). */
const lastRequests = new Int32Array(256 * 2);

/** Bytes of the buffers blocks are written into (a larger entry gets a buffer of its own size). */
export const blockArenaBytes = 1 << 20;

/** Buffers a writer keeps for reuse (EntryBlockWriter.recycle): a few round trips' worth of log. */
const SPARE_ARENAS = 4;

/**
 * Writes consecutive entries into blocks. Entries go into a large arena buffer; `seal()` closes the entries
 * written since the last seal as one block (a view of the arena), so a block costs no allocation of its own and
 * a sealed block's bytes are never written again (a full arena is left to the blocks that view it and a new
 * one started). A block is cut where an arena fills, so `take()` may return more than one.
 */
export class EntryBlockWriter {
  private readonly requests: CapturedRequests = capturedRequests();
  private arena: CaptureChunk;
  private start = 0;
  private startEntries = 0;
  private startPayload = 0;
  private firstSeq: number;
  private readonly sealedBlocks: EntryBlock[] = [];

  constructor(
    firstSeq: number,
    private readonly arenaBytes = blockArenaBytes,
  ) {
    this.firstSeq = firstSeq;
    // Packed runs: a repeated clock read is 8 bytes of the block (the index gives each entry its call index).
    this.arena = new CaptureChunk(this.requests, arenaBytes, undefined, true);
  }

  /** Seq the next entry gets. */
  get nextSeq(): number {
    return this.firstSeq + this.openEntries;
  }

  /** Entries written since the last seal. */
  get openEntries(): number {
    return this.arena.entries - this.startEntries;
  }

  /** Request and data bytes of the entries written since the last seal. */
  get openPayload(): number {
    return this.arena.payload - this.startPayload;
  }

  /** Sealed blocks not taken yet. */
  get sealedCount(): number {
    return this.sealedBlocks.length;
  }

  /** Buffers handed back (recycle) for the next arenas. */
  private readonly spare: ArrayBuffer[] = [];

  /**
   * Hands back a buffer of this writer's blocks that nobody reads any more (no block of it, nor any view of one,
   * is used again): the next arena is written into it. The writer's current arena and buffers of another size
   * are ignored; at most SPARE_ARENAS are kept.
   */
  recycle(buf: ArrayBufferLike): void {
    if (buf === this.arena.buf || buf.byteLength !== this.arenaBytes || this.spare.length >= SPARE_ARENAS || !(buf instanceof ArrayBuffer)) return;
    this.spare.push(buf);
  }

  /** Appends the next entry; the byte arrays are copied. */
  add(kind: EntryKind, callIndex: number, call: string, channel: number, request: Uint8Array, data: Uint8Array): void {
    if (this.arena.add(kind, callIndex, call, channel, request, data)) return;
    this.seal();
    const need = CaptureChunk.recordBytes(call, request, data);
    const size = Math.max(this.arenaBytes, need);
    this.arena = new CaptureChunk(this.requests, size, size === this.arenaBytes ? this.spare.pop() : undefined, true);
    this.start = this.startEntries = this.startPayload = 0;
    if (!this.arena.add(kind, callIndex, call, channel, request, data)) throw new Error(`an entry of ${need} bytes does not fit an arena of its size`);
  }

  /**
   * `count` entries at call indices `first`, `first + 1`, ... that repeat the entry added last for `call` in all
   * but data (an input run, engine/machine/input-run.ts): the same as `count` add() calls, written as packed runs.
   */
  addRun(kind: EntryKind, first: number, call: string, channel: number, request: Uint8Array, words: Int32Array, width: number, count: number): void {
    addRunThrough(() => this.arena, (k) => this.add(kind, first + k, call, channel, request, runEntryBytes(words, width, k)), kind, first, call, channel, request, words, width, count);
  }

  /** Closes the entries written since the last seal as a block (nothing when there are none). */
  seal(): void {
    const n = this.openEntries;
    if (n === 0) return;
    const a = this.arena;
    this.sealedBlocks.push(EntryBlock.sealed(this.firstSeq, n, new Uint8Array(a.buf, this.start, a.pos - this.start)));
    this.firstSeq += n;
    this.start = a.pos;
    this.startEntries = a.entries;
    this.startPayload = a.payload;
    // A block is self-contained: the next one repeats no request of this one.
    this.requests.fill(undefined);
  }

  /** The sealed blocks, oldest first (and forgets them). */
  take(): EntryBlock[] {
    if (this.sealedBlocks.length === 0) return noBlocks;
    return this.sealedBlocks.splice(0, this.sealedBlocks.length);
  }

  /** Seals and returns the one block written (slice, fromEntries); undefined when empty. */
  sealOne(): EntryBlock | undefined {
    this.seal();
    const t = this.take();
    if (t.length <= 1) return t[0];
    // Only when the entries outgrew one arena: join them into one.
    const total = t.reduce((n, b) => n + b.bytes.length, 0);
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const b of t) {
      bytes.set(b.bytes, at);
      at += b.bytes.length;
    }
    // Each part repeats no request of another (seal resets them), so the joined records are well formed.
    return EntryBlock.sealed(t[0]!.firstSeq, t.reduce((n, b) => n + b.count, 0), bytes);
  }

  /**
   * Drops the entries written since the last seal and starts numbering at `nextSeq` (a resync or a lost peer:
   * the log restarts). Sealed blocks not taken are dropped too.
   */
  reset(nextSeq: number): void {
    this.sealedBlocks.length = 0;
    const a = this.arena;
    // The open records are simply left unused in the arena (never viewed by a block).
    this.start = a.pos;
    this.startEntries = a.entries;
    this.startPayload = a.payload;
    this.firstSeq = nextSeq;
    this.requests.fill(undefined);
  }
}

const noBlocks: EntryBlock[] = [];
