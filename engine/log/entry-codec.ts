/**
 * LogEntry[] <-> EntryBatch (schema/twinstep.fbs). The batch is column-wise (see the schema for why);
 * this module owns the mapping, all validation, and the per-batch part of the hash chain.
 *
 * Encoding validates the entries (E_ENTRY): consecutive seq, non-decreasing call index, valid kind, call
 * name "" exactly for Digest, channel 0 except for Output. Decoding validates everything it reads
 * (E_MALFORMED for structure, E_CHAIN for the chain) and never reads out of range.
 */
import { Builder, type ByteBuffer } from 'flatbuffers';
import { EntryBatch } from '../../schema/generated/twinstep/entry-batch.js';
import { EntryKind, type LogEntry } from './entry.ts';
import { LogFormatError } from './errors.ts';
import { callId, callIdCustom, callIdNone, callIdsUsed, callName } from './call-table.ts';
import { callNameBytes, chainStep, hex, type ChainedEntries } from './hash-chain.ts';
import { ChainScratch, chainInstance, joinChecksum, splitChecksum, type ChainExports } from './chain-hash.ts';
import { ByteSink, VarintReader } from './varint.ts';
import { checkLength, readFlat, safeNumber } from './checked-buffer.ts';

/** Entries per batch a decoder accepts (bounds memory per batch; writers use far smaller batches). */
export const batchEntriesMax = 1 << 20;


function entryError(entry: LogEntry, index: number, what: string): LogFormatError {
  return new LogFormatError('E_ENTRY', `entry #${index} (seq ${entry.seq}): ${what}`);
}

/** Memory layout of a BatchEncoder's wasm instance (see schema/wasm/xxh64.wat `entry`). */
const namesBase = 64;
const customNameBase = 4096;
const customNameMax = 0xffff;
const blobBase = customNameBase + customNameMax + 1;
/** Record bytes besides name and payload: prev, seq, index, kind, name length, channel, two lengths. */
const recordFixedBytes = 8 + 8 + 8 + 1 + 2 + 4 + 4 + 4;
const wasmPageBytes = 65536;

/** UTF-8 of the call-table names, packed (the same for every encoder). */
const tableNames = (() => {
  const enc = new TextEncoder();
  const ptr = new Int32Array(callIdsUsed);
  const len = new Int32Array(callIdsUsed);
  const chunks: Uint8Array[] = [];
  let at = namesBase;
  for (let id = 0; id < callIdsUsed; id++) {
    const b = enc.encode(callName(id)!);
    ptr[id] = at;
    len[id] = b.length;
    chunks.push(b);
    at += b.length;
  }
  if (at > customNameBase) throw new Error('call-table names overflow their region');
  const bytes = new Uint8Array(at - namesBase);
  let o = 0;
  for (const c of chunks) {
    bytes.set(c, o);
    o += c.length;
  }
  return { ptr, len, bytes };
})();

/**
 * Builds one EntryBatch column by column as entries arrive: no per-entry objects, the payload copied at once
 * (callers may reuse their buffers), the hash chain advanced per entry by one WebAssembly call that
 * assembles the entry's canonical record itself (schema/wasm/xxh64.wat `entry`). Each encoder owns an
 * instance of that module and keeps the batch's blob in its memory, right where the record is assembled.
 * The trace writer and the live channel keep one and reuse it batch after batch; buildEntryBatch wraps one
 * for LogEntry arrays. Per-kind byte counts are kept for the writer's statistics (trace-stats.ts).
 */
export class BatchEncoder {
  /** Entries in the batch under construction. */
  count = 0;
  /** Payload bytes (request + data) in the batch. */
  payloadBytes = 0;
  private firstSeq = 0;
  private firstCallIndex = 0;
  private prevCallIndex = 0;
  private prevChecksum = 0n;
  private runLo = 0;
  private runHi = 0;
  private kinds = new Uint8Array(256);
  private calls = new Uint8Array(256);
  private chain = new Uint32Array(256);
  private readonly deltas = new ByteSink(256);
  private readonly reqLens = new ByteSink(256);
  private readonly dataLens = new ByteSink(256);
  private channels: number[] = [];
  private custom: string[] = [];
  /** Entries and own column bytes per kind (see trace-stats.ts), for this batch. */
  readonly kindEntries: [number, number, number] = [0, 0, 0];
  readonly kindBytes: [number, number, number] = [0, 0, 0];
  private readonly wasm: ChainExports = chainInstance();
  private mem: Uint8Array;
  private words: Uint32Array;
  /** Blob bytes in the batch (at blobBase in wasm memory). */
  private blobLen = 0;
  private lastCall = '';
  private lastId = callIdNone;

