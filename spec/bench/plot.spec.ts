/**
 * The bench's plots and raw data (scripts/bench/plot.ts): charts hold one path per series with one vertex
 * per drawable point, placed in order on linear and log axes, reference lines and legends escaped; points
 * that cannot be drawn are left out and a series without any is said to have no data; CSV quotes what it
 * must; the CDF is the empirical one.
 */
import { expect } from 'chai';
import { cdf, lineChart, linearTicks, logTicks, toCsv } from '../../scripts/bench/plot.ts';

/** The vertices of each series path, as [x, y] pixel pairs. */
function paths(svg: string): Array<Array<[number, number]>> {
  return [...svg.matchAll(/<path class="series" d="([^"]+)"/g)].map((m) =>
    [...m[1]!.matchAll(/[ML]([\d.]+) ([\d.]+)/g)].map((v) => [Number(v[1]), Number(v[2])] as [number, number]),
  );
}

describe('bench plots', () => {
  it('draws one path per series, a vertex per point, in order along both axes', () => {
    const svg = lineChart(
      [
        { name: 'up', points: [[1, 1], [2, 2], [3, 3]] },
        { name: 'flat', points: [[1, 2], [3, 2]] },
      ],
      { title: 't', xLabel: 'x', yLabel: 'y' },
    );
    const [up, flat] = paths(svg);
    expect(up).to.have.length(3);
    expect(flat).to.have.length(2);
    // x grows to the right, y grows upwards (smaller pixel y).
    expect(up![0]![0]).to.be.lessThan(up![1]![0]);
    expect(up![1]![0]).to.be.lessThan(up![2]![0]);
    expect(up![0]![1]).to.be.greaterThan(up![2]![1]);
    expect(flat![0]![1]).to.equal(flat![1]![1]);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).to.equal(true);
    expect(svg.trimEnd().endsWith('</svg>')).to.equal(true);
  });

  it('places points on a log axis by their logarithm, with ticks at powers of ten', () => {
    const svg = lineChart([{ name: 's', points: [[10, 1], [100, 1], [1000, 1]] }], { title: 't', xLabel: 'x', yLabel: 'y', logX: true });
    const [p] = paths(svg);
    expect(p![1]![0] - p![0]![0]).to.be.closeTo(p![2]![0] - p![1]![0], 0.2);
    const ticks = [...svg.matchAll(/class="xtick"[^>]*>([^<]+)</g)].map((m) => m[1]);
    expect(ticks).to.deep.equal(['10', '100', '1000']);
    expect(logTicks(0.3, 2500)).to.deep.equal([0.1, 1, 10, 100, 1000, 10000]);
  });

  it('leaves out points it cannot draw and says when a series has none', () => {
    const svg = lineChart(
      [
        { name: 'some', points: [[1, 1], [NaN, 2], [2, Infinity], [3, 3]] },
        { name: 'none', points: [[0, 1], [-1, 2]] },
      ],
      { title: 't', xLabel: 'x', yLabel: 'y', logX: true },
    );
    const p = paths(svg);
    expect(p).to.have.length(1);
    expect(p[0]).to.have.length(2);
    expect(svg).to.contain('>none (no data)<');
    expect(svg).to.not.contain('NaN');
    // An empty chart is still a chart.
    expect(lineChart([], { title: 'empty', xLabel: 'x', yLabel: 'y' })).to.contain('</svg>');
  });

  it('escapes the title, labels, legend and reference-line labels, and draws the reference lines', () => {
    const svg = lineChart([{ name: '<s>&', points: [[1, 1], [2, 2]] }], {
      title: 'a < b',
      xLabel: 'x "q"',
      yLabel: 'y',
      hLines: [{ y: 1.5, label: '<target>' }],
      vLines: [{ x: 1.5, label: 'v&' }],
    });
    expect(svg).to.contain('a &lt; b');
    expect(svg).to.contain('x &quot;q&quot;');
    expect(svg).to.contain('&lt;s&gt;&amp;');
    expect(svg).to.contain('&lt;target&gt;');
    expect(svg).to.contain('v&amp;');
    expect(svg.match(/class="ref"/g)).to.have.length(2);
    expect(svg).to.not.match(/<s>|<target>/);
  });

  it('picks round linear ticks covering the range', () => {
    expect(linearTicks(0, 1)).to.deep.equal([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(linearTicks(0, 2.1)).to.deep.equal([0, 0.5, 1, 1.5, 2]);
    expect(linearTicks(3, 3)).to.deep.equal([3]);
  });

  it('computes the empirical CDF of finite samples', () => {
    expect(cdf([3, 1, NaN, 2, 2])).to.deep.equal([[1, 0.25], [2, 0.5], [2, 0.75], [3, 1]]);
    expect(cdf([])).to.deep.equal([]);
  });

  it('writes CSV with quoted fields where needed', () => {
    expect(toCsv(['a', 'b'], [[1, 'x,y'], ['say "hi"', 'line\nbreak']])).to.equal('a,b\r\n1,"x,y"\r\n"say ""hi""","line\nbreak"\r\n');
  });
});
