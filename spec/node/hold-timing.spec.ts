/**
 * The primary driver's hold timing (onHeld, the CLI's hold figures): every output the primary releases is
 * timed once, and no output stays in the timing map after it left the gate, whichever side dispatches (with
 * secondary dispatch the primary drops matched outputs without releasing them). Both drivers in this process
 * over mem://.
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

const TICKER = join(ROOT, 'guests/build/c/ticker.wasm');

describe('the primary driver times output holds', function () {
  this.timeout(30_000);

  for (const dispatchSide of ['primary', 'secondary'] as const) {
    it(`times each output it releases once and forgets every output that left the gate (dispatch ${dispatchSide})`, async () => {
      const core = { releaseRule: 'compare', dispatchSide } as const;
      const sec = memSecondary({ core });
      await sec.listen();
      const module = await loadModule(readFileSync(TICKER));
      const sleep = new SleepGate(liveDevices());
      const machine = WasiMachine.create(module, { config: { args: ['ticker', '30', '1'], env: [], preopens: [] }, devices: sleep.devices });
      const held: number[] = [];
      let emitted = 0;
      let exitReleased = false;
      const primary = sec.primary(machine, module, sleep, {
        core,
        waitForSecondary: true,
        emit: () => void emitted++,
        onHeld: (ms) => held.push(ms),
        onExitReleased: () => (exitReleased = true),
      });
      try {
        expect(await primary.run()).to.equal(0);
        expect(exitReleased).to.equal(true);
        if (dispatchSide === 'primary') expect(emitted, 'the primary dispatched every line').to.equal(30);
        else expect(emitted, 'the secondary dispatched the matched lines').to.be.lessThan(30);
        // Released here: the lines it dispatched, each timed once (the end of a guest that returns from _start is not an output call), none negative.
        expect(held).to.have.length(emitted);
        for (const ms of held) expect(ms).to.be.at.least(0);
        expect(primary.timedOutputs, 'outputs still timed after the gate emptied').to.equal(0);
      } finally {
        primary.stop();
        await sec.stop();
      }
    });
  }
});