  constructor() {
    this.mem = new Uint8Array(this.wasm.memory.buffer);
    this.words = new Uint32Array(this.wasm.memory.buffer, 0, 2);
    this.room(0);
    this.mem.set(tableNames.bytes, namesBase);
  }

  /** Starts a batch whose first entry has `firstSeq`, continuing the chain value `prevChecksum`. */
  start(firstSeq: number, prevChecksum: bigint): void {
    if (!Number.isSafeInteger(firstSeq) || firstSeq < 0) throw new LogFormatError('E_ENTRY', `seq ${firstSeq} out of range`);
    this.count = 0;
    this.payloadBytes = 0;
    this.blobLen = 0;
    this.firstSeq = firstSeq;
    this.prevChecksum = BigInt.asUintN(64, prevChecksum);
    const { lo, hi } = splitChecksum(this.prevChecksum);
    this.runLo = lo;
    this.runHi = hi;
    this.deltas.reset();
    this.reqLens.reset();
    this.dataLens.reset();
    if (this.channels.length > 0) this.channels = [];
    if (this.custom.length > 0) this.custom = [];
    this.kindEntries.fill(0);
    this.kindBytes.fill(0);
  }

  /** seq of the next entry. */
  get nextSeq(): number {
    return this.firstSeq + this.count;
  }

  /** Chain value after the last entry added (prevChecksum when none). */
  get lastChecksum(): bigint {
    return this.count === 0 ? this.prevChecksum : joinChecksum(this.runLo, this.runHi);
  }

  /**
   * Adds the next entry (seq nextSeq). Validates it (E_ENTRY): call index a safe integer not below the
   * previous one, a known kind, call name "" exactly for Digest, channel an int32 and 0 except for Output.
   */
  add(kind: EntryKind, callIndex: number, call: string, channel: number, request: Uint8Array, data: Uint8Array): void {
    const i = this.count;
    const seq = this.firstSeq + i;
    if (i === 0) {
      if (!Number.isSafeInteger(callIndex) || callIndex < 0) throw this.error(seq, 'call index out of range');
      this.firstCallIndex = callIndex;
      this.prevCallIndex = callIndex;
    } else if (!(callIndex >= this.prevCallIndex) || !Number.isSafeInteger(callIndex)) {
      throw this.error(seq, `call index ${callIndex} must be a safe integer >= ${this.prevCallIndex}`);
    }
    if (kind !== EntryKind.Input && kind !== EntryKind.Output && kind !== EntryKind.Digest) throw this.error(seq, `unknown kind ${String(kind)}`);
    if ((kind === EntryKind.Digest) !== (call === '')) {
      throw this.error(seq, `call name must be "" exactly for Digest entries (got ${JSON.stringify(call)})`);
    }
    if ((channel | 0) !== channel) throw this.error(seq, `channel ${channel} is not an int32`);
    if (kind !== EntryKind.Output && channel !== 0) throw this.error(seq, `channel must be 0 for non-Output entries`);
    if (!(request instanceof Uint8Array) || !(data instanceof Uint8Array)) throw this.error(seq, `request and data must be Uint8Array`);
    if (i >= batchEntriesMax) throw this.error(seq, `batch reached ${batchEntriesMax} entries`);
    let id = this.lastId;
    if (call !== this.lastCall) {
      id = callId(call);
      this.lastCall = call;
      this.lastId = id;
    }
    let namePtr: number;
    let nameLen: number;
    if (id !== callIdCustom) {
      namePtr = tableNames.ptr[id]!;
      nameLen = tableNames.len[id]!;
    } else {
      const bytes = callNameBytes(id, call);
      if (bytes.length > customNameMax) throw this.error(seq, `call name of ${bytes.length} bytes exceeds ${customNameMax}`);
      this.mem.set(bytes, customNameBase);
      namePtr = customNameBase;
      nameLen = bytes.length;
      this.custom.push(call);
    }
    const reqLen = request.length;
    const dataLen = data.length;
    const payload = reqLen + dataLen;
    // Room for the payload, then the record assembled right after it (overwritten by the next entry).
    const pay = blobBase + this.blobLen;
    if (pay + 2 * payload + nameLen + recordFixedBytes > this.mem.length) this.room(this.blobLen + 2 * payload + nameLen + recordFixedBytes);
    const mem = this.mem;
    if (reqLen <= 16) for (let k = 0; k < reqLen; k++) mem[pay + k] = request[k]!;
    else mem.set(request, pay);
    if (dataLen <= 16) for (let k = 0, at = pay + reqLen; k < dataLen; k++) mem[at + k] = data[k]!;
    else mem.set(data, pay + reqLen);
    this.wasm.entry(this.runLo, this.runHi, seq, callIndex, kind, namePtr, nameLen, channel, pay, reqLen, dataLen, pay + payload);
    this.blobLen += payload;
    this.payloadBytes += payload;

    if (i === this.kinds.length) this.grow();
    this.kinds[i] = kind;
    this.calls[i] = id;
    this.chain[i] = this.runLo;
    const w = this.words;
    this.runLo = w[0]!;
    this.runHi = w[1]!;
    const varintsBefore = this.deltas.length + this.reqLens.length + this.dataLens.length;
    this.deltas.varint(callIndex - this.prevCallIndex);
    this.prevCallIndex = callIndex;
    this.reqLens.varint(reqLen);
    this.dataLens.varint(dataLen);
    let own = 1 + 1 + 4 + payload + this.deltas.length + this.reqLens.length + this.dataLens.length - varintsBefore;
    if (id === callIdCustom) own += 8 + call.length;
    if (kind === EntryKind.Output) {
      this.channels.push(channel);
      own += 4;
    }
    this.kindEntries[kind]++;
    this.kindBytes[kind] += own;
    this.count = i + 1;
  }

