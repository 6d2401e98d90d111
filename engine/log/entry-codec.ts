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
import { callId, callIdCustom, callIdNone } from './call-table.ts';
import type { ChainedEntries } from './hash-chain.ts';
import { BatchChain, callNameBytes, descBytes, setDesc, tableNames, type PackedPayloads } from './chain-hash.ts';
import { ByteSink } from './varint.ts';
import { batchEntriesMax, readFlatBatch, type FlatBatch } from './flat-batch.ts';
import { readFlat } from './checked-buffer.ts';
import { captureHeaderBytes } from './capture.ts';

export { batchEntriesMax };


function entryError(entry: LogEntry, index: number, what: string): LogFormatError {
  return new LogFormatError('E_ENTRY', `entry #${index} (seq ${entry.seq}): ${what}`);
}

/**
 * Builds one EntryBatch column by column as entries arrive: no per-entry objects, the payload copied at once
 * (callers may reuse their buffers). The hash chain is computed once per batch, by one WebAssembly call that
 * walks the batch's columns (schema/wasm/xxh64.wat `chainBatch`): per entry, the JS side only stores a few
 * numbers. The trace writer and the live channel keep one and reuse it batch after batch; buildEntryBatch
 * wraps one for LogEntry arrays. Per-kind byte counts are kept for the writer's statistics (trace-stats.ts).
 */
export class BatchEncoder {
  /**
   * Store payloads in their forms (trace format 2: EntryBatch.payload_forms, schema/wasm/xxh64.wat
   * `packPayloads`) when that saves bytes: what trace files of format 2 do. Without it (the live channel's
   * batches), every payload is stored whole.
   */
  constructor(private readonly packPayloads = false) {}

  /** Entries in the batch under construction. */
  count = 0;
  /** Payload bytes (request + data) in the batch. */
  payloadBytes = 0;
  private firstSeq = 0;
  private firstCallIndex = 0;
  private prevCallIndex = 0;
  private prevChecksum = 0n;
  /** Chain value after the last entry, once computed (undefined: entries added since). */
  private chainEnd: bigint | undefined = 0n;
  private kinds = new Uint8Array(256);
  private calls = new Uint8Array(256);
  /** Per entry: call index (f64) and channel, request length, data length (i32) - the wasm descriptors. */
  private desc = new ArrayBuffer(256 * descBytes);
  private descF64 = new Float64Array(this.desc);
  private descI32 = new Int32Array(this.desc);
  private descU8 = new Uint8Array(this.desc);
  private readonly deltas = new ByteSink(256);
  private readonly reqLens = new ByteSink(256);
  private readonly dataLens = new ByteSink(256);
  private readonly blob = new ByteSink(4096);
  private channels: number[] = [];
  private custom: string[] = [];
  /** Largest name + payload of an entry in the batch (sizes the record scratch). */
  private recordMax = 0;
  /** Entries and own column bytes per kind (see trace-stats.ts), for this batch. */
  readonly kindEntries: [number, number, number] = [0, 0, 0];
  readonly kindBytes: [number, number, number] = [0, 0, 0];
  private readonly chainer = new BatchChain();
  private links: Uint32Array<ArrayBufferLike> = new Uint32Array(0);
  private lastCall = '';
  private lastId = callIdNone;

  /** Starts a batch whose first entry has `firstSeq`, continuing the chain value `prevChecksum`. */
  start(firstSeq: number, prevChecksum: bigint): void {
    if (!Number.isSafeInteger(firstSeq) || firstSeq < 0) throw new LogFormatError('E_ENTRY', `seq ${firstSeq} out of range`);
    this.count = 0;
    this.payloadBytes = 0;
    this.recordMax = 0;
    this.firstSeq = firstSeq;
    this.prevChecksum = BigInt.asUintN(64, prevChecksum);
    this.chainEnd = this.prevChecksum;
    this.deltas.reset();
    this.reqLens.reset();
    this.dataLens.reset();
    this.blob.reset();
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
    return this.chainEnd ?? this.computeChain();
  }

