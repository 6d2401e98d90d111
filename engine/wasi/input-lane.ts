/**
 * The input lane of a replaying WASI machine (Machine.inputLane): clock_time_get and random_get answered inside
 * WebAssembly from recorded results (schema/wasm/lane.wat, lane-mem.wat), without a call into JavaScript.
 *
 * The guest imports the lane's two functions in place of the machine's. For every call, the lane compares the
 * head of what the replayer offered with the call (call index, call, clock id and precision, or length) and, when
 * everything matches and the result fits in the guest's memory, stores the result and returns 0; otherwise it
 * calls the machine's own import (the JavaScript host function), which then sees exactly the call it would have
 * seen without the lane. The lane feeds only what the JavaScript path would have accepted from the same entry
 * (see offer), so a replay gives the same results, reports and state with the lane as without it.
 *
 * Between the guest and the machine, the lane holds the call index (the machine keeps it in the lane's memory
 * while the guest runs and reads it back at every host call), and the last realtime clock value fed (file
 * timestamps follow it).
 */
import { wasmBase64 as laneBase64 } from '../../schema/generated/wasm/lane.ts';
import { wasmBase64 as laneMemBase64 } from '../../schema/generated/wasm/lane-mem.ts';
import type { InputLane } from '../machine/machine.ts';
import { EntryBlock, RECORD_INDEX_STRIDE, type EntryColumns } from '../log/entry-block.ts';
import { FlatBatch } from '../log/flat-batch.ts';
import { descBytes } from '../log/chain-hash.ts';
import { EntryKind } from '../log/entry.ts';
import { callId } from '../log/call-table.ts';

const CLOCK_ID = callId('clock_time_get');
const RANDOM_ID = callId('random_get');

/** Byte offsets of the lane's state (lane.wat). */
const CUR = 0;
const FED = 8;
const RD = 16;
const END = 20;
const ENABLED = 24;
const RT_SET = 28;
const RT = 32;
const RECORDS = 64;

/** The highest clock id the host answers (THREAD_CPUTIME); a recorded call with another id was never logged. */
const CLOCK_ID_MAX = 3;
/** Records take at most this many bytes of the lane's memory per offer (it grows to hold one large random). */
const OFFER_BYTES = 256 * 1024;
/** Where packFlat and packBlock stage a run: past the largest offer's records (one record may take OFFER_BYTES + 16). */
const STAGE = RECORDS + OFFER_BYTES + 64;
/** Entries and payload bytes staged per offer at most (records stop at OFFER_BYTES, so the payload too). */
const STAGE_ENTRIES = 8192;
const STAGE_BLOB_BYTES = OFFER_BYTES + 64;

const PAGE = 65536;

let laneModule: WebAssembly.Module | undefined;
let laneMemModule: WebAssembly.Module | undefined;

export type HostImport = (...args: any[]) => number;

export class WasiInputLane implements InputLane {
  /** The functions the guest imports instead of the machine's clock_time_get and random_get. */
  readonly imports: { readonly clock_time_get: Function; readonly random_get: Function };
  private readonly memory: WebAssembly.Memory;
  /** lane.wat `pack` (see packFlat). */
  private readonly pack: (n: number, desc: number, payAt: number, blob: number, base: number, blobLen: number, clockId: number, randomId: number, limit: number) => number;
  /** lane.wat `packBlock` (see packBlock). */
  private readonly packBlockWasm: (n: number, ix: number, bytes: number, base: number, bytesLen: number, clockId: number, randomId: number, limit: number) => number;
  private readonly table: WebAssembly.Table;
  private f64: Float64Array;
  private i32: Int32Array;
  private u8: Uint8Array;
  private offered = 0;
  private fedAtOffer = 0;
  /** The lane's memory size in bytes (reading memory.buffer costs a runtime call). */
  private capacity: number;

  /** `clock` and `random`: the machine's own imports, which the lane calls for every call it does not answer. */
  constructor(clock: HostImport, random: HostImport) {
    laneModule ??= new WebAssembly.Module(Buffer.from(laneBase64, 'base64'));
    this.table = new WebAssembly.Table({ initial: 4, element: 'anyfunc' });
    const instance = new WebAssembly.Instance(laneModule, { host: { clock_time_get: clock, random_get: random, table: this.table } });
    const x = instance.exports as Record<string, any>;
    this.imports = { clock_time_get: x.clock_time_get, random_get: x.random_get };
    this.pack = x.pack;
    this.packBlockWasm = x.packBlock;
    this.memory = x.memory as WebAssembly.Memory;
    this.f64 = new Float64Array(this.memory.buffer);
    this.i32 = new Int32Array(this.memory.buffer);
    this.u8 = new Uint8Array(this.memory.buffer);
    this.capacity = this.memory.buffer.byteLength;
    this.i32[RD >> 2] = RECORDS;
    this.i32[END >> 2] = RECORDS;
    this.i32[ENABLED >> 2] = 1;
  }

