/**
 * Replay with the trace decoding on a second thread.
 *
 * Decoding a batch (checking its frame, every column and the hash chain of every entry) costs about as much
 * as replaying its entries, and a replay on a host-call-heavy guest spends more time decoding than running
 * the guest. A reader opened with `decodeThread` therefore hands its batches over to the process's decoder
 * thread (trace-read-worker.ts): the reader reads the header itself as always; once the thread is up it
 * tells it where the next frame starts and the chain state there, and the thread reads the file from there
 * with the same BatchStream, posting each decoded batch in its columns (flat-batch.ts: transferred buffers,
 * no copies), then the tail.
 *
 * Guarantees:
 *  - Same result: the thread runs the same BatchStream; batches, tail (clean/open/torn/corrupt with its offset
 *    and reason) and per-kind statistics are those the reader would have found itself.
 *  - Bounded memory: at most CREDIT_BATCHES decoded batches wait for the reader; the thread decodes more only
 *    as the reader takes them.
 *  - No silent loss: a thread that fails or stops answering for `stallMs` is raised by the reader as E_IO.
 *  - Short traces (under OFFLOAD_MIN_BYTES after the header) never use the thread, and traces under
 *    OFFLOAD_COLD_MIN_BYTES use it only when it is already running; until the thread is up the reader decodes
 *    in its own thread and hands over at the next frame boundary.
 */
import { statSync } from 'node:fs';
import { LogFormatError } from './errors.ts';
import { FlatBatch } from './flat-batch.ts';
import { SessionThread } from './session-thread.ts';
import { DECODER_BOOT } from './helper-threads.ts';
import { attributeColumns } from './trace-stats.ts';
import type { BatchFeed, BatchStream, TraceReaderOptions, TraceReaderStats, TraceTail } from './trace-reader.ts';

export type ToDecoder =
  | { t: 'open'; s: number; path: string; offset: number; checksum: bigint; nextSeq: number; chunkBytes?: number; maxFrameBytes?: number; credit: number; posted: SharedArrayBuffer }
  | { t: 'credit'; s: number; n: number }
  | { t: 'close'; s: number };

/** A column of a batch: where it sits in the transferred payload, or its own copy. */
export type ColumnRef = { at: number; length: number } | Uint8Array;

export interface BatchMessage {
  t: 'batch';
  s: number;
  count: number;
  firstSeq: number;
  prev: bigint;
  last: bigint;
  payload: ArrayBuffer;
  kinds: ColumnRef;
  ids: ColumnRef;
  blob: ColumnRef;
  desc: ArrayBuffer;
  payAt: ArrayBuffer;
  custom: Array<string | undefined> | undefined;
  kindEntries: number[];
  kindBytes: number[];
  frameBytes: number;
  /** Stream offset just past the batch's frame. */
  frameEnd: number;
}

export type FromDecoder =
  | BatchMessage
  | { t: 'tail'; s: number; tail: TraceTail; stats: TraceReaderStats }
  | { t: 'error'; s: number; message: string };

type DecoderThread = SessionThread<ToDecoder, FromDecoder>;

/**
 * Decoded batches that may wait for the reader (a batch of 4096 clock entries is about 240 KiB, so up to about
 * 8 MiB): about 16 ms of a replay of the densest bench guest. The decoder thread is sometimes off its CPU for
 * several ms on the 2-vCPU bench host; with 16 batches (and credit given back 8 at a time) the replay thread
 * waited for it 13-19 ms per 2M-entry replay, with 32 (given back 4 at a time) 2-6 ms.
 */
export const CREDIT_BATCHES = 32;
/** Batches taken between two credit messages: small, so the thread is told early that there is room again. */
const CREDIT_STEP = 4;
/** Trace bytes after the header below which the thread is not worth using, even when it is up. */
export const OFFLOAD_MIN_BYTES = 1 << 20;
/**
 * Trace bytes after the header from which a reader starts the thread when it is not running. Below that, a thread
 * started for the reader costs it more than it gains: it comes up in about 80 ms (helper-threads.ts), and then
 * decodes slowly while its code is cold. On the bench host, a first replay in a process of the hostcalls traces
 * (trace format 2, 11.7 bytes per entry) took, with the thread started at open against without it (medians of 3):
 * 2M entries (23 MB) 343 against 330 ms, 4M (47 MB) 570 against 510 ms, 8M (94 MB) 1.10 against 1.14 s. (In
 * format 1 the same entries took 2.5 times the bytes, and the threshold was 128 MiB.) A thread already running
 * (another trace of the same replay, an embedder that started it: helper-threads.ts) is used for any trace from
 * OFFLOAD_MIN_BYTES on; once warm it decodes about 30% faster than the replaying thread does itself.
 */
