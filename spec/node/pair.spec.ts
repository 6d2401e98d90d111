/**
 * The protected pair with real processes on loopback: kill -9 of the primary at seeded random moments (both
 * release rules, both dispatch sides), the secondary killed and a new one joining (re-protect), and resync
 * after each injected divergence kind. Each trial prints its seed on failure; PAIR_SEED=N reruns one.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, checkSequence, lines, pairDir, startPrimary, startProc, startSecondary, waitFor, warmCache } from '../support/pair-procs.ts';
import { startEtcd } from '../lease/etcd-server.ts';
import { seededRandom } from '../support/seeded-random.ts';
import { tempDir } from '../support/temp-dirs.ts';

const TICKER = join(ROOT, 'guests/build/c/ticker.wasm');
const CLOCKRAND = join(ROOT, 'guests/build/c/clockrand.wasm');
const FILES = join(ROOT, 'guests/build/c/files.wasm');
const TOUR = join(ROOT, 'guests/build/rust/tour.wasm');
const cache = tempDir('twinstep-cache-');
const env = { TWINSTEP_CACHE: cache };
const TRIALS = Number(process.env.PAIR_TRIALS ?? 20);
const BASE_SEED = Number(process.env.PAIR_SEED ?? 4242);
/** heldOutputsMax of the primary (default config): the stated bound on repeats at one failover. */
const REPEAT_BOUND = 64;


