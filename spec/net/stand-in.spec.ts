/**
 * The WebSocket channel's stand-in (engine/net/stand-in.ts): while this thread is busy in Transport.whileBusy, a
 * helper thread writes the heartbeat it was handed to the socket, and the peer, in a process of its own, goes on
 * hearing from this side. The peer records every message; the stream must stay whole (the helper writes only
 * between frames of ours), in order, on either end of the WebSocket (a client's frames are masked).
 */
import { expect } from 'chai';
import { fork, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { connectWs, listenWs } from '../../engine/net/ws.ts';
import type { Listener, Transport } from '../../engine/net/transport.ts';
import { within } from './transport-compliance.ts';
import { seededRandom } from '../support/seeded-random.ts';

const PEER = fileURLToPath(new URL('../support/stand-in-peer.ts', import.meta.url));

interface Arrival {
  atMs: number;
  bytes: number;
  head: string;
  sha1: string;
}

/** Keeps this thread busy (no event loop) for ms. */
function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    /* busy */
  }
}

const text = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));

interface Pair {
  /** This process's end (the busy one). */
  t: Transport;
  child: ChildProcess;
  listener?: Listener;
}

function nextIpc<T>(child: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m as T));
    child.once('exit', (code) => reject(new Error(`stand-in peer exited (${code})`)));
  });
}

