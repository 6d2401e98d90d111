/**
 * The log's hash chain, computed in WebAssembly (schema/wasm/xxh64.wat).
 *
 * The chain value of an entry is xxh64(prev u64 LE || canonical record) (see hash-chain.ts for the record).
 * Records are small (about 40 to 80 bytes for clock and random entries), where a native addon call per
 * entry costs several times the hash itself; the wasm module computes the same xxh64, bit for bit, and
 * assembles each record itself from a batch's columns (BatchChain), so JS never writes a record.
 */
import { wasmBase64 } from '../../schema/generated/wasm/xxh64.ts';
import { callIdCustom, callIdsUsed, callName } from './call-table.ts';

export interface ChainExports {
  readonly memory: WebAssembly.Memory;
  readonly xxh64: (ptr: number, len: number) => bigint;
  /** See schema/wasm/xxh64.wat: the chain over a whole batch laid out in memory. */
  readonly chainBatch: (
    n: number, prevLo: number, prevHi: number, seq: number, desc: number, blob: number, names: number,
    custom: number, links: number, scratch: number,
  ) => void;
  /** See schema/wasm/xxh64.wat: a run of captured entries turned into descriptors, payload and deltas. */
  readonly encodeRepeats: (
    n: number, src: number, stride: number, req: number, reqLen: number, dataLen: number, prev: number, channel: number,
    kind: number, id: number, desc: number, blob: number, deltas: number,
  ) => number;
  /** See schema/wasm/xxh64.wat: a packed run of captured entries turned into descriptors and payload. */
  readonly encodePacked: (
    n: number, src: number, dataLen: number, req: number, reqLen: number, first: number, channel: number, kind: number, id: number, desc: number, blob: number,
  ) => void;
  /** See schema/wasm/xxh64.wat: payloads into their stored forms (trace format 2). */
  readonly packPayloads: (n: number, desc: number, blob: number, out: number, forms: number, state: number, saved: number) => number;
  /** See schema/wasm/xxh64.wat: the payloads' whole size from the length columns, or -1. */
  readonly payloadsLength: (n: number, reqLens: number, reqLensEnd: number, dataLens: number, dataLensEnd: number) => number;
  /** See schema/wasm/xxh64.wat: payloads back from their stored forms, or a fault (< 0). */
  readonly unpackPayloads: (
    n: number, kinds: number, ids: number, forms: number, reqLens: number, reqLensEnd: number, dataLens: number, dataLensEnd: number,
    inAt: number, inEnd: number, out: number, outEnd: number, state: number, saved: number,
  ) => number;
  /** See schema/wasm/xxh64.wat: the per-entry walk of a batch's columns when decoding. */
  readonly decodeColumns: (
    n: number, firstCallIndex: number, kinds: number, calls: number, deltas: number, deltasEnd: number,
    reqLens: number, reqLensEnd: number, dataLens: number, dataLensEnd: number, channels: number, channelCount: number,
    customLens: number, customCount: number, idsUsed: number, blobLen: number, desc: number, payAt: number, out: number,
  ) => number;
}

/** A run made by BatchChain.repeats: where its output lies in the module's memory, and its sizes. */
export interface RepeatsRun {
  readonly n: number;
  /** Request and data bytes of each entry. */
  readonly payload: number;
  /** The run's first entry with a bad call index, or -1. */
  readonly bad: number;
  /** Bytes of the call-index varints. */
  readonly deltaBytes: number;
  readonly descOut: number;
  readonly blobOut: number;
  readonly deltasOut: number;
}

// Chain values are read through Uint32Array views on wasm memory, which is little-endian.
if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new Error('twinstep needs a little-endian host');

let compiled: WebAssembly.Module | undefined;

/** Bytes of the per-call-id state packPayloads and unpackPayloads keep (schema/wasm/xxh64.wat). */
const formsStateBytes = 6144;

/** The stored forms of a batch's payloads (BatchChain.pack). */
export interface PackedPayloads {
  /** The bytes stored for the payloads (a view of the module's memory, valid until its next use). */
  readonly stored: Uint8Array;
  /** The form of each entry (likewise a view). */
  readonly forms: Uint8Array;
  /** Whether the forms save more than their column costs (else the batch is better stored whole, as format 1 has it). */
  readonly any: boolean;
  /** Bytes the forms saved, per kind. */
  readonly saved: readonly [number, number, number];
}

