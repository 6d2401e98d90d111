import { expect } from 'chai';
import { HeartbeatMonitor } from '../../engine/net/heartbeat.ts';

describe('net/HeartbeatMonitor', () => {
  const cfg = { heartbeatMs: 100, timeoutMs: 350 };

  it('beats at once, then every heartbeatMs of silence on our side', () => {
    const m = new HeartbeatMonitor(cfg, 1000);
    expect(m.tick(1000)).to.deep.equal({ beat: true, lost: false });
    m.onSent(1000);
    expect(m.tick(1099).beat).to.equal(false);
    expect(m.nextTickMs()).to.equal(1100);
    expect(m.tick(1100).beat).to.equal(true);
    m.onSent(1100);
    // Our own traffic counts as a beat.
    m.onSent(1150);
    expect(m.tick(1200).beat).to.equal(false);
    expect(m.tick(1250).beat).to.equal(true);
  });

  it('declares the peer lost after timeoutMs without anything from it, and stays lost', () => {
    const m = new HeartbeatMonitor(cfg, 0);
    m.onBeat(300);
    expect(m.tick(649).lost).to.equal(false);
    expect(m.nextTickMs()).to.be.at.most(650);
    expect(m.tick(650)).to.deep.equal({ beat: false, lost: true });
    m.onBeat(651);
    expect(m.tick(652).lost).to.equal(true);
    expect(m.lost).to.equal(true);
    expect(m.nextTickMs()).to.equal(Infinity);
  });

  it('ignores time going backwards', () => {
    const m = new HeartbeatMonitor(cfg, 1000);
    m.onBeat(500);
    expect(m.tick(1349).lost).to.equal(false);
    expect(m.tick(1350).lost).to.equal(true);
  });

  it('rejects a config where the timeout is not above the heartbeat', () => {
    expect(() => new HeartbeatMonitor({ heartbeatMs: 100, timeoutMs: 100 }, 0)).to.throw(RangeError);
    expect(() => new HeartbeatMonitor({ heartbeatMs: 0, timeoutMs: 100 }, 0)).to.throw(RangeError);
  });
});
