/** The coarse clock: a ticker thread's Date.now() in shared memory, started on first read, stoppable. */
import { expect } from 'chai';
import { coarseClockRunning, coarseNowMs, stopCoarseClock } from '../../engine/node/coarse-clock.ts';

describe('coarse clock', () => {
  after(() => stopCoarseClock());

  it('reads the wall clock (loosely: a loaded host schedules the ticker late), before and after its ticker is up', async () => {
    stopCoarseClock();
    expect(coarseClockRunning()).to.equal(false);
    expect(Math.abs(coarseNowMs() - Date.now())).to.be.below(1000);
    expect(coarseClockRunning()).to.equal(true);
    await new Promise((r) => setTimeout(r, 200));
    const a = coarseNowMs();
    expect(Math.abs(a - Date.now())).to.be.below(1000);
    await new Promise((r) => setTimeout(r, 30));
    expect(coarseNowMs()).to.be.at.least(a);
  });

  it('stops its ticker, falls back to Date.now meanwhile, and starts again at the next read', () => {
    coarseNowMs();
    stopCoarseClock();
    expect(coarseClockRunning()).to.equal(false);
    const t = coarseNowMs();
    expect(Math.abs(t - Date.now())).to.be.below(1000);
    expect(coarseClockRunning()).to.equal(true);
    stopCoarseClock();
    expect(coarseClockRunning()).to.equal(false);
  });
});
