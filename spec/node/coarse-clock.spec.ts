/** The coarse clock: a ticker thread's Date.now() in shared memory, started on first read. */
import { expect } from 'chai';
import { coarseNowMs } from '../../engine/node/coarse-clock.ts';

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
});
