/**
 * The logging channel as the node drivers see it: an ordered, reliable pipe of opaque byte messages between one
 * primary and one secondary. The codec (engine/log) gives the bytes meaning; this layer only moves them, limits
 * them, and makes sure the peer is who it claims to be before a single message is delivered.
 */
import { NetError } from './errors.ts';

export type Role = 'primary' | 'secondary';

/** Who is on the other end, as proven by the handshake. */
export interface PeerInfo {
  readonly vmId: string;
  readonly epoch: number;
  readonly role: Role;
}

export interface Transport {
  /**
   * Queue one message; messages arrive in order, each exactly once, or the connection closes.
   * Throws NetError E_FRAME_SIZE if msg is larger than maxFrameBytes (nothing is sent; the connection stays open)
   * and E_CLOSED after close. Do NOT mutate msg after send: the bytes may be referenced until they are flushed.
   */
  send(msg: Uint8Array): void;
  /**
   * Register a receiver. Messages that arrive before the first receiver is registered are queued (bounded), so
   * register right after connect/accept. Receivers are called in registration order.
   */
  onMessage(cb: (msg: Uint8Array) => void): void;
  /**
   * Called once when the connection ends, on both sides: err undefined for a clean close (either side called close()
   * without an error), else why (err.remote tells whether the peer reported it). Registering after the close still
   * gets called, asynchronously.
   */
  onClose(cb: (err?: NetError) => void): void;
  /** Close; with err the reason goes to the peer too (as its code). Idempotent. onClose fires synchronously. */
  close(err?: NetError): void;
  /**
   * Optional write coalescing: sends between cork() and the matching uncork() still arrive as separate messages,
   * in order, but may leave in one write to the OS (one system call instead of one per message). Calls nest.
   */
  cork?(): void;
  uncork?(): void;
  /**
   * The receiver (codec) rejected a message from this peer. After invalidMessagesMax such reports the connection is
   * closed with E_MALFORMED: a broken or hostile peer cannot make us spin on garbage forever.
   */
  reportInvalid(reason: string): void;
  /**
   * Optional: runs `work`, a long synchronous stretch of this thread (a guest slice), while another thread keeps
   * the peer hearing from this side: once the stretch has lasted `everyMs` without a send, `beat()`'s message
   * (asked for at the start and after every send inside the stretch; undefined: nothing to send) goes out on its own, once per `everyMs`,
   * until the stretch ends. Without it a guest computing longer than the peer timeout looks dead to the peer.
   * Transports that cannot (the in-process memory one) leave it out: callers then run `work` as it is.
   */
  whileBusy?<T>(everyMs: number, beat: () => Uint8Array | undefined, work: () => T): T;
  /** Optional, with whileBusy: gets the stand-in ready now (a driver calls it once connected). */
  prepareStandIn?(): void;
  /** Messages sent by whileBusy's stand-in so far. */
  readonly standInBeats?: number;
  /** Bytes accepted by send() but not yet handed to the OS (ws) or the peer (memory). The driver's backpressure signal. */
  readonly bufferedBytes: number;
  readonly maxFrameBytes: number;
  readonly closed: boolean;
  /** The authenticated peer; undefined on raw, unauthenticated channels. */
  readonly peer?: PeerInfo;
}

/** Accepts authenticated connections. */
export interface Listener {
  /** Where peers connect, e.g. ws://127.0.0.1:40123 or mem://name. */
  readonly url: string;
  onConnection(cb: (t: Transport) => void): void;
  /** A peer that failed the handshake (for logging; it is already disconnected). */
  onRefused(cb: (err: NetError) => void): void;
  /** Stop accepting and close every connection this listener accepted. */
  close(): Promise<void>;
}

export const MAX_FRAME_BYTES_DEFAULT = 16 * 1024 * 1024;
export const INVALID_MESSAGES_MAX_DEFAULT = 16;
export const QUEUED_MESSAGES_MAX_DEFAULT = 4096;