  /** Adds the EntryBatch table of the entries added since start() to `builder`; returns its offset. */
  build(builder: Builder): number {
    const n = this.count;
    // Children first (FlatBuffers builds back to front).
    const customOff = this.custom.length > 0 ? EntryBatch.createCustomCallsVector(builder, this.custom.map((s) => builder.createString(s))) : 0;
    const channelsOff = this.channels.length > 0 ? EntryBatch.createChannelsVector(builder, this.channels) : 0;
    const deltasOff = builder.createByteVector(this.deltas.view());
    const kindsOff = builder.createByteVector(this.kinds.subarray(0, n));
    const callsOff = builder.createByteVector(this.calls.subarray(0, n));
    const reqOff = builder.createByteVector(this.reqLens.view());
    const dataOff = builder.createByteVector(this.dataLens.view());
    const blobOff = builder.createByteVector(this.mem.subarray(blobBase, blobBase + this.blobLen));
    const chainOff = createU32Vector(builder, this.chain.subarray(0, n));
    EntryBatch.startEntryBatch(builder);
    EntryBatch.addFirstSeq(builder, BigInt(this.firstSeq));
    EntryBatch.addCount(builder, n);
    EntryBatch.addFirstCallIndex(builder, BigInt(n > 0 ? this.firstCallIndex : 0));
    EntryBatch.addCallIndexDeltas(builder, deltasOff);
    EntryBatch.addKinds(builder, kindsOff);
    EntryBatch.addCalls(builder, callsOff);
    if (customOff) EntryBatch.addCustomCalls(builder, customOff);
    if (channelsOff) EntryBatch.addChannels(builder, channelsOff);
    EntryBatch.addRequestLengths(builder, reqOff);
    EntryBatch.addDataLengths(builder, dataOff);
    EntryBatch.addBlob(builder, blobOff);
    EntryBatch.addChain(builder, chainOff);
    EntryBatch.addPrevChecksum(builder, this.prevChecksum);
    EntryBatch.addLastChecksum(builder, this.lastChecksum);
    return EntryBatch.endEntryBatch(builder);
  }

  /** Grows the wasm memory so that blobBase + `bytes` fits. */
  private room(bytes: number): void {
    const need = blobBase + bytes;
    const have = this.wasm.memory.buffer.byteLength;
    if (need > have) {
      // At least double, so a growing batch costs amortised O(1) per byte.
      const pages = Math.max(Math.ceil((need - have) / wasmPageBytes), have / wasmPageBytes);
      this.wasm.memory.grow(pages);
    }
    this.mem = new Uint8Array(this.wasm.memory.buffer);
    this.words = new Uint32Array(this.wasm.memory.buffer, 0, 2);
  }

