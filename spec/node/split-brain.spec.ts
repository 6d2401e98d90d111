/**
 * Split brain: both sides alive but unable to talk. Only the lease holder may release output or go live.
 *  1. A partition (a TCP proxy between them is cut): the primary keeps the lease and runs on unprotected;
 *     the secondary is refused the lease and never releases anything.
 *  2. A frozen primary (SIGSTOP past the lease TTL): the secondary takes the lease and goes live; when the
 *     primary wakes up it has lost the lease and must not release another line.
 */
import { expect } from 'chai';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';


import { join } from 'node:path';
import { ROOT, checkSequence, lines, pairDir, startPrimary, startSecondary, waitFor, warmCache } from '../support/pair-procs.ts';
import { EXIT } from '../../scripts/cli/exit-codes.ts';
import { tempDir } from '../support/temp-dirs.ts';

const TICKER = join(ROOT, 'guests/build/c/ticker.wasm');
const cache = tempDir('twinstep-cache-');
const env = { TWINSTEP_CACHE: cache };

/** A loopback TCP proxy whose links can be cut (a partition both sides survive). */
class Proxy {
  private readonly sockets = new Set<Socket>();
  private cut = false;
  readonly server: Server;

  constructor(private readonly target: number) {
    this.server = createServer((client) => {
      if (this.cut) return client.destroy();
      const upstream = tcpConnect(this.target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  listen(): Promise<number> {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () => resolve((this.server.address() as { port: number }).port)));
  }

  partition(): void {
    this.cut = true;
    for (const s of this.sockets) s.destroy();
  }

  close(): void {
    this.partition();
    this.server.close();
  }
}

describe('split brain (real processes on loopback)', function () {
  this.timeout(120_000);

  before(async () => {
    await warmCache(cache, [TICKER]);
  });

  it('in a partition only the lease holder (the primary) releases output; the secondary never goes live', async () => {
    const dir = pairDir();
    const sec = await startSecondary(dir, [], env);
    const proxy = new Proxy(Number(new URL(sec.url).port));
    const port = await proxy.listen();
    const count = 150;
    const pri = startPrimary(dir, `ws://127.0.0.1:${port}`, [TICKER, String(count), '10'], [], env);
    try {
      await waitFor('output', () => lines(pri.stdout).length >= 20, 30_000, pri);
      proxy.partition();
      expect(await pri.exited, pri.stderr).to.equal(0);
      // The secondary saw the primary go silent, asked for the lease and was refused while the primary renewed.
      await waitFor('the secondary to ask for the lease', () => /E_LEASE_DENIED|lease held by/.test(sec.proc.stderr), 10_000, sec.proc);
      expect(sec.proc.stderr).to.not.match(/GOING LIVE.*\n[\s\S]*tick/);
      expect(lines(sec.proc.stdout), 'the secondary released nothing').to.deep.equal([]);
      expect(checkSequence(lines(pri.stdout), [], count)).to.equal(0);
      expect(pri.stderr).to.match(/unprotected/);
    } finally {
      proxy.close();
      pri.child.kill('SIGKILL');
      sec.proc.child.kill('SIGKILL');
    }
  });

  it('a primary frozen past its lease loses it: after waking up it releases nothing more and exits deposed (75)', async () => {
    const dir = pairDir();
    const sec = await startSecondary(dir, [], env);
    const count = 120;
    const pri = startPrimary(dir, sec.url, [TICKER, String(count), '10'], [], env);
    try {
      await waitFor('output', () => lines(pri.stdout).length >= 15, 30_000, pri);
      pri.child.kill('SIGSTOP');
      // What the primary wrote just before the stop may still be in the pipe: let it arrive before counting.
      await new Promise((r) => setTimeout(r, 300));
      const frozenAt = lines(pri.stdout).length;
      await waitFor('the secondary to go live', () => /GOING LIVE/.test(sec.proc.stderr), 15_000, sec.proc);
      await waitFor('the survivor to output', () => lines(sec.proc.stdout).length > 0, 15_000, sec.proc);
      pri.child.kill('SIGCONT');
      expect(await sec.proc.exited, sec.proc.stderr).to.equal(0);
      // The woken primary finds the lease gone, says so and exits with its own code (a supervisor restarts the
      // host as a secondary), having released nothing more.
      const code = await Promise.race([pri.exited, new Promise((r) => setTimeout(() => r('still running'), 15_000))]);
      expect(code, pri.stderr).to.equal(EXIT.deposed);
      expect(pri.stderr).to.match(/DEPOSED: another node took the lease/);
      expect(pri.stderr, pri.stderr).to.match(/restart this host as a secondary of the new primary/);
      const after = lines(pri.stdout).slice(frozenAt);
      expect(after, `the deposed primary released after waking up:\n${pri.stderr}`).to.deep.equal([]);
      checkSequence(lines(pri.stdout), lines(sec.proc.stdout), count);
    } finally {
      pri.child.kill('SIGCONT');
      pri.child.kill('SIGKILL');
      sec.proc.child.kill('SIGKILL');
    }
  });
});
