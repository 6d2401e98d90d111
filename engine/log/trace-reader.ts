/**
 * TraceReader: reads a trace file with bounded memory through a SYNCHRONOUS pull API (`next()`), because
 * replay feeds logged results from inside a host call, where nothing can be awaited. The file is read in
 * chunks with fs.readSync; at any time the reader holds one chunk, the frame buffer (bounded by the largest
 * frame) and the entries of one batch. `stats` exposes those high-water marks.
 *
 * Problems in the prelude/header (nothing usable yet) THROW from open(): E_MAGIC, E_VERSION, E_TRUNCATED,
 * E_CHECKSUM, E_MALFORMED. Problems after the header never throw mid-replay: next() returns every entry of
 * the valid prefix, then undefined, and `tail` says why the trace ended:
 *   clean    End frame present and consistent with the entries
 *   open     ended exactly at a frame boundary without End frame (recorder killed between writes)
 *   torn     ended inside a frame (recorder killed mid-write); offset = start of that frame
 *   corrupt  a complete frame failed its checksum, structure or hash chain; offset = that frame
 * A consumer that needs the whole trace calls assertComplete() after draining.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import type { LogEntry } from './entry.ts';
import { LogFormatError, type LogFormatCode } from './errors.ts';
import { decodeFlatBatch } from './entry-codec.ts';
import type { FlatBatch } from './flat-batch.ts';
import { FrameReader, FrameType, type Frame } from './frame.ts';
import { HashChain, hex } from './hash-chain.ts';
import {
  checkPrelude,
  decodeTraceEnd,
  decodeTraceHeader,
  tracePreludeBytes,
  type TraceEndData,
  type TraceHeaderData,
} from './trace-header.ts';
import { attributeColumns, emptyKindBytes, type KindBytes } from './trace-stats.ts';
import { decoderFeed } from './trace-read-offload.ts';

export type TraceTail =
  | { readonly state: 'reading' }
  | { readonly state: 'clean'; readonly end: TraceEndData }
  | { readonly state: 'open'; readonly offset: number }
  | { readonly state: 'torn'; readonly offset: number; readonly reason: string }
  | { readonly state: 'corrupt'; readonly offset: number; readonly code: LogFormatCode; readonly reason: string };

export interface TraceReaderOptions {
  /** Bytes per read (default 1 MiB). */
  readonly chunkBytes?: number;
  /**
   * TraceReader.open only: decode and verify the batches on the process's decoder thread
   * (trace-read-offload.ts), which reads the file itself from the reader's next frame on; same batches, same
   * tail, same statistics as decoding here.
   */
  readonly decodeThread?: boolean;
  /** Largest frame accepted (default 256 MiB, room for snapshot frames); bounds memory. */
  readonly maxFrameBytes?: number;
}

export interface TraceReaderStats extends KindBytes {
  /** Bytes read from the source so far. */
  bytesRead: number;
  /** readSync calls. */
  reads: number;
  frames: number;
  /** Peak size of the frame buffer, bytes. */
  bufferBytesPeak: number;
  /** Most entries held at once (one batch). */
  batchEntriesPeak: number;
}

/** Random-access byte source (a file, or bytes in memory for tests). */
export interface ByteSource {
  /** Reads up to into.length bytes at `position`; returns the count (0 at end). */
  read(into: Uint8Array, position: number): number;
  close(): void;
}

export class FileSource implements ByteSource {
  constructor(private readonly fd: number) {}
  read(into: Uint8Array, position: number): number {
    return readSync(this.fd, into, 0, into.length, position);
  }
  close(): void {
    closeSync(this.fd);
  }
}

class MemorySource implements ByteSource {
  constructor(private readonly bytes: Uint8Array) {}
  read(into: Uint8Array, position: number): number {
    const n = Math.max(0, Math.min(into.length, this.bytes.length - position));
    into.set(this.bytes.subarray(position, position + n));
    return n;
  }
  close(): void {}
}

/**
 * The frames after a trace's header (or from any frame boundary, given the chain state there), read in
 * chunks: the batches in order, then the tail. The reader runs one in its own thread, and the decoder
 * thread (trace-read-offload.ts) runs one for a reader that handed decoding over.
 */
/** Size of a stream's first read (see pullFrame). */
const FIRST_READ_BYTES = 64 * 1024;

export class BatchStream {
  tail: TraceTail = { state: 'reading' };
  readonly chain: HashChain;
  /** Bytes asked of the next read; grows to chunkBytes. */
  private readBytes: number;
  private readonly chunkBytes: number;
  private readonly frames: FrameReader;
  private position: number;
  private eof = false;

  constructor(
    private readonly source: ByteSource,
    /** Stream offset to read from (a frame boundary). */
    offset: number,
    chain: { checksum: bigint; nextSeq: number },
    readonly stats: TraceReaderStats,
    opts: TraceReaderOptions = {},
  ) {
    this.chunkBytes = Math.max(64, opts.chunkBytes ?? 1024 * 1024);
    // The first read is small and the reads grow (see pullFrame): a stream that reads one small trace never
    // zero-fills a MiB.
    this.readBytes = Math.min(this.chunkBytes, FIRST_READ_BYTES);
    this.position = offset;
    this.frames = new FrameReader({ maxFrameBytes: opts.maxFrameBytes ?? 256 * 1024 * 1024, startOffset: offset });
    this.chain = new HashChain(chain.checksum, chain.nextSeq);
  }