  /**
   * Adds the next entry (seq nextSeq). Validates it (E_ENTRY): call index a safe integer not below the
   * previous one, a known kind, call name "" exactly for Digest, channel an int32 and 0 except for Output.
   */
  add(kind: EntryKind, callIndex: number, call: string, channel: number, request: Uint8Array, data: Uint8Array): void {
    if (!(request instanceof Uint8Array) || !(data instanceof Uint8Array)) throw this.error(this.count, `request and data must be Uint8Array`);
    let id = this.lastId;
    if (call !== this.lastCall) {
      id = callId(call);
      this.lastCall = call;
      this.lastId = id;
    }
    this.addRange(kind, callIndex, id, call, channel, request, 0, request.length, data, 0, data.length);
  }

  /**
   * add() with the call's table id already known (callIdCustom for a name outside the table) and the payload
   * given as ranges of byte arrays, so a reader of captured entries (capture.ts) makes no views. Same checks.
   */
  addRange(kind: EntryKind, callIndex: number, id: number, call: string, channel: number, req: Uint8Array, reqAt: number, reqLen: number, data: Uint8Array, dataAt: number, dataLen: number): void {
    const i = this.count;
    if (i === 0) {
      if (!Number.isSafeInteger(callIndex) || callIndex < 0) throw this.error(i, 'call index out of range');
      this.firstCallIndex = callIndex;
      this.prevCallIndex = callIndex;
    } else if (!(callIndex >= this.prevCallIndex) || !Number.isSafeInteger(callIndex)) {
      throw this.error(i, `call index ${callIndex} must be a safe integer >= ${this.prevCallIndex}`);
    }
    if (kind !== EntryKind.Input && kind !== EntryKind.Output && kind !== EntryKind.Digest) throw this.error(i, `unknown kind ${String(kind)}`);
    if ((kind === EntryKind.Digest) !== (call === '')) {
      throw this.error(i, `call name must be "" exactly for Digest entries (got ${JSON.stringify(call)})`);
    }
    if ((channel | 0) !== channel) throw this.error(i, `channel ${channel} is not an int32`);
    if (kind !== EntryKind.Output && channel !== 0) throw this.error(i, `channel must be 0 for non-Output entries`);
    if (i >= batchEntriesMax) throw this.error(i, `batch reached ${batchEntriesMax} entries`);
    let nameLen = id === callIdCustom ? callNameBytes(id, call).length : tableNames.table[id * 2 + 1]!;
    if (id === callIdCustom) {
      if (nameLen > 0xffff) throw this.error(i, `call name of ${nameLen} bytes exceeds 65535`);
      this.custom.push(call);
    }
    const payload = reqLen + dataLen;
    if (i === this.kinds.length) this.grow();
    this.kinds[i] = kind;
    this.calls[i] = id;
    setDesc(this.descF64, this.descI32, this.descU8, i, callIndex, channel, reqLen, dataLen, kind, id);
    const blob = this.blob;
    blob.appendRange(req, reqAt, reqLen, 0);
    blob.appendRange(data, dataAt, dataLen, 1);
    this.payloadBytes += payload;
    if (payload + nameLen > this.recordMax) this.recordMax = payload + nameLen;
    this.chainEnd = undefined;

    const delta = callIndex - this.prevCallIndex;
    this.prevCallIndex = callIndex;
    let own = 1 + 1 + 4 + payload + this.deltas.varint(delta) + this.reqLens.varint(reqLen) + this.dataLens.varint(dataLen);
    if (id === callIdCustom) own += 8 + call.length;
    if (kind === EntryKind.Output) {
      this.channels.push(channel);
      own += 4;
    }
    this.kindEntries[kind]++;
    this.kindBytes[kind] += own;
    this.count = i + 1;
  }

