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

/**
 * The word view of a byte array that comes back: `of(src)` answers one when `src` is the array it was asked
 * about last time too (a capture chunk, or a request or result array the host refills) and starts on a word
 * boundary. Such sources are copied a word at a time; a view of a fresh array would cost more than its byte
 * copy, so none is made for an array seen once.
 */
export class RepeatWords {
  private last: Uint8Array | undefined;
  private words: Int32Array | undefined;

  of(src: Uint8Array): Int32Array | undefined {
    if (this.last !== src) {
      this.last = src;
      this.words = undefined;
      return undefined;
    }
    if (this.words === undefined && (src.byteOffset & 3) === 0) this.words = new Int32Array(src.buffer, src.byteOffset, src.length >> 2);
    return this.words;
  }
}

/** Growable byte sink for varint columns and payload blobs (encoders reuse one per column). */
export class ByteSink {
  bytes: Uint8Array;
  length = 0;
  /** The bytes as words (the capacity is a multiple of 8), for appendRange's word copies. */
  private words: Int32Array;
  /** Per source slot of appendRange (a request and a result, used in turn): its returning source. */
  private readonly sources = [new RepeatWords(), new RepeatWords()];
  constructor(capacity = 256) {
    this.bytes = new Uint8Array((Math.max(8, capacity) + 7) & ~7);
    this.words = new Int32Array(this.bytes.buffer);
  }
  /** Makes room for `n` more bytes (a caller may then write straight into `bytes` from `length` on). */
  reserve(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    let cap = this.bytes.length * 2;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
    this.words = new Int32Array(next.buffer);
  }
  /** Appends `value` as a varint; returns the bytes it took. */
  varint(value: number): number {
    const at = this.length;
    if (value < 0x80 && at < this.bytes.length) {
      this.bytes[at] = value;
      this.length = at + 1;
      return 1;
    }
    this.reserve(varintBytesMax);
    while (value >= 0x80) {
      this.bytes[this.length++] = (value % 128) | 0x80;
      value = Math.floor(value / 128);
    }
    this.bytes[this.length++] = value;
    return this.length - at;
  }
  /**
   * Appends `n` bytes of `src` from `at`. `slot` (0 or 1) names the kind of source, so that two sources used
   * in turn (a request and a result) each keep their word view.
   */
  appendRange(src: Uint8Array, at: number, n: number, slot = 0): void {
    this.reserve(n);
    const to = this.length;
    if (n >= 8 && ((to | at | n) & 3) === 0) {
      const w = this.sources[slot]!.of(src);
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
  /** Appends the last `width` bytes (the last value written, `width` its varint() result) `times` more times. */
  repeatLast(width: number, times: number): void {
    if (times <= 0) return;
    this.reserve(width * times);
    const bytes = this.bytes;
    const from = this.length - width;
    let to = this.length;
    if (width === 1) {
      bytes.fill(bytes[from]!, to, to + times);
      to += times;
    } else {
      for (let t = 0; t < times; t++, to += width) bytes.copyWithin(to, from, from + width);
    }
    this.length = to;
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
