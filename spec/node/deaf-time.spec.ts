/**
 * A side busy with a large state transfer cannot read its socket meanwhile; that is its own deafness, not the
 * peer's silence. Both drivers run in this process over mem://, the side under test with a clock that jumps
 * by far more than the peer timeout while it takes (primary) or applies (secondary) a checkpoint, as a large
 * memory does on a slow host. Taking that time as the peer's silence dropped the peer and started the join
 * over, again and again.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModule } from '../../engine/wasi/loader.ts';
import { WasiMachine } from '../../engine/wasi/machine.ts';
import { liveDevices } from '../../engine/wasi/devices.ts';
import { SleepGate } from '../../engine/node/guest-sleep.ts';
import { ROOT } from '../support/pair-procs.ts';
import { memSecondary } from '../support/mem-pair.ts';

const MEMHOG = join(ROOT, 'guests/build/c/memhog.wasm');
const JUMP_MS = 2000; // the peer timeout is 500 ms

async function runPair(jumpOn: 'primary' | 'secondary'): Promise<{ code: number; primaryLog: string[]; secondaryLog: string[]; fullCheckpoints: number; precopySteps: number }> {
  let offset = 0;
  const jumpy = () => Date.now() + offset;
  const real = () => Date.now();
  const module = await loadModule(readFileSync(MEMHOG));
  const primaryLog: string[] = [];
  const secondaryLog: string[] = [];
  const sec = memSecondary({ log: (l) => secondaryLog.push(l), nowMs: jumpOn === 'secondary' ? jumpy : real });
  // With the jump on the primary the secondary joins late, once the guest holds its memory: the pre-copy then
  // takes several steps, each of them a jump.
  const late = jumpOn === 'primary';
  if (late) setTimeout(() => void sec.listen(), 400);
  else await sec.listen();

  const sleep = new SleepGate(liveDevices());
  const machine = WasiMachine.create(module, { config: { args: ['memhog', '12', late ? '2500' : '300'], env: [], preopens: [] }, devices: sleep.devices });
  const priClock = jumpOn === 'primary' ? jumpy : real;
  let fullCheckpoints = 0;
  if (jumpOn === 'primary') {
    // Every checkpoint reads the state (snapshot), every pre-copy step the live memory (memoryView).
    const take = machine.snapshot.bind(machine);
    machine.snapshot = (o) => {
      offset += JUMP_MS;
      return take(o);
    };
    const view = machine.memoryView.bind(machine);
    machine.memoryView = () => {
      offset += JUMP_MS;
      return view();
    };
  }
  const restore = WasiMachine.restore;
  if (jumpOn === 'secondary') {
    WasiMachine.restore = (...a: Parameters<typeof WasiMachine.restore>) => {
      offset += JUMP_MS;
      return restore(...a);
    };
  }
  const primary = sec.primary(machine, module, sleep, {
    log: (l) => primaryLog.push(l),
    nowMs: priClock,
    waitForSecondary: !late,
    onCheckpoint: (f) => {
      if (f.kind === 'full' && ++fullCheckpoints > 3) gaveUp(-1); // the join keeps starting over
    },
  });
  let gaveUp!: (code: number) => void;
  const given = new Promise<number>((resolve) => (gaveUp = resolve));
  try {
    const code = await Promise.race([primary.run(), given]);
    const precopySteps = Number(/in (\d+) steps/.exec(primaryLog.join('\n'))?.[1] ?? 0);
    return { code, primaryLog, secondaryLog, fullCheckpoints, precopySteps };
  } finally {
    WasiMachine.restore = restore;
    primary.stop();
    await sec.stop();
  }
}

describe('time a side spends on a large transfer is not its peer\'s silence', function () {
  this.timeout(60_000);

  it('a primary whose checkpoint takes longer than the peer timeout keeps its secondary', async () => {
    const r = await runPair('primary');
    expect(r.code).to.equal(0);
    expect(r.primaryLog.filter((l) => /secondary lost/.test(l)), r.primaryLog.join('\n')).to.deep.equal([]);
    expect(r.fullCheckpoints, 'the join took one full transfer').to.equal(1);
    expect(r.precopySteps, 'a pre-copy of several steps, each a jump').to.be.at.least(3);
    expect(r.primaryLog.some((l) => /protected: transfer 1/.test(l))).to.equal(true);
  });

  it('a secondary whose restore takes longer than the peer timeout keeps its primary', async () => {
    const r = await runPair('secondary');
    expect(r.code).to.equal(0);
    // Until the primary, done, closes the channel.
    const end = r.secondaryLog.findIndex((l) => /logging channel closed/.test(l));
    const during = end < 0 ? r.secondaryLog : r.secondaryLog.slice(0, end);
    expect(during.filter((l) => /primary lost|primary silent/.test(l)), r.secondaryLog.join('\n')).to.deep.equal([]);
    expect(during.some((l) => /protected: restored transfer 1/.test(l))).to.equal(true);
    expect(r.fullCheckpoints).to.equal(1);
  });
});
