/**
 * The bench's timing helpers: variants run interleaved, warm-up rounds run but not counted, medians, and the
 * quartiles of per-round paired ratios.
 */
import { expect } from 'chai';
import { interleaved, interleavedRounds, median, pairedRatioQuartiles, percentile } from '../../scripts/bench/timing.ts';

describe('bench timing', () => {
  it('runs the variants interleaved, warm-up rounds first and uncounted', async () => {
    const order: string[] = [];
    const rounds = await interleavedRounds(3, { a: () => void order.push('a'), b: async () => void order.push('b') }, 2);
    expect(order).to.deep.equal(['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b', 'a', 'b']);
    expect(rounds.a).to.have.length(3);
    expect(rounds.b).to.have.length(3);
    for (const ms of [...rounds.a!, ...rounds.b!]) expect(ms).to.be.at.least(0);
    const med = await interleaved(1, { only: () => undefined });
    expect(Object.keys(med)).to.deep.equal(['only']);
  });

  it('takes medians, percentiles and the quartiles of paired ratios', () => {
    expect(median([3, 1, 2])).to.equal(2);
    expect(median([4, 1, 3, 2])).to.equal(2.5);
    expect(percentile([1, 2, 3, 4], 25)).to.equal(1);
    expect(percentile([1, 2, 3, 4], 75)).to.equal(3);
    // Round i's pair: 2i against i, except one slow round: ratios 2, 2, 2, 6.
    const q = pairedRatioQuartiles([2, 4, 6, 24], [1, 2, 3, 4]);
    expect(q).to.deep.equal({ p25: 2, p75: 2 });
    expect(pairedRatioQuartiles([1, 2, 9, 8], [1, 1, 3, 2])).to.deep.equal({ p25: 1, p75: 3 });
    expect(() => pairedRatioQuartiles([1, 2], [1])).to.throw(RangeError);
    expect(() => pairedRatioQuartiles([], [])).to.throw(RangeError);
  });
});
