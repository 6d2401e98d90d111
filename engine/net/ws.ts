/**
 * The logging channel over WebSocket (npm ws): binary frames only, one message per ws message, no compression
 * (latency first, and no decompression bombs), maxPayload enforced by ws before a frame is buffered whole,
 * TCP_NODELAY on both ends (a held output waits for the round trip; Nagle would add up to 40 ms to it).
 * Heartbeats use ws ping/pong control frames, so they never mix with the opaque messages.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { NetError, closeCodeOf, errorOfCloseCode } from './errors.ts';
import { HeartbeatMonitor, type HeartbeatConfig } from './heartbeat.ts';
import { HANDSHAKE_TIMEOUT_MS_DEFAULT, Session, type AuthOptions } from './session.ts';
import { StandIn } from './stand-in.ts';
import { MAX_FRAME_BYTES_DEFAULT, TransportBase, type Listener, type Transport, type TransportLimits } from './transport.ts';

export interface WsChannelOptions extends TransportLimits {
  /** Ping when idle and close with E_TIMEOUT when the peer goes quiet; off when absent. */
  heartbeat?: HeartbeatConfig;
  /** After close(), wait this long for the peer's close frame before dropping the socket; default 2000 ms. */
  closeTimeoutMs?: number;
}

export interface WsListenOptions extends AuthOptions, WsChannelOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port; read it from Listener.url). */
  port?: number;
  /** Handshakes in progress at once; more connections are refused with E_LIMIT. Default 16. Together with
   * maxFrameBytes this bounds what unauthenticated peers can make us buffer. */
  pendingHandshakesMax?: number;
}

export type WsConnectOptions = AuthOptions & WsChannelOptions;

/** ws error codes that mean the peer broke the WebSocket protocol. */
function errorOfWsError(err: Error & { code?: string }): NetError {
  if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return new NetError('E_FRAME_SIZE', `peer sent a frame over maxPayload: ${err.message}`);
  if (err.code?.startsWith('WS_ERR_')) return new NetError('E_MALFORMED', `peer broke the WebSocket protocol: ${err.message}`);
  return new NetError('E_CLOSED', `socket error: ${err.message}`, false, { cause: err });
}

/** Close reasons are limited to 123 bytes; keep them ASCII so truncation cannot split a character. */
function closeReason(message: string): string {
  return message.replace(/[^\x20-\x7e]/g, '?').slice(0, 120);
}

/** A raw, unauthenticated message channel over one WebSocket. */
export class WsChannel extends TransportBase {
  private socketError: NetError | undefined;
  private heartbeat: HeartbeatMonitor | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** Sends heartbeats while this thread is busy (whileBusy); made at the first use. */
  private standIn: StandIn | undefined;