  /** The next batch, or undefined once the tail is known (then see `tail`). Never throws for a bad frame. */
  nextBatch(): { batch: FlatBatch; frameOffset: number; frameBytes: number } | undefined {
    while (this.tail.state === 'reading') {
      let frame: Frame | undefined;
      try {
        frame = this.pullFrame();
      } catch (err) {
        this.corrupt(err);
        return undefined;
      }
      if (frame === undefined) {
        const reason = this.frames.describePending();
        this.tail = reason === undefined
          ? { state: 'open', offset: this.frames.offset }
          : { state: 'torn', offset: this.frames.offset, reason };
        return undefined;
      }
      try {
        if (frame.type === FrameType.Batch) {
          const batch = decodeFlatBatch(frame.payload);
          this.chain.acceptBatch(batch.firstSeq, batch.count, batch.prevChecksum, batch.lastChecksum);
          this.stats.batchEntriesPeak = Math.max(this.stats.batchEntriesPeak, batch.count);
          attributeColumns(batch.kindEntries, batch.kindBytes, frame.bytes, this.stats);
          return { batch, frameOffset: frame.offset, frameBytes: frame.bytes };
        }
        if (frame.type === FrameType.End) {
          const end = decodeTraceEnd(frame.payload);
          if (end.endSeq !== this.chain.nextSeq || end.lastChecksum !== this.chain.checksum) {
            throw new LogFormatError('E_CHAIN', `end marker (seq ${end.endSeq}, ${hex(end.lastChecksum)}) does not match the entries (seq ${this.chain.nextSeq}, ${hex(this.chain.checksum)})`);
          }
          const after = this.frames.offset;
          if (this.pullFrame() !== undefined || this.frames.pending > 0) {
            throw new LogFormatError('E_MALFORMED', 'data after the end marker', after);
          }
          this.tail = { state: 'clean', end };
          return undefined;
        }
        throw new LogFormatError('E_MALFORMED', `unexpected frame type ${frame.type} among entry batches`);
      } catch (err) {
        this.corrupt(err, frame.offset);
      }
    }
    return undefined;
  }

  /** Stream offset of the next frame not yet returned (a frame boundary between batches). */
  get offset(): number {
    return this.frames.offset;
  }

  private corrupt(err: unknown, frameOffset?: number): void {
    if (!(err instanceof LogFormatError)) throw err;
    this.tail = { state: 'corrupt', offset: err.offset ?? frameOffset ?? this.frames.offset, code: err.code, reason: err.message };
  }

  requireFrame(what: string): Frame {
    const f = this.pullFrame();
    if (f === undefined) {
      throw new LogFormatError('E_TRUNCATED', `trace ends inside its ${what} (${this.frames.describePending() ?? 'no frame'})`, this.frames.offset);
    }
    return f;
  }

  /** Next complete frame, reading more chunks as needed; undefined at end of input. */
  private pullFrame(): Frame | undefined {
    for (;;) {
      const f = this.frames.next();
      if (f !== undefined) {
        this.stats.frames++;
        return f;
      }
      if (this.eof) return undefined;
      // Read straight into the frame reader's buffer (no copy on the way).
      const n = this.source.read(this.frames.room(this.readBytes), this.position);
      this.stats.reads++;
      if (n === 0) {
        this.eof = true;
        return undefined;
      }
      this.frames.commit(n);
      this.position += n;
      this.stats.bytesRead += n;
      // The first read is small and the reads double up to the chunk size: the first batch is ready after a
      // 64 KiB read instead of a 1 MiB one (a replay waits for it before the guest runs).
      if (this.readBytes < this.chunkBytes) this.readBytes = Math.min(this.chunkBytes, this.readBytes * 2);
      this.stats.bufferBytesPeak = this.frames.bufferBytesPeak;
    }
  }

  close(): void {
    this.source.close();
  }
}

export function emptyReaderStats(): TraceReaderStats {
  return { ...emptyKindBytes(), bytesRead: 0, reads: 0, frames: 0, bufferBytesPeak: 0, batchEntriesPeak: 0 };
}

/** Where a reader's batches come from after the header: its own BatchStream, or the decoder thread. */
export interface BatchFeed {
  nextBatch(): FlatBatch | undefined;
  readonly offloaded: boolean;
  readonly tail: TraceTail;
  close(): void;
}

export class TraceReader implements Iterable<LogEntry> {
  readonly header: TraceHeaderData;
  readonly formatVersion: number;
  /** Encoded snapshot the trace starts from (decode with engine/checkpoint/snapshot-codec.ts). */
  readonly snapshot: Uint8Array | undefined;
  readonly stats: TraceReaderStats;
  private readonly stream: BatchStream;
  private feed: BatchFeed | undefined;
  /** The batch being served and the position of the next entry in it. */
  private batch: FlatBatch | undefined;
  private batchPos = 0;
  /** seq after the last batch served. */
  private servedSeq: number;
  private closed = false;

