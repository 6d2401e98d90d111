/**
 * TraceWriter: streams log entries into a trace file (layout: engine/log/trace-header.ts).
 *
 * Entries are buffered and written as one Batch frame per batch: when `batchEntriesMax` entries or
 * `batchBytesMax` payload bytes are pending, or on flush()/close(). Writes are synchronous (fs.writeSync)
 * because the recorder appends from inside a host call, and a synchronous write keeps "entry is in the
 * file" ordered with "host call returned" without callbacks.
 *
 * FSYNC POLICY (`fsync` option):
 *   'batch'  fsync after every batch frame. Use when the trace is the log of record and outputs are
 *            released only after their entries are durable (output commit).
 *   'close'  (default) fsync once at close. A crash loses at most the unflushed tail, and the reader
 *            reports it as a torn/open tail, never as corruption.
 *   'none'   never fsync (CI traces on tmpfs, benchmarks).
 * `syncEveryBytes` (policy 'close' only) also fsyncs whenever that many bytes went out since the last fsync,
 * in the background when the sink can (FileSink: the thread pool, while writing goes on), so close() only
 * waits for the tail: the encoder thread (trace-offload.ts) does this, so the fsync runs beside the guest
 * instead of after it (a 6 MB trace took 5 ms to fsync at close on the bench host).
 * Either way frames are written whole and in order, so a killed recorder leaves a valid prefix.
 *
 * Optional cap `traceBytesMax`: a frame that would push the file past the cap is not written and
 * append/flush throws E_LIMIT; the file stays a valid prefix and close() still fits its End frame (room is
 * reserved for it).
 */
import { closeSync, fsync, fsyncSync, openSync, writeSync, writevSync } from 'node:fs';
import { Builder } from 'flatbuffers';
import type { LogEntry } from './entry.ts';
import { LogFormatError } from './errors.ts';
import { BatchEncoder } from './entry-codec.ts';
import { encodeFrame, frameHeaderBytes, frameHeaderInto, FrameType } from './frame.ts';
import { HashChain } from './hash-chain.ts';
import { encodePrelude, encodeTraceEnd, encodeTraceHeader, type TraceHeaderData } from './trace-header.ts';
import { traceFormatVersion, traceFormatVersionMin } from './version.ts';
import { attributeColumns, emptyKindBytes, type KindBytes } from './trace-stats.ts';
import { EntryKind } from './entry.ts';

/** Where trace bytes go (a file by default; tests and the live channel can pass their own). */
export interface TraceSink {
  /** Writes bytes; a sink that keeps them past its return must copy them (or hold: see hold()). */
  write(bytes: Uint8Array): void;
  /**
   * Writes one frame given as its header and its payload, both reused by the writer as soon as this returns (a
   * sink that keeps them copies them). Optional: without it the writer joins them into one new array for write().
   * A batch frame is about 120 KiB, and a new array for each cost its pages' first-touch faults: 160-240 us a
   * frame on the encoder thread, against about 20 us for the same frame in memory already touched.
   */
  writeFrame?(header: Uint8Array, payload: Uint8Array): void;
  sync?(): void;
  /**
   * Starts an fsync that runs while writing goes on (syncEveryBytes uses it when offered). A failure is raised
   * by the next sync() or close().
   */
  syncInBackground?(): void;
  close?(): void;
  /**
   * Gathers the writes that follow until release(), which hands them to the OS in one call (a sink without
   * these writes each at once). The bytes given to write() meanwhile must stay unchanged until release().
   */
  hold?(): void;
  release?(): void;
}

export type FsyncPolicy = 'batch' | 'close' | 'none';

/** Entries per batch frame unless TraceWriterOptions.batchEntriesMax says otherwise. */
export const BATCH_ENTRIES_DEFAULT = 4096;