  /** Connects the lane to the guest's memory, once the guest is instantiated. */
  attach(guestMemory: WebAssembly.Memory): void {
    laneMemModule ??= new WebAssembly.Module(Buffer.from(laneMemBase64, 'base64'));
    const m = new WebAssembly.Instance(laneMemModule, { guest: { memory: guestMemory } }).exports as Record<string, any>;
    this.table.set(0, m.put64);
    this.table.set(1, m.fits);
    this.table.set(2, m.put64u);
    this.table.set(3, m.put8u);
  }

  /** The guest's current call index as the lane keeps it. */
  get cur(): number {
    return this.f64[CUR >> 3]!;
  }

  set cur(index: number) {
    this.f64[CUR >> 3] = index;
  }

  /** Off while the guest rewinds to a paused call: that call must reach the machine. */
  set enabled(on: boolean) {
    this.i32[ENABLED >> 2] = on ? 1 : 0;
  }

  /** The realtime clock value fed last, once (undefined: none since the last time this was asked). */
  takeRealtime(): bigint | undefined {
    if (this.i32[RT_SET >> 2] === 0) return undefined;
    this.i32[RT_SET >> 2] = 0;
    return new DataView(this.memory.buffer).getBigUint64(RT, true);
  }

  get fed(): number {
    return this.f64[FED >> 3]!;
  }

  get pending(): number {
    return this.offered - (this.fed - this.fedAtOffer);
  }

  withdraw(): void {
    this.i32[END >> 2] = this.i32[RD >> 2]!;
    this.offered = this.fed - this.fedAtOffer;
  }

  offer(cols: EntryColumns, from: number): number {
    this.offered = cols instanceof FlatBatch ? this.packFlat(cols, from) : cols instanceof EntryBlock ? this.packBlock(cols, from) : this.offerColumns(cols, from);
    this.fedAtOffer = this.fed;
    return this.offered;
  }

  /**
   * The offer from a trace's batch: the run of inputs from `from` (at most STAGE_ENTRIES, and the payload bytes an
   * offer can take) is staged in the lane's memory as the batch holds it (descriptors, payload offsets, payload
   * bytes: three copies), and lane.wat `pack` writes the records there, with offerColumns's rules.
   */
  private packFlat(b: FlatBatch, from: number): number {
    const kinds = b.kinds;
    const stop = Math.min(b.count, from + STAGE_ENTRIES);
    let end = from;
    while (end < stop && kinds[end] === EntryKind.Input) end++;
    const n = end - from;
    if (n === 0) return this.emptyOffer();
    const payAt = b.payAt;
    const base = payAt[from]!;
    const last = end - 1;
    const blobLen = Math.min(payAt[last]! + b.requestLength(last) + b.dataLength(last) - base, STAGE_BLOB_BYTES);
    const descAt = STAGE;
    const payAtAt = descAt + n * descBytes;
    const blobAt = payAtAt + n * 4;
    if (blobAt + blobLen > this.capacity) this.room(blobAt + blobLen);
    const u8 = this.u8;
    u8.set(new Uint8Array(b.f64.buffer, b.f64.byteOffset + from * descBytes, n * descBytes), descAt);
    this.i32.set(payAt.subarray(from, end), payAtAt >> 2);
    u8.set(b.blob.subarray(base, base + blobLen), blobAt);
    return this.pack(n, descAt, payAtAt, blobAt, base, blobLen, CLOCK_ID, RANDOM_ID, OFFER_BYTES);
  }