  private grow(): void {
    const cap = this.kinds.length * 2;
    const kinds = new Uint8Array(cap);
    kinds.set(this.kinds);
    this.kinds = kinds;
    const calls = new Uint8Array(cap);
    calls.set(this.calls);
    this.calls = calls;
    const chain = new Uint32Array(cap);
    chain.set(this.chain);
    this.chain = chain;
  }

  private error(seq: number, what: string): LogFormatError {
    return new LogFormatError('E_ENTRY', `entry #${seq - this.firstSeq} (seq ${seq}): ${what}`);
  }
}

/** A [uint] vector from a Uint32Array in one copy (the generated helper adds elements one by one). */
function createU32Vector(builder: Builder, words: Uint32Array): number {
  const n = words.length;
  builder.startVector(4, n, 4);
  const b = builder as unknown as { space: number; bb: ByteBuffer };
  b.space -= n * 4;
  b.bb.setPosition(b.space);
  b.bb.bytes().set(new Uint8Array(words.buffer, words.byteOffset, n * 4), b.space);
  return builder.endVector();
}

/**
 * Adds an EntryBatch table to `builder` (for Message bodies and standalone batches).
 * `prevChecksum` is the chain value before entries[0]. Returns the table offset and the chain value
 * after the last entry. An empty batch is allowed (count 0; prev === last).
 */
export function buildEntryBatch(
  builder: Builder,
  entries: readonly LogEntry[],
  prevChecksum: bigint,
): { offset: number; lastChecksum: bigint } {
  const n = entries.length;
  if (n > batchEntriesMax) throw new LogFormatError('E_ENTRY', `batch of ${n} entries exceeds ${batchEntriesMax}`);
  const firstSeq = n > 0 ? entries[0]!.seq : 0;
  if (n > 0 && (!Number.isSafeInteger(firstSeq) || firstSeq < 0 || firstSeq + n > Number.MAX_SAFE_INTEGER)) {
    throw entryError(entries[0]!, 0, 'seq out of range');
  }
  const enc = sharedEncoder;
  enc.start(firstSeq, prevChecksum);
  for (let i = 0; i < n; i++) {
    const e = entries[i]!;
    if (!Number.isSafeInteger(e.seq) || e.seq !== firstSeq + i) {
      throw entryError(e, i, `seq must be ${firstSeq + i} (entries in a batch are consecutive)`);
    }
    enc.add(e.kind, e.callIndex, e.call, e.channel, e.request, e.data);
  }
  const offset = enc.build(builder);
  return { offset, lastChecksum: enc.lastChecksum };
}

/** Used by buildEntryBatch only (it never yields between start and build). */
const sharedEncoder = new BatchEncoder();

/** Encodes a batch as a standalone FlatBuffer (root EntryBatch). */
export function encodeEntryBatch(
  entries: readonly LogEntry[],
  prevChecksum: bigint = 0n,
): { bytes: Uint8Array; lastChecksum: bigint } {
  // Size the builder for the whole batch up front: growing it copies everything written so far.
  let payload = 0;
  for (const e of entries) payload += (e.request?.length ?? 0) + (e.data?.length ?? 0);
  const builder = new Builder(128 + entries.length * 16 + payload);
  const { offset, lastChecksum } = buildEntryBatch(builder, entries, prevChecksum);
  builder.finish(offset);
  return { bytes: builder.asUint8Array(), lastChecksum };
}

function malformed(what: string): LogFormatError {
  return new LogFormatError('E_MALFORMED', `entry batch: ${what}`);
}

/**
 * Reads and fully validates an EntryBatch table (bb must be a CheckedByteBuffer, see readFlat).
 * Verifies the batch-internal chain; whether the batch continues a stream is HashChain.accept's job.
 */
