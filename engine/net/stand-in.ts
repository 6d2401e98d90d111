/**
 * A stand-in for a busy thread on a WebSocket: while the thread that owns the socket runs a long synchronous
 * stretch (a guest computing without host calls, in the primary or in the secondary's replay), nothing it sends can
 * leave and its peer, hearing nothing, would take it for dead after the peer timeout. The stand-in is a helper
 * thread that writes a heartbeat the owner handed it, as a WebSocket frame of its own, straight to the socket's
 * file descriptor, once per interval for as long as the stretch lasts.
 *
 * Sharing one socket between two writers is safe only at frame boundaries, so the owner and the helper take
 * turns through a state word in shared memory:
 *   OUT      the owner may write (outside a stretch, or while it sends inside one); the helper does not touch the socket;
 *   IN       the owner is busy and has nothing queued on the socket: the helper may take it;
 *   WRITING  the helper is writing one whole frame; the owner waits for it before it writes again;
 *   BROKEN   a write failed (the connection is gone, or a frame could not be finished): the stand-in is done.
 * The owner enters IN only when nothing it sent is still queued in the process (ws, the stream, libuv): the kernel
 * then holds every byte of its last frame, and the helper's frame starts on a boundary.
 *
 * The helper writes only during a stretch that lasted `everyMs` without the owner entering again (every send
 * inside a stretch re-enters with a fresh heartbeat), so a guest calling the host often never wakes it more
 * than once per interval. It has no clock of the protocol and changes no state: what it sends is a heartbeat
 * the owner encoded, perhaps a little stale (its sequence numbers only ever grow, and both cores take the
 * highest they heard).
 */
import { Worker } from 'node:worker_threads';

const OUT = 0;
const IN = 1;
const WRITING = 2;
const BROKEN = 3;

/** Cells of the control word array. */
const STATE = 0;
const GEN = 1;
const STOP = 2;
const LEN = 3;
const EVERY = 4;
/** Frames the stand-in wrote (for status and tests). */
const BEATS = 5;
const CELLS = 6;

/** Largest heartbeat the stand-in sends (a frame header of up to 8 bytes comes on top). */
export const STAND_IN_MESSAGE_MAX = 1024;

/**
 * The helper thread (plain JavaScript, evaluated: the same in the TypeScript loader, the CLI bundle and tests).
 * A frame is written whole or not at all: nothing written when the socket is full skips the beat; a frame begun is
 * finished, waiting for room, for up to 2 s, after which the stream is broken and the state says so.
 */
const HELPER = `
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const { ctl, frame, fd } = workerData;
const [OUT, IN, WRITING, BROKEN] = [${OUT}, ${IN}, ${WRITING}, ${BROKEN}];
const [STATE, GEN, STOP, LEN, EVERY, BEATS] = [${STATE}, ${GEN}, ${STOP}, ${LEN}, ${EVERY}, ${BEATS}];
function writeFrame() {
  const bytes = frame.subarray(0, Atomics.load(ctl, LEN));
  let off = 0;
  let waited = 0;
  while (off < bytes.length) {
    try {
      off += writeSync(fd, bytes, off, bytes.length - off);
    } catch (e) {
      if (e.code !== 'EAGAIN' && e.code !== 'EWOULDBLOCK') return BROKEN;
      if (off === 0) return IN;
      if (waited >= 2000 || Atomics.load(ctl, STOP) !== 0) return BROKEN;
      Atomics.wait(ctl, STOP, 0, 1);
      waited++;
    }
  }
  Atomics.add(ctl, BEATS, 1);
  return IN;
}
for (;;) {
  if (Atomics.load(ctl, STOP) !== 0) break;
  const state = Atomics.load(ctl, STATE);
  if (state === BROKEN) break;
  if (state !== IN) {
    Atomics.wait(ctl, STATE, state, 1000);
    continue;
  }
  const gen = Atomics.load(ctl, GEN);
  if (Atomics.wait(ctl, GEN, gen, Atomics.load(ctl, EVERY)) !== 'timed-out') continue;
  if (Atomics.load(ctl, GEN) !== gen) continue;
  if (Atomics.compareExchange(ctl, STATE, IN, WRITING) !== IN) continue;
  const next = writeFrame();
  Atomics.store(ctl, STATE, next);
  Atomics.notify(ctl, STATE);
}
`;

/** What the stand-in needs of the socket it shares. */
export interface StandInSocket {
  /** The descriptor (undefined where there is none to share: the stand-in is then never used). */
  readonly fd: number | undefined;
  /** True when nothing sent is still queued in this process (ws, the stream, libuv). */
  drained(): boolean;
}