/** Why the stored payloads of a batch do not unpack (BatchChain.unpack), and at which entry. */
export interface UnpackFailure {
  readonly fault: string;
  readonly entry: number;
}

/** A batch's columns as read from its EntryBatch table, for BatchChain.decode. */
export interface DecodeColumns {
  readonly n: number;
  readonly firstSeq: number;
  readonly firstCallIndex: number;
  readonly prev: bigint;
  readonly kinds: Uint8Array;
  readonly calls: Uint8Array;
  readonly deltas: Uint8Array;
  readonly reqLens: Uint8Array;
  readonly dataLens: Uint8Array;
  readonly channels: Int32Array;
  readonly customNames: ReadonlyArray<string | null>;
  readonly customStat: readonly number[];
  readonly blob: Uint8Array;
}

/** BatchChain.decode's result: the walk succeeded (the chain ran when every blob byte was referenced). */
export interface DecodedColumns {
  readonly desc: Uint8Array;
  readonly payAt: Int32Array;
  readonly kindEntries: number[];
  readonly kindBytes: number[];
  /** Payload bytes the entries reference (the chain runs only when that is the whole blob). */
  readonly blobUsed: number;
  /** Bytes consumed of the deltas, request-length and data-length columns. */
  readonly varintsUsed: readonly [number, number, number];
  readonly channelsUsed: number;
  readonly customUsed: number;
  /** Each entry's stored link as computed (empty, and `last` 0, when the walk left blob bytes unreferenced). */
  readonly links: Uint32Array;
  readonly last: bigint;
}

/** The walk's first failure (see `decodeColumns` in schema/wasm/xxh64.wat for the codes). */
export interface DecodeFailure {
  readonly code: number;
  readonly entry: number;
  readonly detail: number;
}

const emptyName = new Uint8Array(0);

/** unpackPayloads' faults, by code (-1 first). */
const unpackFaults = [
  'unknown payload form',
  'stored payloads end inside an entry',
  'request left out with no earlier request of its call and length in the batch',
  'data stored as a difference with no earlier 8-byte data of its call in the batch, or not 8 bytes long',
  'data difference is not a varint of at most 7 bytes',
  'stored payloads hold bytes no entry uses',
];
/** unpackPayloads' answers that are not faults: the payloads need more room; a length column is bad. */
const UNPACK_ROOM = -7;
const UNPACK_COLUMNS = -8;
/** Room unpack tries first, per entry beyond the stored bytes: a clock read's left-out request and difference expand by 18. */
const UNPACK_GUESS_PER_ENTRY = 24;

/** A fresh instance of the chain module (its own memory): each encoder lays its batch out in one. */
export function chainInstance(): ChainExports {
  compiled ??= new WebAssembly.Module(Buffer.from(wasmBase64, 'base64'));
  return new WebAssembly.Instance(compiled, {}).exports as unknown as ChainExports;
}

const encoder = new TextEncoder();
/** UTF-8 of each call-table name, by id (the hot path: no map lookup, no encoding). */
const tableNameBytes: readonly Uint8Array[] = Array.from({ length: callIdsUsed }, (_, id) => encoder.encode(callName(id)!));
const customNameBytes = new Map<string, Uint8Array>();

/** UTF-8 bytes of a call name (`id` its call-table id, or callIdCustom). */
export function callNameBytes(id: number, name: string): Uint8Array {
  if (id !== callIdCustom) return tableNameBytes[id]!;
  let b = customNameBytes.get(name);
  if (b === undefined) {
    b = encoder.encode(name);
    if (customNameBytes.size < 1024) customNameBytes.set(name, b);
  }
  return b;
}

/** Bytes per entry descriptor in wasm memory (see schema/wasm/xxh64.wat `chainBatch`). */
export const descBytes = 24;

/**
 * Writes entry i's descriptor (call index f64 at [0]; channel, request and data lengths i32 at [2], [3], [4];
 * kind and call id bytes at 20 and 21) through three views of the same descriptor array.
 */