/** This end as the WebSocket client (masked frames) or server, the peer at the other end. */
async function pair(thisEnd: 'client' | 'server'): Promise<Pair> {
  const secret = randomBytes(32);
  const auth = { secret, vmId: 'stand-in', epoch: 1, role: 'primary' as const };
  if (thisEnd === 'client') {
    const child = fork(PEER, ['listen', secret.toString('hex')], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const { url } = await within(nextIpc<{ url: string }>(child), 20_000, 'peer listening');
    return { t: await connectWs(url, auth), child };
  }
  const listener = await listenWs({ ...auth, host: '127.0.0.1', port: 0 });
  const accepted = new Promise<Transport>((resolve) => listener.onConnection(resolve));
  const child = fork(PEER, ['connect', secret.toString('hex'), listener.url], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const t = await within(accepted, 20_000, 'peer connected');
  await within(nextIpc(child), 20_000, 'peer ready');
  return { t, child, listener };
}

/** What the peer received, once the message `last` is among it. */
async function arrivalsThrough(child: ChildProcess, last: string): Promise<{ arrivals: Arrival[]; closedWith?: string }> {
  for (let i = 0; i < 200; i++) {
    const got = nextIpc<{ arrivals: Arrival[]; closedWith?: string }>(child);
    child.send('report');
    const r = await got;
    if (r.arrivals.some((a) => a.head === last)) return r;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the peer never received ${last}`);
}

describe('net/stand-in: heartbeats while this thread is busy', function () {
  this.timeout(60_000);
  let p: Pair | undefined;
  afterEach(async () => {
    p?.t.close();
    p?.child.kill('SIGKILL');
    await p?.listener?.close();
    p = undefined;
  });

  for (const end of ['client', 'server'] as const) {
    it(`keeps the peer hearing from a busy ${end}, between our own messages, the stream whole`, async () => {
      p = await pair(end);
      const { t } = p;
      t.send(text('before'));
      let asked = 0;
      const v = t.whileBusy!(20, () => text(`beat:${asked++}`), () => {
        spin(400);
        return 42;
      });
      expect(v).to.equal(42);
      t.send(text('after'));
      t.send(text('end'));
      const { arrivals } = await arrivalsThrough(p.child, 'end');
      const heads = arrivals.map((a) => a.head);
      expect(heads[0]).to.equal('before');
      expect(heads.slice(-2)).to.deep.equal(['after', 'end']);
      const beats = heads.slice(1, -2);
      // 400 ms at one beat per 20 ms: about 19; at least a few on any host.
      expect(beats.length, heads.join(' ')).to.be.at.least(3);
      expect(new Set(beats)).to.deep.equal(new Set(['beat:0']));
      expect(t.standInBeats).to.equal(beats.length);
      // Beats arrived while this thread was busy, not in a burst after it.
      expect(arrivals[arrivals.length - 2]!.atMs - arrivals[1]!.atMs).to.be.above(150);
    });
  }

  it('a send inside the stretch takes the socket back, and the next beat is the fresh one', async () => {
    p = await pair('client');
    const { t } = p;
    let asked = 0;
    t.whileBusy!(20, () => text(`beat:${asked++}`), () => {
      spin(200);
      t.send(text('mid'));
      spin(200);
    });
    t.send(text('end'));
    const heads = (await arrivalsThrough(p.child, 'end')).arrivals.map((a) => a.head);
    const mid = heads.indexOf('mid');
    expect(mid, heads.join(' ')).to.be.above(0);
    expect(new Set(heads.slice(0, mid))).to.deep.equal(new Set(['beat:0']));
    expect(new Set(heads.slice(mid + 1, -1))).to.deep.equal(new Set(['beat:1']));
  });

  it('random sends, corked batches and pauses inside stretches: every message arrives whole and in order', async () => {
    const seed = Number(process.env.STAND_IN_SEED ?? (Date.now() % 1e9));
    const rand = seededRandom(seed);
    p = await pair(Math.floor(rand() * 2) === 0 ? 'client' : 'server');
    const { t } = p;
    const sent: Array<{ head: string; bytes: number; sha1: string }> = [];
    let n = 0;
    const message = (): Uint8Array => {
      // Now and then larger than the socket's buffers: ws and libuv are left holding the rest of a frame until
      // the event loop runs, and the stand-in must keep off the socket meanwhile.
      const r = rand();
      const size = Math.floor(rand() * (r < 0.03 ? 12 << 20 : r < 0.2 ? 2 << 20 : 4096)) + 32;
      const m = randomBytes(size);
      m.write(`msg:${n++}:`.padEnd(16, '.'), 0, 'latin1');
      sent.push({ head: m.subarray(0, 32).toString('latin1'), bytes: m.length, sha1: createHash('sha1').update(m).digest('hex') });
      return m;
    };
    for (let stretch = 0; stretch < 6; stretch++) {
      t.whileBusy!(10, () => text('beat'), () => {
        const until = performance.now() + 250;
        while (performance.now() < until) {
          const r = rand();
          if (r < 0.4) t.send(message());
          else if (r < 0.55) {
            t.cork!();
            for (let k = Math.floor(rand() * 5) + 1; k > 0; k--) t.send(message());
            t.uncork!();
          } else spin(rand() * 40);
        }
      });
      // The event loop runs between stretches: what libuv held goes out.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    t.send(text('end'));
    const { arrivals, closedWith } = await arrivalsThrough(p.child, 'end');
    expect(closedWith, `seed ${seed}`).to.equal(undefined);
    const ours = arrivals.filter((a) => a.head !== 'beat' && a.head !== 'end');
    expect(ours.length, `seed ${seed}`).to.equal(sent.length);
    ours.forEach((a, i) => expect({ head: a.head, bytes: a.bytes, sha1: a.sha1 }, `seed ${seed}, message ${i}`).to.deep.equal(sent[i]));
    expect(arrivals.filter((a) => a.head === 'beat').length, `seed ${seed}`).to.equal(t.standInBeats);
    if (process.env.STAND_IN_DEBUG) console.log(`seed ${seed}: ${sent.length} messages, ${t.standInBeats} beats`);
  });

  it('a peer gone during the stretch ends the stand-in, not the process: the stretch finishes and the close is reported', async () => {
    p = await pair('client');
    const { t, child } = p;
    const closed = new Promise<void>((resolve) => t.onClose(() => resolve()));
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await gone;
    // The kernel may still take a beat or two before it knows the peer is gone; later ones fail and stop it.
    const v = t.whileBusy!(5, () => text('beat'), () => {
      spin(300);
      return 'done';
    });
    expect(v).to.equal('done');
    await within(closed, 10_000, 'close reported');
    expect(t.whileBusy!(5, () => text('beat'), () => 'again')).to.equal('again');
  });
});
