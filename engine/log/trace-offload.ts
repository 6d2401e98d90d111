/**
 * Recording with the trace encoding on a second thread.
 *
 * Encoding an entry (columns, varints, the hash chain, frames) costs about 100-150 ns; on a guest that makes
 * a host call every 200 ns, that is most of the recording overhead. OffloadingTraceWriter therefore starts
 * like a plain TraceWriter (in the recording thread) and, once a recording is long enough to be worth it
 * and the process's encoder thread is up, hands the file over: it writes its pending batch, passes the
 * chain state to the encoder thread (TraceWriter.resume on the same file descriptor) and from then only
 * copies each entry's raw fields into a chunk (capture.ts); full chunks travel to the encoder thread, which
 * writes exactly the frames the in-thread writer would have written.
 *
 * Guarantees:
 *  - Same bytes: the encoder thread runs the same TraceWriter; a trace does not depend on where it was encoded.
 *  - Crash safety as before: frames are written whole and in order by one thread at a time (the hand-over
 *    point is a frame boundary), so a killed recorder leaves a valid prefix.
 *  - Durability as before, sooner: under the default fsync policy ('close') the encoder thread also fsyncs every
 *    OFFLOAD_SYNC_EVERY_BYTES in the background as it writes, so close() waits for the tail only, not for
 *    the whole trace to reach the disk after the guest ended.
 *  - Bounded memory: at most `inflightChunksMax` chunks (256 KiB each) wait for the encoder thread; beyond
 *    that the recording thread waits (backpressure), it never drops.
 *  - No silent loss: an encoder-thread failure (I/O error, size cap) is raised by the next add(), flush() or
 *    close() in the recording thread as a LogFormatError with the encoder's code and message. If the
 *    thread never comes up, the recording simply stays in-thread.
 *
 * One encoder thread per process, started on first need and kept (unref'd) for later recordings, so a
 * process that records repeatedly (a benchmark, a test run) pays its start-up once.
 */
import { EntryKind } from './entry.ts';
import { runEntryBytes } from '../machine/input-run.ts';
import { LogFormatError, type LogFormatCode } from './errors.ts';
import { CaptureChunk, addRunThrough, capturedRequests, captureChunkBytes, type CapturedRequests } from './capture.ts';
import { SessionThread } from './session-thread.ts';
import { ENCODER_BOOT } from './helper-threads.ts';
import { TraceWriter, type TraceWriterOptions, type TraceWriterState, type TraceWriterStats } from './trace-writer.ts';
import type { TraceHeaderData } from './trace-header.ts';

/** Cells of a session's control array (Int32Array over a SharedArrayBuffer). */
export const CTRL_CONSUMED = 0;
export const CTRL_DONE = 1;
export { CTRL_READY } from './session-thread.ts';
export const DONE_OK = 1;
export const DONE_ERROR = 2;
/** Cells of a session's progress array (Float64Array): what the encoder thread has written. */
export const PROGRESS_BYTES = 0;
export const PROGRESS_ENTRIES = 1;
export const PROGRESS_PAYLOAD = 2;

export type ToEncoder =
  | { t: 'open'; s: number; path: string; state: TraceWriterState; opts: TraceWriterOptions; ctrl: SharedArrayBuffer; bytes: SharedArrayBuffer }
  | { t: 'chunk'; s: number; buf: ArrayBuffer; len: number }
  | { t: 'flush'; s: number }
  | { t: 'close'; s: number };

export type FromEncoder =
  | { t: 'free'; s: number; buf: ArrayBuffer }
  | { t: 'closed'; s: number; stats: TraceWriterStats }
  | { t: 'error'; s: number; code: string; message: string };

/** The process's encoder thread (trace-worker.ts). */
type EncoderThread = SessionThread<ToEncoder, FromEncoder>;
const encoderThread = (): EncoderThread => SessionThread.get<ToEncoder, FromEncoder>(ENCODER_BOOT);

export interface OffloadOptions {
  /**
   * Entries recorded in-thread before the encoder thread is started and the hand-over considered (default
   * 16384: short recordings never start a thread; Infinity: never). When the process's thread is already up,
   * the hand-over happens at the first entry.
   */
  readonly offloadAfterEntries?: number;
  /** Chunks that may wait for the encoder thread before the recording thread waits (default 32). */
  readonly inflightChunksMax?: number;
  /** How long close() or backpressure waits for an encoder thread that makes no progress (default 60 s). */
  readonly stallMs?: number;
}