export interface TraceWriterOptions {
  /**
   * Entries per batch frame (default BATCH_ENTRIES_DEFAULT, 4096): bigger amortises more, smaller loses less on
   * a crash (a batch is also written once it is 250 ms old, by the record sink). Replaying the densest bench
   * guest with 4096-entry batches took 0.88-0.91 of the time it took with 1024 (fewer decoded batches to post,
   * build and collect); with 16384 it took longer again (the first batch comes later, fewer batches overlap).
   */
  readonly batchEntriesMax?: number;
  /** Pending payload bytes that force a flush (default 256 KiB): bounds memory and frame size. */
  readonly batchBytesMax?: number;
  /** Cap on the file size in bytes (default: none). */
  readonly traceBytesMax?: number;
  readonly fsync?: FsyncPolicy;
  /** Under policy 'close', also fsync after the frame that brings the bytes since the last fsync to this. */
  readonly syncEveryBytes?: number;
  /** Encoded snapshot (snapshot codec) the trace starts from; written right after the header. */
  readonly snapshot?: Uint8Array;
  /**
   * The trace format to write (default traceFormatVersion, the newest): an older one (1: payloads stored whole)
   * for a twinstep that reads no newer. From traceFormatVersionMin to traceFormatVersion.
   */
  readonly formatVersion?: number;
}

export interface TraceWriterStats extends KindBytes {
  /** Bytes written so far (whole file). */
  bytesTotal: number;
  /** Bytes of Batch frames only (what the per-kind figures add up to). */
  batchBytes: number;
  frames: number;
}

/** Where a handed-over trace continues (plain data: it crosses to the encoder thread). */
export interface TraceWriterState {
  /** seq of the next entry. */
  readonly resumeAt: number;
  /** Chain value after the last entry written. */
  readonly checksum: bigint;
  readonly stats: TraceWriterStats;
}

/** Encoded size of an End frame (fixed: two ulongs), reserved under traceBytesMax. */
const endFrameBytesReserve = frameHeaderBytes + 64;

/** FileSink keeps a staging buffer up to this size from one hold to the next. */
const STAGED_KEEP_BYTES = 8 << 20;

/** A trace file by descriptor. */
export class FileSink implements TraceSink {
  constructor(readonly fd: number) {}

  /** Opens a trace file to continue it (a writer handed over by detach()). */
  static append(path: string): FileSink {
    return new FileSink(openSync(path, 'a'));
  }
  write(bytes: Uint8Array): void {
    if (this.holding) {
      this.stage(bytes);
      return;
    }
    this.writeAll(bytes, 0, bytes.length);
  }

  writeFrame(header: Uint8Array, payload: Uint8Array): void {
    if (this.holding) {
      this.stage(header);
      this.stage(payload);
      return;
    }
    const done = writevSync(this.fd, [header, payload]);
    // After a short writev (a full disk, a signal), the rest in order (each call writes nothing when its part is done).
    const h = header.length;
    this.writeAll(header, Math.min(done, h), h);
    this.writeAll(payload, Math.max(0, done - h), payload.length);
  }

  private writeAll(bytes: Uint8Array, from: number, to: number): void {
    let off = from;
    while (off < to) off += writeSync(this.fd, bytes, off, to - off);
  }

  /**
   * Bytes written while held (see TraceSink.hold), copied into one buffer that is kept from hold to hold. The
   * encoder thread holds the frames of one capture chunk (a few batch frames) and writes them with one call: on
   * the bench host a write costs about 12 us besides its bytes. Copying into memory touched already costs less
   * than a new array per frame (see writeFrame). A frame reaches the file as soon as the chunk that produced it is
   * encoded, and whole frames only.
   */
  private holding = false;
  private staged = new Uint8Array(0);
  private stagedLength = 0;

  private stage(bytes: Uint8Array): void {
    const need = this.stagedLength + bytes.length;
    if (need > this.staged.length) {
      const grown = new Uint8Array(Math.max(need, this.staged.length * 2, 1 << 18));
      grown.set(this.staged.subarray(0, this.stagedLength));
      this.staged = grown;
    }
    this.staged.set(bytes, this.stagedLength);
    this.stagedLength = need;
  }

  hold(): void {
    this.holding = true;
  }

  release(): void {
    this.holding = false;
    const n = this.stagedLength;
    if (n === 0) return;
    this.stagedLength = 0;
    this.writeAll(this.staged, 0, n);
    // A hold that gathered something unusually large (an entry bigger than a chunk) does not keep its buffer.
    if (this.staged.length > STAGED_KEEP_BYTES) this.staged = new Uint8Array(0);
  }

  /** The background fsync under way (syncInBackground), if any. */
  private syncing: Promise<void> | undefined;
  private syncFailure: Error | undefined;

  sync(): void {
    this.release();
    this.raiseSyncFailure();
    fsyncSync(this.fd);
  }