  /**
   * `count` entries that differ only in call index and data (CaptureTarget.addRepeats): the same columns and
   * checks as `count` addRange calls, in one loop. `id` is a call-table id (never callIdCustom).
   */
  addRepeats(kind: EntryKind, id: number, call: string, channel: number, req: Uint8Array, src: Uint8Array, indexes: Float64Array, at: number, stride: number, dataLen: number, count: number): void {
    if (count <= 0) return;
    if (id === callIdCustom) throw this.error(this.count, 'a run of entries needs a call-table id');
    if (this.count + count > batchEntriesMax) throw this.error(this.count, `batch reached ${batchEntriesMax} entries`);
    const firstIndex = indexes[(at >> 3) + 1]!;
    const rest = count - 1;
    // The rest of the run is made in WebAssembly first (descriptors, payload, deltas: BatchChain.repeats), which
    // checks every call index before anything is written here: a refused run leaves the batch as it was (the
    // first entry's checks against the batch are addRange's, which also writes nothing when it refuses).
    const run = rest > 0 ? this.chainer.repeats(rest, src, at + stride, stride, req, dataLen, firstIndex, channel, kind, id) : undefined;
    if (run !== undefined && run.bad >= 0) {
      // Entry k of the run (the first of the rest is k = 1).
      const k = run.bad + 1;
      const prev = indexes[(at >> 3) + 1 + (k - 1) * (stride >> 3)]!;
      throw this.error(this.count + k, `call index ${indexes[(at >> 3) + 1 + k * (stride >> 3)]} must be a safe integer >= ${prev}`);
    }
    // The first entry goes the general way (every check, the first-entry bookkeeping); the rest repeat it.
    this.addRange(kind, firstIndex, id, call, channel, req, 0, req.length, src, at + captureHeaderBytes, dataLen);
    if (run === undefined) return;
    const first = this.count;
    while (this.kinds.length < first + rest) this.grow();
    const reqLen = req.length;
    const payload = reqLen + dataLen;
    const blob = this.blob;
    blob.reserve(rest * payload);
    const deltas = this.deltas;
    deltas.reserve(rest * 8);
    this.chainer.repeatsInto(run, this.descU8, first * descBytes, blob.bytes, blob.length, deltas.bytes, deltas.length);
    blob.length += rest * payload;
    deltas.length += run.deltaBytes;
    this.endRun(kind, id, channel, reqLen, dataLen, first, rest, run.deltaBytes, indexes[(at >> 3) + 1 + rest * (stride >> 3)]!);
  }

  /**
   * `count` entries at consecutive call indices from `first` that differ only in data (CaptureTarget.addPacked):
   * entry k's data is the `dataLen` bytes of `src` at `at + k * dataLen`. The same columns and checks as `count`
   * addRange calls, written here in one loop (every delta is 1). A run that would pass the largest safe integer
   * is refused whole.
   */
  addPacked(kind: EntryKind, id: number, call: string, channel: number, req: Uint8Array, src: Uint8Array, at: number, first: number, dataLen: number, count: number): void {
    if (count <= 0) return;
    if (id === callIdCustom) throw this.error(this.count, 'a run of entries needs a call-table id');
    if (this.count + count > batchEntriesMax) throw this.error(this.count, `batch reached ${batchEntriesMax} entries`);
    const last = first + count - 1;
    if (Number.isSafeInteger(first) && !Number.isSafeInteger(last)) {
      const k = Number.MAX_SAFE_INTEGER - first + 1;
      throw this.error(this.count + k, `call index ${first + k} must be a safe integer >= ${first + k - 1}`);
    }
    // The first entry goes the general way (every check, the first-entry bookkeeping); the rest repeat it.
    this.addRange(kind, first, id, call, channel, req, 0, req.length, src, at, dataLen);
    const rest = count - 1;
    if (rest === 0) return;
    const i0 = this.count;
    while (this.kinds.length < i0 + rest) this.grow();
    const reqLen = req.length;
    const payload = reqLen + dataLen;
    const blob = this.blob;
    blob.reserve(rest * payload);
    // Descriptors and payloads made in WebAssembly (a clock read: 24 + 20 bytes from 8).
    this.chainer.packedInto(rest, src, at + dataLen, dataLen, req, first + 1, channel, kind, id, this.descU8, i0 * descBytes, blob.bytes, blob.length);
    const o = blob.length + rest * payload;
    blob.length = o;
    const deltas = this.deltas;
    deltas.reserve(rest);
    deltas.bytes.fill(1, deltas.length, deltas.length + rest);
    deltas.length += rest;
    this.endRun(kind, id, channel, reqLen, dataLen, i0, rest, rest, last);
  }