  constructor(
    private readonly ws: WebSocket,
    private readonly opts: WsChannelOptions = {},
    /** Which end of the WebSocket this is: a client masks its frames (the stand-in writes frames itself). */
    private readonly side: 'client' | 'server' = 'client',
  ) {
    super(opts);
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: RawData, isBinary: boolean) => {
      this.heartbeat?.onBeat(performance.now());
      // The protocol never uses text frames: a peer sending one is not a twinstep peer.
      if (!isBinary) return this.close(new NetError('E_MALFORMED', 'peer sent a text frame'));
      this.deliver(data as Buffer);
    });
    ws.on('ping', () => this.heartbeat?.onBeat(performance.now()));
    ws.on('pong', () => this.heartbeat?.onBeat(performance.now()));
    // ws emits 'error' for protocol violations and socket errors, then 'close'; without a listener it would throw.
    ws.on('error', (err: Error) => {
      this.socketError ??= errorOfWsError(err);
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.stopHeartbeat();
      this.standIn?.close();
      this.finish(this.socketError ?? errorOfCloseCode(code, reason.toString()));
    });
    if (opts.heartbeat) {
      this.heartbeat = new HeartbeatMonitor(opts.heartbeat, performance.now());
      this.armHeartbeat();
    }
  }

  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  /** The TCP socket under the WebSocket (ws keeps it in a private field; absent before open and after close). */
  private get socket(): Socket | undefined {
    return (this.ws as unknown as { _socket?: Socket | null })._socket ?? undefined;
  }

  cork(): void {
    this.socket?.cork();
  }

  uncork(): void {
    const s = this.socket;
    if (!s) return;
    // Uncorking writes what the sends since cork() queued.
    this.write(() => s.uncork());
  }

  send(msg: Uint8Array): void {
    this.checkSend(msg);
    this.write(() => this.ws.send(msg, { binary: true }));
    this.heartbeat?.onSent(performance.now());
  }

  /** A write of ours to the socket: the stand-in keeps off it meanwhile (StandIn.writing). */
  private write(f: () => void): void {
    if (this.standIn) this.standIn.writing(f);
    else f();
  }

  whileBusy<T>(everyMs: number, beat: () => Uint8Array | undefined, work: () => T): T {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN) return work();
    this.standIn ??= this.makeStandIn();
    return this.standIn ? this.standIn.run(everyMs, beat, work) : work();
  }

  prepareStandIn(): void {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN) return;
    this.standIn ??= this.makeStandIn();
    this.standIn?.boot();
  }

  get standInBeats(): number {
    return this.standIn?.beats ?? 0;
  }

  /** A stand-in on this socket's descriptor (none where the socket has no descriptor to share). */
  private makeStandIn(): StandIn | undefined {
    const socket = this.socket;
    const handle = (socket as unknown as { _handle?: { fd?: number; writeQueueSize?: number } | null } | undefined)?._handle;
    const fd = handle?.fd;
    if (!socket || !handle || typeof fd !== 'number' || fd < 0) return undefined;
    return new StandIn(
      {
        fd,
        // Nothing of ours in ws, in the stream or in libuv: the kernel holds the end of our last frame.
        drained: () => this.ws.bufferedAmount === 0 && (handle.writeQueueSize ?? 0) === 0 && !socket.writableCorked,
      },
      this.side === 'client',
    );
  }

  close(err?: NetError): void {
    if (this.closed) return;
    this.stopHeartbeat();
    // The close frame is ours to write: the stand-in stops first (it waits for a frame it is writing).
    this.standIn?.close();
    // Local close is final at once (sends now throw E_CLOSED); the close frame carries the reason to the peer.
    this.finish(err);
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      if (err) this.ws.close(closeCodeOf(err), closeReason(`${err.code}: ${err.message}`));
      else this.ws.close(1000);
      // Do not wait ws's 30 s for a peer that never answers the close frame.
      setTimeout(() => this.ws.terminate(), this.opts.closeTimeoutMs ?? 2000).unref();
    }
  }

  /** Drop the socket without a close frame (fault injection; also used when a listener shuts down hard). */
  terminate(): void {
    this.stopHeartbeat();
    this.standIn?.close();
    this.finish(new NetError('E_CLOSED', 'connection terminated'));
    this.ws.terminate();
  }

  private armHeartbeat(): void {
    const hb = this.heartbeat!;
    const delay = Math.max(1, hb.nextTickMs() - performance.now());
    this.heartbeatTimer = setTimeout(() => {
      const now = performance.now();
      const { beat, lost } = hb.tick(now);
      if (lost) return this.close(new NetError('E_TIMEOUT', `no traffic from peer for ${this.opts.heartbeat!.timeoutMs} ms`));
      if (beat && this.ws.readyState === WebSocket.OPEN) {
        this.write(() => this.ws.ping());
        hb.onSent(now);
      }
      this.armHeartbeat();
    }, delay);
    // Heartbeats alone must not keep the process alive.
    this.heartbeatTimer.unref();
  }

  private stopHeartbeat(): void {
    clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }
}

function wsSettings(opts: TransportLimits): { maxPayload: number; perMessageDeflate: false } {
  return { maxPayload: opts.maxFrameBytes ?? MAX_FRAME_BYTES_DEFAULT, perMessageDeflate: false };
}

