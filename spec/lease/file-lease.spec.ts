import { expect } from 'chai';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile, link } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileLease } from '../../engine/lease/file-lease.ts';
import { LeaseError, type AcquireResult } from '../../engine/lease/lease.ts';
import { seededRandom, testSeed } from '../support/seeded-random.ts';

const WORKER = fileURLToPath(new URL('./fixtures/file-lease-worker.ts', import.meta.url));

describe('lease/FileLease', () => {
  let root: string;
  let clock: number;
  const now = (): number => clock;
  const make = (name: string, ttlMs = 1000): FileLease => new FileLease(join(root, name), { ttlMs, now });

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'twinstep-lease-'));
    clock = 1_000_000;
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('acquires a free lease, refuses a live one, releases', async () => {
    const a = make('l');
    const b = make('l');
    expect(await a.current()).to.equal(null);
    expect(await a.acquire('a')).to.deep.equal({ ok: true, epoch: 1 });
    expect(await b.acquire('b')).to.deep.equal({ ok: false, holder: 'a', epoch: 1 });
    expect(await b.current()).to.deep.equal({ holder: 'a', epoch: 1, expiresAtMs: clock + 1000 });
    expect(await b.renew()).to.equal(false, 'b never held it');
    clock += 500;
    expect(await a.renew()).to.equal(true);
    expect((await b.current())?.expiresAtMs).to.equal(clock + 1000);
    // Re-acquire by the holding instance keeps the epoch.
    expect(await a.acquire('a')).to.deep.equal({ ok: true, epoch: 1 });
    await a.release();
    expect(await b.current()).to.equal(null);
    expect(await a.renew()).to.equal(false, 'released');
    expect(await b.acquire('b')).to.deep.equal({ ok: true, epoch: 2 });
  });

  it('another instance with the same holder name does not inherit the lease', async () => {
    const a1 = make('l');
    const a2 = make('l');
    expect((await a1.acquire('a')).ok).to.equal(true);
    expect(await a2.acquire('a')).to.deep.equal({ ok: false, holder: 'a', epoch: 1 });
    expect(await a2.renew()).to.equal(false);
  });

  it('expires on the injected clock; takeover bumps the epoch and the old holder cannot renew', async () => {
    const a = make('l');
    const b = make('l');
    expect(await a.acquire('a')).to.deep.equal({ ok: true, epoch: 1 });
    clock += 999;
    expect(await b.acquire('b')).to.deep.equal({ ok: false, holder: 'a', epoch: 1 });
    clock += 1;
    expect(await a.current()).to.equal(null, 'expired at expiresAtMs');
    expect(await b.acquire('b')).to.deep.equal({ ok: true, epoch: 2 });
    expect(await a.renew()).to.equal(false, 'taken over');
    expect(await a.acquire('a')).to.deep.equal({ ok: false, holder: 'b', epoch: 2 });
    await a.release(); // not the holder: must not free b's lease
    expect((await b.current())?.holder).to.equal('b');
  });

  it('does not renew an expired lease even if nobody took it, and re-acquiring gives a new epoch', async () => {
    const a = make('l');
    expect((await a.acquire('a')).ok).to.equal(true);
    clock += 1000;
    expect(await a.renew()).to.equal(false);
    expect(await a.acquire('a')).to.deep.equal({ ok: true, epoch: 2 });
  });

  it('keeps a bounded number of record files', async () => {
    const a = make('l');
    await a.acquire('a');
    for (let i = 0; i < 100; i++) {
      clock += 10;
      expect(await a.renew()).to.equal(true);
    }
    const names = (await readdir(join(root, 'l'))).filter((n) => n.endsWith('.rec'));
    expect(names.length).to.be.at.most(17);
    expect(names.filter((n) => n.startsWith('.tmp-'))).to.have.length(0);
    expect(await a.current()).to.deep.equal({ holder: 'a', epoch: 1, expiresAtMs: clock + 1000 });
  });

  it('a writer that links into a garbage-collected slot (ABA) does not win', async () => {
    const a = make('l');
    const stale = make('l');
    await a.acquire('a');
    for (let i = 0; i < 60; i++) await a.renew();
    clock += 5000; // a expired: a fresh acquirer would legitimately win
    // The stale writer read seq 9 long ago (now deleted) and appends seq 10 built on it.
    const old = { seq: 9, rec: { v: 1, seq: 9, holder: '', epoch: 0, expiresAtMs: 0, token: 'long-gone', prevToken: 'x' } };
    const appended = await (stale as unknown as { append(p: unknown, n: unknown): Promise<boolean> }).append(old, {
      holder: 'stale',
      epoch: 1,
      expiresAtMs: clock + 1000,
    });
    expect(appended).to.equal(false);
    expect(await stale.current()).to.equal(null, 'the top record is still a (expired)');
    expect(await make('l').acquire('c')).to.deep.equal({ ok: true, epoch: 2 });
  });

  it('reports a corrupt record with a typed error', async () => {
    const a = make('l');
    await a.acquire('a');
    const dir = join(root, 'l');
    await writeFile(join(root, 'junk'), 'not json');
    await link(join(root, 'junk'), join(dir, '0000000000000002.rec'));
    const err = await make('l').current().catch((e: unknown) => e);
    expect(err).to.be.instanceOf(LeaseError);
    expect((err as LeaseError).code).to.equal('E_LEASE_CORRUPT');
  });

  it('reports an unusable path with a typed error', async () => {
    await writeFile(join(root, 'plainfile'), 'x');
    const err = await new FileLease(join(root, 'plainfile', 'sub')).acquire('a').catch((e: unknown) => e);
    expect(err).to.be.instanceOf(LeaseError);
    expect((err as LeaseError).code).to.equal('E_LEASE_BACKEND');
  });

  it('in-process contention: exactly one of N concurrent acquirers wins (seeded trials)', async () => {
    const seed = testSeed();
    const rnd = seededRandom(seed);
    for (let trial = 0; trial < 40; trial++) {
      const dir = `t${trial}`;
      const n = 2 + Math.floor(rnd() * 7);
      const expiredBefore = rnd() < 0.5;
      let base = 0;
      if (expiredBefore) {
        await make(dir).acquire('old');
        clock += 2000;
        base = 1;
      }
      const leases = Array.from({ length: n }, () => make(dir));
      const results = await Promise.all(leases.map((l, i) => l.acquire(`p${i}`)));
      const winners = results.filter((r) => r.ok);
      expect(winners, `seed ${seed} trial ${trial}: ${JSON.stringify(results)}`).to.have.length(1);
      expect(winners[0]!.epoch).to.equal(base + 1);
    }
  });

  describe('multi-process contention', function () {
    this.timeout(120_000);
    const WORKERS = 6;
    let workers: ChildProcess[] = [];
    const inbox = new Map<ChildProcess, unknown[]>();
    const waiters = new Map<ChildProcess, (m: unknown) => void>();

    function next(w: ChildProcess): Promise<any> {
      const q = inbox.get(w)!;
      if (q.length > 0) return Promise.resolve(q.shift());
      return new Promise((resolve) => waiters.set(w, resolve));
    }

    before(async () => {
      workers = Array.from({ length: WORKERS }, () =>
        fork(WORKER, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
      );
      for (const w of workers) {
        inbox.set(w, []);
        w.on('message', (m) => {
          const wake = waiters.get(w);
          if (wake) {
            waiters.delete(w);
            wake(m);
          } else inbox.get(w)!.push(m);
        });
      }
      for (const w of workers) expect((await withTimeout(next(w), 30_000, 'worker start')).type).to.equal('up');
    });

    after(async () => {
      await Promise.all(
        workers.map(async (w) => {
          if (w.exitCode !== null || w.signalCode !== null) return;
          const exited = new Promise((r) => w.once('exit', r));
          if (w.connected) w.send({ type: 'exit' });
          const timer = setTimeout(() => w.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(timer);
        }),
      );
    });

    it('exactly one process wins, over seeded trials (fresh, expired and live prior states)', async () => {
      const seed = testSeed();
      const rnd = seededRandom(seed);
      for (let trial = 0; trial < 30; trial++) {
        const dir = join(root, `p${trial}`);
        const prior = ['fresh', 'expired', 'released', 'live'][Math.floor(rnd() * 4)]!;
        const nowMs = 5_000_000 + trial;
        let priorEpoch = 0;
        if (prior !== 'fresh') {
          clock = nowMs - (prior === 'expired' ? 5000 : 10);
          const old = new FileLease(dir, { ttlMs: 1000, now });
          priorEpoch = ((await old.acquire('old')) as { epoch: number }).epoch;
          if (prior === 'released') await old.release();
        }
        const n = 2 + Math.floor(rnd() * (WORKERS - 1));
        const racers = workers.slice(0, n);
        for (const [i, w] of racers.entries()) {
          w.send({ type: 'prepare', trial, dir, holder: `w${i}`, nowMs, ttlMs: 1000, spinUs: Math.floor(rnd() * 300) });
        }
        for (const w of racers) expect((await withTimeout(next(w), 10_000, 'prepare')).type).to.equal('ready');
        for (const w of racers) w.send({ type: 'go', trial });
        const replies = await Promise.all(racers.map((w) => withTimeout(next(w), 10_000, 'acquire')));
        const ctx = `seed ${seed} trial ${trial} prior ${prior}: ${JSON.stringify(replies)}`;
        expect(replies.filter((r) => r.error), ctx).to.have.length(0);
        const results = replies.map((r) => r.result as AcquireResult);
        const winners = results.filter((r) => r.ok);
        if (prior === 'live') {
          expect(winners, ctx).to.have.length(0);
          for (const r of results) expect(r, ctx).to.deep.equal({ ok: false, holder: 'old', epoch: priorEpoch });
          continue;
        }
        expect(winners, ctx).to.have.length(1);
        expect(winners[0]!.epoch, ctx).to.equal(priorEpoch + 1);
        const winner = replies[results.indexOf(winners[0]!)].holder as string;
        for (const r of results) if (!r.ok) expect(r, ctx).to.deep.equal({ ok: false, holder: winner, epoch: priorEpoch + 1 });
        clock = nowMs;
        expect((await new FileLease(dir, { now }).current())?.holder, ctx).to.equal(winner);
      }
    });
  });
});

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
