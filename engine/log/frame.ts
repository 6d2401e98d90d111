/**
 * Size-prefixed, self-checking frames: the unit of trace files and of the live channel on byte streams.
 *
 *   offset 0  u32 LE  payload length
 *          4  u8      frame type (FrameType)
 *          5  u8      reserved, 0
 *          6  u16 LE  header check: low 16 bits of xxh64(header bytes 0..5 and 8..15)
 *          8  u64 LE  xxh64(payload), seed 0
 *         16  payload
 *
 * Why a header check: a flipped bit in the length would otherwise make a frame in the middle of a file
 * look like a torn tail (length points past EOF) or make a reader allocate a huge buffer; with the check it
 * is reported as corruption at its offset. Why per-frame checksums (on top of the entry hash chain): they
 * localise damage to a frame before any FlatBuffers byte is trusted.
 */
import { xxh64 } from '@node-rs/xxhash';
import { LogFormatError } from './errors.ts';

export const frameHeaderBytes = 16;

/** Frame types. Append only: values are on disk. */
export const enum FrameType {
  /** TraceHeader table. */
  Header = 1,
  /** EntryBatch table. */
  Batch = 2,
  /** Snapshot envelope (engine/checkpoint/snapshot-codec.ts). */
  Snapshot = 3,
  /** TraceEnd table: the trace was closed cleanly. */
  End = 4,
  /** Message table (live channel). */
  Message = 5,
}

/** Default frame size limit: generous for entry batches and messages; snapshot frames may need more. */
export const frameBytesMaxDefault = 64 * 1024 * 1024;
/** Hard ceiling (u32 length field, and far beyond any sane single allocation). */
export const frameBytesLimit = 0xffffffff;

function headerCheck(h: Uint8Array): number {
  const b = new Uint8Array(14);
  b.set(h.subarray(0, 6), 0);
  b.set(h.subarray(8, 16), 6);
  return Number(xxh64(b) & 0xffffn);
}

/**
 * Writes the header of a frame holding `payload` into `into` (at least frameHeaderBytes long, from its offset 0):
 * for a writer that sends header and payload without joining them first (TraceSink.writeFrame).
 */
export function frameHeaderInto(into: Uint8Array, type: FrameType, payload: Uint8Array): void {
  if (payload.length > frameBytesLimit) throw new LogFormatError('E_FRAME_SIZE', `payload of ${payload.length} bytes`);
  const v = new DataView(into.buffer, into.byteOffset, frameHeaderBytes);
  v.setUint32(0, payload.length, true);
  v.setUint8(4, type);
  v.setUint8(5, 0);
  v.setBigUint64(8, xxh64(payload), true);
  v.setUint16(6, headerCheck(into), true);
}

/** Encodes one frame. */
export function encodeFrame(type: FrameType, payload: Uint8Array): Uint8Array {
  if (payload.length > frameBytesLimit) throw new LogFormatError('E_FRAME_SIZE', `payload of ${payload.length} bytes`);
  // Every byte is written below (the header's 16, then the payload), so the buffer need not be zeroed first.
  // Its own ArrayBuffer (never a pooled one), so a frame may be transferred or viewed from offset 0.
  const n = frameHeaderBytes + payload.length;
  const out = new Uint8Array(Buffer.allocUnsafeSlow(n).buffer, 0, n);
  frameHeaderInto(out, type, payload);
  out.set(payload, frameHeaderBytes);
  return out;
}

export interface Frame {
  readonly type: number;
  /** A private copy (exact-size, offset 0): safe to keep and to hand to decoders. */
  readonly payload: Uint8Array;
  /** Stream offset of the frame header. */
  readonly offset: number;
  /** Total frame size, header included. */
  readonly bytes: number;
}

/**
 * Incremental frame reader for streams and sockets: push chunks as they arrive, pull complete frames.
 * Memory is bounded by the largest frame plus one chunk. After a corruption error the reader is stuck
 * (framing sync is lost; every later next() rethrows the same error).
 */
export class FrameReader {
  private buf: Uint8Array;
  private start = 0;
  private end = 0;
  /** Stream offset of buf[start]. */
  private base: number;
  private failed: LogFormatError | undefined;
  private readonly maxFrameBytes: number;
  /** High-water mark of the internal buffer, bytes (bounded-memory evidence). */
  bufferBytesPeak = 0;