/** One WebSocket frame header for a binary message of n bytes; a client's is masked, with a zero key. */
function frameHeader(n: number, masked: boolean): Uint8Array {
  const ext = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const h = new Uint8Array(2 + ext + (masked ? 4 : 0));
  h[0] = 0x82; // FIN, binary
  h[1] = (masked ? 0x80 : 0) | (ext === 0 ? n : ext === 2 ? 126 : 127);
  if (ext === 2) {
    h[2] = n >> 8;
    h[3] = n & 0xff;
  } else if (ext === 8) {
    new DataView(h.buffer).setBigUint64(2, BigInt(n));
  }
  // A zero masking key leaves the payload as it is (see connectWs).
  return h;
}

export class StandIn {
  private readonly ctl = new Int32Array(new SharedArrayBuffer(CELLS * 4));
  private readonly frame = new Uint8Array(new SharedArrayBuffer(STAND_IN_MESSAGE_MAX + 16));
  private worker: Worker | undefined;
  private depth = 0;
  private beat: (() => Uint8Array | undefined) | undefined;
  private done = false;

  constructor(
    private readonly socket: StandInSocket,
    /** A client's frames are masked (RFC 6455), a server's are not. */
    private readonly masked: boolean,
  ) {}

  /** Heartbeats the helper thread wrote so far. */
  get beats(): number {
    return Atomics.load(this.ctl, BEATS);
  }

  /** Whether a stand-in can run at all on this socket (it has a descriptor, and no write of it failed). */
  get usable(): boolean {
    return !this.done && this.socket.fd !== undefined && Atomics.load(this.ctl, STATE) !== BROKEN;
  }

  /**
   * Runs `work` while the helper stands in: if it lasts `everyMs` or longer without a send, `beat()`'s message
   * goes out once per interval (none while beat() says undefined). Nested calls run inside the outer one.
   */
  run<T>(everyMs: number, beat: () => Uint8Array | undefined, work: () => T): T {
    if (this.depth > 0 || !this.usable) return work();
    this.depth++;
    this.beat = beat;
    Atomics.store(this.ctl, EVERY, Math.max(1, Math.round(everyMs)));
    this.enter();
    try {
      return work();
    } finally {
      this.leave();
      this.depth--;
      this.beat = undefined;
    }
  }

  /**
   * The owner writes to the socket: the helper must not, until `after` says whether it may again. Sends inside
   * a stretch go through here (WsChannel wraps every write of its own).
   */
  writing<T>(write: () => T): T {
    if (this.depth === 0) return write();
    this.leave();
    try {
      return write();
    } finally {
      this.enter();
    }
  }

  /**
   * Starts the helper thread now, not at the first long stretch: a thread takes tens of milliseconds to start
   * (hundreds on a loaded host), and a stretch that begins right after a connect (a guest computing from its
   * start) would be silent for that long.
   */
  boot(): void {
    if (this.usable) this.worker ??= this.start();
  }

  /** Stops the helper thread (the connection is over). */
  close(): void {
    if (this.done) return;
    this.done = true;
    Atomics.store(this.ctl, STOP, 1);
    Atomics.notify(this.ctl, STATE);
    Atomics.notify(this.ctl, GEN);
    Atomics.notify(this.ctl, STOP);
    this.leave();
    void this.worker?.terminate();
    this.worker = undefined;
  }

  /** Hands the socket to the helper, if it can take it now (nothing of ours is queued, a heartbeat fits). */
  private enter(): void {
    if (!this.usable || this.depth === 0 || !this.socket.drained()) return;
    const msg = this.beat!();
    if (msg === undefined || msg.length > STAND_IN_MESSAGE_MAX) return;
    const header = frameHeader(msg.length, this.masked);
    this.frame.set(header, 0);
    this.frame.set(msg, header.length);
    Atomics.store(this.ctl, LEN, header.length + msg.length);
    this.worker ??= this.start();
    Atomics.add(this.ctl, GEN, 1);
    Atomics.store(this.ctl, STATE, IN);
    Atomics.notify(this.ctl, STATE);
  }

  /** Takes the socket back: waits for a frame the helper is writing. */
  private leave(): void {
    for (;;) {
      const was = Atomics.compareExchange(this.ctl, STATE, IN, OUT);
      if (was !== WRITING) return;
      Atomics.wait(this.ctl, STATE, WRITING, 100);
    }
  }

  private start(): Worker {
    const w = new Worker(HELPER, { eval: true, workerData: { ctl: this.ctl, frame: this.frame, fd: this.socket.fd } });
    // It must not keep the process alive, and an error in it only ends the stand-in.
    w.unref();
    w.on('error', () => Atomics.store(this.ctl, STATE, BROKEN));
    return w;
  }
}