export function setDesc(f64: Float64Array, i32: Int32Array, u8: Uint8Array, i: number, callIndex: number, channel: number, reqLen: number, dataLen: number, kind: number, id: number): void {
  f64[i * 3] = callIndex;
  const d = i * 6;
  i32[d + 2] = channel;
  i32[d + 3] = reqLen;
  i32[d + 4] = dataLen;
  u8[i * descBytes + 20] = kind;
  u8[i * descBytes + 21] = id;
}
/** Record bytes besides name and payload: prev, seq, index, kind, name length, channel, two lengths. */
const recordFixedBytes = 8 + 8 + 8 + 1 + 2 + 4 + 4 + 4;
const wasmPageBytes = 65536;
/** Where the name table (256 x ptr,len) and the call-table names sit in an encoder's wasm memory. */
const nameTableBase = 64;
const namesBase = nameTableBase + 256 * 8;

/** UTF-8 of the call-table names, packed, and the table pointing into them (the same for every encoder). */
export const tableNames = (() => {
  const enc = new TextEncoder();
  const chunks = Array.from({ length: callIdsUsed }, (_, id) => enc.encode(callName(id)!));
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  const table = new Int32Array(256 * 2);
  let o = 0;
  chunks.forEach((c, id) => {
    bytes.set(c, o);
    table[id * 2] = namesBase + o;
    table[id * 2 + 1] = c.length;
    o += c.length;
  });
  return { bytes, table, end: namesBase + bytes.length };
})();

/**
 * The hash chain over a whole batch, in one WebAssembly call (schema/wasm/xxh64.wat `chainBatch`): the
 * batch's descriptors (per entry: call index f64, channel, request and data lengths i32, kind and call id
 * u8; descBytes each), its payload blob and its custom call names are laid out in the module's memory, and
 * the module returns each entry's link (low 32 bits of the previous value) and the value after the last.
 * Used by the encoder (to produce the chain) and by the decoder (to check it).
 */
export class BatchChain {
  private readonly wasm: ChainExports = chainInstance();

  constructor() {
    this.room(tableNames.end);
    const mem = new Uint8Array(this.wasm.memory.buffer);
    mem.set(new Uint8Array(tableNames.table.buffer), nameTableBase);
    mem.set(tableNames.bytes, namesBase);
  }

  /**
   * Chain over `n` entries starting at seq `firstSeq` after `prev`. `customNames`: the names of the entries
   * whose call id is callIdCustom, in entry order. `recordMax`: the largest name + payload of an entry. The
   * returned links view is valid until the next run.
   */
  run(n: number, prev: bigint, firstSeq: number, desc: Uint8Array, blob: Uint8Array, customNames: readonly string[], recordMax: number): { links: Uint32Array; last: bigint } {
    const names = customNames.map((c) => callNameBytes(callIdCustom, c));
    const descAt = align8(customNamesEnd(names));
    const blobAt = descAt + n * descBytes;
    const linksAt = align8(blobAt + blob.length);
    const scratchAt = linksAt + n * 4;
    this.room(scratchAt + recordFixedBytes + recordMax);
    this.putCustomNames(names);
    const mem = new Uint8Array(this.wasm.memory.buffer);
    mem.set(desc.subarray(0, n * descBytes), descAt);
    mem.set(blob, blobAt);
    return this.chain(n, prev, firstSeq, descAt, blobAt, linksAt, scratchAt);
  }