  /**
   * The columns a run's entries after its first share (kinds, calls, length varints, channels) and the batch's
   * counts, once its descriptors, payloads and `deltaBytes` of call-index deltas are in: entries `from` to
   * `from + rest - 1`, the last at call index `lastIndex`. recordMax and the chain's staleness were set by the
   * first entry's addRange (every entry of a run has its size).
   */
  private endRun(kind: EntryKind, id: number, channel: number, reqLen: number, dataLen: number, from: number, rest: number, deltaBytes: number, lastIndex: number): void {
    this.kinds.fill(kind, from, from + rest);
    this.calls.fill(id, from, from + rest);
    // The length varints are the same for every entry of the run: written for the second entry, then repeated.
    const reqWidth = this.reqLens.varint(reqLen);
    const dataWidth = this.dataLens.varint(dataLen);
    this.reqLens.repeatLast(reqWidth, rest - 1);
    this.dataLens.repeatLast(dataWidth, rest - 1);
    const payload = reqLen + dataLen;
    const fixed = 1 + 1 + 4 + payload + reqWidth + dataWidth + (kind === EntryKind.Output ? 4 : 0);
    this.prevCallIndex = lastIndex;
    if (kind === EntryKind.Output) for (let k = 0; k < rest; k++) this.channels.push(channel);
    this.payloadBytes += rest * payload;
    this.kindEntries[kind] += rest;
    this.kindBytes[kind] += rest * fixed + deltaBytes;
    this.count = from + rest;
  }

  /** Adds the EntryBatch table of the entries added since start() to `builder`; returns its offset. */
  build(builder: Builder): number {
    const n = this.count;
    const lastChecksum = this.lastChecksum;
    let links = this.links.subarray(0, n);
    let blob = this.blob.view();
    let packed: PackedPayloads | undefined;
    if (this.packPayloads && n > 0) {
      // The links are a view of the chain module's memory, which packing the payloads uses: kept first.
      links = links.slice();
      packed = this.chainer.pack(n, this.descU8, blob);
      if (packed.any) {
        blob = packed.stored;
        // The statistics count what is stored: the bytes the forms saved are gone, a form byte per entry came.
        for (let k = 0; k < 3; k++) this.kindBytes[k] += this.kindEntries[k]! - packed.saved[k]!;
      } else {
        packed = undefined;
      }
    }
    // Children first (FlatBuffers builds back to front).
    const formsOff = packed !== undefined ? builder.createByteVector(packed.forms) : 0;
    const customOff = this.custom.length > 0 ? EntryBatch.createCustomCallsVector(builder, this.custom.map((s) => builder.createString(s))) : 0;
    const channelsOff = this.channels.length > 0 ? EntryBatch.createChannelsVector(builder, this.channels) : 0;
    const deltasOff = builder.createByteVector(this.deltas.view());
    const kindsOff = builder.createByteVector(this.kinds.subarray(0, n));
    const callsOff = builder.createByteVector(this.calls.subarray(0, n));
    const reqOff = builder.createByteVector(this.reqLens.view());
    const dataOff = builder.createByteVector(this.dataLens.view());
    const blobOff = builder.createByteVector(blob);
    const chainOff = createU32Vector(builder, links);
    return entryBatchTable(builder, {
      firstSeq: BigInt(this.firstSeq), count: n, firstCallIndex: BigInt(n > 0 ? this.firstCallIndex : 0),
      deltas: deltasOff, kinds: kindsOff, calls: callsOff, custom: customOff, channels: channelsOff,
      requestLengths: reqOff, dataLengths: dataOff, blob: blobOff, chain: chainOff,
      prevChecksum: this.prevChecksum, lastChecksum, payloadForms: formsOff,
    });
  }

  /** Runs the chain over the batch; keeps the per-entry links (this.links) and returns the end value. */
  private computeChain(): bigint {
    const n = this.count;
    const r = this.chainer.run(n, this.prevChecksum, this.firstSeq, this.descU8.subarray(0, n * descBytes), this.blob.view(), this.custom, this.recordMax);
    this.links = r.links;
    this.chainEnd = r.last;
    return r.last;
  }