  /** One fsync at a time in the thread pool; asked again while one runs, it is skipped (the next ask catches up). */
  syncInBackground(): void {
    this.release();
    if (this.syncing !== undefined) return;
    this.syncing = new Promise<void>((resolve) => {
      fsync(this.fd, (err) => {
        if (err) this.syncFailure ??= err;
        this.syncing = undefined;
        // Closed meanwhile (close() fsynced everything itself): the descriptor was kept open for this fsync.
        if (this.closeWanted) closeSync(this.fd);
        resolve();
      });
    });
  }

  /** Resolves once no background fsync is under way (then the file may be closed). */
  settled(): Promise<void> {
    return this.syncing ?? Promise.resolve();
  }

  /**
   * Closes the file; with a background fsync under way, once that is over (the descriptor must not be reused
   * under it). A background fsync that failed is raised here.
   */
  close(): void {
    this.release();
    if (this.syncing !== undefined) this.closeWanted = true;
    else closeSync(this.fd);
    this.raiseSyncFailure();
  }

  private closeWanted = false;

  private raiseSyncFailure(): void {
    const e = this.syncFailure;
    if (e === undefined) return;
    this.syncFailure = undefined;
    throw new LogFormatError('E_IO', `fsync of the trace failed: ${e.message}`);
  }
}

export class TraceWriter {
  /**
   * The batch under construction (entries are encoded as they arrive); from format 2 on, its payloads are stored
   * in their forms (EntryBatch.payload_forms).
   */
  private readonly pending: BatchEncoder;
  /** Reused for every batch frame. */
  private readonly builder = new Builder(64 * 1024);
  /** Reused for every frame's header (TraceSink.writeFrame). */
  private readonly frameHeader = new Uint8Array(frameHeaderBytes);
  private readonly chain: HashChain;
  private closed = false;
  /** Set once the cap was hit: later entries could only leave a gap in seq, so they are refused. */
  private full = false;
  private readonly batchEntriesMax: number;
  private readonly batchBytesMax: number;
  private readonly fsync: FsyncPolicy;
  private readonly syncEveryBytes: number;
  /** stats.bytesTotal at the last fsync. */
  private syncedBytes = 0;
  private closing = false;
  readonly stats: TraceWriterStats = { ...emptyKindBytes(), bytesTotal: 0, batchBytes: 0, frames: 0 };

  /** Creates (truncates) `path` and writes prelude, header and optional snapshot. */
  static create(path: string, header: TraceHeaderData, opts: TraceWriterOptions = {}): TraceWriter {
    const w = new TraceWriter(new FileSink(openSync(path, 'w')), header, opts);
    w.path = path;
    return w;
  }

  /** The file written to, when made by TraceWriter.create. */
  path: string | undefined;

  /** Continues a trace whose writing another writer began and handed over (see detach()). */
  static resume(sink: TraceSink, state: TraceWriterState, opts: TraceWriterOptions = {}): TraceWriter {
    return new TraceWriter(sink, state, opts);
  }

  constructor(
    private readonly sink: TraceSink,
    header: TraceHeaderData | TraceWriterState,
    private readonly opts: TraceWriterOptions = {},
  ) {
    const version = opts.formatVersion ?? traceFormatVersion;
    if (!Number.isInteger(version) || version < traceFormatVersionMin || version > traceFormatVersion) {
      throw new LogFormatError('E_VERSION', `cannot write trace format version ${version}: this build writes versions ${traceFormatVersionMin} to ${traceFormatVersion}`);
    }
    this.pending = new BatchEncoder(version >= 2);
    this.batchEntriesMax = Math.max(1, opts.batchEntriesMax ?? BATCH_ENTRIES_DEFAULT);
    this.batchBytesMax = Math.max(1, opts.batchBytesMax ?? 256 * 1024);
    this.fsync = opts.fsync ?? 'close';
    this.syncEveryBytes = this.fsync === 'close' && opts.syncEveryBytes !== undefined && opts.syncEveryBytes > 0 ? opts.syncEveryBytes : Infinity;
    if ('resumeAt' in header) {
      this.chain = new HashChain(header.checksum, header.resumeAt);
      Object.assign(this.stats, structuredClone(header.stats));
      this.pending.start(this.chain.nextSeq, this.chain.checksum);
      return;
    }
    this.chain = new HashChain(header.start.checksum, header.start.seq);
    this.pending.start(this.chain.nextSeq, this.chain.checksum);
    const h = { ...header, start: { ...header.start, snapshot: opts.snapshot !== undefined } };
    this.emit(encodePrelude(version));
    this.emitFrame(FrameType.Header, encodeTraceHeader(h, version));
    if (opts.snapshot) this.emitFrame(FrameType.Snapshot, opts.snapshot);
  }