  /**
   * The per-entry walk of a batch being decoded (schema/wasm/xxh64.wat `decodeColumns`) and then its chain, in
   * two WebAssembly calls over the columns laid out in the module's memory: what readFlatBatch did entry by
   * entry in JS. Returns the failure (code, entry, detail) of the walk if any; otherwise the descriptors and
   * payload offsets (own copies), the statistics, the links and the value after the last entry. `customNames`:
   * the batch's custom call names in order (null or '' for an empty one), `customStat` the length each counts
   * in the statistics. The links view is valid until the next use of this chain.
   */
  decode(c: DecodeColumns): DecodedColumns | DecodeFailure {
    const n = c.n;
    const names = c.customNames.map((s) => (s === null || s === '' ? emptyName : callNameBytes(callIdCustom, s)));
    let longestName = 0xff;
    for (const b of names) if (b.length > longestName) longestName = b.length;
    const customLensAt = align8(customNamesEnd(names));
    const kindsAt = customLensAt + names.length * 8;
    const callsAt = kindsAt + n;
    const deltasAt = callsAt + n;
    const reqAt = deltasAt + c.deltas.length;
    const dataAt = reqAt + c.reqLens.length;
    const channelsAt = align8(dataAt + c.dataLens.length);
    const descAt = align8(channelsAt + c.channels.length * 4);
    const payAtAt = descAt + n * descBytes;
    const blobAt = align8(payAtAt + n * 4);
    const linksAt = align8(blobAt + c.blob.length);
    const scratchAt = linksAt + n * 4;
    // The largest record is at most the largest payload plus the longest name.
    this.room(scratchAt + recordFixedBytes + c.blob.length + longestName);
    this.putCustomNames(names);
    const buf = this.wasm.memory.buffer;
    const mem = new Uint8Array(buf);
    if (names.length > 0) {
      const lens = new Int32Array(buf, customLensAt, names.length * 2);
      names.forEach((b, k) => {
        lens[k * 2] = b === emptyName ? -1 : b.length;
        lens[k * 2 + 1] = c.customStat[k]!;
      });
    }
    mem.set(c.kinds, kindsAt);
    mem.set(c.calls, callsAt);
    mem.set(c.deltas, deltasAt);
    mem.set(c.reqLens, reqAt);
    mem.set(c.dataLens, dataAt);
    if (c.channels.length > 0) new Int32Array(buf, channelsAt, c.channels.length).set(c.channels);
    mem.set(c.blob, blobAt);
    const code = this.wasm.decodeColumns(
      n, c.firstCallIndex, kindsAt, callsAt, deltasAt, reqAt, reqAt, dataAt, dataAt, dataAt + c.dataLens.length, channelsAt, c.channels.length,
      customLensAt, names.length, callIdsUsed, c.blob.length, descAt, payAtAt, 0,
    );
    // The walk's figures, read before the chain writes its end value over [0, 8).
    const out = Int32Array.from(new Int32Array(buf, 0, 15));
    if (code !== 0) return { code, entry: out[0]!, detail: out[1]! };
    const blobUsed = out[9]!;
    // The chain runs only over a walk that referenced the whole blob (the caller refuses any other).
    const { links, last } = blobUsed === c.blob.length ? this.chain(n, c.prev, c.firstSeq, descAt, blobAt, linksAt, scratchAt) : { links: new Uint32Array(0), last: 0n };
    return {
      desc: mem.slice(descAt, descAt + n * descBytes),
      payAt: new Int32Array(buf.slice(payAtAt, payAtAt + n * 4)),
      kindEntries: [out[2]!, out[3]!, out[4]!],
      kindBytes: [out[5]!, out[6]!, out[7]!],
      blobUsed,
      varintsUsed: [out[10]!, out[11]!, out[12]!],
      channelsUsed: out[13]!,
      customUsed: out[14]!,
      links,
      last,
    };
  }

  /**
   * A run of `n` captured records of one size (`stride`) at `src[at ..)` that share kind, call id, channel and
   * request (schema/wasm/xxh64.wat `encodeRepeats`): their descriptors, payloads (request, then data) and
   * call-index deltas from `prev` (as varints) are made in the module's memory, where `repeatsInto` copies them
   * from (until the module is used again). `bad` is the run's first entry whose call index goes back or is not a
   * safe integer (then nothing is to be copied), or -1.
   */
  repeats(n: number, src: Uint8Array, at: number, stride: number, req: Uint8Array, dataLen: number, prev: number, channel: number, kind: number, id: number): RepeatsRun {
    const reqLen = req.length;
    const payload = reqLen + dataLen;
    const reqIn = dynamicBase;
    const srcIn = align8(reqIn + reqLen);
    const descOut = align8(srcIn + n * stride);
    const blobOut = descOut + n * descBytes;
    const deltasOut = blobOut + n * payload;
    this.room(deltasOut + n * 8);
    const mem = new Uint8Array(this.wasm.memory.buffer);
    mem.set(req, reqIn);
    mem.set(src.subarray(at, at + n * stride), srcIn);
    const r = this.wasm.encodeRepeats(n, srcIn, stride, reqIn, reqLen, dataLen, prev, channel, kind, id, descOut, blobOut, deltasOut);
    return { n, payload, bad: r < 0 ? -r - 1 : -1, deltaBytes: r < 0 ? 0 : r, descOut, blobOut, deltasOut };
  }