describe('protected pair (real processes on loopback)', function () {
  this.timeout(600_000);

  before(async () => {
    // Instrument the guests once into the shared cache, so each process starts fast.
    await warmCache(cache, [TICKER, CLOCKRAND, FILES, TOUR]);
  });

  interface Variant {
    release: 'ack' | 'compare';
    dispatch: 'primary' | 'secondary';
  }
  const variants: Variant[] = [
    { release: 'ack', dispatch: 'primary' },
    { release: 'compare', dispatch: 'primary' },
    { release: 'compare', dispatch: 'secondary' },
  ];

  it(`kill -9 of the primary at ${TRIALS} seeded moments loses no output`, async () => {
    const seeds = process.env.PAIR_SEED ? [BASE_SEED] : Array.from({ length: TRIALS }, (_, i) => BASE_SEED + i);
    const repeats: number[] = [];
    for (const seed of seeds) {
      const r = seededRandom(seed);
      const v = variants[seed % variants.length];
      const count = 60;
      const dir = pairDir();
      const flags = ['--release', v.release, '--dispatch', v.dispatch];
      const sec = await startSecondary(dir, flags, env);
      const pri = startPrimary(dir, sec.url, [TICKER, String(count), '10'], flags, env);
      try {
        // Outputs reach the world from the primary, or from the secondary when it dispatches.
        const world = () => (v.dispatch === 'primary' ? pri.stdout : sec.proc.stdout);
        await waitFor(`first output (seed ${seed})`, () => lines(world()).length > 0, 30_000, pri);
        const killAt = Math.floor(r() * 45);
        await waitFor(`output line ${killAt} (seed ${seed})`, () => lines(world()).length >= killAt || pri.child.exitCode !== null, 30_000, pri);
        pri.child.kill('SIGKILL');
        await pri.exited;
        const code = await Promise.race([sec.proc.exited, new Promise<'timeout'>((res) => setTimeout(() => res('timeout'), 20_000))]);
        expect(code, `seed ${seed}: the secondary finished the guest\n${sec.proc.stderr}`).to.equal(0);
        let n: number;
        if (v.dispatch === 'primary') {
          n = checkSequence(lines(pri.stdout), lines(sec.proc.stdout), count);
        } else {
          // The secondary dispatched before and after go-live: one stream, complete and in order.
          n = checkSequence([], lines(sec.proc.stdout), count);
          expect(lines(pri.stdout), `seed ${seed}: the primary must not dispatch`).to.deep.equal([]);
        }
        expect(n, `seed ${seed}: repeats at the failover`).to.be.at.most(REPEAT_BOUND);
        repeats.push(n);
      } catch (e) {
        (e as Error).message = `seed ${seed} (${v.release}/${v.dispatch}): ${(e as Error).message}`;
        throw e;
      } finally {
        pri.child.kill('SIGKILL');
        sec.proc.child.kill('SIGKILL');
      }
    }
    process.stdout.write(`      repeats at failover per trial: ${repeats.join(' ')} (bound ${REPEAT_BOUND})\n`);
  });

  for (const release of ['ack', 'compare'] as const) {
  it(`re-protects with a new secondary after the first one is killed, then fails over to it (${release})`, async () => {
    // Long enough (4 s of guest time) that a loaded machine still starts the second secondary while it runs.
    const count = 400;
    const dir = pairDir();
    const flags = ['--release', release];
    const sec1 = await startSecondary(dir, flags, env);
    let sec2: Awaited<ReturnType<typeof startSecondaryAt>> | undefined;
    const pri = startPrimary(dir, sec1.url, [TICKER, String(count), '10'], flags, env);
    try {
      await waitFor('output', () => lines(pri.stdout).length >= 10, 30_000, pri);
      sec1.proc.child.kill('SIGKILL');
      await waitFor('the primary to go unprotected', () => /unprotected/.test(pri.stderr), 10_000, pri);
      // A new secondary on the same address: the primary reconnects, transfers a full snapshot while the
      // guest runs, then the dirtied pages with one short stun.
      const port = new URL(sec1.url).port;
      sec2 = await startSecondaryAt(dir, port, flags);
      await waitFor('protection again', () => (pri.stderr.match(/protected: transfer/g) ?? []).length >= 2, 20_000, pri);
      const before = lines(pri.stdout).length;
      await waitFor('more output', () => lines(pri.stdout).length >= before + 5, 20_000, pri);
      pri.child.kill('SIGKILL');
      await pri.exited;
      expect(await sec2.proc.exited, sec2.proc.stderr).to.equal(0);
      checkSequence(lines(pri.stdout), lines(sec2.proc.stdout), count);
      expect(sec2.proc.stderr).to.match(/GOING LIVE/);
    } finally {
      pri.child.kill('SIGKILL');
      sec1.proc.child.kill('SIGKILL');
      sec2?.proc.child.kill('SIGKILL');
    }
  });
  }

  it('fails over with the etcd lease (a real etcd on loopback)', async () => {
    const etcd = await startEtcd();
    const dir = pairDir();
    const lease = ['--lease', `etcd:${etcd.url}/twinstep/pair-test`];
    const sec = await startSecondary(dir, lease, env);
    const pri = startPrimary(dir, sec.url, [TICKER, '80', '10'], lease, env);
    try {
      await waitFor('output', () => lines(pri.stdout).length >= 25, 30_000, pri);
      pri.child.kill('SIGKILL');
      await pri.exited;
      expect(await sec.proc.exited, sec.proc.stderr).to.equal(0);
      checkSequence(lines(pri.stdout), lines(sec.proc.stdout), 80);
      // The default TTL (600 ms) is not what etcd grants: both sides say so at start.
      for (const side of [pri.stderr, sec.proc.stderr]) expect(side).to.match(/note: etcd grants leases in whole seconds, .*--lease-ttl-ms 600 becomes 1 s or more there/);
    } finally {
      pri.child.kill('SIGKILL');
      sec.proc.child.kill('SIGKILL');
      await etcd.stop();
    }
  });

  for (const inject of ['output@20', 'memory@30', 'input@10']) {
    it(`resyncs after an injected ${inject.split('@')[0]} divergence, releasing only the unprotected run's outputs`, async () => {
      const dir = pairDir();
      const guest = inject.startsWith('input') ? [CLOCKRAND, '12'] : [TICKER, '40', '2'];
      // Rule 'compare': nothing is released before the secondary matched it, so the primary cannot finish
      // before the divergence was found and resynced.
      const flags = ['--digest-every', '8', '--release', 'compare'];
      const sec = await startSecondary(dir, ['--inject', inject, ...flags], env);
      const pri = startPrimary(dir, sec.url, guest, flags, env);
      try {
        expect(await pri.exited, pri.stderr).to.equal(0);
        await waitFor('the resync on the secondary', () => /restored resync transfer/.test(sec.proc.stderr), 10_000, sec.proc);
        expect(sec.proc.stderr).to.match(/DIVERGENCE/);
        expect(sec.proc.stderr, 'the restored digest matches the primary').to.not.match(/DIGEST DIFFERS/);
        expect(pri.stderr).to.match(/resync-done/);
        if (guest[0] === TICKER) {
          expect(lines(pri.stdout)).to.deep.equal(Array.from({ length: 40 }, (_, i) => `tick ${i + 1}`));
        } else {
          // clockrand's output depends on live inputs; what the world saw is what the primary's guest computed.
          expect(lines(pri.stdout).filter((l) => l.startsWith('round')).length).to.equal(12);
          expect(pri.stdout).to.match(/monotonic ok/);
        }
      } finally {
        pri.child.kill('SIGKILL');
        sec.proc.child.kill('SIGKILL');
      }
    });
  }

  it('reports output hold time and event-loop lateness in the status lines of both sides', async () => {
    // 150 lines 10 ms apart: a second and a half of run, so at least one status line (one a second) falls
    // inside it with outputs released in its interval.
    const dir = pairDir();
    const sec = await startSecondary(dir, [], env);
    const pri = startPrimary(dir, sec.url, [TICKER, '150', '10'], [], env);
    try {
      expect(await pri.exited, pri.stderr).to.equal(0);
      expect(lines(pri.stdout)).to.have.length(150);
      const re = /status: protected,.*; hold p50 ([\d.]+) ms, p99 ([\d.]+) ms, max ([\d.]+) ms over (\d+) outputs; event loop late by up to ([\d.]+) ms/g;
      const seen = [...pri.stderr.matchAll(re)];
      expect(seen.length, pri.stderr).to.be.greaterThan(0);
      let outputs = 0;
      for (const m of seen) {
        const [p50, p99, max] = [Number(m[1]), Number(m[2]), Number(m[3])];
        expect(p50, m[0]).to.be.at.most(p99);
        expect(p99, m[0]).to.be.at.most(max);
        outputs += Number(m[4]);
      }
      // Each interval counts only its own releases: together at most every output once.
      expect(outputs).to.be.greaterThan(0).and.at.most(151);
      expect(sec.proc.stderr).to.match(/status: replicating, epoch \d+, received \d+, replayed \d+, lag \d+ entries; event loop late by up to [\d.]+ ms/);
    } finally {
      pri.child.kill('SIGKILL');
      sec.proc.child.kill('SIGKILL');
    }
  });

  it('serves status pages and metrics on both sides, and the survivor reports itself as the primary after a failover', async () => {
    const dir = pairDir();
    const sec = await startSecondary(dir, ['--status-listen', '127.0.0.1:0'], env);
    const secUrl = /status page at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(sec.proc.stderr)?.[1];
    expect(secUrl, sec.proc.stderr).to.be.a('string');
    const pri = startPrimary(dir, sec.url, [TICKER, '3000', '5'], ['--status-listen', '127.0.0.1:0'], env);
    const metric = (text: string, name: string): number | undefined => {
      const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
      return m ? Number(m[1]) : undefined;
    };
    const get = async (url: string) => {
      try {
        const r = await fetch(url);
        return r.ok ? await r.text() : '';
      } catch {
        return '';
      }
    };
    try {
      let priUrl = '';
      await waitFor('the primary status page', () => {
        priUrl = /status page at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(pri.stderr)?.[1] ?? '';
        return priUrl !== '' || pri.child.exitCode !== null;
      }, 30_000, pri);
      expect(priUrl, pri.stderr).to.not.equal('');
      // Protected, with outputs released: the figures move as the guest runs.
      let priMetrics = '';
      await waitFor('the primary to report protected outputs', async () => {
        priMetrics = await get(priUrl + 'metrics');
        return metric(priMetrics, 'twinstep_protected') === 1 && (metric(priMetrics, 'twinstep_outputs_released_total') ?? 0) > 20;
      }, 30_000, pri);
      expect(priMetrics).to.match(/^twinstep_node_info\{role="primary",vm_id="default",node_id="primary-\d+",release_rule="ack",dispatch="primary"\} 1$/m);
      expect(metric(priMetrics, 'twinstep_lease_held')).to.equal(1);
      // One full checkpoint protects the pair; a loaded host may see the transfer retried, so at least one.
      expect(Number(/^twinstep_checkpoints_total\{kind="full"\} (\d+)$/m.exec(priMetrics)?.[1])).to.be.at.least(1);
      expect(metric(priMetrics, 'twinstep_output_hold_seconds_count')).to.equal(metric(priMetrics, 'twinstep_outputs_released_total'));
      const priStatus = JSON.parse(await get(priUrl + 'status'));
      expect(priStatus).to.include({ role: 'primary', state: 'protected', tookOver: false });
      expect(priStatus.status.nextSeq).to.be.greaterThan(0);
      const secStatus = JSON.parse(await get(secUrl + 'status'));
      expect(secStatus).to.include({ role: 'secondary', state: 'replicating' });
      expect(secStatus.totals.restores).to.be.at.least(1);
      const secMetrics = await get(secUrl + 'metrics');
      expect(secMetrics).to.match(/^twinstep_secondary_state\{state="replicating"\} 1$/m);
      expect(metric(secMetrics, 'twinstep_log_received_seq')).to.be.greaterThan(0);
      expect(await get(secUrl!)).to.contain('state: <b>replicating</b>');

      pri.child.kill('SIGKILL');
      let after = '';
      await waitFor('the survivor to report that it took over', async () => {
        after = await get(secUrl + 'metrics');
        return metric(after, 'twinstep_took_over') === 1 && metric(after, 'twinstep_lease_held') === 1;
      }, 30_000, sec.proc);
      expect(after).to.match(/^twinstep_node_info\{role="primary",/m);
      expect(metric(after, 'twinstep_epoch')).to.be.greaterThan(metric(priMetrics, 'twinstep_epoch')!);
      const live = JSON.parse(await get(secUrl + 'status'));
      expect(live).to.include({ role: 'primary', tookOver: true, state: 'unprotected' });
      expect(live.warnings.join(' ')).to.match(/UNPROTECTED/);
      expect(await get(secUrl!)).to.contain('took over');
      // Its status line, once a second, is now a primary's.
      await waitFor("the survivor's primary status line", () => /\[twinstep secondary\] status: unprotected, epoch \d+, seq \d+, .*; hold p50 /.test(sec.proc.stderr), 10_000, sec.proc);
    } finally {
      pri.child.kill('SIGKILL');
      sec.proc.child.kill('SIGKILL');
    }
  });

  it('counts the outputs a dispatching secondary sends out as released by it', async () => {
    const dir = pairDir();
    const flags = ['--release', 'compare', '--dispatch', 'secondary'];
    const sec = await startSecondary(dir, [...flags, '--status-listen', '127.0.0.1:0'], env);
    const secUrl = /status page at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(sec.proc.stderr)?.[1];
    expect(secUrl, sec.proc.stderr).to.be.a('string');
    const pri = startPrimary(dir, sec.url, [TICKER, '200', '10'], flags, env);
    const released = (text: string) => Number(/^twinstep_outputs_released_total (\d+)$/m.exec(text)?.[1] ?? NaN);
    try {
      await waitFor('twenty lines from the secondary', () => lines(sec.proc.stdout).length >= 20, 30_000, sec.proc);
      const before = lines(sec.proc.stdout).length;
      const metrics = await (await fetch(secUrl + 'metrics')).text();
      // At least what was seen on its stdout before the scrape (the pipe may lag the count, not lead it).
      expect(released(metrics), metrics).to.be.within(before, 200);
      const status = JSON.parse(await (await fetch(secUrl + 'status')).text());
      expect(status.totals.outputsDispatched).to.be.at.least(before);
      expect(status.totals.outputsReleased).to.equal(status.totals.outputsDispatched);
      expect(lines(pri.stdout), 'the primary dispatches nothing').to.deep.equal([]);
    } finally {
      pri.child.kill('SIGKILL');
      sec.proc.child.kill('SIGKILL');
    }
  });

  it('refuses a bad --status-listen and an address in use before running the guest', async () => {
    const dir = pairDir();
    const bad = startPrimary(dir, 'ws://127.0.0.1:9', [TICKER, '5', '1'], ['--status-listen', 'localhost'], env);
    expect(await bad.exited).to.equal(64);
    expect(bad.stderr).to.match(/--status-listen expects HOST:PORT/);
    const { createServer } = await import('node:net');
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const port = (taken.address() as { port: number }).port;
    try {
      const busy = startPrimary(dir, 'ws://127.0.0.1:9', [TICKER, '5', '1'], ['--status-listen', `127.0.0.1:${port}`], env);
      expect(await busy.exited).to.equal(69);
      expect(busy.stderr).to.match(new RegExp(`--status-listen: cannot serve the status page on 127\\.0\\.0\\.1:${port}: EADDRINUSE`));
      expect(busy.stdout, 'the guest never ran').to.equal('');
      const busySec = startProc(['secondary', '--listen', '127.0.0.1:0', '--secret-file', 'secret', '--status-listen', `127.0.0.1:${port}`], dir, env);
      expect(await busySec.exited).to.equal(69);
      expect(busySec.stderr).to.match(/EADDRINUSE/);
    } finally {
      taken.close();
    }
  });

  it('refuses peer addresses that cannot work (no port, port out of range, another scheme, a path) at start, naming the flag', async () => {
    const dir = pairDir();
    for (const bad of ['ws://127.0.0.1:99999', 'ws://127.0.0.1:0', 'ws://:7000', 'http://127.0.0.1:7000', 'ws://127.0.0.1:7000/vm', 'notaurl']) {
      const p = startPrimary(dir, bad, [TICKER, '5', '1'], [], env);
      expect(await p.exited, bad).to.equal(64);
      expect(p.stderr, bad).to.include(`--peer expects ws://HOST:PORT with a port from 1 to 65535, got '${bad}'`);
      expect(p.stdout, 'the guest never ran').to.equal('');
      const s = startProc(['secondary', '--listen', '127.0.0.1:0', '--secret-file', 'secret', '--rejoin-peer', bad], dir, env);
      expect(await s.exited, bad).to.equal(64);
      expect(s.stderr, bad).to.include(`--rejoin-peer expects ws://HOST:PORT with a port from 1 to 65535, got '${bad}'`);
    }
    const listen = startProc(['secondary', '--listen', '127.0.0.1:65536', '--secret-file', 'secret'], dir, env);
    expect(await listen.exited).to.equal(64);
    expect(listen.stderr).to.include("--listen expects HOST:PORT with a port from 0 to 65535, got '127.0.0.1:65536'");
    // IPv6 literals are addresses too.
    const v6 = startPrimary(dir, 'ws://[::1]:9', [TICKER, '2', '1'], ['--no-wait'], env);
    expect(await v6.exited, v6.stderr).to.equal(0);
  });

  it('digests before every logged call of a guest full of pure calls, and the secondary, replaying ahead through them, matches each', async () => {
    // files makes hundreds of pure file-system calls between its clock reads and writes. With --digest-every 1
    // the primary digests before every input and output, inside the handler; the secondary replays through the
    // pure calls without waiting for the log and checks each digest at the start of its call. A digest taken
    // at another point, or one before a pure call, would show as a DIVERGENCE and a resync.
    const dir = pairDir();
    const work = tempDir('twinstep-pair-files-');
    const flags = ['--digest-every', '1', '--release', 'compare'];
    const sec = await startSecondary(dir, flags, env);
    const pri = startPrimary(dir, sec.url, ['--dir', work, FILES, work], flags, env);
    try {
      expect(await pri.exited, pri.stderr).to.equal(0);
      expect(pri.stdout).to.match(/files: \d+ passed, 0 failed/);
      expect(sec.proc.stderr).to.not.match(/DIVERGENCE/);
      expect(pri.stderr).to.not.match(/resync/);
      expect(pri.stderr).to.match(/every output released/);
    } finally {
      pri.child.kill('SIGKILL');
      sec.proc.child.kill('SIGKILL');
    }
  });

  it('protects a Rust guest (rust/tour): a memory divergence is resynced, and the world sees exactly its unprotected transcript', async () => {
    // The Rust standard library's start-up, hasher seeding, sleeps and files, under rule 'compare' with a digest
    // before every logged call; a byte of the secondary's memory is flipped at entry 10, so the pair resyncs the
    // whole machine (memory, virtual disk, fd table) in the middle of the run.
    const dir = pairDir();
    const work = mkdtempSync(join(tmpdir(), 'twinstep-pair-tour-'));
    const flags = ['--digest-every', '1', '--release', 'compare'];
    const sec = await startSecondary(dir, ['--inject', 'memory@10', ...flags], env);
    const pri = startPrimary(dir, sec.url, ['--dir', `${work}::/`, TOUR, '/'], flags, env);
    try {
      expect(await pri.exited, pri.stderr).to.equal(0);
      await waitFor('the resync on the secondary', () => /restored resync transfer/.test(sec.proc.stderr), 10_000, sec.proc);
      expect(sec.proc.stderr, 'the restored digest matches the primary').to.not.match(/DIGEST DIFFERS/);
      expect(pri.stderr).to.match(/resync-done/);
      expect(pri.stderr).to.match(/every output released/);
      expect(pri.stderr).to.include('tour: all checks passed');
      expect(lines(pri.stdout)).to.deep.equal([
        'args: ["/"]',
        'env: []',
        'stdin: 0 lines, 0 distinct words, most frequent None',
        'clock: slept at least 2 ms: true, realtime after 2020: true',
        'files: 201 lines, 1699 bytes (metadata 1699, seek end 1699), fnv 4133adbd15a4ac1c',
        'files: bytes 12..16 "1\\nli", sub/ held ["b.txt", "c.txt"] then 1 entry, missing file: not found',
        'files: existing note: (No such file or directory (os error 44))',
      ]);
    } finally {
      pri.child.kill('SIGKILL');
      sec.proc.child.kill('SIGKILL');
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('refuses a primary with the wrong secret', async () => {
    const dir = pairDir();
    const sec = await startSecondary(dir, [], env);
    const other = pairDir();
    const pri = startPrimary(other, sec.url, [TICKER, '3', '1'], [], env);
    try {
      await waitFor('a refusal', () => /refused a peer: E_AUTH/.test(sec.proc.stderr), 15_000, sec.proc);
      // The primary's operator sees why too, once (not at every retry).
      await waitFor("the primary's reason", () => /primary: cannot connect to the secondary: .*E_AUTH/.test(pri.stderr), 15_000, pri);
      expect(pri.stderr.match(/cannot connect to the secondary/g)).to.have.length(1);
      expect(lines(pri.stdout)).to.deep.equal([]);
    } finally {
      pri.child.kill('SIGKILL');
      sec.proc.child.kill('SIGKILL');
    }
  });
});

async function startSecondaryAt(dir: string, port: string, flags: string[] = []) {
  for (let i = 0; i < 50; i++) {
    try {
      const { startProc } = await import('../support/pair-procs.ts');
      const proc = startProc(['secondary', '--listen', `127.0.0.1:${port}`, '--secret-file', 'secret', ...flags], dir, env);
      await waitFor('listening', () => /listening on/.test(proc.stderr) || proc.child.exitCode !== null, 20_000, proc);
      if (proc.child.exitCode === null) return { proc };
    } catch {
      // the port may still be in TIME_WAIT for a moment
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`could not listen again on port ${port}`);
}