interface Session {
  readonly id: number;
  readonly ctrl: Int32Array;
  readonly progress: Float64Array;
  shipped: number;
  /** Entries and payload bytes of the chunks shipped since the hand-over (the current chunk counts its own). */
  entries: number;
  payload: number;
  /** Chunks shipped and flushes asked for: stands in for the frame count while offloaded. */
  flushes: number;
}

/** Under the default fsync policy ('close'), the encoder thread fsyncs every this many bytes as it goes. */
export const OFFLOAD_SYNC_EVERY_BYTES = 1 << 20;

const resumeOpts = (o: TraceWriterOptions): TraceWriterOptions => ({
  batchEntriesMax: o.batchEntriesMax,
  batchBytesMax: o.batchBytesMax,
  traceBytesMax: o.traceBytesMax,
  fsync: o.fsync,
  // The fsync at close would wait for the whole trace; done as the encoder thread goes, it runs beside the
  // guest and close() waits for the last MiB only.
  syncEveryBytes: o.syncEveryBytes ?? OFFLOAD_SYNC_EVERY_BYTES,
  formatVersion: o.formatVersion,
});

/**
 * A trace writer for recordings (see the module comment). Offers what the record sink uses of TraceWriter:
 * add, flush, close, stats (frames and bytesTotal), pendingEntries, pendingBytes.
 */
export class OffloadingTraceWriter {
  private inner: TraceWriter | undefined;
  private session: Session | undefined;
  private chunk: CaptureChunk | undefined;
  /** The last request captured per call id (capture.ts SAME_REQUEST), for all chunks of this recording. */
  private readonly requests: CapturedRequests = capturedRequests();
  private thread: EncoderThread | undefined;
  private added = 0;
  private nextCheck: number;
  private finalStats: TraceWriterStats | undefined;
  private failure: LogFormatError | undefined;
  private readonly inflightMax: number;
  private readonly stallMs: number;

  static create(path: string, header: TraceHeaderData, opts: TraceWriterOptions & OffloadOptions = {}): OffloadingTraceWriter {
    return new OffloadingTraceWriter(TraceWriter.create(path, header, opts), opts);
  }

  constructor(
    writer: TraceWriter,
    private readonly opts: TraceWriterOptions & OffloadOptions = {},
  ) {
    this.inner = writer;
    // With the thread already up (an earlier recording of this process), hand over at the first entry.
    const after = opts.offloadAfterEntries ?? 16_384;
    this.nextCheck = writer.path === undefined || after === Infinity ? Infinity : SessionThread.readyNow(ENCODER_BOOT) ? 1 : after;
    this.inflightMax = Math.max(1, opts.inflightChunksMax ?? 32);
    this.stallMs = opts.stallMs ?? 60_000;
  }

  /** Capture chunk buffers this writer allocated (the others were handed back by the encoder thread and reused). */
  get chunkBuffersAllocated(): number {
    return this.allocated;
  }

  private allocated = 0;

  /** A chunk on a handed-back buffer when there is one, else on a new one (counted). */
  private newChunk(reuse: ArrayBuffer | undefined, size = captureChunkBytes): CaptureChunk {
    if (reuse === undefined || size !== captureChunkBytes) this.allocated++;
    // Packed runs: the encoder thread's CaptureReader takes them.
    return new CaptureChunk(this.requests, size, size === captureChunkBytes ? reuse : undefined, true);
  }

  /** True once the encoder thread writes the trace. */
  get offloaded(): boolean {
    return this.session !== undefined;
  }

  add(kind: EntryKind, callIndex: number, call: string, channel: number, request: Uint8Array, data: Uint8Array): void {
    // Offloaded (the hot case): into the current chunk, which counts its entries and payload itself.
    const c = this.chunk;
    if (c !== undefined) {
      if (!c.add(kind, callIndex, call, channel, request, data)) this.addToNewChunk(kind, callIndex, call, channel, request, data);
      return;
    }
    const w = this.inner;
    if (w === undefined) throw this.failure ?? new LogFormatError('E_CLOSED', 'trace writer is closed');
    w.add(kind, callIndex, call, channel, request, data);
    if (++this.added >= this.nextCheck) this.tryHandOver();
  }