  static open(path: string, opts: TraceReaderOptions = {}): TraceReader {
    const fd = openSync(path, 'r');
    try {
      const r = new TraceReader(new FileSource(fd), opts);
      if (opts.decodeThread) r.feed = decoderFeed(path, r.stream, r.stats, opts);
      return r;
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  static fromBytes(bytes: Uint8Array, opts: TraceReaderOptions = {}): TraceReader {
    return new TraceReader(new MemorySource(bytes), opts);
  }

  constructor(source: ByteSource, opts: TraceReaderOptions = {}) {
    this.stats = emptyReaderStats();
    const prelude = new Uint8Array(tracePreludeBytes);
    let got = 0;
    while (got < tracePreludeBytes) {
      const n = source.read(prelude.subarray(got), got);
      if (n === 0) break;
      got += n;
    }
    this.stats.bytesRead = got;
    this.formatVersion = checkPrelude(prelude.subarray(0, got));
    const stream = new BatchStream(source, tracePreludeBytes, { checksum: 0n, nextSeq: 0 }, this.stats, opts);
    const headerFrame = stream.requireFrame('header');
    if (headerFrame.type !== FrameType.Header) {
      throw new LogFormatError('E_MALFORMED', `first frame has type ${headerFrame.type}, expected a header`, headerFrame.offset);
    }
    const { header, formatVersion } = decodeTraceHeader(headerFrame.payload);
    if (formatVersion !== this.formatVersion) {
      throw new LogFormatError('E_MALFORMED', `header says version ${formatVersion}, file prelude ${this.formatVersion}`, headerFrame.offset);
    }
    this.header = header;
    if (header.start.snapshot) {
      const snap = stream.requireFrame('snapshot');
      if (snap.type !== FrameType.Snapshot) {
        throw new LogFormatError('E_MALFORMED', `header announces a snapshot, found frame type ${snap.type}`, snap.offset);
      }
      this.snapshot = snap.payload;
    }
    stream.chain.checksum = header.start.checksum;
    stream.chain.nextSeq = header.start.seq;
    this.servedSeq = header.start.seq;
    this.stream = stream;
  }

  /** True once the decoder thread decodes this reader's batches (TraceReaderOptions.decodeThread). */
  get offloaded(): boolean {
    return this.feed?.offloaded ?? false;
  }

  /** Why the trace ended ('reading' until next() has returned undefined). */
  get tail(): TraceTail {
    return (this.feed ?? this.stream).tail;
  }

  /** seq of the next entry next() would return (entries returned so far = nextSeq - header.start.seq). */
  get nextSeq(): number {
    return this.servedSeq - (this.batch ? this.batch.count - this.batchPos : 0);
  }

  /** The next entry, or undefined at the end of the valid prefix (then see `tail`). */
  next(): LogEntry | undefined {
    const b = this.head();
    return b === undefined ? undefined : b.entry(this.batchPos++);
  }

  /**
   * The batch that holds the next entry, at position headPos, reading the next batch when this one is
   * served; undefined at the end of the valid prefix (then see `tail`). With skip(), a replay walks the
   * entries in their columns without making them (flat-batch.ts).
   */
  head(): FlatBatch | undefined {
    for (;;) {
      const b = this.batch;
      if (b !== undefined && this.batchPos < b.count) return b;
      if (this.tail.state !== 'reading') return undefined;
      this.batch = undefined;
      this.batchPos = 0;
      const next = this.feed ? this.feed.nextBatch() : this.stream.nextBatch()?.batch;
      if (next !== undefined) {
        this.batch = next;
        this.servedSeq = next.firstSeq + next.count;
      }
    }
  }

  /** Position of the next entry in head(). */
  get headPos(): number {
    return this.batchPos;
  }

  /** Consumes the next entry (head() must have returned its batch). */
  skip(): void {
    this.batchPos++;
  }

  /** Throws the tail condition as a LogFormatError unless the trace ended cleanly. */
  assertComplete(): void {
    const t = this.tail;
    if (t.state === 'clean') return;
    if (t.state === 'reading') throw new LogFormatError('E_TRUNCATED', 'trace not fully read yet');
    if (t.state === 'open') throw new LogFormatError('E_TRUNCATED', 'trace has no end marker (recorder did not close it)', t.offset);
    if (t.state === 'torn') throw new LogFormatError('E_TRUNCATED', `torn tail: ${t.reason}`, t.offset);
    throw new LogFormatError(t.code, t.reason, t.offset);
  }

  [Symbol.iterator](): Iterator<LogEntry> {
    return { next: () => {
      const value = this.next();
      return value === undefined ? { done: true, value: undefined } : { done: false, value };
    } };
  }

  async *[Symbol.asyncIterator](): AsyncIterator<LogEntry> {
    for (let e = this.next(); e !== undefined; e = this.next()) yield e;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.feed?.close();
    this.stream.close();
  }
}
