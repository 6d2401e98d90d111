/**
 * The one suite every transport must pass (DESIGN: "the transport is tested on its own with one compliance suite").
 * A harness gives listeners, authenticated connections and raw unauthenticated channels; everything else is here.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { NetError, type NetErrorCode } from '../../engine/net/errors.ts';
import { clientMac, decodeHello, encodeAuth } from '../../engine/net/handshake.ts';
import type { AuthOptions } from '../../engine/net/session.ts';
import type { Listener, Transport } from '../../engine/net/transport.ts';
import { seededRandom, testSeed } from '../support/seeded-random.ts';

export type HarnessOptions = Partial<AuthOptions> & { maxFrameBytes?: number; pendingHandshakesMax?: number };

export interface TransportHarness {
  listen(opts: AuthOptions & HarnessOptions): Promise<Listener>;
  connect(listener: Listener, opts: AuthOptions & HarnessOptions): Promise<Transport>;
  /** An unauthenticated channel to the listener, to speak (or break) the handshake by hand. */
  connectRaw(listener: Listener): Promise<Transport>;
  /** Stop anything the harness itself started. */
  teardown(): Promise<void>;
}

export const SECRET = new Uint8Array(randomBytes(32));
export const MAX_FRAME_BYTES = 1024 * 1024;

export const serverAuth = (o: HarnessOptions = {}): AuthOptions & HarnessOptions => ({
  secret: SECRET, vmId: 'vm-1', role: 'primary', epoch: 5, handshakeTimeoutMs: 2000, maxFrameBytes: MAX_FRAME_BYTES, ...o,
});
export const clientAuth = (o: HarnessOptions = {}): AuthOptions & HarnessOptions => ({
  secret: SECRET, vmId: 'vm-1', role: 'secondary', epoch: 5, handshakeTimeoutMs: 2000, maxFrameBytes: MAX_FRAME_BYTES, ...o,
});

/** Everything a test needs to wait for, with a bound so a broken transport fails instead of hanging. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export function closed(t: Transport): Promise<NetError | undefined> {
  return new Promise((resolve) => t.onClose(resolve));
}

export function nextConnection(l: Listener): Promise<Transport> {
  return new Promise((resolve) => l.onConnection(resolve));
}

export function nextRefusal(l: Listener): Promise<NetError> {
  return new Promise((resolve) => l.onRefused(resolve));
}

/** Collects messages; `until(n)` resolves once n have arrived. */
export function collector(t: Transport): { msgs: Uint8Array[]; until(n: number): Promise<Uint8Array[]> } {
  const msgs: Uint8Array[] = [];
  let want = Infinity;
  let wake: (() => void) | undefined;
  t.onMessage((m) => {
    msgs.push(m);
    if (msgs.length >= want) wake?.();
  });
  return {
    msgs,
    until(n) {
      if (msgs.length >= n) return Promise.resolve(msgs);
      want = n;
      return new Promise((resolve) => {
        wake = () => resolve(msgs);
      });
    },
  };
}

function expectCode(err: unknown, code: NetErrorCode): void {
  expect(err, `expected NetError ${code}`).to.be.instanceOf(NetError);
  expect((err as NetError).code, (err as Error).message).to.equal(code);
}

