/**
 * A guest that computes far longer than the peer timeout without a host call (real processes on loopback): both
 * sides are busy in one long guest slice (the primary running it, the secondary replaying it), and each side's
 * channel stand-in keeps the other hearing from it. Neither may take the other for dead: no failover, no
 * unprotected primary, every output released once, both sides end with the guest's code.
 *
 * The second case makes the secondary finish the stretch first: the primary shares one CPU with a busy loop
 * while the secondary has another to itself, so the secondary waits, idle, for a primary still computing (before
 * the stand-in it went live there and the primary was deposed).
 */
import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { CLI, ROOT, lines, pairDir, startPrimary, startSecondary, warmCache, type Proc } from '../support/pair-procs.ts';
import { tempDir } from '../support/temp-dirs.ts';

const COMPUTE = join(ROOT, 'guests/build/c/compute.wasm');
const cache = tempDir('twinstep-cache-');
const env = { TWINSTEP_CACHE: cache };
/** Far below the guest's stretch: compute 40 runs about 0.5 s (1 s on a shared CPU) without a host call. */
const timing = ['--peer-timeout-ms', '200'];

/** Pins a process and all its threads to one CPU. */
function pin(pid: number, cpu: number): void {
  const r = spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`taskset failed: ${r.stderr || r.error?.message}`);
}

function canPin(): boolean {
  return availableParallelism() >= 2 && spawnSync('taskset', ['-V']).status === 0;
}

function checkBothSides(pri: Proc, sec: Proc, expected: string[]): void {
  expect(lines(pri.stdout)).to.deep.equal(expected);
  expect(sec.stdout).to.equal('');
  const both = `--- primary:\n${pri.stderr}\n--- secondary:\n${sec.stderr}`;
  expect(pri.stderr, both).not.to.match(/unprotected|secondary lost|DEPOSED|E_PEER_LOST|WARNING/);
  expect(sec.stderr, both).not.to.match(/primary lost|candidate|GOING LIVE|went-live|E_PEER_LOST|WARNING/);
  expect(sec.stderr).to.match(/guest exited with 0 on the primary, every output released: done/);
}

describe('a guest computing far longer than the peer timeout (real processes on loopback)', function () {
  this.timeout(300_000);
  let expected: string[] = [];

  before(async () => {
    await warmCache(cache, [COMPUTE]);
    const run = spawnSync(process.execPath, [CLI, 'run', COMPUTE, '40'], { env: { ...process.env, ...env }, encoding: 'utf8' });
    expect(run.status, run.stderr).to.equal(0);
    expected = lines(run.stdout);
  });

  for (const release of ['ack', 'compare'] as const) {
    it(`keeps the pair protected under ${release}: each side's stand-in speaks for it while it computes`, async () => {
      const dir = pairDir();
      const sec = await startSecondary(dir, ['--release', release, ...timing], env);
      const pri = startPrimary(dir, sec.url, [COMPUTE, '40'], ['--release', release, ...timing], env);
      expect(await pri.exited, pri.stderr).to.equal(0);
      expect(await sec.proc.exited, sec.proc.stderr).to.equal(0);
      checkBothSides(pri, sec.proc, expected);
    });
  }

  it('a secondary that finished the stretch first waits for the primary still computing: no go-live', async function () {
    if (!canPin()) {
      // Without two CPUs to pin to, which side finishes first is left to chance (the cases above still run).
      this.skip();
    }
    const dir = pairDir();
    let hog: ChildProcess | undefined;
    try {
      const sec = await startSecondary(dir, timing, env);
      pin(sec.proc.child.pid!, 1);
      // A busy loop on CPU 0, and the primary beside it: it runs the guest at about half speed.
      hog = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
      pin(hog.pid!, 0);
      const pri = startPrimary(dir, sec.url, [COMPUTE, '40'], timing, env);
      pin(pri.child.pid!, 0);
      expect(await pri.exited, pri.stderr).to.equal(0);
      expect(await sec.proc.exited, sec.proc.stderr).to.equal(0);
      checkBothSides(pri, sec.proc, expected);
      // The primary's own stretch outlasted its lease: said as a note, and the outputs waited for the renewal.
      expect(pri.stderr).to.match(/note: the guest ran \d+ ms without a host call; the helper thread kept the heartbeats going, but the lease, renewed between guest slices only, ran out meanwhile/);
      expect(pri.stderr).not.to.match(/E_LEASE_LOST|lease-lost/);
    } finally {
      hog?.kill('SIGKILL');
    }
  });
});
