/**
 * A bounds-checked FlatBuffers ByteBuffer. The flatbuffers JS runtime has no verifier: reads past the end
 * return `undefined` (coerced to 0) and strings are silently clamped, so a malformed buffer yields garbage
 * instead of an error. Every scalar read and string here checks its range and throws OutOfBounds, and
 * `readFlat` turns that (and the RangeError of an out-of-range typed-array view) into
 * LogFormatError('E_MALFORMED'). Buffers are copied into an exact-size ArrayBuffer first, so typed-array
 * views made by generated `xxxArray()` accessors cannot reach bytes outside the buffer either.
 */
import { ByteBuffer, Encoding } from 'flatbuffers';
import { LogFormatError } from './errors.ts';

class OutOfBounds extends Error {}

export class CheckedByteBuffer extends ByteBuffer {
  private readonly size: number;
  constructor(bytes: Uint8Array) {
    super(bytes);
    this.size = bytes.length;
  }
  private check(offset: number, n: number): void {
    if (!Number.isInteger(offset) || offset < 0 || offset + n > this.size) {
      throw new OutOfBounds(`read of ${n} bytes at ${offset} outside buffer of ${this.size}`);
    }
  }
  override readUint8(offset: number): number {
    this.check(offset, 1);
    return super.readUint8(offset);
  }
  override readUint16(offset: number): number {
    this.check(offset, 2);
    return super.readUint16(offset);
  }
  override readInt32(offset: number): number {
    this.check(offset, 4);
    return super.readInt32(offset);
  }
  /** A vector's start must lie inside the buffer (a view made from it then cannot start outside it). */
  override __vector(offset: number): number {
    const at = super.__vector(offset);
    this.check(at, 0);
    return at;
  }
  override __string(offset: number, optEncoding?: Encoding): string | Uint8Array {
    const start = offset + this.readInt32(offset);
    const length = this.readInt32(start);
    this.check(start + 4, length < 0 ? this.size + 1 : length);
    return super.__string(offset, optEncoding);
  }
}

/**
 * Parses with bounds checks: `read` gets a CheckedByteBuffer over an exact, aligned copy of `bytes`.
 * `what` names the structure in error messages. `tailView`: `bytes` may be read in place when it is an
 * 8-aligned view that runs to the end of its buffer (a snapshot after its envelope): vector starts are
 * checked and a view past the end throws, so nothing outside `bytes` is reached, and a large snapshot is not
 * copied once more. The result may then view `bytes`.
 */
export function readFlat<T>(bytes: Uint8Array, what: string, read: (bb: ByteBuffer) => T, opts: { readonly tailView?: boolean } = {}): T {
  // An exact-size buffer at byteOffset 0 (8-aligned for ulong vectors): reuse it (frame payloads already
  // are one), otherwise copy so typed-array views cannot reach neighbouring bytes.
  const end = bytes.byteOffset + bytes.byteLength === bytes.buffer.byteLength;
  const exact = end && (bytes.byteOffset === 0 || (opts.tailView === true && bytes.byteOffset % 8 === 0));
  // new Uint8Array(x) always copies (Buffer#slice would return a view into Node's shared pool).
  const copy = exact ? bytes : new Uint8Array(bytes);
  try {
    if (copy.length < 8) throw new OutOfBounds('shorter than a root offset and vtable');
    return read(new CheckedByteBuffer(copy));
  } catch (err) {
    if (err instanceof LogFormatError) throw err;
    if (err instanceof OutOfBounds || err instanceof RangeError || err instanceof TypeError) {
      throw new LogFormatError('E_MALFORMED', `malformed ${what}: ${(err as Error).message}`);
    }
    throw err;
  }
}

/** Throws E_MALFORMED unless a vector of `length` elements could fit in the buffer (guards loops). */
export function checkLength(bb: ByteBuffer, length: number, elementBytes: number, what: string): number {
  if (!Number.isInteger(length) || length < 0 || length * elementBytes > bb.capacity()) {
    throw new LogFormatError('E_MALFORMED', `${what}: impossible length ${length}`);
  }
  return length;
}

/** bigint ulong -> safe JS number, or E_MALFORMED. */
export function safeNumber(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new LogFormatError('E_MALFORMED', `${what} ${value} exceeds the safe integer range`);
  }
  return Number(value);
}
