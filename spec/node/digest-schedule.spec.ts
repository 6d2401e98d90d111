import { expect } from 'chai';
import { DigestSchedule } from '../../engine/node/digest-schedule.ts';

describe('DigestSchedule', () => {
  it('without a budget: due every N calls after the last digest taken, and every M ms', () => {
    let now = 0;
    const s = new DigestSchedule({ everyCalls: 100, everyMs: 50, nowMs: () => now });
    expect(s.due(98)).to.equal(false);
    expect(s.due(99)).to.equal(true);
    expect(s.admit(99)).to.equal(true);
    s.take(120, () => undefined);
    expect(s.due(219)).to.equal(false);
    expect(s.due(220)).to.equal(true);
    now = 49;
    expect(s.due(130)).to.equal(false);
    now = 50;
    expect(s.due(130)).to.equal(true);
    expect(s.postponed).to.equal(0);
  });

  it('with a budget: a digest due while digests took more than their share waits an eighth of the interval', () => {
    let fine = 0;
    const s = new DigestSchedule({ everyCalls: 800, budget: 0.1, fineNowMs: () => fine });
    // The first digest takes 5 ms at t = 0..5: 5 ms spent of 5 elapsed.
    const v = s.take(800, () => {
      fine += 5;
      return 42;
    });
    expect(v).to.equal(42);
    expect(s.due(1600)).to.equal(true);
    fine = 20; // 5 ms spent > 10% of 20 ms
    expect(s.admit(1600)).to.equal(false);
    expect(s.postponed).to.equal(1);
    expect(s.due(1699)).to.equal(false);
    expect(s.due(1700)).to.equal(true);
    fine = 60; // 5 ms spent <= 10% of 60 ms
    expect(s.admit(1700)).to.equal(true);
  });

  it('periodic(): never at call 0, once per index (a digest taken there, periodic or not, counts), and only when due', () => {
    const s = new DigestSchedule({ everyCalls: 10 });
    expect(s.periodic(0)).to.equal(false);
    expect(s.periodic(5)).to.equal(false);
    expect(s.periodic(9)).to.equal(true);
    s.take(9, () => undefined);
    expect(s.takenAt(9)).to.equal(true);
    expect(s.periodic(9)).to.equal(false);
    expect(s.periodic(19)).to.equal(true);
    s.take(12, () => undefined); // e.g. the exit's digest: the interval starts again from there
    expect(s.takenAt(9)).to.equal(false);
    expect(s.periodic(19)).to.equal(false);
    expect(s.periodic(22)).to.equal(true);
  });

  it('never by count with everyCalls 0; ms intervals need a clock; a negative budget or interval is refused', () => {
    const s = new DigestSchedule({ everyCalls: 0, everyMs: 10 });
    expect(s.due(1e9)).to.equal(false);
    expect(() => new DigestSchedule({ everyCalls: 10, budget: -1 })).to.throw(RangeError);
    expect(() => new DigestSchedule({ everyCalls: -1 })).to.throw(RangeError);
  });
});
