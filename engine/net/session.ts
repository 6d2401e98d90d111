/**
 * A Session is a raw channel (ws or memory) after the handshake: it delivers messages only once the peer proved it
 * knows the secret and serves the same VM with an acceptable epoch and the other role. Both transports share this
 * code, which is why the compliance suite can test refusals on either.
 */
import { randomBytes } from 'node:crypto';
import { NetError } from './errors.ts';
import {
  NONCE_BYTES,
  clientMac,
  decodeAuth,
  decodeHello,
  decodeOk,
  encodeAuth,
  encodeConfirm,
  encodeHello,
  encodeOk,
  isConfirm,
  macEqual,
  serverMac,
  settingsBytes,
  vmIdBytes,
} from './handshake.ts';
import { TransportBase, type PeerInfo, type Role, type Transport, type TransportLimits } from './transport.ts';

export interface AuthOptions extends TransportLimits {
  /** Shared secret (see loadSecretFile). */
  secret: Uint8Array;
  /** The VM this channel serves; a peer for another VM is refused with E_VMID. */
  vmId: string;
  /**
   * What both sides must run alike (a pair's release rule and dispatch side), as text; a client with other
   * settings is refused with E_SETTINGS, naming both. Default ''.
   */
  settings?: string;
  role: Role;
  /** Our epoch (the lease epoch), announced to the peer; a function is read at each handshake. */
  epoch: number | (() => number);
  /** Peers announcing a lower epoch are refused with E_EPOCH; default: our own epoch. */
  minPeerEpoch?: number | (() => number);
  /** The whole handshake must finish within this; default 5000 ms. */
  handshakeTimeoutMs?: number;
}

export const HANDSHAKE_TIMEOUT_MS_DEFAULT = 5000;

const read = (v: number | (() => number)): number => (typeof v === 'function' ? v() : v);

export class Session extends TransportBase {
  private peerInfo: PeerInfo | undefined;
  private ready = false;

  private constructor(
    private readonly raw: Transport,
    limits: TransportLimits,
  ) {
    super({ ...limits, maxFrameBytes: raw.maxFrameBytes });
  }

  get peer(): PeerInfo | undefined {
    return this.peerInfo;
  }

  get bufferedBytes(): number {
    return this.raw.bufferedBytes;
  }

  send(msg: Uint8Array): void {
    this.checkSend(msg);
    if (!this.ready) throw new Error('Session.send before the handshake finished');
    this.raw.send(msg);
  }

  cork(): void {
    this.raw.cork?.();
  }

  uncork(): void {
    this.raw.uncork?.();
  }

  whileBusy<T>(everyMs: number, beat: () => Uint8Array | undefined, work: () => T): T {
    return this.ready && !this.closed && this.raw.whileBusy ? this.raw.whileBusy(everyMs, beat, work) : work();
  }

  prepareStandIn(): void {
    if (this.ready && !this.closed) this.raw.prepareStandIn?.();
  }

  get standInBeats(): number {
    return this.raw.standInBeats ?? 0;
  }

  close(err?: NetError): void {
    if (this.closed) return;
    this.raw.close(err);
    // The raw channel's onClose normally got here first; this covers a raw channel that was already closed.
    this.finish(err);
  }

