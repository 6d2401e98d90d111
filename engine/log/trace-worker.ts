/**
 * The trace encoder thread (see trace-offload.ts for the protocol). It holds one TraceWriter per recording
 * session, resumed on the file the recording thread handed over, and turns captured chunks into batch
 * frames. Every failure is reported to the session's owner (message + control cell), never thrown away.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import { FileSink, TraceWriter, type TraceWriterOptions, type TraceWriterState } from './trace-writer.ts';
import { LogFormatError } from './errors.ts';
import { CaptureReader, captureChunkBytes } from './capture.ts';
import { CTRL_CONSUMED, CTRL_DONE, CTRL_READY, DONE_ERROR, DONE_OK, PROGRESS_BYTES, PROGRESS_ENTRIES, PROGRESS_PAYLOAD, type ToEncoder, type FromEncoder } from './trace-offload.ts';

interface Session {
  readonly writer: TraceWriter;
  readonly sink: FileSink;
  readonly ctrl: Int32Array;
  readonly progress: Float64Array;
  failed: boolean;
  /** Entries received since the hand-over. */
  entries: number;
  /** The session's chunks, read in order (a chunk may repeat a request of an earlier one). */
  readonly reader: CaptureReader;
}

/** Publishes what is in the file (received minus what the writer still holds). */
function publish(s: Session): void {
  const w = s.writer;
  s.progress[PROGRESS_BYTES] = w.stats.bytesTotal;
  s.progress[PROGRESS_ENTRIES] = s.entries - w.pendingEntries;
  s.progress[PROGRESS_PAYLOAD] = w.rangePayloadBytes - w.pendingBytes;
}

const { port, ready } = workerData as { port: MessagePort; ready: SharedArrayBuffer };
const sessions = new Map<number, Session>();

function post(m: FromEncoder): void {
  port.postMessage(m);
}

function fail(id: number, s: Session | undefined, e: unknown): void {
  const err = e as Error;
  const code = e instanceof LogFormatError ? e.code : 'E_IO';
  post({ t: 'error', s: id, code, message: err?.message ?? String(e) });
  if (s) {
    s.failed = true;
    Atomics.store(s.ctrl, CTRL_DONE, DONE_ERROR);
    Atomics.notify(s.ctrl, CTRL_DONE);
  }
}

port.on('message', (m: ToEncoder) => {
  const s = sessions.get(m.s);
  try {
    switch (m.t) {
      case 'open': {
        const ctrl = new Int32Array(m.ctrl);
        const sink = FileSink.append(m.path);
        const writer = TraceWriter.resume(sink, m.state as TraceWriterState, m.opts as TraceWriterOptions);
        const session: Session = { writer, sink, ctrl, progress: new Float64Array(m.bytes), failed: false, entries: 0, reader: new CaptureReader() };
        sessions.set(m.s, session);
        break;
      }
      case 'chunk': {
        if (!s) throw new Error(`chunk for unknown session ${m.s}`);
        try {
          if (!s.failed) {
            // The chunk's frames go out in one write (FileSink.hold).
            s.sink.hold();
            try {
              s.entries += s.reader.read(m.buf, m.len, s.writer);
            } finally {
              s.sink.release();
            }
            publish(s);
            // The buffer goes back for the recording thread's next chunk (nothing read from it is kept: the
            // reader copies what it keeps, the writer copies the payloads).
            if (m.buf.byteLength === captureChunkBytes) port.postMessage({ t: 'free', s: m.s, buf: m.buf } satisfies FromEncoder, [m.buf]);
          }
        } finally {
          // Counted even after a failure, so the recording thread never waits for a chunk that will not come.
          Atomics.add(s.ctrl, CTRL_CONSUMED, 1);
          Atomics.notify(s.ctrl, CTRL_CONSUMED);
        }
        break;
      }
      case 'flush':
        if (s && !s.failed) {
          s.writer.flush();
          publish(s);
        }
        break;
      case 'close': {
        if (!s) throw new Error(`close for unknown session ${m.s}`);
        sessions.delete(m.s);
        if (s.failed) break;
        s.writer.close();
        post({ t: 'closed', s: m.s, stats: s.writer.stats });
        Atomics.store(s.ctrl, CTRL_DONE, DONE_OK);
        Atomics.notify(s.ctrl, CTRL_DONE);
        break;
      }
    }
  } catch (e) {
    const owner = s ?? sessions.get(m.s);
    fail(m.s, owner, e);
    if (!owner && m.t === 'open') {
      const ctrl = new Int32Array(m.ctrl);
      Atomics.store(ctrl, CTRL_DONE, DONE_ERROR);
      Atomics.notify(ctrl, CTRL_DONE);
    }
  }
});

const readyCell = new Int32Array(ready);
Atomics.store(readyCell, CTRL_READY, 1);
Atomics.notify(readyCell, CTRL_READY);
