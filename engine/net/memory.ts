/**
 * In-process transport: a connected pair of MemoryTransports, and a MemoryNetwork that gives them the same
 * listen/connect/handshake shape as ws. For unit tests, the compliance suite and the simulator.
 *
 * Delivery is always asynchronous (never inside send()), so a receiver that sends in reply cannot re-enter its
 * peer; it is FIFO per pair, and a close is delivered after every message sent before it, as on a real socket.
 * The simulator can pass its own `schedule` to decide when deliveries happen (e.g. from its virtual clock).
 */
import { NetError } from './errors.ts';
import { Session, type AuthOptions } from './session.ts';
import { TransportBase, type Listener, type Transport, type TransportLimits } from './transport.ts';

export interface MemoryTransportOptions extends TransportLimits {
  /** Runs a delivery later. Default: a FIFO drained on setImmediate, so timers and I/O still get turns. */
  schedule?: (task: () => void) => void;
}

const immediateTasks: Array<() => void> = [];
let immediatePending = false;

function runImmediateTasks(): void {
  immediatePending = false;
  // Only the tasks present now: tasks they schedule wait for the next turn, so ping-pong cannot starve the loop.
  const n = immediateTasks.length;
  for (let i = 0; i < n; i++) immediateTasks.shift()!();
  if (immediateTasks.length > 0 && !immediatePending) {
    immediatePending = true;
    setImmediate(runImmediateTasks);
  }
}

export function scheduleImmediate(task: () => void): void {
  immediateTasks.push(task);
  if (!immediatePending) {
    immediatePending = true;
    setImmediate(runImmediateTasks);
  }
}

export class MemoryTransport extends TransportBase {
  private other!: MemoryTransport;
  private inFlightBytes = 0;
  private readonly schedule: (task: () => void) => void;

  private constructor(opts: MemoryTransportOptions) {
    super(opts);
    this.schedule = opts.schedule ?? scheduleImmediate;
  }

  /** Two connected ends; each end may have its own limits (a receiver enforces its own maxFrameBytes). */
  static pair(a: MemoryTransportOptions = {}, b: MemoryTransportOptions = a): [MemoryTransport, MemoryTransport] {
    const x = new MemoryTransport(a);
    const y = new MemoryTransport(b);
    x.other = y;
    y.other = x;
    return [x, y];
  }

  get bufferedBytes(): number {
    return this.inFlightBytes;
  }

  send(msg: Uint8Array): void {
    this.checkSend(msg);
    // A copy: the receiver owns its bytes, and the sender may reuse its buffer once send() returns.
    const copy = msg.slice();
    this.inFlightBytes += copy.byteLength;
    this.schedule(() => {
      this.inFlightBytes -= copy.byteLength;
      this.other.receive(copy);
    });
  }

  close(err?: NetError): void {
    if (this.closed) return;
    this.finish(err);
    this.schedule(() => this.other.peerClosed(err));
  }

  /** The connection dies without a goodbye (crash, cable pulled): both ends see E_CLOSED. For fault injection. */
  kill(): void {
    if (this.closed) return;
    this.finish(new NetError('E_CLOSED', 'connection killed'));
    this.schedule(() => this.other.peerClosed(new NetError('E_CLOSED', 'connection lost')));
  }

  private receive(msg: Uint8Array): void {
    if (this.closed) return;
    if (msg.byteLength > this.maxFrameBytes) {
      this.close(new NetError('E_FRAME_SIZE', `received ${msg.byteLength} bytes, more than maxFrameBytes ${this.maxFrameBytes}`));
      return;
    }
    this.deliver(msg);
  }

  private peerClosed(err?: NetError): void {
    if (this.closed) return;
    this.finish(err && (err.remote ? err : new NetError(err.code, `closed by peer: ${err.message}`, true)));
  }
}

export interface MemoryListenOptions extends AuthOptions, MemoryTransportOptions {
  /** Handshakes in progress at once; more are refused with E_LIMIT. Default 16. */
  pendingHandshakesMax?: number;
}

export type MemoryConnectOptions = AuthOptions & MemoryTransportOptions;

/** A namespace of in-process endpoints, mem://NAME. */
export class MemoryNetwork {
  private readonly listeners = new Map<string, MemoryListener>();

  listen(name: string, opts: MemoryListenOptions): Listener {
    if (this.listeners.has(name)) throw new NetError('E_CONFIG', `mem://${name} is already listening`);
    const l = new MemoryListener(name, opts, () => this.listeners.delete(name));
    this.listeners.set(name, l);
    return l;
  }

  /** Connect and authenticate; the server end's limits are the listener's, the client end's are opts'. */
  async connect(name: string, opts: MemoryConnectOptions): Promise<Transport> {
    const l = this.listeners.get(name);
    if (!l) throw new NetError('E_CONNECT', `nothing listens on mem://${name}`);
    const [serverEnd, clientEnd] = MemoryTransport.pair(l.opts, opts);
    l.accept(serverEnd);
    return Session.authenticate(clientEnd, 'client', opts);
  }

  /** A raw, unauthenticated connection, for tests that speak the handshake themselves. */
  connectRaw(name: string, opts: MemoryTransportOptions = {}): MemoryTransport {
    const l = this.listeners.get(name);
    if (!l) throw new NetError('E_CONNECT', `nothing listens on mem://${name}`);
    const [serverEnd, clientEnd] = MemoryTransport.pair(l.opts, opts);
    l.accept(serverEnd);
    return clientEnd;
  }
}

class MemoryListener implements Listener {
  readonly url: string;
  private readonly connectionWatchers: Array<(t: Transport) => void> = [];
  private readonly refusalWatchers: Array<(err: NetError) => void> = [];
  private readonly open = new Set<Transport>();
  private pending = 0;
  private closed = false;

  constructor(
    name: string,
    readonly opts: MemoryListenOptions,
    private readonly unregister: () => void,
  ) {
    this.url = `mem://${name}`;
  }

  onConnection(cb: (t: Transport) => void): void {
    this.connectionWatchers.push(cb);
  }

  onRefused(cb: (err: NetError) => void): void {
    this.refusalWatchers.push(cb);
  }

  accept(raw: MemoryTransport): void {
    if (this.closed) {
      raw.close(new NetError('E_CLOSED', 'listener closed'));
      return;
    }
    if (this.pending >= (this.opts.pendingHandshakesMax ?? 16)) {
      const err = new NetError('E_LIMIT', 'too many handshakes in progress');
      raw.close(err);
      for (const w of this.refusalWatchers) w(err);
      return;
    }
    this.pending++;
    this.open.add(raw);
    raw.onClose(() => this.open.delete(raw));
    Session.authenticate(raw, 'server', this.opts).then(
      (t) => {
        this.pending--;
        for (const w of this.connectionWatchers) w(t);
      },
      (err: NetError) => {
        this.pending--;
        for (const w of this.refusalWatchers) w(err);
      },
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unregister();
    for (const t of [...this.open]) t.close();
  }
}