  /**
   * `count` entries at call indices `first`, `first + 1`, ... that repeat the entry added last for their call in
   * all but data (an input run: engine/machine/input-run.ts), each with `width` words of data from `words`. The
   * same as `count` add() calls; offloaded, they go into the chunk as one packed run.
   */
  addRun(kind: EntryKind, first: number, call: string, channel: number, request: Uint8Array, words: Int32Array, width: number, count: number): void {
    addRunThrough(() => this.chunk, (k) => this.add(kind, first + k, call, channel, request, runEntryBytes(words, width, k)), kind, first, call, channel, request, words, width, count);
  }

  /** Writes what is pending (in-thread), or ships it and asks the encoder thread to write it. */
  flush(): void {
    if (this.inner !== undefined) return this.inner.flush();
    const s = this.live();
    this.ship();
    this.thread!.post({ t: 'flush', s: s.id });
    s.flushes++;
  }

  /** Writes everything, the End frame, fsyncs per policy and closes the file; waits for the encoder thread. */
  close(): TraceWriterStats {
    if (this.finalStats) return this.finalStats;
    if (this.inner !== undefined) {
      this.inner.close();
      this.finalStats = this.inner.stats;
      this.inner = undefined;
      return this.finalStats;
    }
    const s = this.live();
    this.ship();
    this.chunk = undefined;
    this.thread!.post({ t: 'close', s: s.id });
    this.waitFor(CTRL_DONE, 'close the trace');
    const r = this.reply(s.id);
    this.session = undefined;
    this.thread!.forget(s.id);
    this.freeChunks.length = 0;
    if (r?.t === 'closed') {
      this.finalStats = r.stats;
      return r.stats;
    }
    throw this.failed(r);
  }

  /** Frames written or shipped so far: what the record sink watches on every entry (cheaper than stats). */
  get frames(): number {
    // While offloaded (the hot case) there is a session, and neither an in-thread writer nor final stats.
    const s = this.session;
    if (s !== undefined) return s.flushes;
    if (this.finalStats) return this.finalStats.frames;
    if (this.inner !== undefined) return this.inner.stats.frames;
    return 0;
  }

  get stats(): TraceWriterStats {
    if (this.finalStats) return this.finalStats;
    if (this.inner !== undefined) return this.inner.stats;
    // Read on every entry by the record sink: one object, refreshed, not a new one per call.
    const s = this.session;
    const live = this.liveStats;
    live.bytesTotal = s ? s.progress[PROGRESS_BYTES]! : 0;
    live.frames = s ? s.flushes : 0;
    return live;
  }

  /** What is known while offloaded: bytes in the file and frames (ships and flushes); per-kind figures at close. */
  private readonly liveStats: TraceWriterStats = { entries: [0, 0, 0], bytes: [0, 0, 0], bytesTotal: 0, batchBytes: 0, frames: 0 };

  /** Entries not yet written to the file. */
  get pendingEntries(): number {
    if (this.inner !== undefined) return this.inner.pendingEntries;
    const s = this.session;
    return s ? s.entries + (this.chunk?.entries ?? 0) - s.progress[PROGRESS_ENTRIES]! : 0;
  }

  /** Payload bytes of the entries not yet written. */
  get pendingBytes(): number {
    if (this.inner !== undefined) return this.inner.pendingBytes;
    const s = this.session;
    return s ? s.payload + (this.chunk?.payload ?? 0) - s.progress[PROGRESS_PAYLOAD]! : 0;
  }

  private tryHandOver(): void {
    this.nextCheck = this.added + 1024;
    const thread = (this.thread ??= encoderThread());
    if (!thread.ready) return;
    const w = this.inner!;
    const path = w.path!;
    const state = w.detach();
    const ctrl = new SharedArrayBuffer(8);
    const bytes = new SharedArrayBuffer(8 * 3);
    const id = thread.session();
    thread.post({ t: 'open', s: id, path, state, opts: resumeOpts(this.opts), ctrl, bytes });
    this.session = { id, ctrl: new Int32Array(ctrl), progress: new Float64Array(bytes), shipped: 0, entries: 0, payload: 0, flushes: state.stats.frames };
    this.inner = undefined;
    this.chunk = this.newChunk(undefined);
  }