export const OFFLOAD_COLD_MIN_BYTES = 88 << 20;

/** A decoder feed for a reader (see the module comment), or undefined when the trace is too short for one. */
export function decoderFeed(path: string, stream: BatchStream, stats: TraceReaderStats, opts: TraceReaderOptions): BatchFeed | undefined {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    return undefined;
  }
  const rest = size - stream.offset;
  if (rest < OFFLOAD_MIN_BYTES) return undefined;
  if (rest < OFFLOAD_COLD_MIN_BYTES && !SessionThread.started(DECODER_BOOT)) return undefined;
  return new DecoderFeed(path, stream, stats, opts, SessionThread.get<ToDecoder, FromDecoder>(DECODER_BOOT));
}

export class DecoderFeed implements BatchFeed {
  tail: TraceTail = { state: 'reading' };
  private session: number | undefined;
  private posted: Int32Array | undefined;
  private handOverAt = 0;
  private taken = 0;
  private done = false;

  constructor(
    private readonly path: string,
    private readonly stream: BatchStream,
    private readonly stats: TraceReaderStats,
    private readonly opts: TraceReaderOptions,
    private readonly thread: DecoderThread,
    private readonly stallMs = 60_000,
  ) {}

  /** True once the thread decodes for this reader. */
  get offloaded(): boolean {
    return this.session !== undefined;
  }

  nextBatch(): FlatBatch | undefined {
    if (this.done) return undefined;
    if (this.session === undefined && !this.handOver()) {
      const r = this.stream.nextBatch();
      this.tail = this.stream.tail;
      if (r === undefined) this.done = true;
      return r?.batch;
    }
    return this.receive();
  }

  close(): void {
    if (this.session !== undefined && !this.done) this.thread.post({ t: 'close', s: this.session });
    if (this.session !== undefined) this.thread.forget(this.session);
    this.done = true;
  }

  /** Gives the thread the rest of the trace from the next frame boundary, once it is up. */
  private handOver(): boolean {
    if (!this.thread.ready) return false;
    const s = this.thread.session();
    const posted = new SharedArrayBuffer(4);
    this.posted = new Int32Array(posted);
    this.handOverAt = this.stream.offset;
    this.thread.post({
      t: 'open', s, path: this.path, offset: this.stream.offset, checksum: this.stream.chain.checksum, nextSeq: this.stream.chain.nextSeq,
      chunkBytes: this.opts.chunkBytes, maxFrameBytes: this.opts.maxFrameBytes, credit: CREDIT_BATCHES, posted,
    });
    this.session = s;
    return true;
  }

  /** The thread's next batch (waiting for it), or undefined with the tail set. */
  private receive(): FlatBatch | undefined {
    const s = this.session!;
    let idleMs = 0;
    for (;;) {
      const m = this.thread.reply(s);
      if (m === undefined) {
        if (!this.thread.alive) throw this.failed('the thread stopped');
        const seen = Atomics.load(this.posted!, 0);
        if (Atomics.wait(this.posted!, 0, seen, 50) === 'timed-out' && (idleMs += 50) >= this.stallMs) {
          throw this.failed(`no batch for ${this.stallMs} ms`);
        }
        continue;
      }
      if (m.t === 'error') throw this.failed(m.message);
      if (m.t === 'tail') {
        this.tail = m.tail;
        this.done = true;
        this.thread.forget(s);
        const st = this.stats;
        st.reads += m.stats.reads;
        st.bytesRead = Math.max(st.bytesRead, this.handOverAt + m.stats.bytesRead);
        st.bufferBytesPeak = Math.max(st.bufferBytesPeak, m.stats.bufferBytesPeak);
        return undefined;
      }
      if (++this.taken % CREDIT_STEP === 0) this.thread.post({ t: 'credit', s, n: CREDIT_STEP });
      const st = this.stats;
      st.frames++;
      st.batchEntriesPeak = Math.max(st.batchEntriesPeak, m.count);
      st.bytesRead = Math.max(st.bytesRead, m.frameEnd);
      attributeColumns(m.kindEntries, m.kindBytes, m.frameBytes, st);
      const col = (c: ColumnRef): Uint8Array => (c instanceof Uint8Array ? c : new Uint8Array(m.payload, c.at, c.length));
      return new FlatBatch(m.count, m.firstSeq, col(m.kinds), col(m.ids), new Uint8Array(m.desc), new Int32Array(m.payAt), col(m.blob), m.custom, m.prev, m.last, m.kindEntries, m.kindBytes);
    }
  }

  private failed(why: string): LogFormatError {
    this.done = true;
    return new LogFormatError('E_IO', `trace decoder thread: ${why}`);
  }
}
