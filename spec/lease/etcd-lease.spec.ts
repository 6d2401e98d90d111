import { expect } from 'chai';
import { Etcd3 } from 'etcd3';
import { EtcdLease } from '../../engine/lease/etcd-lease.ts';
import { EtcdFence } from '../../engine/lease/fence.ts';
import { LeaseError } from '../../engine/lease/lease.ts';
import { parseLeaseSpec } from '../../engine/lease/lease-spec.ts';
import { startEtcd, type EtcdServer } from './etcd-server.ts';
import { seededRandom, testSeed } from '../support/seeded-random.ts';

describe('lease/EtcdLease (real etcd on loopback)', function () {
  this.timeout(60_000);
  let etcd: EtcdServer | undefined;
  let leases: EtcdLease[] = [];
  let keyN = 0;
  let key: string;

  const make = (ttlMs = 2000): EtcdLease => {
    const l = new EtcdLease({ hosts: [etcd!.url], key, ttlMs });
    leases.push(l);
    return l;
  };

  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    await etcd?.stop();
  });
  beforeEach(() => {
    key = `twinstep-test/lease-${++keyN}`;
  });
  afterEach(async () => {
    await Promise.all(leases.map((l) => l.close()));
    leases = [];
  });

  it('acquires a free lease, refuses a live one, releases; epochs go up', async () => {
    const a = make();
    const b = make();
    expect(await a.current()).to.equal(null);
    const ra = await a.acquire('a');
    expect(ra.ok).to.equal(true);
    const e1 = ra.epoch;
    expect(await b.acquire('b')).to.deep.equal({ ok: false, holder: 'a', epoch: e1 });
    const cur = await b.current();
    expect(cur?.holder).to.equal('a');
    expect(cur?.epoch).to.equal(e1);
    expect(cur!.expiresAtMs).to.be.greaterThan(Date.now());
    expect(await b.renew()).to.equal(false);
    expect(await a.renew()).to.equal(true);
    expect(await a.acquire('a')).to.deep.equal({ ok: true, epoch: e1 });
    await a.release();
    expect(await b.current()).to.equal(null);
    expect(await a.renew()).to.equal(false);
    const rb = await b.acquire('b');
    expect(rb.ok).to.equal(true);
    expect(rb.epoch).to.be.greaterThan(e1);
  });

  it('expires after the TTL; takeover bumps the epoch and the old holder cannot renew', async () => {
    const a = make(1000);
    const b = make(1000);
    const ra = await a.acquire('a');
    expect(ra.ok).to.equal(true);
    // etcd rounds the TTL up to its minimum (about 2 s by default); wait for the server to expire it.
    const deadline = Date.now() + 15_000;
    while ((await b.current()) !== null) {
      expect(Date.now()).to.be.lessThan(deadline, 'lease never expired');
      await new Promise((r) => setTimeout(r, 200));
    }
    const rb = await b.acquire('b');
    expect(rb.ok).to.equal(true);
    expect(rb.epoch).to.be.greaterThan(ra.epoch);
    expect(await a.renew()).to.equal(false);
    expect(await a.acquire('a')).to.deep.equal({ ok: false, holder: 'b', epoch: rb.epoch });
  });

  it('a holder whose key was deleted behind its back sees renew() fail', async () => {
    const a = make();
    expect((await a.acquire('a')).ok).to.equal(true);
    const admin = new Etcd3({ hosts: [etcd!.url] });
    try {
      await admin.delete().key(key);
    } finally {
      admin.close();
    }
    expect(await a.renew()).to.equal(false);
  });

  it('contention: exactly one of N concurrent clients wins (seeded trials)', async () => {
    const seed = testSeed();
    const rnd = seededRandom(seed);
    for (let trial = 0; trial < 8; trial++) {
      key = `twinstep-test/contention-${keyN}-${trial}`;
      const n = 2 + Math.floor(rnd() * 5);
      const clients = Array.from({ length: n }, () => make());
      const results = await Promise.all(clients.map((c, i) => c.acquire(`c${i}`)));
      const winners = results.filter((r) => r.ok);
      expect(winners, `seed ${seed} trial ${trial}: ${JSON.stringify(results)}`).to.have.length(1);
      for (const r of results) expect(r.epoch).to.equal(winners[0]!.epoch);
      for (const c of clients) await c.release();
    }
  });

  it('works through parseLeaseSpec with a key in the URL', async () => {
    const l = parseLeaseSpec(`etcd:${etcd!.url}/twinstep-test/from-spec`, { ttlMs: 2000 });
    try {
      expect((await l.acquire('x')).ok).to.equal(true);
      expect((await l.current())?.holder).to.equal('x');
      await l.release();
    } finally {
      await l.close();
    }
  });

  it("its fence: raised by epoch, marked ended only while it names the same epoch and holder", async () => {
    const fence = new EtcdFence([etcd!.url], `${key}.fence`);
    try {
      expect(await fence.read()).to.equal(null);
      expect(await fence.markEnded(1, 'a')).to.equal(false);
      await fence.raise({ epoch: 3, holder: 'a' });
      await fence.raise({ epoch: 2, holder: 'b' }); // lower: kept as it is
      expect(await fence.read()).to.deep.equal({ epoch: 3, holder: 'a' });
      expect(await fence.markEnded(3, 'b')).to.equal(false);
      expect(await fence.markEnded(2, 'a')).to.equal(false);
      expect(await fence.markEnded(3, 'a')).to.equal(true);
      expect(await fence.read()).to.deep.equal({ epoch: 3, holder: 'a', ended: true });
      await fence.raise({ epoch: 4, holder: 'c' });
      expect(await fence.read()).to.deep.equal({ epoch: 4, holder: 'c' });
    } finally {
      await fence.close();
    }
  });

  it('a missing etcd binary fails with the install hint', async () => {
    const err = await startEtcd('/nonexistent/etcd').catch((e: unknown) => e);
    expect(String(err)).to.contain('apt-get install etcd-server');
  });

  it('an unreachable etcd is a typed backend error within the call timeout', async () => {
    const l = new EtcdLease({ hosts: ['http://127.0.0.1:1'], key, callTimeoutMs: 500 });
    try {
      const t0 = Date.now();
      const err = await l.acquire('a').catch((e: unknown) => e);
      expect(err).to.be.instanceOf(LeaseError);
      expect((err as LeaseError).code).to.equal('E_LEASE_BACKEND');
      expect(Date.now() - t0).to.be.lessThan(10_000);
    } finally {
      await l.close();
    }
  });
});