  private addToNewChunk(kind: EntryKind, callIndex: number, call: string, channel: number, request: Uint8Array, data: Uint8Array): void {
    // ship() starts the next chunk, on a buffer the encoder thread handed back when there is one.
    this.ship();
    const next = this.chunk!;
    if (next.add(kind, callIndex, call, channel, request, data)) return;
    // An entry larger than a chunk: a chunk of its own size (the empty one's buffer waits for the next chunk).
    if (next.entries === 0 && next.buf.byteLength === captureChunkBytes) this.freeChunks.push(next.buf);
    const need = CaptureChunk.recordBytes(call, request, data);
    this.chunk = this.newChunk(undefined, Math.max(captureChunkBytes, need));
    if (!this.chunk.add(kind, callIndex, call, channel, request, data)) throw new LogFormatError('E_ENTRY', `entry of ${need} bytes does not fit a capture chunk`);
  }

  /** Sends the current chunk (when it holds entries) and applies backpressure. */
  private ship(): void {
    const s = this.live();
    const c = this.chunk!;
    if (c.entries === 0) return;
    this.thread!.post({ t: 'chunk', s: s.id, buf: c.buf, len: c.pos }, [c.buf]);
    s.shipped++;
    s.flushes++;
    s.entries += c.entries;
    s.payload += c.payload;
    this.chunk = this.newChunk(this.freeChunk(s));
    if (s.shipped - Atomics.load(s.ctrl, CTRL_CONSUMED) > this.inflightMax) {
      this.waitFor(CTRL_CONSUMED, 'take the next chunk');
    }
    this.live();
  }

  /**
   * Chunk buffers the encoder thread has read and handed back: reused, so the recording thread neither
   * allocates (and faults in) a fresh 256 KiB per chunk nor leaves the encoder thread to free them, which
   * costs both threads page faults and TLB shootdowns while the guest runs.
   */
  private readonly freeChunks: ArrayBuffer[] = [];
  /** A reply that came while looking for a free chunk, kept for reply(). */
  private heldReply: FromEncoder | undefined;

  private freeChunk(s: Session): ArrayBuffer | undefined {
    if (this.freeChunks.length === 0 && this.heldReply === undefined) {
      const r = this.thread!.reply(s.id);
      if (r?.t === 'free') this.freeChunks.push(r.buf);
      else this.heldReply = r;
    }
    return this.freeChunks.pop();
  }

  /** The session's next reply that is not a handed-back chunk. */
  private reply(id: number): FromEncoder | undefined {
    const held = this.heldReply;
    if (held !== undefined) {
      this.heldReply = undefined;
      return held;
    }
    for (;;) {
      const r = this.thread!.reply(id);
      if (r?.t !== 'free') return r;
    }
  }

  /** The session, or the encoder thread's failure raised here. */
  private live(): Session {
    if (this.failure) throw this.failure;
    const s = this.session;
    if (s === undefined) throw new LogFormatError('E_CLOSED', 'trace writer is closed');
    if (Atomics.load(s.ctrl, CTRL_DONE) === DONE_ERROR) throw this.failed(this.reply(s.id));
    return s;
  }

  private failed(r: FromEncoder | undefined, what = ''): LogFormatError {
    if (this.session !== undefined) this.thread?.forget(this.session.id);
    this.session = undefined;
    this.chunk = undefined;
    this.freeChunks.length = 0;
    this.failure = r?.t === 'error'
      ? new LogFormatError(r.code as LogFormatCode, `trace encoder thread: ${r.message}`)
      : new LogFormatError('E_IO', `trace encoder thread stopped without a reply${what ? ` (while waiting to ${what})` : ''}`);
    return this.failure;
  }

  /**
   * Blocks until the encoder thread is done (cell CTRL_DONE) or has room again (cell CTRL_CONSUMED), failing
   * when it makes no progress for stallMs.
   */
  private waitFor(cell: number, what: string): void {
    const s = this.session!;
    const done = (): boolean =>
      cell === CTRL_DONE ? Atomics.load(s.ctrl, CTRL_DONE) !== 0 : s.shipped - Atomics.load(s.ctrl, CTRL_CONSUMED) <= this.inflightMax;
    let seen = Atomics.load(s.ctrl, CTRL_CONSUMED);
    let idleMs = 0;
    while (!done()) {
      if (Atomics.load(s.ctrl, CTRL_DONE) === DONE_ERROR) throw this.failed(this.reply(s.id));
      Atomics.wait(s.ctrl, cell, Atomics.load(s.ctrl, cell), 50);
      const now = Atomics.load(s.ctrl, CTRL_CONSUMED);
      if (now !== seen) {
        seen = now;
        idleMs = 0;
      } else if ((idleMs += 50) >= this.stallMs) {
        throw this.failed(undefined, what);
      }
    }
  }
}