  /**
   * A packed run of `n` entries at call indices from `first` that share kind, call id, channel and request, with
   * `dataLen` bytes of data each back to back at `src[at ..)` (schema/wasm/xxh64.wat `encodePacked`): their
   * descriptors go to `desc` from `descAt` and their payloads (request, then data) to `blob` from `blobAt` (both
   * must have room).
   */
  packedInto(n: number, src: Uint8Array, at: number, dataLen: number, req: Uint8Array, first: number, channel: number, kind: number, id: number, desc: Uint8Array, descAt: number, blob: Uint8Array, blobAt: number): void {
    const reqLen = req.length;
    const reqIn = dynamicBase;
    const srcIn = align8(reqIn + reqLen);
    const descOut = align8(srcIn + n * dataLen);
    const blobOut = descOut + n * descBytes;
    this.room(blobOut + n * (reqLen + dataLen));
    let mem = new Uint8Array(this.wasm.memory.buffer);
    mem.set(req, reqIn);
    mem.set(src.subarray(at, at + n * dataLen), srcIn);
    this.wasm.encodePacked(n, srcIn, dataLen, reqIn, reqLen, first, channel, kind, id, descOut, blobOut);
    mem = new Uint8Array(this.wasm.memory.buffer);
    desc.set(mem.subarray(descOut, blobOut), descAt);
    blob.set(mem.subarray(blobOut, blobOut + n * (reqLen + dataLen)), blobAt);
  }

  /** Copies a run's descriptors, payloads and deltas to the given arrays at the given offsets (they must have room). */
  repeatsInto(run: RepeatsRun, desc: Uint8Array, descAt: number, blob: Uint8Array, blobAt: number, deltas: Uint8Array, deltasAt: number): void {
    const mem = new Uint8Array(this.wasm.memory.buffer);
    desc.set(mem.subarray(run.descOut, run.descOut + run.n * descBytes), descAt);
    blob.set(mem.subarray(run.blobOut, run.blobOut + run.n * run.payload), blobAt);
    deltas.set(mem.subarray(run.deltasOut, run.deltasOut + run.deltaBytes), deltasAt);
  }

  /**
   * The stored forms of `n` entries' payloads (trace format 2: EntryBatch.payload_forms; schema/wasm/xxh64.wat
   * `packPayloads`), from their descriptors (descBytes each) and payloads back to back.
   */
  pack(n: number, desc: Uint8Array, blob: Uint8Array): PackedPayloads {
    const stateAt = align8(tableNames.end);
    const savedAt = stateAt + formsStateBytes;
    const descAt = savedAt + 16;
    const blobAt = descAt + n * descBytes;
    const formsAt = blobAt + blob.length;
    const outAt = align8(formsAt + n);
    this.room(outAt + blob.length);
    const buf = this.wasm.memory.buffer;
    const mem = new Uint8Array(buf);
    mem.set(desc.subarray(0, n * descBytes), descAt);
    mem.set(blob, blobAt);
    const len = this.wasm.packPayloads(n, descAt, blobAt, outAt, formsAt, stateAt, savedAt);
    const saved = new Int32Array(buf, savedAt, 3);
    return {
      stored: new Uint8Array(buf, outAt, len),
      forms: new Uint8Array(buf, formsAt, n),
      // The forms column costs a byte per entry and up to 15 bytes besides (its length word and padding, a table
      // slot and a vtable entry with theirs), and the shorter blob's padding may take 3 back: worth it only when
      // the forms save more than all that.
      any: blob.length - len >= n + 18,
      saved: [saved[0]!, saved[1]!, saved[2]!],
    };
  }

