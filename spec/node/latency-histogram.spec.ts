/**
 * The status lines' latency histogram: percentiles within its stated 5% of the exact ones (never below), the
 * exact maximum, a fresh start after take(), and bad samples rejected.
 */
import { expect } from 'chai';
import { LatencyHistogram, MAX_MS, formatLatency } from '../../engine/node/latency-histogram.ts';
import { seededRandom } from '../support/seeded-random.ts';

function exact(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.ceil((p / 100) * s.length) - 1]!;
}

describe('LatencyHistogram', () => {
  it('gives percentiles at most 5% above the exact ones and never below, with the exact maximum', () => {
    const seed = 77;
    const rnd = seededRandom(seed);
    const h = new LatencyHistogram();
    const xs: number[] = [];
    for (let i = 0; i < 20_000; i++) {
      // Log-uniform from 10 µs to 100 ms: the range of hold times and stalls.
      const ms = 0.01 * 10 ** (4 * rnd());
      xs.push(ms);
      h.add(ms);
    }
    for (const p of [1, 50, 90, 99, 99.9, 100]) {
      const e = exact(xs, p);
      const got = h.percentile(p);
      expect(got, `seed ${seed} p${p}`).to.be.at.least(e);
      expect(got, `seed ${seed} p${p}`).to.be.at.most(e * 1.05 + 1e-12);
    }
    expect(h.summary().max).to.equal(Math.max(...xs));
    expect(h.count).to.equal(20_000);
  });

  it('starts over after take(), and is empty (NaN, no status text) without samples', () => {
    const h = new LatencyHistogram();
    expect(formatLatency(h.summary())).to.equal('');
    expect(h.percentile(99)).to.be.NaN;
    for (const ms of [1, 2, 3, 4]) h.add(ms);
    const s = h.take();
    expect(s.count).to.equal(4);
    expect(s.max).to.equal(4);
    expect(formatLatency(s)).to.match(/^p50 2\.\d\d ms, p99 4\.00 ms, max 4\.00 ms over 4 outputs$/);
    expect(h.count).to.equal(0);
    h.add(0.5);
    expect(h.summary()).to.deep.include({ count: 1, max: 0.5 });
    expect(h.percentile(50)).to.equal(0.5);
  });

  it('counts samples beyond its range in its end buckets, and rejects negative or NaN samples', () => {
    const h = new LatencyHistogram();
    h.add(0);
    h.add(MAX_MS * 10);
    expect(h.percentile(50)).to.be.at.most(0.001);
    expect(h.percentile(100)).to.be.at.most(MAX_MS * 10);
    expect(h.summary().max).to.equal(MAX_MS * 10);
    expect(() => h.add(-1)).to.throw(RangeError);
    expect(() => h.add(NaN)).to.throw(RangeError);
    expect(() => h.percentile(0)).to.throw(RangeError);
    expect(h.count).to.equal(2);
  });
});