  constructor(opts: { maxFrameBytes?: number; startOffset?: number } = {}) {
    this.maxFrameBytes = Math.min(opts.maxFrameBytes ?? frameBytesMaxDefault, frameBytesLimit);
    this.base = opts.startOffset ?? 0;
    this.buf = new Uint8Array(64 * 1024);
    this.bufferBytesPeak = this.buf.length;
  }

  /** Stream offset of the first byte not yet consumed as part of a frame. */
  get offset(): number {
    return this.base;
  }
  /** Bytes received but not yet returned as a frame. */
  get pending(): number {
    return this.end - this.start;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.room(chunk.length).set(chunk);
    this.commit(chunk.length);
  }

  /**
   * `n` bytes of room after what was received, for a reader to fill in place (then commit() what it wrote): the
   * bytes of a file go into the reader's buffer with no copy on the way.
   */
  room(n: number): Uint8Array {
    if (this.end + n > this.buf.length) {
      const live = this.end - this.start;
      if (live + n <= this.buf.length && this.start > 0) {
        this.buf.copyWithin(0, this.start, this.end);
      } else {
        let cap = this.buf.length;
        while (cap < live + n) cap *= 2;
        const next = new Uint8Array(cap);
        next.set(this.buf.subarray(this.start, this.end));
        this.buf = next;
        this.bufferBytesPeak = Math.max(this.bufferBytesPeak, cap);
      }
      this.start = 0;
      this.end = live;
    }
    this.roomEnd = this.end + n;
    return this.buf.subarray(this.end, this.roomEnd);
  }

  /** End of the room the last room() gave (commit() stays inside it). */
  private roomEnd = 0;

  /** The first `n` bytes of the last room() were written. */
  commit(n: number): void {
    if (!(n >= 0 && this.end + n <= this.roomEnd)) throw new RangeError(`commit of ${n} bytes past the room given (${this.roomEnd - this.end})`);
    this.end += n;
    this.roomEnd = this.end;
  }

  /**
   * The next complete frame, or undefined when more bytes are needed. Throws LogFormatError
   * (E_CHECKSUM: header or payload checksum; E_FRAME_SIZE: over the limit) with the frame's offset.
   */
  next(): Frame | undefined {
    if (this.failed) throw this.failed;
    const avail = this.end - this.start;
    if (avail < frameHeaderBytes) return undefined;
    const h = this.buf.subarray(this.start, this.start + frameHeaderBytes);
    const v = new DataView(h.buffer, h.byteOffset, frameHeaderBytes);
    const length = v.getUint32(0, true);
    if (v.getUint16(6, true) !== headerCheck(h) || v.getUint8(5) !== 0) {
      throw this.fail(new LogFormatError('E_CHECKSUM', 'frame header check mismatch', this.base));
    }
    if (length > this.maxFrameBytes) {
      throw this.fail(new LogFormatError('E_FRAME_SIZE', `frame of ${length} bytes exceeds the limit of ${this.maxFrameBytes}`, this.base));
    }
    if (avail < frameHeaderBytes + length) return undefined;
    const type = v.getUint8(4);
    const sum = v.getBigUint64(8, true);
    const payload = this.buf.slice(this.start + frameHeaderBytes, this.start + frameHeaderBytes + length);
    if (xxh64(payload) !== sum) {
      throw this.fail(new LogFormatError('E_CHECKSUM', `frame payload checksum mismatch (type ${type}, ${length} bytes)`, this.base));
    }
    const frame: Frame = { type, payload, offset: this.base, bytes: frameHeaderBytes + length };
    this.start += frame.bytes;
    this.base += frame.bytes;
    if (this.start === this.end) this.start = this.end = 0;
    return frame;
  }

  /**
   * Why the pending bytes do not form a frame (for torn-tail reports at end of stream), or undefined when
   * nothing is pending.
   */
  describePending(): string | undefined {
    const avail = this.end - this.start;
    if (avail === 0) return undefined;
    if (avail < frameHeaderBytes) return `incomplete frame header (${avail} of ${frameHeaderBytes} bytes)`;
    const length = new DataView(this.buf.buffer, this.buf.byteOffset + this.start, 4).getUint32(0, true);
    return `incomplete frame (${avail} of ${frameHeaderBytes + length} bytes)`;
  }

  private fail(err: LogFormatError): LogFormatError {
    this.failed = err;
    return err;
  }
}