export function readEntryBatch(t: EntryBatch, bb: ByteBuffer): ChainedEntries {
  const n = t.count();
  checkLength(bb, n, 1, 'entry batch count');
  if (n > batchEntriesMax) throw malformed(`count ${n} exceeds ${batchEntriesMax}`);
  const firstSeq = safeNumber(t.firstSeq(), 'first seq');
  if (firstSeq + n > Number.MAX_SAFE_INTEGER) throw malformed('seq range exceeds safe integers');
  const firstCallIndex = safeNumber(t.firstCallIndex(), 'first call index');
  const empty = new Uint8Array(0);
  const kinds = t.kindsArray() ?? empty;
  const calls = t.callsArray() ?? empty;
  const chain = t.chainArray() ?? new Uint32Array(0);
  const blob = t.blobArray() ?? empty;
  if (kinds.length !== n || calls.length !== n || chain.length !== n) {
    throw malformed(`column lengths (kinds ${kinds.length}, calls ${calls.length}, chain ${chain.length}) differ from count ${n}`);
  }
  const channelCount = checkLength(bb, t.channelsLength(), 4, 'channels');
  const customCount = checkLength(bb, t.customCallsLength(), 4, 'custom calls');
  const deltas = new VarintReader(t.callIndexDeltasArray() ?? empty, 'call_index_deltas');
  const reqLens = new VarintReader(t.requestLengthsArray() ?? empty, 'request_lengths');
  const dataLens = new VarintReader(t.dataLengthsArray() ?? empty, 'data_lengths');
  const prevChecksum = t.prevChecksum();
  const lastChecksum = t.lastChecksum();
  const entries: LogEntry[] = new Array(n);
  const scratch = ChainScratch.get();
  let { lo: runLo, hi: runHi } = splitChecksum(prevChecksum);
  let callIndex = firstCallIndex;
  let blobPos = 0;
  let channelIdx = 0;
  let customIdx = 0;
  for (let i = 0; i < n; i++) {
    const kind = kinds[i]!;
    if (kind > EntryKind.Digest) throw malformed(`entry #${i}: unknown kind ${kind}`);
    const id = calls[i]!;
    let call: string | undefined;
    if (id === callIdCustom) {
      if (customIdx >= customCount) throw malformed(`entry #${i}: custom call name missing`);
      call = t.customCalls(customIdx++);
      if (call === '' || call === null) throw malformed(`entry #${i}: empty custom call name`);
    } else {
      call = callName(id);
      if (call === undefined) throw malformed(`entry #${i}: unknown call id ${id}`);
    }
    if ((kind === EntryKind.Digest) !== (id === callIdNone)) {
      throw malformed(`entry #${i}: call id ${id} does not fit kind ${kind}`);
    }
    let channel = 0;
    if (kind === EntryKind.Output) {
      if (channelIdx >= channelCount) throw malformed(`entry #${i}: channel missing`);
      channel = t.channels(channelIdx++)!;
    }
    callIndex += deltas.next();
    if (callIndex > Number.MAX_SAFE_INTEGER) throw malformed(`entry #${i}: call index overflows`);
    const reqLen = reqLens.next();
    const dataLen = dataLens.next();
    if (reqLen > blob.length - blobPos || dataLen > blob.length - blobPos - reqLen) {
      throw malformed(`entry #${i}: payload lengths run past the blob`);
    }
    const request = blob.subarray(blobPos, blobPos + reqLen);
    blobPos += reqLen;
    const data = blob.subarray(blobPos, blobPos + dataLen);
    blobPos += dataLen;
    const entry: LogEntry = { seq: firstSeq + i, callIndex, kind: kind as EntryKind, call, channel, request, data };
    if (chain[i] !== runLo) {
      throw new LogFormatError('E_CHAIN', `hash chain broken at seq ${entry.seq}: entry links to ${chain[i]!.toString(16)}, previous entry hashes to ${runLo.toString(16)}`);
    }
    chainStep(scratch, runLo, runHi, entry.seq, callIndex, kind, callNameBytes(id, call), channel, request, data);
    runLo = scratch.lo;
    runHi = scratch.hi;
    entries[i] = entry;
  }
  const running = n === 0 ? prevChecksum : joinChecksum(runLo, runHi);
  if (!deltas.done() || !reqLens.done() || !dataLens.done()) throw malformed('varint columns hold more values than count');
  if (blobPos !== blob.length) throw malformed(`blob holds ${blob.length - blobPos} unreferenced bytes`);
  if (channelIdx !== channelCount) throw malformed(`${channelCount} channels for ${channelIdx} output entries`);
  if (customIdx !== customCount) throw malformed(`${customCount} custom call names for ${customIdx} custom ids`);
  if (running !== lastChecksum) {
    throw new LogFormatError('E_CHAIN', `batch end checksum ${hex(lastChecksum)} does not match its entries (${hex(running)})`);
  }
  return { entries, prevChecksum, lastChecksum };
}

/** Decodes a standalone EntryBatch buffer (as made by encodeEntryBatch). */
export function decodeEntryBatch(bytes: Uint8Array): ChainedEntries {
  return readFlat(bytes, 'entry batch', (bb) => readEntryBatch(EntryBatch.getRootAsEntryBatch(bb), bb));
}