  /**
   * Run the handshake on a fresh raw channel. Resolves with the authenticated transport; rejects with a NetError
   * (and closes the channel) if either side refuses, the channel closes, or the timeout passes.
   */
  static authenticate(raw: Transport, side: 'server' | 'client', opts: AuthOptions): Promise<Session> {
    vmIdBytes(opts.vmId); // programmer error if the local vmId is unusable: fail before touching the network
    settingsBytes(opts.settings ?? '');
    if (!(opts.secret instanceof Uint8Array) || opts.secret.length === 0) throw new Error('AuthOptions.secret must be non-empty bytes');
    const s = new Session(raw, opts);
    return new Promise<Session>((resolve, reject) => {
      let settled = false;
      const settle = (err?: NetError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) {
          raw.close(err);
          reject(err);
        } else {
          s.ready = true;
          resolve(s);
        }
      };
      const timeoutMs = opts.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS_DEFAULT;
      const timer = setTimeout(
        () => settle(new NetError('E_TIMEOUT', `handshake not finished within ${timeoutMs} ms`)),
        timeoutMs,
      );
      raw.onClose((err) => {
        s.finish(err);
        settle(err ?? new NetError('E_CLOSED', 'peer closed the connection during the handshake', true));
      });
      const step = side === 'server' ? s.serverSteps(opts, settle) : s.clientSteps(opts, settle);
      raw.onMessage((msg) => {
        if (s.ready) s.deliver(msg);
        else if (!settled) step(msg);
      });
    });
  }

  private serverSteps(opts: AuthOptions, settle: (err?: NetError) => void): (msg: Uint8Array) => void {
    const serverNonce = randomBytes(NONCE_BYTES);
    this.raw.send(encodeHello(serverNonce));
    let authed = false;
    return (msg) => {
      if (authed) {
        // Only CONFIRM may follow our OK; the client sends no data before it.
        if (isConfirm(msg)) settle();
        else settle(new NetError('E_MALFORMED', 'expected handshake CONFIRM'));
        return;
      }
      const auth = decodeAuth(msg);
      if (!auth) return settle(new NetError('E_MALFORMED', 'expected handshake AUTH'));
      const mac = { serverNonce, clientNonce: auth.clientNonce, vmId: auth.vmId, settings: auth.settings, clientEpoch: auth.epoch, clientRole: auth.role };
      // Secret first: only a peer that proved it knows the secret learns anything more specific than E_AUTH.
      if (!macEqual(auth.mac, clientMac(opts.secret, mac))) return settle(new NetError('E_AUTH', 'peer failed authentication'));
      if (auth.vmId !== opts.vmId) return settle(new NetError('E_VMID', `peer serves VM ${JSON.stringify(auth.vmId)}, not ${JSON.stringify(opts.vmId)}`));
      if (auth.role === opts.role) return settle(new NetError('E_ROLE', `peer is also a ${auth.role}`));
      const ours = opts.settings ?? '';
      // (Short: the reason travels in a ws close frame, at most 123 bytes.)
      if (auth.settings !== ours) return settle(new NetError('E_SETTINGS', `${auth.role}: ${auth.settings || 'defaults'}; ${opts.role}: ${ours || 'defaults'}`));
      const minEpoch = read(opts.minPeerEpoch ?? opts.epoch);
      if (auth.epoch < minEpoch) return settle(new NetError('E_EPOCH', `peer epoch ${auth.epoch} is older than ${minEpoch}`));
      const epoch = read(opts.epoch);
      this.raw.send(encodeOk({ role: opts.role, epoch, mac: serverMac(opts.secret, { ...mac, serverEpoch: epoch, serverRole: opts.role }) }));
      this.peerInfo = { vmId: auth.vmId, epoch: auth.epoch, role: auth.role };
      authed = true;
    };
  }

  private clientSteps(opts: AuthOptions, settle: (err?: NetError) => void): (msg: Uint8Array) => void {
    const clientNonce = randomBytes(NONCE_BYTES);
    let mac: Parameters<typeof clientMac>[1] | undefined;
    return (msg) => {
      if (!mac) {
        const hello = decodeHello(msg);
        if (!hello) return settle(new NetError('E_MALFORMED', 'expected handshake HELLO'));
        mac = { serverNonce: hello.serverNonce, clientNonce, vmId: opts.vmId, settings: opts.settings ?? '', clientEpoch: read(opts.epoch), clientRole: opts.role };
        this.raw.send(encodeAuth({ role: opts.role, epoch: mac.clientEpoch, clientNonce, vmId: opts.vmId, settings: mac.settings, mac: clientMac(opts.secret, mac) }));
        return;
      }
      const ok = decodeOk(msg);
      if (!ok) return settle(new NetError('E_MALFORMED', 'expected handshake OK'));
      if (!macEqual(ok.mac, serverMac(opts.secret, { ...mac, serverEpoch: ok.epoch, serverRole: ok.role }))) {
        return settle(new NetError('E_AUTH', 'server failed authentication'));
      }
      if (ok.role === opts.role) return settle(new NetError('E_ROLE', `peer is also a ${ok.role}`));
      const minEpoch = read(opts.minPeerEpoch ?? opts.epoch);
      if (ok.epoch < minEpoch) return settle(new NetError('E_EPOCH', `peer epoch ${ok.epoch} is older than ${minEpoch}`));
      this.peerInfo = { vmId: opts.vmId, epoch: ok.epoch, role: ok.role };
      this.raw.send(encodeConfirm());
      settle();
    };
  }
}
