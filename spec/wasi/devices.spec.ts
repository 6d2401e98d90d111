import { expect } from 'chai';
import { liveDevices } from '../../engine/wasi/devices.ts';

describe('live devices', () => {
  const d = liveDevices();

  it('reads clocks: realtime near the wall clock, monotonic never going back', () => {
    const real = d.clockNs(0);
    // Realtime is anchored to the wall clock at creation and advanced monotonically.
    expect(Number(real / 1_000_000n)).to.be.closeTo(Date.now(), 5_000);
    const m1 = d.clockNs(1);
    const m2 = d.clockNs(1);
    expect(m2 >= m1).to.equal(true);
    expect(d.clockNs(2) > 0n).to.equal(true);
  });

  it('returns the requested number of random bytes', () => {
    expect(d.random(0)).to.have.length(0);
    const r = d.random(4096);
    expect(r).to.have.length(4096);
    expect(r.some((b) => b !== 0)).to.equal(true);
  });

  it('sleeps for roughly the requested time', () => {
    const t0 = process.hrtime.bigint();
    d.sleepNs(20_000_000n);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    expect(ms).to.be.within(15, 1_000);
  });

  it('reads from an arbitrary descriptor until EOF', async () => {
    const { openSync, writeFileSync, closeSync, mkdtempSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'twinstep-stdin-'));
    try {
      writeFileSync(join(dir, 'in'), 'abcdef');
      const fd = openSync(join(dir, 'in'), 'r');
      const s = liveDevices({ stdinFd: fd });
      expect(s.stdinReady()).to.equal(true);
      expect(new TextDecoder().decode(s.stdinRead(4))).to.equal('abcd');
      expect(new TextDecoder().decode(s.stdinRead(4))).to.equal('ef');
      expect(s.stdinRead(4)).to.have.length(0);
      closeSync(fd);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