  /**
   * Writes the pending batch and hands the trace over: this writer accepts nothing more and closes its sink
   * without an End frame; TraceWriter.resume(the file opened for appending, state) continues exactly where
   * it stopped.
   */
  detach(): TraceWriterState {
    this.flush();
    this.closed = true;
    this.sink.close?.();
    return { resumeAt: this.chain.nextSeq, checksum: this.chain.checksum, stats: structuredClone(this.stats) };
  }

  /** Frames written so far (stats.frames). */
  get frames(): number {
    return this.stats.frames;
  }

  /** seq the next appended entry must have. */
  get nextSeq(): number {
    return this.chain.nextSeq + this.pending.count;
  }

  /** Entries appended but not yet written in a batch frame. */
  get pendingEntries(): number {
    return this.pending.count;
  }

  /** Payload bytes of the entries not yet written. */
  get pendingBytes(): number {
    return this.pending.payloadBytes;
  }

  /** Appends one entry (its seq must be nextSeq); may write a batch frame. */
  append(entry: LogEntry): void {
    if (entry.seq !== this.nextSeq) {
      throw new LogFormatError('E_ENTRY', `entry seq ${entry.seq} where ${this.nextSeq} was expected`);
    }
    this.add(entry.kind, entry.callIndex, entry.call, entry.channel, entry.request, entry.data);
  }

  /**
   * Appends the next entry (seq nextSeq) from its fields, without a LogEntry object: the recorder's hot
   * path. The bytes are copied at once; the caller may reuse its buffers. May write a batch frame.
   */
  add(kind: EntryKind, callIndex: number, call: string, channel: number, request: Uint8Array, data: Uint8Array): void {
    if (this.closed) throw new LogFormatError('E_CLOSED', 'trace writer is closed');
    if (this.full) throw new LogFormatError('E_LIMIT', 'trace reached its size cap');
    const p = this.pending;
    p.add(kind, callIndex, call, channel, request, data);
    if (p.count >= this.batchEntriesMax || p.payloadBytes >= this.batchBytesMax) this.flush();
  }

  /** Payload bytes (request + data) of the entries added with addRange, written or not. */
  rangePayloadBytes = 0;

  /**
   * add() from a captured entry (BatchEncoder.addRange): the encoder thread's path, no views made. The writer
   * is the CaptureReader's target itself (capture.ts), so an entry goes from the chunk into the batch's
   * columns through no other layer.
   */
  addRange(kind: EntryKind, callIndex: number, id: number, call: string, channel: number, req: Uint8Array, reqAt: number, reqLen: number, data: Uint8Array, dataAt: number, dataLen: number): void {
    if (this.closed) throw new LogFormatError('E_CLOSED', 'trace writer is closed');
    if (this.full) throw new LogFormatError('E_LIMIT', 'trace reached its size cap');
    const p = this.pending;
    p.addRange(kind, callIndex, id, call, channel, req, reqAt, reqLen, data, dataAt, dataLen);
    this.rangePayloadBytes += reqLen + dataLen;
    if (p.count >= this.batchEntriesMax || p.payloadBytes >= this.batchBytesMax) this.flush();
  }

  /**
   * A run of captured entries (CaptureTarget.addRepeats): cut at batch boundaries exactly where addRange one
   * entry at a time would cut it, so the frames are the same.
   */
  addRepeats(kind: EntryKind, id: number, call: string, channel: number, req: Uint8Array, src: Uint8Array, indexes: Float64Array, at: number, stride: number, dataLen: number, count: number): void {
    this.cutRun(count, req.length + dataLen, (done, room) => this.pending.addRepeats(kind, id, call, channel, req, src, indexes, at + done * stride, stride, dataLen, room));
  }

  /** A packed run of captured entries (CaptureTarget.addPacked), cut as addRepeats cuts a run. */
  addPacked(kind: EntryKind, id: number, call: string, channel: number, req: Uint8Array, src: Uint8Array, at: number, first: number, dataLen: number, count: number): void {
    this.cutRun(count, req.length + dataLen, (done, room) => this.pending.addPacked(kind, id, call, channel, req, src, at + done * dataLen, first + done, dataLen, room));
  }

