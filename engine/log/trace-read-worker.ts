/**
 * The trace decoder thread (see trace-read-offload.ts for the protocol). It runs one BatchStream per reading
 * session, from the frame boundary the reader handed over, and posts each batch in its columns, then the
 * tail. It decodes only as far as the reader's credit allows. Every failure is reported to the session's
 * reader, never thrown away.
 */
import { openSync } from 'node:fs';
import { workerData, type MessagePort } from 'node:worker_threads';
import type { FlatBatch } from './flat-batch.ts';
import { BatchStream, emptyReaderStats, FileSource } from './trace-reader.ts';
import { CTRL_READY } from './session-thread.ts';
import type { ColumnRef, FromDecoder, ToDecoder } from './trace-read-offload.ts';

interface Session {
  readonly stream: BatchStream;
  readonly posted: Int32Array;
  credit: number;
}

const { port, ready } = workerData as { port: MessagePort; ready: SharedArrayBuffer };
const sessions = new Map<number, Session>();

function post(s: Session | undefined, m: FromDecoder, transfer: ArrayBuffer[] = []): void {
  port.postMessage(m, transfer);
  if (s) {
    Atomics.add(s.posted, 0, 1);
    Atomics.notify(s.posted, 0);
  }
}

/** A column as a place in the payload that travels, or (a column outside it) its own copy. */
function column(view: Uint8Array, payload: ArrayBufferLike): ColumnRef {
  return view.buffer === payload ? { at: view.byteOffset, length: view.length } : view.slice();
}

function end(id: number, s: Session): void {
  sessions.delete(id);
  s.stream.close();
}

/** Decodes and posts batches while the reader has credit; posts the tail at the end. */
function pump(id: number, s: Session): void {
  while (s.credit > 0) {
    const r = s.stream.nextBatch();
    if (r === undefined) {
      post(s, { t: 'tail', s: id, tail: s.stream.tail, stats: s.stream.stats });
      end(id, s);
      return;
    }
    const b: FlatBatch = r.batch;
    const payload = b.kinds.buffer;
    const transfer = [b.f64.buffer as ArrayBuffer, b.payAt.buffer as ArrayBuffer];
    if (payload.byteLength > 0 && payload !== b.f64.buffer) transfer.push(payload as ArrayBuffer);
    post(s, {
      t: 'batch', s: id, count: b.count, firstSeq: b.firstSeq, prev: b.prevChecksum, last: b.lastChecksum,
      payload: payload as ArrayBuffer, kinds: column(b.kinds, payload), ids: column(b.ids, payload), blob: column(b.blob, payload),
      desc: b.f64.buffer as ArrayBuffer, payAt: b.payAt.buffer as ArrayBuffer, custom: b.customCalls(),
      kindEntries: [...b.kindEntries], kindBytes: [...b.kindBytes], frameBytes: r.frameBytes, frameEnd: r.frameOffset + r.frameBytes,
    }, transfer);
    s.credit--;
  }
}

port.on('message', (m: ToDecoder) => {
  const s = sessions.get(m.s);
  try {
    switch (m.t) {
      case 'open': {
        const fd = openSync(m.path, 'r');
        const stream = new BatchStream(new FileSource(fd), m.offset, { checksum: m.checksum, nextSeq: m.nextSeq }, emptyReaderStats(), { chunkBytes: m.chunkBytes, maxFrameBytes: m.maxFrameBytes });
        const session: Session = { stream, posted: new Int32Array(m.posted), credit: m.credit };
        sessions.set(m.s, session);
        pump(m.s, session);
        break;
      }
      case 'credit':
        if (s) {
          s.credit += m.n;
          pump(m.s, s);
        }
        break;
      case 'close':
        if (s) end(m.s, s);
        break;
    }
  } catch (e) {
    const owner = s ?? sessions.get(m.s);
    if (owner) end(m.s, owner);
    port.postMessage({ t: 'error', s: m.s, message: (e as Error)?.message ?? String(e) } satisfies FromDecoder);
    if (owner) {
      Atomics.add(owner.posted, 0, 1);
      Atomics.notify(owner.posted, 0);
    } else if (m.t === 'open') {
      const posted = new Int32Array(m.posted);
      Atomics.add(posted, 0, 1);
      Atomics.notify(posted, 0);
    }
  }
});

const readyCell = new Int32Array(ready);
Atomics.store(readyCell, CTRL_READY, 1);
Atomics.notify(readyCell, CTRL_READY);