  /**
   * The offer from an entry block (the pair's channel), as packFlat: the run of inputs from `from` is staged (its
   * part of the block's index, and the block's bytes from the lowest record or request the run refers to, up to the
   * end of its last record) and lane.wat `packBlock` writes the records. A run whose requests sit far back in a
   * large block (more than STAGE_BLOB_BYTES to stage) is offered entry by entry instead.
   */
  private packBlock(b: EntryBlock, from: number): number {
    const ix = b.recordIndex();
    const bi = new Int32Array(b.bytes.buffer, b.bytes.byteOffset, b.bytes.length >> 2);
    const stop = Math.min(b.count, from + STAGE_ENTRIES);
    let end = from;
    let lo = ix[from * RECORD_INDEX_STRIDE]!;
    for (; end < stop; end++) {
      const x = end * RECORD_INDEX_STRIDE;
      if ((bi[ix[x]! >> 2]! & 0xff) !== EntryKind.Input) break;
      const req = ix[x + 1]!;
      if (req < lo) lo = req;
    }
    const n = end - from;
    if (n === 0) return this.emptyOffer();
    const last = (end - 1) * RECORD_INDEX_STRIDE;
    const hi = ix[last + 3]! + bi[(ix[last]! >> 2) + 5]!;
    if (hi - lo > STAGE_BLOB_BYTES) return this.offerColumns(b, from);
    const ixAt = STAGE;
    const bytesAt = ixAt + n * RECORD_INDEX_STRIDE * 4;
    if (bytesAt + (hi - lo) > this.capacity) this.room(bytesAt + (hi - lo));
    this.i32.set(ix.subarray(from * RECORD_INDEX_STRIDE, end * RECORD_INDEX_STRIDE), ixAt >> 2);
    this.u8.set(b.bytes.subarray(lo, hi), bytesAt);
    return this.packBlockWasm(n, ixAt, bytesAt, lo, hi - lo, CLOCK_ID, RANDOM_ID, OFFER_BYTES);
  }

  /** An offer of nothing (the run starts with an entry the lane cannot take). */
  private emptyOffer(): number {
    this.i32[RD >> 2] = RECORDS;
    this.i32[END >> 2] = RECORDS;
    return 0;
  }

  /**
   * The offer from any columns, entry by entry; packFlat and packBlock make the same records from a trace's batch
   * and from an entry block in WebAssembly.
   */
  private offerColumns(cols: EntryColumns, from: number): number {
    const v = cols.bytesView();
    const count = cols.count;
    let f64 = this.f64;
    let i32 = this.i32;
    let at = RECORDS;
    let i = from;
    for (; i < count; i++) {
      if (cols.kind(i) !== EntryKind.Input) break;
      const id = cols.id(i);
      const q = cols.requestAt(i);
      // The record's tag, its word (clock id, or length) and its size; what the host function accepts only.
      let tag: number;
      let word: number;
      let size: number;
      if (id === CLOCK_ID) {
        // clock_time_get: a 12-byte request (clock id, precision) and an 8-byte result.
        if (cols.requestLength(i) !== 12 || cols.dataLength(i) !== 8) break;
        tag = 1;
        word = v.getUint32(q, true);
        if (word > CLOCK_ID_MAX) break;
        size = 32;
      } else if (id === RANDOM_ID) {
        // random_get: a 4-byte request (the length) and exactly that many bytes.
        if (cols.requestLength(i) !== 4) break;
        tag = 2;
        word = v.getUint32(q, true);
        if (cols.dataLength(i) !== word || word > OFFER_BYTES) break;
        size = 16 + ((word + 7) & ~7);
      } else {
        break;
      }
      // One record of any size fits (the memory grows for it); more stop at OFFER_BYTES.
      if (at + size > RECORDS + OFFER_BYTES && at > RECORDS) break;
      if (at + size > this.capacity) {
        this.room(at + size);
        f64 = this.f64;
        i32 = this.i32;
      }
      const w = at >> 2;
      f64[at >> 3] = cols.callIndex(i);
      i32[w + 2] = tag;
      i32[w + 3] = word;
      const d = cols.dataAt(i);
      if (tag === 1) {
        i32[w + 4] = v.getInt32(q + 4, true);
        i32[w + 5] = v.getInt32(q + 8, true);
        i32[w + 6] = v.getInt32(d, true);
        i32[w + 7] = v.getInt32(d + 4, true);
      } else {
        const u8 = this.u8;
        const bytes = cols.bytes;
        for (let k = 0; k < word; k++) u8[at + 16 + k] = bytes[d + k]!;
      }
      at += size;
    }
    i32[RD >> 2] = RECORDS;
    i32[END >> 2] = at;
    return i - from;
  }

  /** The records of the current offer as the lane holds them (a copy; for tests and diagnostics). */
  records(): Uint8Array {
    return this.u8.slice(this.i32[RD >> 2]!, this.i32[END >> 2]!);
  }

  /** Grows the lane's memory to hold `bytes`. */
  private room(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes > have) this.memory.grow(Math.ceil((bytes - have) / PAGE));
    this.f64 = new Float64Array(this.memory.buffer);
    this.i32 = new Int32Array(this.memory.buffer);
    this.u8 = new Uint8Array(this.memory.buffer);
    this.capacity = this.memory.buffer.byteLength;
  }
}
