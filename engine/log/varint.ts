/**
 * LEB128 unsigned varints for the small per-entry numbers of an EntryBatch (call-index deltas, lengths):
 * nearly all are < 128, so one byte each instead of four or eight.
 */
import { LogFormatError } from './errors.ts';

/** Largest value a varint may carry: beyond it JS numbers lose integer precision. */
const varintValueMax = Number.MAX_SAFE_INTEGER;
/** ceil(53 / 7): longer encodings are overlong or out of range. */
const varintBytesMax = 8;

/** Bytes needed for `value`. */
export function varintSize(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

/** Growable byte sink for varint columns (encoders reuse one per column). */
export class ByteSink {
  bytes: Uint8Array;
  length = 0;
  /** The bytes as words (the capacity is a multiple of 8), for appendRange's word copies. */
  private words: Int32Array;
  /**
   * Per source slot (appendRange's `slot`): the last source array, whether it came twice in a row, and its
   * word view. Sources that come back (a capture chunk, a request or result array the host refills) are
   * copied a word at a time; a view of a fresh array would cost more than its byte copy.
   */
  private readonly srcs: Array<Uint8Array | undefined> = [undefined, undefined];
  private readonly srcWords: Array<Int32Array | undefined> = [undefined, undefined];
  constructor(capacity = 256) {
    this.bytes = new Uint8Array((Math.max(8, capacity) + 7) & ~7);
    this.words = new Int32Array(this.bytes.buffer);
  }
  private reserve(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    let cap = this.bytes.length * 2;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
    this.words = new Int32Array(next.buffer);
  }
  varint(value: number): void {
    if (value < 0x80 && this.length < this.bytes.length) {
      this.bytes[this.length++] = value;
      return;
    }
    this.reserve(varintBytesMax);
    while (value >= 0x80) {
      this.bytes[this.length++] = (value % 128) | 0x80;
      value = Math.floor(value / 128);
    }
    this.bytes[this.length++] = value;
  }
  append(data: Uint8Array): void {
    const n = data.length;
    this.reserve(n);
    const bytes = this.bytes;
    const at = this.length;
    // Element copies beat set() for the few bytes of most entries (set() has a fixed cost of its own).
    if (n <= 16) for (let k = 0; k < n; k++) bytes[at + k] = data[k]!;
    else bytes.set(data, at);
    this.length = at + n;
  }
  /**
   * Appends `n` bytes of `src` from `at`. `slot` (0 or 1) names the kind of source, so that two sources used
   * in turn (a request and a result) each keep their word view.
   */
  appendRange(src: Uint8Array, at: number, n: number, slot = 0): void {
    this.reserve(n);
    const to = this.length;
    if (n >= 8 && ((to | at | n) & 3) === 0) {
      const w = this.wordsOf(src, slot);
      if (w !== undefined) {
        const d = this.words;
        const from = at >> 2;
        const into = to >> 2;
        for (let k = 0, m = n >> 2; k < m; k++) d[into + k] = w[from + k]!;
        this.length = to + n;
        return;
      }
    }
    const bytes = this.bytes;
    if (n <= 16) for (let k = 0; k < n; k++) bytes[to + k] = src[at + k]!;
    else bytes.set(src.subarray(at, at + n), to);
    this.length = to + n;
  }

  /** The word view of a source seen twice in a row in this slot (undefined: not yet, or not aligned). */
  private wordsOf(src: Uint8Array, slot: number): Int32Array | undefined {
    if (this.srcs[slot] !== src) {
      this.srcs[slot] = src;
      this.srcWords[slot] = undefined;
      return undefined;
    }
    let w = this.srcWords[slot];
    if (w === undefined && (src.byteOffset & 3) === 0) {
      w = new Int32Array(src.buffer, src.byteOffset, src.length >> 2);
      this.srcWords[slot] = w;
    }
    return w;
  }
  view(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }
  reset(): void {
    this.length = 0;
  }
}

/** Sequential varint reader with full validation (no overlong, no overflow, no read past the end). */
export class VarintReader {
  private pos = 0;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly column: string,
  ) {}
  /** The next value (one-byte values inline; the rest, and every error, in nextLong). */
  next(): number {
    const p = this.pos;
    const bytes = this.bytes;
    if (p < bytes.length) {
      const b = bytes[p]!;
      if (b < 0x80) {
        this.pos = p + 1;
        return b;
      }
    }
    return this.nextLong();
  }

  private nextLong(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < varintBytesMax; i++) {
      if (this.pos >= this.bytes.length) {
        throw new LogFormatError('E_MALFORMED', `varint column ${this.column} ends inside a value`);
      }
      const b = this.bytes[this.pos++]!;
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) throw new LogFormatError('E_MALFORMED', `overlong varint in column ${this.column}`);
        if (value > varintValueMax) throw new LogFormatError('E_MALFORMED', `varint too large in column ${this.column}`);
        return value;
      }
      scale *= 128;
    }
    throw new LogFormatError('E_MALFORMED', `varint too long in column ${this.column}`);
  }
  /** Bytes consumed so far. */
  get consumed(): number {
    return this.pos;
  }

  /** True when every byte was consumed: trailing bytes mean a column/count mismatch. */
  done(): boolean {
    return this.pos === this.bytes.length;
  }
}
