import { expect } from 'chai';
import { connect as tcpConnect } from 'node:net';
import { WebSocket } from 'ws';
import { NetError } from '../../engine/net/errors.ts';
import type { Listener, Transport } from '../../engine/net/transport.ts';
import { WsChannel, connectWs, listenWs } from '../../engine/net/ws.ts';
import { connect, listen } from '../../engine/net/endpoint.ts';
import {
  clientAuth,
  closed,
  collector,
  nextConnection,
  nextRefusal,
  serverAuth,
  transportCompliance,
  within,
} from './transport-compliance.ts';

/** A raw WsChannel to a listener (open before it is returned). */
async function rawWs(url: string): Promise<WsChannel> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const ch = new WsChannel(ws);
  await within(new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); }), 5000, 'raw open');
  return ch;
}

transportCompliance('WsTransport (loopback)', () => ({
  listen: (opts) => listenWs({ ...opts, host: '127.0.0.1', port: 0 }),
  connect: (l, opts) => connectWs(l.url, opts),
  connectRaw: (l) => rawWs(l.url),
  teardown: async () => undefined,
}));

describe('net/WsTransport specifics', function () {
  this.timeout(20_000);
  let listener: Listener | undefined;
  const transports: Transport[] = [];
  afterEach(async () => {
    for (const t of transports.splice(0)) t.close();
    await listener?.close();
    listener = undefined;
  });

  it('listen/connect by address string', async () => {
    listener = await listen('ws://127.0.0.1:0', serverAuth());
    expect(listener.url).to.match(/^ws:\/\/127\.0\.0\.1:\d+$/);
    const accepted = nextConnection(listener);
    const c = await connect(listener.url, clientAuth());
    transports.push(c);
    const s = await within(accepted, 5000, 'accept');
    transports.push(s);
    const got = collector(s);
    c.send(Uint8Array.of(5));
    expect((await within(got.until(1), 5000, 'msg'))[0]![0]).to.equal(5);
    const bad = await listen('http://x', serverAuth()).catch((e: unknown) => e);
    expect((bad as NetError).code).to.equal('E_CONFIG');
  });

  it('refuses a text frame with E_MALFORMED', async () => {
    listener = await listenWs(serverAuth());
    const refusal = nextRefusal(listener);
    const ws = new WebSocket(listener.url);
    const closeCode = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.once('message', () => ws.send('hello as text'));
    expect((await within(refusal, 5000, 'refusal')).code).to.equal('E_MALFORMED');
    expect(await within(closeCode, 5000, 'close')).to.equal(4006);
  });

  it('survives raw TCP garbage and WebSocket protocol violations, and keeps serving', async () => {
    listener = await listenWs(serverAuth());
    const port = Number(new URL(listener.url).port);
    // Not HTTP at all.
    await new Promise<void>((resolve) => {
      const s = tcpConnect(port, '127.0.0.1', () => s.end(Buffer.from('\x00\xff garbage \r\n\r\n')));
      s.resume(); // read the 400 answer, or 'close' never comes
      s.on('error', () => resolve());
      setTimeout(() => { s.destroy(); resolve(); }, 3000).unref();
      s.on('close', () => resolve());
    });
    // A valid upgrade followed by an unmasked frame with a reserved opcode.
    const refusal = nextRefusal(listener);
    await new Promise<void>((resolve) => {
      const s = tcpConnect(port, '127.0.0.1', () => {
        s.write(
          'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
        );
        setTimeout(() => s.write(Buffer.from([0x83, 0x05, 1, 2, 3, 4, 5])), 50);
      });
      s.resume();
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      setTimeout(() => { s.destroy(); resolve(); }, 3000).unref();
    });
    expect((await within(refusal, 5000, 'refusal')).code).to.equal('E_MALFORMED');
    const accepted = nextConnection(listener);
    transports.push(await connectWs(listener.url, clientAuth()));
    transports.push(await within(accepted, 5000, 'accept after garbage'));
  });

  it('connecting to a closed port is E_CONNECT', async () => {
    const l = await listenWs(serverAuth());
    const url = l.url;
    await l.close();
    const err = await connectWs(url, clientAuth()).catch((e: unknown) => e);
    expect((err as NetError).code).to.equal('E_CONNECT');
  });

  it('heartbeats keep an idle connection open and detect a peer that stopped answering', async () => {
    const heartbeat = { heartbeatMs: 20, timeoutMs: 500 }; // generous: CI machines stall
    listener = await listenWs({ ...serverAuth(), heartbeat });
    const accepted = nextConnection(listener);
    const c = await connectWs(listener.url, { ...clientAuth(), heartbeat });
    transports.push(c);
    const s = await within(accepted, 5000, 'accept');
    transports.push(s);
    await new Promise((r) => setTimeout(r, 1000));
    expect(s.closed).to.equal(false);
    expect(c.closed).to.equal(false);

    // A raw peer that completes nothing and then stops reading: no pongs, no data.
    const accepted2 = nextConnection(listener);
    const c2 = await connectWs(listener.url, clientAuth());
    transports.push(c2);
    const s2 = await within(accepted2, 5000, 'accept 2');
    transports.push(s2);
    const sc = closed(s2);
    (c2 as unknown as { raw: { ws: WebSocket } }).raw.ws.pause();
    const err = await within(sc, 3000, 'heartbeat timeout');
    expect(err!.code).to.equal('E_TIMEOUT');
  });
});