function numbered(i: number, size: number): Uint8Array {
  const m = new Uint8Array(Math.max(4, size));
  new DataView(m.buffer).setUint32(0, i);
  return m;
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

export function transportCompliance(name: string, makeHarness: () => TransportHarness): void {
  describe(`transport compliance: ${name}`, function () {
    this.timeout(20_000);
    let h: TransportHarness;
    let listeners: Listener[];
    let transports: Transport[];

    beforeEach(() => {
      h = makeHarness();
      listeners = [];
      transports = [];
    });
    afterEach(async () => {
      for (const t of transports) t.close();
      for (const l of listeners) await within(l.close(), 5000, 'listener close');
      await h.teardown();
    });

    async function listen(o: HarnessOptions = {}): Promise<Listener> {
      const l = await h.listen(serverAuth(o));
      listeners.push(l);
      l.onConnection((t) => transports.push(t));
      return l;
    }

    async function pair(so: HarnessOptions = {}, co: HarnessOptions = {}): Promise<[Transport, Transport, Listener]> {
      const l = await listen(so);
      const accepted = nextConnection(l);
      const client = await within(h.connect(l, clientAuth(co)), 5000, 'connect');
      transports.push(client);
      const server = await within(accepted, 5000, 'accept');
      return [server, client, l];
    }

    async function refusedWith(code: NetErrorCode, so: HarnessOptions, co: HarnessOptions, serverCode: NetErrorCode = code): Promise<void> {
      const l = await listen(so);
      const refusal = nextRefusal(l);
      let accepted = false;
      l.onConnection(() => {
        accepted = true;
      });
      const err = await within(h.connect(l, clientAuth(co)).then(() => null, (e: unknown) => e), 5000, 'refused connect');
      expectCode(err, code);
      expectCode(await within(refusal, 5000, 'refusal'), serverCode);
      expect(accepted).to.equal(false);
    }

    it('authenticates both ways and reports the peer', async () => {
      const [server, client] = await pair({ epoch: 7 }, { epoch: 9, minPeerEpoch: 7 });
      expect(server.peer).to.deep.equal({ vmId: 'vm-1', epoch: 9, role: 'secondary' });
      expect(client.peer).to.deep.equal({ vmId: 'vm-1', epoch: 7, role: 'primary' });
      expect(server.maxFrameBytes).to.equal(MAX_FRAME_BYTES);
    });

    it('delivers messages in order, both directions, including empty ones', async () => {
      const [server, client] = await pair();
      const atServer = collector(server);
      const atClient = collector(client);
      const rnd = seededRandom(testSeed());
      const N = 2000;
      for (let i = 0; i < N; i++) {
        client.send(numbered(i, Math.floor(rnd() * 300)));
        server.send(numbered(i, Math.floor(rnd() * 300)));
      }
      client.send(new Uint8Array(0));
      for (const [got] of [[await within(atServer.until(N + 1), 10_000, 'server receive')], [await within(atClient.until(N), 10_000, 'client receive')]]) {
        for (let i = 0; i < N; i++) expect(new DataView(got![i]!.buffer, got![i]!.byteOffset).getUint32(0)).to.equal(i);
      }
      expect(atServer.msgs[N]!.byteLength).to.equal(0);
    });

    it('carries messages of exactly maxFrameBytes intact', async () => {
      const [server, client] = await pair();
      const atServer = collector(server);
      const atClient = collector(client);
      const big = new Uint8Array(randomBytes(MAX_FRAME_BYTES));
      client.send(big);
      server.send(big);
      const [s] = await within(atServer.until(1), 10_000, 'big to server');
      const [c] = await within(atClient.until(1), 10_000, 'big to client');
      expect(s!.byteLength).to.equal(MAX_FRAME_BYTES);
      expect(sha(s!)).to.equal(sha(big));
      expect(sha(c!)).to.equal(sha(big));
    });

    it('rejects an over-max send with E_FRAME_SIZE and stays usable', async () => {
      const [server, client] = await pair();
      const atServer = collector(server);
      let err: unknown;
      try {
        client.send(new Uint8Array(MAX_FRAME_BYTES + 1));
      } catch (e) {
        err = e;
      }
      expectCode(err, 'E_FRAME_SIZE');
      client.send(Uint8Array.of(42));
      const [m] = await within(atServer.until(1), 5000, 'after over-max');
      expect([...m!]).to.deep.equal([42]);
      expect(client.closed).to.equal(false);
    });

    it("closes with E_FRAME_SIZE when a peer sends more than the receiver's max", async () => {
      const [server, client] = await pair({ maxFrameBytes: 1000 }, { maxFrameBytes: 5000 });
      const sc = closed(server);
      const cc = closed(client);
      client.send(new Uint8Array(2000));
      expectCode(await within(sc, 5000, 'server close'), 'E_FRAME_SIZE');
      expectCode(await within(cc, 5000, 'client close'), 'E_FRAME_SIZE');
    });

    it('propagates a clean close from the client, after the messages sent before it', async () => {
      const [server, client] = await pair();
      const atServer = collector(server);
      const sc = closed(server);
      const cc = closed(client);
      for (let i = 0; i < 10; i++) client.send(numbered(i, 100));
      client.close();
      expect(client.closed).to.equal(true);
      expect(await within(cc, 1000, 'local close')).to.equal(undefined);
      expect(await within(sc, 5000, 'server sees close')).to.equal(undefined);
      expect(atServer.msgs).to.have.length(10);
      expectCode((() => { try { client.send(Uint8Array.of(1)); } catch (e) { return e; } })(), 'E_CLOSED');
      expectCode((() => { try { server.send(Uint8Array.of(1)); } catch (e) { return e; } })(), 'E_CLOSED');
    });

    it('propagates a close with a reason from the server as the same code', async () => {
      const [server, client] = await pair();
      const cc = closed(client);
      server.close(new NetError('E_EPOCH', 'a newer primary took the lease'));
      const err = await within(cc, 5000, 'client sees close');
      expectCode(err, 'E_EPOCH');
      expect(err!.remote).to.equal(true);
      // onClose registered after the fact still fires.
      expectCode(await within(closed(server), 1000, 'late onClose'), 'E_EPOCH');
    });

    it('queues messages that arrive before the first receiver', async () => {
      const [server, client] = await pair();
      for (let i = 0; i < 5; i++) client.send(numbered(i, 8));
      await new Promise((r) => setTimeout(r, 100));
      const got = await within(collector(server).until(5), 5000, 'queued');
      expect(got.map((m) => m[3])).to.deep.equal([0, 1, 2, 3, 4]);
    });

    it('keeps many messages in flight and shows the backlog in bufferedBytes', async () => {
      const [server, client] = await pair();
      const atServer = collector(server);
      const N = 3000;
      const msg = new Uint8Array(16 * 1024);
      for (let i = 0; i < N; i++) client.send(msg);
      expect(client.bufferedBytes).to.be.greaterThan(0);
      await within(atServer.until(N), 15_000, 'in flight');
      expect(atServer.msgs.every((m) => m.byteLength === msg.byteLength)).to.equal(true);
      const deadline = Date.now() + 5000;
      while (client.bufferedBytes > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(client.bufferedBytes).to.equal(0);
    });

    it('closes with E_MALFORMED after too many invalid messages are reported', async () => {
      const [server, client] = await pair({ invalidMessagesMax: 3 });
      const sc = closed(server);
      const cc = closed(client);
      for (let i = 0; i < 3; i++) server.reportInvalid('bad entry');
      expect(server.closed).to.equal(false);
      server.reportInvalid('bad entry');
      expectCode(await within(sc, 1000, 'server'), 'E_MALFORMED');
      expectCode(await within(cc, 5000, 'client'), 'E_MALFORMED');
    });

    it('refuses a wrong secret with E_AUTH', () =>
      refusedWith('E_AUTH', {}, { secret: new Uint8Array(randomBytes(32)) }));

    it('refuses another VM id with E_VMID', () => refusedWith('E_VMID', {}, { vmId: 'vm-2' }));

    it('refuses other pair settings with E_SETTINGS, naming both sides', async () => {
      await refusedWith('E_SETTINGS', { settings: 'release=ack dispatch=primary' }, { settings: 'release=compare dispatch=secondary' });
      await refusedWith('E_SETTINGS', { settings: 'release ack' }, {});
      const l = await listen({ settings: 'release ack' });
      const err = await within(h.connect(l, clientAuth({ settings: 'release compare' })).then(() => null, (e: unknown) => e), 5000, 'refused connect');
      expect((err as Error).message).to.include('release compare').and.to.include('release ack');
    });

    it('refuses a stale client epoch with E_EPOCH', () => refusedWith('E_EPOCH', { epoch: 6 }, { epoch: 5, minPeerEpoch: 0 }));

    it('a client refuses a stale server epoch with E_EPOCH', async () => {
      // The server accepted, so it sees the client go away during CONFIRM; the client names the reason.
      await refusedWith('E_EPOCH', { epoch: 3, minPeerEpoch: 0 }, { epoch: 4, minPeerEpoch: 4 });
    });

    it('refuses a peer with the same role with E_ROLE', () => refusedWith('E_ROLE', {}, { role: 'primary' }));

    it('times out a silent peer with E_TIMEOUT', async () => {
      const l = await listen({ handshakeTimeoutMs: 150 });
      const refusal = nextRefusal(l);
      const raw = await h.connectRaw(l);
      transports.push(raw);
      const rc = closed(raw);
      expectCode(await within(refusal, 3000, 'refusal'), 'E_TIMEOUT');
      expectCode(await within(rc, 3000, 'raw close'), 'E_TIMEOUT');
    });

    it('refuses malformed handshakes with E_MALFORMED without crashing, and keeps serving', async () => {
      const l = await listen();
      const seed = testSeed();
      const rnd = seededRandom(seed);
      const garbage: Array<(hello: Uint8Array) => Uint8Array> = [
        () => new Uint8Array(0),
        () => new Uint8Array(randomBytes(1 + Math.floor(rnd() * 200))),
        (hello) => hello, // echo the HELLO back
        (hello) => {
          // A correct AUTH, truncated by one byte.
          const serverNonce = decodeHello(hello)!.serverNonce;
          const clientNonce = new Uint8Array(32);
          const m = { serverNonce, clientNonce, vmId: 'vm-1', settings: '', clientEpoch: 5, clientRole: 'secondary' as const };
          return encodeAuth({ role: 'secondary', epoch: 5, clientNonce, vmId: 'vm-1', settings: '', mac: clientMac(SECRET, m) }).subarray(0, 80);
        },
        (hello) => {
          // A correct AUTH with an unknown role byte.
          const serverNonce = decodeHello(hello)!.serverNonce;
          const clientNonce = new Uint8Array(32);
          const m = { serverNonce, clientNonce, vmId: 'vm-1', settings: '', clientEpoch: 5, clientRole: 'secondary' as const };
          const a = encodeAuth({ role: 'secondary', epoch: 5, clientNonce, vmId: 'vm-1', settings: '', mac: clientMac(SECRET, m) });
          a[5] = 9;
          return a;
        },
      ];
      for (const [i, make] of garbage.entries()) {
        const refusal = nextRefusal(l);
        const raw = await h.connectRaw(l);
        transports.push(raw);
        const hello = await within(collector(raw).until(1), 3000, 'hello');
        const rc = closed(raw);
        raw.send(make(hello[0]!));
        expectCode(await within(refusal, 3000, `refusal ${i} (seed ${seed})`), 'E_MALFORMED');
        expectCode(await within(rc, 3000, `raw close ${i}`), 'E_MALFORMED');
      }
      const accepted = nextConnection(l);
      const good = await within(h.connect(l, clientAuth()), 5000, 'good connect after garbage');
      transports.push(good);
      await within(accepted, 5000, 'accepted after garbage');
    });

    it('does not accept data sent in place of CONFIRM', async () => {
      const l = await listen();
      const refusal = nextRefusal(l);
      const raw = await h.connectRaw(l);
      transports.push(raw);
      const got = collector(raw);
      const [hello] = await within(got.until(1), 3000, 'hello');
      const serverNonce = decodeHello(hello!)!.serverNonce;
      const clientNonce = new Uint8Array(randomBytes(32));
      const m = { serverNonce, clientNonce, vmId: 'vm-1', settings: '', clientEpoch: 5, clientRole: 'secondary' as const };
      raw.send(encodeAuth({ role: 'secondary', epoch: 5, clientNonce, vmId: 'vm-1', settings: '', mac: clientMac(SECRET, m) }));
      await within(got.until(2), 3000, 'ok');
      raw.send(Uint8Array.of(1, 2, 3));
      expectCode(await within(refusal, 3000, 'refusal'), 'E_MALFORMED');
    });

    it('limits handshakes in progress with E_LIMIT', async () => {
      const l = await listen({ pendingHandshakesMax: 2 });
      const raws = [await h.connectRaw(l), await h.connectRaw(l)];
      transports.push(...raws);
      await Promise.all(raws.map((r) => within(collector(r).until(1), 3000, 'hello')));
      const refusal = nextRefusal(l);
      const third = await h.connectRaw(l);
      transports.push(third);
      expectCode(await within(closed(third), 3000, 'third closed'), 'E_LIMIT');
      expectCode(await within(refusal, 3000, 'refusal'), 'E_LIMIT');
    });

    it('closing the listener closes its connections', async () => {
      const [server, client, l] = await pair();
      const sc = closed(server);
      const cc = closed(client);
      await within(l.close(), 5000, 'listener close');
      await within(sc, 5000, 'server end');
      await within(cc, 5000, 'client end');
    });
  });
}
