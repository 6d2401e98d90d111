/**
 * How a protected pair's run ends, and how the next one starts (real processes on loopback): a guest that exits
 * or traps ends both sides with its code and no go-live; the lease's fence lets the next run of the VM start at
 * the next epoch, refuses a new run while an earlier one did not end (unless --new-run), and settings or a lease
 * the two sides cannot work with are refused before anything runs. A guest waiting for its input is no failure.
 */
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { CLI, ROOT, lines, pairDir, startPrimary, startSecondary, waitFor, warmCache } from '../support/pair-procs.ts';
import { EXIT } from '../../scripts/cli/exit-codes.ts';
import { tempDir } from '../support/temp-dirs.ts';

const TICKER = join(ROOT, 'guests/build/c/ticker.wasm');
const TRAP = join(ROOT, 'guests/build/c/trap.wasm');
const ECHO = join(ROOT, 'guests/build/c/echo.wasm');
const cache = tempDir('twinstep-cache-');
const env = { TWINSTEP_CACHE: cache };

function fence(dir: string): { epoch: number; holder: string; ended?: boolean } {
  return JSON.parse(readFileSync(join(dir, '.twinstep-lease.fence'), 'utf8'));
}

describe('the end of a protected run, and the next one (real processes on loopback)', function () {
  this.timeout(300_000);

  before(async () => {
    await warmCache(cache, [TICKER, TRAP, ECHO]);
  });

  it('a guest that exits ends both sides with its code, without a go-live; the same pair then runs again on the same lease', async () => {
    const dir = pairDir();
    let lastEpoch = 0;
    for (let run = 1; run <= 2; run++) {
      const sec = await startSecondary(dir, [], env);
      const pri = startPrimary(dir, sec.url, [TICKER, '5', '20'], [], env);
      expect(await pri.exited, pri.stderr).to.equal(0);
      expect(await sec.proc.exited, sec.proc.stderr).to.equal(0);
      expect(lines(pri.stdout)).to.deep.equal(['tick 1', 'tick 2', 'tick 3', 'tick 4', 'tick 5']);
      expect(sec.proc.stderr).to.match(/ended: the primary's guest ended at seq \d+ and the primary released it: nothing to take over/);
      expect(sec.proc.stderr).to.match(/guest exited with 0 on the primary, every output released: done/);
      expect(sec.proc.stderr).not.to.match(/GOING LIVE|E_PEER_LOST|E_LEASE/);
      expect(sec.proc.stdout).to.equal('');
      // The fence names this run's epoch, ended; the next run starts above it.
      const f = fence(dir);
      expect(f.ended, JSON.stringify(f)).to.equal(true);
      expect(f.epoch).to.be.greaterThan(lastEpoch);
      if (run === 2) expect(pri.stderr).to.match(new RegExp(`this one starts at epoch ${lastEpoch + 1}`));
      lastEpoch = f.epoch;
    }
  });

  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    it(`${sig} switches over: the secondary goes live at once, every line is seen exactly once, in order; the primary exits 128 + the signal`, async () => {
      const dir = pairDir();
      const sec = await startSecondary(dir, [], env);
      const pri = startPrimary(dir, sec.url, [TICKER, '300', '10'], [], env);
      await waitFor('forty lines', () => lines(pri.stdout).length >= 40, 30_000, pri);
      pri.child.kill(sig);
      expect(await pri.exited, pri.stderr).to.equal(sig === 'SIGTERM' ? 143 : 130);
      expect(await sec.proc.exited, sec.proc.stderr).to.equal(0);
      const all = [...lines(pri.stdout), ...lines(sec.proc.stdout)];
      expect(all, 'no line repeated, none lost').to.deep.equal(Array.from({ length: 300 }, (_, i) => `tick ${i + 1}`));
      expect(lines(sec.proc.stdout).length, 'the secondary ran the rest').to.be.greaterThan(0);
      expect(pri.stderr).to.include(`${sig}: stopping the guest at its next host call and switching over to the secondary`);
      expect(pri.stderr).to.match(/switch-over: the secondary holds every entry \(seq \d+\) and knows every output released: giving the lease up/);
      expect(pri.stderr).not.to.match(/guest exited with|E_LEASE_LOST/);
      expect(sec.proc.stderr).to.match(/GOING LIVE/);
    });
  }

  it('SIGTERM without a secondary stops the guest there (nothing to switch over to), exit 143', async () => {
    const dir = pairDir();
    const pri = startPrimary(dir, 'ws://127.0.0.1:9', [TICKER, '1000', '10'], ['--no-wait'], env);
    await waitFor('five lines', () => lines(pri.stdout).length >= 5, 30_000, pri);
    pri.child.kill('SIGTERM');
    expect(await pri.exited, pri.stderr).to.equal(143);
    expect(pri.stderr).to.match(/switch-over: no secondary protects the guest \(unprotected\): it stops here, and no node runs it on/);
  });

  it('--log-time starts every line of both sides with the time', async () => {
    const dir = pairDir();
    const sec = await startSecondary(dir, ['--log-time'], env);
    const pri = startPrimary(dir, sec.url, [TICKER, '3', '5'], ['--log-time'], env);
    expect(await pri.exited, pri.stderr).to.equal(0);
    expect(await sec.proc.exited, sec.proc.stderr).to.equal(0);
    for (const [side, err] of [['primary', pri.stderr], ['secondary', sec.proc.stderr]] as const) {
      const all = lines(err);
      expect(all.length, err).to.be.greaterThan(2);
      for (const l of all) expect(l, side).to.match(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z \\[twinstep ${side}\\] `));
    }
    expect(lines(pri.stdout)).to.deep.equal(['tick 1', 'tick 2', 'tick 3']);
  });

  for (const release of ['ack', 'compare'] as const) {
    it(`a guest that traps ends both sides with 134 under ${release}: the trap replays as a match, nothing diverges or goes live`, async () => {
      const dir = pairDir();
      const sec = await startSecondary(dir, ['--release', release], env);
      const pri = startPrimary(dir, sec.url, [TRAP], ['--release', release], env);
      expect(await pri.exited, pri.stderr).to.equal(EXIT.trap);
      expect(await sec.proc.exited, sec.proc.stderr).to.equal(EXIT.trap);
      expect(lines(pri.stdout)).to.deep.equal(['about to trap']);
      for (const side of [pri.stderr, sec.proc.stderr]) expect(side).not.to.match(/diverge|DIVERGENCE|GOING LIVE|resync|internal error|    at /i);
      expect(sec.proc.stderr).to.match(/guest exited with 134 on the primary/);
      expect(fence(dir).ended).to.equal(true);
    });
  }

  it('refuses a new run while an earlier one did not end (75, naming --new-run); --new-run starts once the old lease ran out', async () => {
    const dir = pairDir();
    const ttl = ['--lease-ttl-ms', '900'];
    // A primary running unprotected, killed: its run never ended, and its lease runs out a TTL later.
    const first = startPrimary(dir, 'ws://127.0.0.1:9', [TICKER, '1000', '20'], ['--no-wait', ...ttl], env);
    await waitFor('the first run to output', () => lines(first.stdout).length > 2, 30_000, first);
    first.child.kill('SIGKILL');
    await first.exited;
    const held = fence(dir);
    expect(held.ended).to.equal(undefined);
    const refused = startPrimary(dir, 'ws://127.0.0.1:9', [TICKER, '3', '1'], ['--no-wait', ...ttl], env);
    expect(await refused.exited, refused.stderr).to.equal(EXIT.deposed);
    expect(refused.stderr).to.match(new RegExp(`vm default already has a run on this lease that did not end: epoch ${held.epoch} was granted to ${held.holder}`));
    expect(refused.stderr).to.match(/add --new-run/);
    expect(refused.stdout).to.equal('');
    expect(fence(dir)).to.deep.equal(held);
    const fresh = startPrimary(dir, 'ws://127.0.0.1:9', [TICKER, '3', '1'], ['--no-wait', '--new-run', ...ttl], env);
    expect(await fresh.exited, fresh.stderr).to.equal(0);
    expect(fresh.stderr).to.match(new RegExp(`--new-run: the run of vm default at epoch ${held.epoch} \\(${held.holder}\\) did not end`));
    expect(lines(fresh.stdout)).to.deep.equal(['tick 1', 'tick 2', 'tick 3']);
    expect(fence(dir).epoch).to.be.greaterThan(held.epoch);
    expect(fence(dir).ended).to.equal(true);
  });

  it('a guest waiting for stdin far longer than the peer timeout keeps its secondary: no failover, no input lost', async () => {
    const dir = pairDir();
    const sec = await startSecondary(dir, [], env);
    const child = spawn(process.execPath, [CLI, 'primary', '--peer', sec.url, '--secret-file', 'secret', ECHO], { cwd: dir, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.stdin.write('first\n');
    await waitFor('the first line', () => out.includes('FIRST'), 30_000);
    // Three peer timeouts (500 ms) with the guest blocked in its read of stdin.
    await new Promise((r) => setTimeout(r, 1500));
    child.stdin.end('second\n');
    expect(await exited, err).to.equal(0);
    expect(await sec.proc.exited, sec.proc.stderr).to.equal(0);
    expect(lines(out)).to.deep.equal(['FIRST', 'SECOND', 'lines: 2']);
    expect(sec.proc.stderr).not.to.match(/GOING LIVE|E_PEER_LOST|candidate/);
    expect(err).not.to.match(/unprotected|DEPOSED|ran \d+ ms without a host call/);
  });

  it('refuses other release or dispatch settings on both sides (E_SETTINGS), naming both', async () => {
    const dir = pairDir();
    const sec = await startSecondary(dir, ['--release', 'compare'], env);
    const pri = startPrimary(dir, sec.url, [TICKER, '3', '1'], ['--release', 'compare', '--dispatch', 'secondary'], env);
    try {
      const both = /E_SETTINGS: primary: release=compare dispatch=secondary; secondary: release=compare dispatch=primary/;
      await waitFor('the refusal', () => both.test(sec.proc.stderr), 20_000, sec.proc);
      await waitFor("the primary's reason", () => both.test(pri.stderr), 20_000, pri);
      expect(lines(pri.stdout)).to.deep.equal([]);
      // A primary retrying every 200 ms is refused each time; the secondary says so once.
      await new Promise((r) => setTimeout(r, 1500));
      expect(sec.proc.stderr.match(/refused a peer/g)).to.have.length(1);
    } finally {
      pri.child.kill('SIGKILL');
      sec.proc.child.kill('SIGKILL');
    }
  });

  it('refuses at start a lease it cannot use (69), naming it', async () => {
    const dir = pairDir();
    writeFileSync(join(dir, 'a-file'), '');
    const lease = `file:${join(dir, 'a-file', 'lease')}`;
    const { startProc } = await import('../support/pair-procs.ts');
    const sec = startProc(['secondary', '--listen', '127.0.0.1:0', '--secret-file', 'secret', '--lease', lease], dir, env);
    const pri = startPrimary(dir, 'ws://127.0.0.1:9', [TICKER, '3', '1'], ['--lease', lease], env);
    for (const p of [sec, pri]) {
      expect(await p.exited, p.stderr).to.equal(EXIT.unavailable);
      expect(p.stderr.trim().split('\n')).to.have.length(1);
      expect(p.stderr).to.include(`lease ${lease} cannot be used`).and.to.match(/ENOTDIR/);
      expect(p.stdout).to.equal('');
    }
  });
});
