/** The coarse clock: a ticker thread's Date.now() in shared memory, started on first read. */
import { expect } from 'chai';
import { coarseClockCell, coarseNowMs } from '../../engine/node/coarse-clock.ts';

describe('coarse clock', () => {
  it('reads the wall clock (loosely: a loaded host schedules the ticker late), and never goes back', async () => {
    expect(Math.abs(coarseNowMs() - Date.now())).to.be.below(1000);
    // Once the ticker publishes, reads come from it.
    await new Promise((r) => setTimeout(r, 200));
    const a = coarseNowMs();
    expect(Math.abs(a - Date.now())).to.be.below(1000);
    await new Promise((r) => setTimeout(r, 30));
    expect(coarseNowMs()).to.be.at.least(a);
  });

  it('hands out the ticker\'s cell: it moves with the clock, and what it holds is what coarseNowMs reads', async () => {
    const cell = coarseClockCell();
    expect(cell, 'workers are available here').to.be.instanceOf(Float64Array);
    expect(coarseClockCell(), 'one cell per process').to.equal(cell);
    await new Promise((r) => setTimeout(r, 200));
    const first = cell![0]!;
    expect(first, 'the ticker has published').to.be.greaterThan(0);
    expect(Math.abs(first - Date.now())).to.be.below(1000);
    // It moves (within 2 s: a loaded host may schedule the ticker late).
    for (let waited = 0; cell![0]! === first && waited < 2000; waited += 10) await new Promise((r) => setTimeout(r, 10));
    const v = cell![0]!;
    expect(v, 'it moves').to.be.greaterThan(first);
    const read = coarseNowMs();
    expect(read).to.be.at.least(v);
    expect(read - v, 'the same clock').to.be.below(50);
  });
});
