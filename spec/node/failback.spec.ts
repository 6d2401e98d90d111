/**
 * Failback with real processes: A (primary, writing durable checkpoints) dies; B goes live; A comes back as
 * a secondary holding its old snapshot, and B re-protects itself by sending only the delta; then B dies and
 * A takes over again. The world sees every line in order.
 */
import { expect } from 'chai';
import { createServer } from 'node:net';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, lines, pairDir, startPrimary, startProc, startSecondary, waitFor, warmCache } from '../support/pair-procs.ts';
import { tempDir } from '../support/temp-dirs.ts';

const TICKER = join(ROOT, 'guests/build/c/ticker.wasm');
const cache = tempDir('twinstep-cache-');
const env = { TWINSTEP_CACHE: cache };

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe('failback (real processes on loopback)', function () {
  this.timeout(120_000);

  before(async () => {
    await warmCache(cache, [TICKER]);
  });

  it('a returning host rejoins with only the delta against its old snapshot, then takes over again', async () => {
    const dir = pairDir();
    const count = 700;
    const portA = await freePort();
    const b = await startSecondary(dir, ['--rejoin-peer', `ws://127.0.0.1:${portA}`], env);
    const a = startPrimary(dir, b.url, [TICKER, String(count), '10'], ['--checkpoint-file', 'a.twsnap', '--checkpoint-every-ms', '100'], env);
    let a2;
    try {
      await waitFor('output and a durable checkpoint', () => lines(a.stdout).length >= 60 && existsSync(join(dir, 'a.twsnap')), 30_000, a);
      a.child.kill('SIGKILL');
      await a.exited;
      await waitFor('B to go live', () => lines(b.proc.stdout).length > 0, 20_000, b.proc);
      a2 = startProc(['secondary', '--listen', `127.0.0.1:${portA}`, '--secret-file', 'secret', '--from-snapshot', 'a.twsnap'], dir, env);
      await waitFor('B protected again by the returning host', () => /protected: transfer/.test(b.proc.stderr.split('GOING LIVE')[1] ?? ''), 20_000, b.proc);
      const diff = /checkpoint diff at host call \d+: (\d+) bytes \(full state (\d+)\)/.exec(b.proc.stderr);
      expect(diff, `B sent a diff, not a full snapshot:\n${b.proc.stderr}`).to.not.equal(null);
      expect(Number(diff![1])).to.be.below(Number(diff![2]) / 2);
      expect(a2.stderr).to.match(/holding a snapshot/);
      const before = lines(b.proc.stdout).length;
      await waitFor('more output from B', () => lines(b.proc.stdout).length >= before + 20, 20_000, b.proc);
      b.proc.child.kill('SIGKILL');
      expect(await a2.exited, a2.stderr).to.equal(0);
      // A, then B, then A again: each segment contiguous, joined with repeats only at the seams.
      const segments = [lines(a.stdout), lines(b.proc.stdout), lines(a2.stdout)].map((s) => s.map((l) => Number(/^tick (\d+)$/.exec(l)![1])));
      let next = 1;
      for (const seg of segments) {
        expect(seg.length, 'every segment has output').to.be.above(0);
        expect(seg[0], 'no line lost at a failover').to.be.at.most(next);
        seg.forEach((v, i) => expect(v).to.equal(seg[0] + i));
        next = seg[seg.length - 1] + 1;
      }
      expect(next - 1).to.equal(count);
    } finally {
      a.child.kill('SIGKILL');
      b.proc.child.kill('SIGKILL');
      a2?.child.kill('SIGKILL');
    }
  });
});