  /**
   * Hands a run of `count` entries of `size` payload bytes each to `add` in pieces that end where one entry at a
   * time would end a batch (by count or by bytes), flushing after each piece that fills one.
   */
  private cutRun(count: number, size: number, add: (done: number, room: number) => void): void {
    const p = this.pending;
    let done = 0;
    while (done < count) {
      if (this.closed) throw new LogFormatError('E_CLOSED', 'trace writer is closed');
      if (this.full) throw new LogFormatError('E_LIMIT', 'trace reached its size cap');
      // Entries until the batch is full by count or by bytes (addRange flushes after the entry that reaches
      // either bound); at least one.
      let room = Math.min(count - done, this.batchEntriesMax - p.count);
      if (size > 0) room = Math.min(room, Math.max(1, Math.ceil((this.batchBytesMax - p.payloadBytes) / size)));
      if (room < 1) room = 1;
      add(done, room);
      this.rangePayloadBytes += room * size;
      done += room;
      if (p.count >= this.batchEntriesMax || p.payloadBytes >= this.batchBytesMax) this.flush();
    }
  }

  /** Writes pending entries as one batch frame (no-op when none), then fsyncs under policy 'batch'. */
  flush(): void {
    if (this.closed) throw new LogFormatError('E_CLOSED', 'trace writer is closed');
    const p = this.pending;
    if (p.count === 0) return;
    const b = this.builder;
    b.clear();
    b.finish(p.build(b));
    const payload = b.asUint8Array();
    const frameLength = frameHeaderBytes + payload.length;
    const cap = this.opts.traceBytesMax;
    if (cap !== undefined && this.stats.bytesTotal + frameLength + endFrameBytesReserve > cap) {
      this.full = true;
      const dropped = p.count;
      p.start(this.chain.nextSeq, this.chain.checksum);
      throw new LogFormatError('E_LIMIT', `trace would exceed its cap of ${cap} bytes; ${dropped} entries not written`);
    }
    this.emitFrame(FrameType.Batch, payload);
    this.chain.checksum = p.lastChecksum;
    this.chain.nextSeq += p.count;
    this.stats.batchBytes += frameLength;
    attributeColumns(p.kindEntries, p.kindBytes, frameLength, this.stats);
    p.start(this.chain.nextSeq, this.chain.checksum);
    if (this.fsync === 'batch') this.sink.sync?.();
    else if (!this.closing && this.stats.bytesTotal - this.syncedBytes >= this.syncEveryBytes) {
      if (this.sink.syncInBackground) this.sink.syncInBackground();
      else this.sink.sync?.();
      this.syncedBytes = this.stats.bytesTotal;
    }
  }

  /** Flushes, writes the End frame, fsyncs (unless policy 'none') and closes the sink. Idempotent. */
  close(): void {
    if (this.closed) return;
    // The fsync of close covers everything: no background one now (the file is closed right after).
    this.closing = true;
    try {
      this.flush();
    } finally {
      this.closed = true;
      this.emitFrame(FrameType.End, encodeTraceEnd({ endSeq: this.chain.nextSeq, lastChecksum: this.chain.checksum }));
      if (this.fsync !== 'none') this.sink.sync?.();
      this.sink.close?.();
    }
  }

  /** Writes bytes that are not a frame (the prelude). */
  private emit(bytes: Uint8Array): void {
    this.sink.write(bytes);
    this.stats.bytesTotal += bytes.length;
  }

  /**
   * Writes one frame. To a sink that takes header and payload apart (TraceSink.writeFrame) they go as they are
   * (a reused header, the caller's payload: a batch frame's is the builder's bytes), so no new array is made per
   * frame; any other sink gets the frame joined into one array.
   */
  private emitFrame(type: FrameType, payload: Uint8Array): void {
    if (this.sink.writeFrame !== undefined) {
      frameHeaderInto(this.frameHeader, type, payload);
      this.sink.writeFrame(this.frameHeader, payload);
    } else {
      this.sink.write(encodeFrame(type, payload));
    }
    this.stats.bytesTotal += frameHeaderBytes + payload.length;
    this.stats.frames++;
  }
}