export interface TransportLimits {
  /** Largest message in either direction; default 16 MiB. */
  maxFrameBytes?: number;
  /** Invalid messages tolerated per connection (see reportInvalid); default 16. */
  invalidMessagesMax?: number;
  /** Messages held while no receiver is registered; default 4096 (then E_LIMIT). */
  queuedMessagesMax?: number;
}

/**
 * Shared bookkeeping: receivers, the queue before the first receiver, exactly-once close notification,
 * the invalid-message budget. Subclasses move the bytes.
 */
export abstract class TransportBase implements Transport {
  readonly maxFrameBytes: number;
  private readonly invalidMessagesMax: number;
  private readonly queuedMessagesMax: number;
  private readonly receivers: Array<(msg: Uint8Array) => void> = [];
  private readonly closeWatchers: Array<(err?: NetError) => void> = [];
  private readonly queued: Uint8Array[] = [];
  private invalidCount = 0;
  private isClosed = false;
  private closeError: NetError | undefined;

  constructor(limits: TransportLimits = {}) {
    this.maxFrameBytes = limits.maxFrameBytes ?? MAX_FRAME_BYTES_DEFAULT;
    this.invalidMessagesMax = limits.invalidMessagesMax ?? INVALID_MESSAGES_MAX_DEFAULT;
    this.queuedMessagesMax = limits.queuedMessagesMax ?? QUEUED_MESSAGES_MAX_DEFAULT;
    if (!Number.isSafeInteger(this.maxFrameBytes) || this.maxFrameBytes < 1) throw new Error(`bad maxFrameBytes ${this.maxFrameBytes}`);
  }

  abstract send(msg: Uint8Array): void;
  abstract close(err?: NetError): void;
  abstract readonly bufferedBytes: number;

  get closed(): boolean {
    return this.isClosed;
  }

  onMessage(cb: (msg: Uint8Array) => void): void {
    this.receivers.push(cb);
    // Drain on a microtask so the caller finishes registering (e.g. its onClose) before the first message.
    if (this.receivers.length === 1 && this.queued.length > 0) queueMicrotask(() => this.drain());
  }

  onClose(cb: (err?: NetError) => void): void {
    if (this.isClosed) queueMicrotask(() => cb(this.closeError));
    else this.closeWatchers.push(cb);
  }

  reportInvalid(reason: string): void {
    if (this.isClosed) return;
    if (++this.invalidCount > this.invalidMessagesMax) {
      this.close(new NetError('E_MALFORMED', `more than ${this.invalidMessagesMax} invalid messages from peer (last: ${reason})`));
    }
  }

  /** Subclasses call this for every received message. */
  protected deliver(msg: Uint8Array): void {
    if (this.isClosed) return;
    // Queue while there is no receiver, and also while older queued messages wait, to keep the order.
    if (this.receivers.length === 0 || this.queued.length > 0) {
      if (this.queued.length >= this.queuedMessagesMax) {
        this.close(new NetError('E_LIMIT', `more than ${this.queuedMessagesMax} messages queued with no receiver`));
        return;
      }
      this.queued.push(msg);
      return;
    }
    for (const r of this.receivers) r(msg);
  }

  private drain(): void {
    while (this.queued.length > 0 && !this.isClosed) {
      const msg = this.queued.shift()!;
      for (const r of this.receivers) r(msg);
    }
    this.queued.length = 0;
  }

  /** Subclasses call this exactly when the connection is over; later calls are ignored. */
  protected finish(err?: NetError): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closeError = err;
    const watchers = this.closeWatchers.splice(0);
    for (const w of watchers) w(err);
  }

  /** The checks every send() starts with. */
  protected checkSend(msg: Uint8Array): void {
    if (this.isClosed) throw new NetError('E_CLOSED', 'send on a closed connection');
    if (!(msg instanceof Uint8Array)) throw new TypeError('Transport.send takes a Uint8Array');
    if (msg.byteLength > this.maxFrameBytes) {
      throw new NetError('E_FRAME_SIZE', `message of ${msg.byteLength} bytes exceeds maxFrameBytes ${this.maxFrameBytes}`);
    }
  }
}