/** Listen for peers; only connections that pass the handshake reach onConnection. */
export async function listenWs(opts: WsListenOptions): Promise<Listener> {
  const host = opts.host ?? '127.0.0.1';
  const wss = new WebSocketServer({ host, port: opts.port ?? 0, clientTracking: false, ...wsSettings(opts) });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', (err: Error) => reject(new NetError('E_CONFIG', `cannot listen on ${host}:${opts.port ?? 0}: ${err.message}`, false, { cause: err })));
  });
  const address = wss.address();
  const port = typeof address === 'object' && address ? address.port : opts.port ?? 0;
  return new WsListener(wss, `ws://${host.includes(':') ? `[${host}]` : host}:${port}`, opts);
}

class WsListener implements Listener {
  private readonly connectionWatchers: Array<(t: Transport) => void> = [];
  private readonly refusalWatchers: Array<(err: NetError) => void> = [];
  private readonly channels = new Set<WsChannel>();
  private pending = 0;
  private closed = false;

  constructor(
    private readonly wss: WebSocketServer,
    readonly url: string,
    private readonly opts: WsListenOptions,
  ) {
    // A listening server error after start (rare) must not crash the process; connections report their own.
    wss.on('error', () => undefined);
    wss.on('connection', (ws: WebSocket, req: IncomingMessage) => this.accept(ws, req.socket));
  }

  onConnection(cb: (t: Transport) => void): void {
    this.connectionWatchers.push(cb);
  }

  onRefused(cb: (err: NetError) => void): void {
    this.refusalWatchers.push(cb);
  }

  private refused(err: NetError): void {
    for (const w of this.refusalWatchers) w(err);
  }

  private accept(ws: WebSocket, socket: Socket): void {
    socket.setNoDelay(true);
    const channel = new WsChannel(ws, this.opts, 'server');
    if (this.closed) return channel.close(new NetError('E_CLOSED', 'listener closed'));
    if (this.pending >= (this.opts.pendingHandshakesMax ?? 16)) {
      const err = new NetError('E_LIMIT', 'too many handshakes in progress');
      channel.close(err);
      return this.refused(err);
    }
    this.pending++;
    this.channels.add(channel);
    channel.onClose(() => this.channels.delete(channel));
    Session.authenticate(channel, 'server', this.opts).then(
      (t) => {
        this.pending--;
        for (const w of this.connectionWatchers) w(t);
      },
      (err: NetError) => {
        this.pending--;
        this.refused(err);
      },
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const c of [...this.channels]) c.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

/** Connect to a listener and run the handshake; rejects with E_CONNECT if the peer cannot be reached. */
export async function connectWs(url: string, opts: WsConnectOptions): Promise<Transport> {
  const timeoutMs = opts.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS_DEFAULT;
  // A zero masking key: RFC 6455 makes a client mask its frames so that a browser script cannot make them look
  // like something else to a proxy on the way; this client is no browser, and the channel is authenticated
  // end to end. With a zero key both ends skip the XOR pass (ws does), which cost the primary about 100 µs per
  // 16 KiB entries frame, most of what sending the log cost it.
  const ws = new WebSocket(url, { ...wsSettings(opts), handshakeTimeout: timeoutMs, generateMask: zeroMask });
  ws.on('upgrade', (res: IncomingMessage) => (res.socket as Socket).setNoDelay(true));
  // The channel listens from the start: the server's HELLO can be parsed before our 'open' continuation runs.
  const channel = new WsChannel(ws, opts, 'client');
  await new Promise<void>((resolve, reject) => {
    const fail = (why: string, cause?: unknown): void => {
      cleanup();
      channel.terminate();
      reject(new NetError('E_CONNECT', `cannot connect to ${url}: ${why}`, false, { cause }));
    };
    const onOpen = (): void => {
      cleanup();
      resolve();
    };
    const onError = (err: Error): void => fail(err.message, err);
    const onResponse = (_req: unknown, res: IncomingMessage): void => fail(`HTTP ${res.statusCode} instead of a WebSocket upgrade`);
    const cleanup = (): void => {
      ws.off('open', onOpen);
      ws.off('error', onError);
      ws.off('unexpected-response', onResponse);
    };
    ws.on('open', onOpen);
    ws.on('error', onError);
    ws.on('unexpected-response', onResponse);
  });
  return Session.authenticate(channel, 'client', opts);
}