  private grow(): void {
    const cap = this.kinds.length * 2;
    const kinds = new Uint8Array(cap);
    kinds.set(this.kinds);
    this.kinds = kinds;
    const calls = new Uint8Array(cap);
    calls.set(this.calls);
    this.calls = calls;
    const desc = new ArrayBuffer(cap * descBytes);
    new Uint8Array(desc).set(this.descU8);
    this.desc = desc;
    this.descF64 = new Float64Array(desc);
    this.descI32 = new Int32Array(desc);
    this.descU8 = new Uint8Array(desc);
  }

  private error(i: number, what: string): LogFormatError {
    return new LogFormatError('E_ENTRY', `entry #${i} (seq ${this.firstSeq + i}): ${what}`);
  }
}

/** An EntryBatch table's fields: its scalars and its vectors' offsets (0: absent), the vectors built already. */
export interface EntryBatchFields {
  readonly firstSeq: bigint;
  readonly count: number;
  readonly firstCallIndex: bigint;
  readonly deltas: number;
  readonly kinds: number;
  readonly calls: number;
  readonly custom: number;
  readonly channels: number;
  readonly requestLengths: number;
  readonly dataLengths: number;
  readonly blob: number;
  readonly chain: number;
  readonly prevChecksum: bigint;
  readonly lastChecksum: bigint;
  /** payload_forms (0: absent, every payload whole). */
  readonly payloadForms?: number;
}

/** Adds the EntryBatch table to `builder` (the one place its fields are set); returns its offset. */
export function entryBatchTable(builder: Builder, f: EntryBatchFields): number {
  EntryBatch.startEntryBatch(builder);
  EntryBatch.addFirstSeq(builder, f.firstSeq);
  EntryBatch.addCount(builder, f.count);
  EntryBatch.addFirstCallIndex(builder, f.firstCallIndex);
  EntryBatch.addCallIndexDeltas(builder, f.deltas);
  EntryBatch.addKinds(builder, f.kinds);
  EntryBatch.addCalls(builder, f.calls);
  if (f.custom) EntryBatch.addCustomCalls(builder, f.custom);
  if (f.channels) EntryBatch.addChannels(builder, f.channels);
  EntryBatch.addRequestLengths(builder, f.requestLengths);
  EntryBatch.addDataLengths(builder, f.dataLengths);
  EntryBatch.addBlob(builder, f.blob);
  EntryBatch.addChain(builder, f.chain);
  EntryBatch.addPrevChecksum(builder, f.prevChecksum);
  EntryBatch.addLastChecksum(builder, f.lastChecksum);
  if (f.payloadForms) EntryBatch.addPayloadForms(builder, f.payloadForms);
  return EntryBatch.endEntryBatch(builder);
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


/** A decoded batch with the per-kind byte counts (trace-stats.ts) its columns gave. */
export interface DecodedBatch extends ChainedEntries {
  /** Entries and own column bytes per kind. */
  readonly kindEntries: readonly number[];
  readonly kindBytes: readonly number[];
}

/**
 * Reads and fully validates an EntryBatch table (bb must be a CheckedByteBuffer, see readFlat), with every
 * entry made (readFlatBatch decodes; see flat-batch.ts). Whether the batch continues a stream is
 * HashChain.accept's job.
 */
export function readEntryBatch(t: EntryBatch, bb: ByteBuffer): DecodedBatch {
  const f = readFlatBatch(t, bb);
  return { entries: f.entries(), prevChecksum: f.prevChecksum, lastChecksum: f.lastChecksum, kindEntries: f.kindEntries, kindBytes: f.kindBytes };
}

/** Decodes a standalone EntryBatch buffer into columns (entries made on demand). */
export function decodeFlatBatch(bytes: Uint8Array): FlatBatch {
  return readFlat(bytes, 'entry batch', (bb) => readFlatBatch(EntryBatch.getRootAsEntryBatch(bb), bb));
}

/** Decodes a standalone EntryBatch buffer (as made by encodeEntryBatch). */
export function decodeEntryBatch(bytes: Uint8Array): DecodedBatch {
  return readFlat(bytes, 'entry batch', (bb) => readEntryBatch(EntryBatch.getRootAsEntryBatch(bb), bb));
}