  /**
   * The whole payloads of `n` entries stored in `forms` (schema/wasm/xxh64.wat `unpackPayloads`, and
   * `payloadsLength` when they need more room than a first guess): a new array, and the bytes the forms saved per
   * kind; or the fault. undefined when the length columns do not hold n varints (the column walk then names the
   * fault). `maxBytes` bounds the result.
   */
  unpack(
    n: number, kinds: Uint8Array, ids: Uint8Array, forms: Uint8Array, reqLens: Uint8Array, dataLens: Uint8Array, stored: Uint8Array, maxBytes: number,
  ): { blob: Uint8Array; saved: readonly [number, number, number] } | UnpackFailure | undefined {
    const stateAt = align8(tableNames.end);
    const savedAt = stateAt + formsStateBytes;
    const kindsAt = savedAt + 16;
    const idsAt = kindsAt + n;
    const formsAt = idsAt + n;
    const reqAt = formsAt + n;
    const dataAt = reqAt + reqLens.length;
    const inAt = dataAt + dataLens.length;
    const outAt = align8(inAt + stored.length);
    let room = Math.min(maxBytes, stored.length + n * UNPACK_GUESS_PER_ENTRY + 64);
    this.room(outAt + room);
    const mem = new Uint8Array(this.wasm.memory.buffer);
    mem.set(kinds, kindsAt);
    mem.set(ids, idsAt);
    mem.set(forms, formsAt);
    mem.set(reqLens, reqAt);
    mem.set(dataLens, dataAt);
    mem.set(stored, inAt);
    const run = (): number => this.wasm.unpackPayloads(n, kindsAt, idsAt, formsAt, reqAt, dataAt, dataAt, inAt, inAt, inAt + stored.length, outAt, outAt + room, stateAt, savedAt);
    let r = run();
    if (r === UNPACK_ROOM) {
      const total = this.wasm.payloadsLength(n, reqAt, dataAt, dataAt, inAt);
      if (total < 0) return undefined;
      if (total > maxBytes) return { fault: `payloads of ${total} bytes exceed the ${maxBytes} a batch may hold`, entry: -1 };
      room = total;
      this.room(outAt + room);
      r = run();
    }
    if (r === UNPACK_COLUMNS) return undefined;
    const buf = this.wasm.memory.buffer;
    const words = new Int32Array(buf, savedAt, 4);
    if (r < 0) return { fault: unpackFaults[-r - 1] ?? `fault ${r}`, entry: words[3]! };
    return { blob: new Uint8Array(buf).slice(outAt, outAt + r), saved: [words[0]!, words[1]!, words[2]!] };
  }

  /** Lays the custom names out from dynamicBase: a (ptr, len) table, then their bytes (chainBatch's `custom`). */
  private putCustomNames(names: readonly Uint8Array[]): void {
    if (names.length === 0) return;
    const buf = this.wasm.memory.buffer;
    const mem = new Uint8Array(buf);
    const table = new Int32Array(buf, dynamicBase, names.length * 2);
    let at = dynamicBase + names.length * 8;
    names.forEach((b, k) => {
      mem.set(b, at);
      table[k * 2] = at;
      table[k * 2 + 1] = b.length;
      at += b.length;
    });
  }

  /** chainBatch over a batch laid out in memory: each entry's link (a view, valid until the next use) and the end value. */
  private chain(n: number, prev: bigint, firstSeq: number, descAt: number, blobAt: number, linksAt: number, scratchAt: number): { links: Uint32Array; last: bigint } {
    const { lo, hi } = splitChecksum(prev);
    this.wasm.chainBatch(n, lo, hi, firstSeq, descAt, blobAt, nameTableBase, dynamicBase, linksAt, scratchAt);
    const buf = this.wasm.memory.buffer;
    const words = new Uint32Array(buf, 0, 2);
    return { links: new Uint32Array(buf, linksAt, n), last: n === 0 ? BigInt.asUintN(64, prev) : joinChecksum(words[0]!, words[1]!) };
  }

  /** Grows the wasm memory so that `bytes` fit (at least doubling, so growth is amortised). */
  private room(bytes: number): void {
    const have = this.wasm.memory.buffer.byteLength;
    if (bytes <= have) return;
    const pages = Math.max(Math.ceil((bytes - have) / wasmPageBytes), have / wasmPageBytes);
    this.wasm.memory.grow(pages);
  }

  /** xxh64 (seed 0) of `data`, through the module (for tests: must equal the reference implementation). */
  xxh64(data: Uint8Array): bigint {
    const at = align8(tableNames.end);
    this.room(at + data.length);
    new Uint8Array(this.wasm.memory.buffer).set(data, at);
    return BigInt.asUintN(64, this.wasm.xxh64(at, data.length));
  }
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

/** Where a run's or a decode's own layout starts in an encoder's wasm memory (after the call-table names). */
const dynamicBase = align8(tableNames.end);

/** Where the custom names laid out from dynamicBase end (see BatchChain.putCustomNames). */
function customNamesEnd(names: readonly Uint8Array[]): number {
  let end = dynamicBase + names.length * 8;
  for (const b of names) end += b.length;
  return end;
}

/** A chain value as its u32 halves. */
export function splitChecksum(v: bigint): { lo: number; hi: number } {
  const u = BigInt.asUintN(64, v);
  return { lo: Number(u & 0xffffffffn), hi: Number(u >> 32n) };
}

/** The u64 chain value of two u32 halves. */
export function joinChecksum(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}
