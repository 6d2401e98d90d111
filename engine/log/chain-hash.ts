/**
 * The per-entry step of the log's hash chain, computed in WebAssembly (schema/wasm/xxh64.wat).
 *
 * The chain value of an entry is xxh64(prev u64 LE || canonical record) (see hash-chain.ts for the record).
 * Records are small (about 40 to 80 bytes for clock and random entries), where a native addon call per
 * entry costs several times the hash itself; the wasm module computes the same xxh64, bit for bit, at a
 * few tens of nanoseconds per entry. Callers write the record straight into the module's memory through
 * `ChainScratch` and never allocate per entry.
 *
 * Chain values are kept as two u32 halves (`lo`, `hi`) on the hot path: BigInt only at batch ends.
 */
import { wasmBase64 } from '../../schema/generated/wasm/xxh64.ts';

export interface ChainExports {
  readonly memory: WebAssembly.Memory;
  readonly chain: (len: number) => void;
  readonly xxh64: (ptr: number, len: number) => bigint;
  /** See schema/wasm/xxh64.wat: the chain over a whole batch laid out in memory. */
  readonly chainBatch: (
    n: number, prevLo: number, prevHi: number, seq: number, desc: number, blob: number, names: number,
    custom: number, links: number, scratch: number,
  ) => void;
}

// Chain values are read through Uint32Array views on wasm memory, which is little-endian.
if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new Error('twinstep needs a little-endian host');

let compiled: WebAssembly.Module | undefined;

/** A fresh instance of the chain module (its own memory): each encoder lays its batch out in one. */
export function chainInstance(): ChainExports {
  compiled ??= new WebAssembly.Module(Buffer.from(wasmBase64, 'base64'));
  return new WebAssembly.Instance(compiled, {}).exports as unknown as ChainExports;
}

/** Offset of the record in the module's memory: [0..8) result, [8..16) previous value, [16..) record. */
export const recordOffset = 16;

const wasmPage = 65536;

let shared: ChainScratch | undefined;

/**
 * One instance of the chain module and views on its memory. Stateless between calls, so one instance is
 * shared by every chain in the process (JS is single-threaded and a step never yields).
 */
export class ChainScratch {
  private readonly exports: ChainExports;
  /** Views on the module's memory; replaced when the memory grows (a record larger than it). */
  bytes!: Uint8Array;
  view!: DataView;
  private words!: Uint32Array;

  private constructor() {
    this.exports = chainInstance();
    this.refresh();
  }

  static get(): ChainScratch {
    return (shared ??= new ChainScratch());
  }

  private refresh(): void {
    const buf = this.exports.memory.buffer;
    this.bytes = new Uint8Array(buf);
    this.view = new DataView(buf);
    this.words = new Uint32Array(buf, 0, 4);
  }

  /** Makes room for a record of `len` bytes at recordOffset (grows the memory when needed). */
  reserve(len: number): void {
    const need = recordOffset + len;
    if (need <= this.bytes.length) return;
    this.exports.memory.grow(Math.ceil((need - this.bytes.length) / wasmPage));
    this.refresh();
  }

  /**
   * Hashes (prevLo, prevHi) followed by the `len`-byte record already written at recordOffset. The result is
   * then in `lo` / `hi`.
   */
  step(prevLo: number, prevHi: number, len: number): void {
    const w = this.words;
    w[2] = prevLo;
    w[3] = prevHi;
    this.exports.chain(len);
  }

  /** Low half of the last step's result. */
  get lo(): number {
    return this.words[0]!;
  }

  /** High half of the last step's result. */
  get hi(): number {
    return this.words[1]!;
  }

  /** xxh64 (seed 0) of `data`, through the module (for tests: must equal the reference implementation). */
  xxh64(data: Uint8Array): bigint {
    this.reserve(data.length);
    this.bytes.set(data, recordOffset);
    return BigInt.asUintN(64, this.exports.xxh64(recordOffset, data.length));
  }
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
