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
import { callId, callIdCustom, callIdNone, callName } from './call-table.ts';
import { chainLink, entryChecksum, hex, type ChainedEntries } from './hash-chain.ts';
import { ByteSink, VarintReader } from './varint.ts';
import { checkLength, readFlat, safeNumber } from './checked-buffer.ts';

/** Entries per batch a decoder accepts (bounds memory per batch; writers use far smaller batches). */
export const batchEntriesMax = 1 << 20;

const int32Min = -0x80000000;
const int32Max = 0x7fffffff;

function entryError(entry: LogEntry, index: number, what: string): LogFormatError {
  return new LogFormatError('E_ENTRY', `entry #${index} (seq ${entry.seq}): ${what}`);
}

function validateEntry(e: LogEntry, i: number, expectedSeq: number, prevCallIndex: number): void {
  if (!Number.isSafeInteger(e.seq) || e.seq !== expectedSeq) {
    throw entryError(e, i, `seq must be ${expectedSeq} (entries in a batch are consecutive)`);
  }
  if (!Number.isSafeInteger(e.callIndex) || e.callIndex < prevCallIndex) {
    throw entryError(e, i, `call index ${e.callIndex} must be a safe integer >= ${prevCallIndex}`);
  }
  if (e.kind !== EntryKind.Input && e.kind !== EntryKind.Output && e.kind !== EntryKind.Digest) {
    throw entryError(e, i, `unknown kind ${String(e.kind)}`);
  }
  if ((e.kind === EntryKind.Digest) !== (e.call === '')) {
    throw entryError(e, i, `call name must be "" exactly for Digest entries (got ${JSON.stringify(e.call)})`);
  }
  if (!Number.isInteger(e.channel) || e.channel < int32Min || e.channel > int32Max) {
    throw entryError(e, i, `channel ${e.channel} is not an int32`);
  }
  if (e.kind !== EntryKind.Output && e.channel !== 0) {
    throw entryError(e, i, `channel must be 0 for non-Output entries`);
  }
  if (!(e.request instanceof Uint8Array) || !(e.data instanceof Uint8Array)) {
    throw entryError(e, i, `request and data must be Uint8Array`);
  }
}

/**
 * Adds an EntryBatch table to `builder` (for the trace writer and for Message bodies).
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
  const firstCallIndex = n > 0 ? entries[0]!.callIndex : 0;
  if (n > 0 && (!Number.isSafeInteger(firstSeq) || firstSeq < 0 || firstSeq + n > Number.MAX_SAFE_INTEGER)) {
    throw entryError(entries[0]!, 0, 'seq out of range');
  }
  if (n > 0 && (!Number.isSafeInteger(firstCallIndex) || firstCallIndex < 0)) {
    throw entryError(entries[0]!, 0, 'call index out of range');
  }
  const deltas = new ByteSink(n + 8);
  const reqLens = new ByteSink(n + 8);
  const dataLens = new ByteSink(n + 8);
  const kinds = new Uint8Array(n);
  const calls = new Uint8Array(n);
  const chain = new Uint32Array(n);
  const channels: number[] = [];
  const custom: string[] = [];
  let blobBytes = 0;
  for (const e of entries) blobBytes += (e.request?.length ?? 0) + (e.data?.length ?? 0);
  const blob = new Uint8Array(blobBytes);
  let blobPos = 0;
  let prevCallIndex = firstCallIndex;
  let running = BigInt.asUintN(64, prevChecksum);
  for (let i = 0; i < n; i++) {
    const e = entries[i]!;
    validateEntry(e, i, firstSeq + i, prevCallIndex);
    deltas.varint(e.callIndex - prevCallIndex);
    prevCallIndex = e.callIndex;
    kinds[i] = e.kind;
    const id = callId(e.call);
    calls[i] = id;
    if (id === callIdCustom) custom.push(e.call);
    if (e.kind === EntryKind.Output) channels.push(e.channel);
    reqLens.varint(e.request.length);
    dataLens.varint(e.data.length);
    blob.set(e.request, blobPos);
    blobPos += e.request.length;
    blob.set(e.data, blobPos);
    blobPos += e.data.length;
    chain[i] = chainLink(running);
    running = entryChecksum(running, e);
  }
  // Children first (FlatBuffers builds back to front).
  const customOff = custom.length > 0 ? EntryBatch.createCustomCallsVector(builder, custom.map((s) => builder.createString(s))) : 0;
  const channelsOff = channels.length > 0 ? EntryBatch.createChannelsVector(builder, channels) : 0;
  const deltasOff = builder.createByteVector(deltas.view());
  const kindsOff = builder.createByteVector(kinds);
  const callsOff = builder.createByteVector(calls);
  const reqOff = builder.createByteVector(reqLens.view());
  const dataOff = builder.createByteVector(dataLens.view());
  const blobOff = builder.createByteVector(blob);
  const chainOff = EntryBatch.createChainVector(builder, chain);
  EntryBatch.startEntryBatch(builder);
  EntryBatch.addFirstSeq(builder, BigInt(firstSeq));
  EntryBatch.addCount(builder, n);
  EntryBatch.addFirstCallIndex(builder, BigInt(firstCallIndex));
  EntryBatch.addCallIndexDeltas(builder, deltasOff);
  EntryBatch.addKinds(builder, kindsOff);
  EntryBatch.addCalls(builder, callsOff);
  if (customOff) EntryBatch.addCustomCalls(builder, customOff);
  if (channelsOff) EntryBatch.addChannels(builder, channelsOff);
  EntryBatch.addRequestLengths(builder, reqOff);
  EntryBatch.addDataLengths(builder, dataOff);
  EntryBatch.addBlob(builder, blobOff);
  EntryBatch.addChain(builder, chainOff);
  EntryBatch.addPrevChecksum(builder, BigInt.asUintN(64, prevChecksum));
  EntryBatch.addLastChecksum(builder, running);
  return { offset: EntryBatch.endEntryBatch(builder), lastChecksum: running };
}

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
  let running = prevChecksum;
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
    if (chain[i] !== chainLink(running)) {
      throw new LogFormatError('E_CHAIN', `hash chain broken at seq ${entry.seq}: entry links to ${chain[i]!.toString(16)}, previous entry hashes to ${chainLink(running).toString(16)}`);
    }
    running = entryChecksum(running, entry);
    entries[i] = entry;
  }
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
