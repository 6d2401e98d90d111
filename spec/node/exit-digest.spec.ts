/**
 * The pair's primary steps digests before logged calls but none before the guest's exit: nothing comes after
 * the exit for a state check to protect, and hashing the whole memory there held the exit's release
 * (docs/PROTOCOL.md, "Digests"). Both drivers in this process over mem://; the primary core's events are
 * watched as the driver steps them
 * (step(), and input() for inputs).
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { EXIT_CHANNEL } from '../../engine/machine/machine.ts';
import type { PrimaryEvent } from '../../engine/core/primary-types.ts';
import { ROOT } from '../support/pair-procs.ts';
import { runMemPair } from '../support/mem-pair.ts';

type Stepped = { type: string; callIndex?: number; channel?: number };

async function stepsOf(guest: string, args: string[]): Promise<{ code: number; steps: Stepped[]; exitReleased: boolean }> {
  const steps: Stepped[] = [];
  // A digest before every logged call (no budget): every input and output but the exit gets one.
  const r = await runMemPair(join(ROOT, 'guests/build/c', guest), [guest, ...args], { digestEveryCalls: 1 }, (primary) => {
    const step = primary.core.step.bind(primary.core);
    primary.core.step = (e: PrimaryEvent) => {
      if (e.type === 'input' || e.type === 'output' || e.type === 'digest') steps.push({ type: e.type, callIndex: e.callIndex, channel: e.type === 'output' ? e.channel : undefined });
      return step(e);
    };
    // Inputs take the core's short path (PrimaryCore.input), not step().
    const input = primary.core.input.bind(primary.core);
    primary.core.input = (callIndex: number, call: string, request: Uint8Array, data: Uint8Array) => {
      steps.push({ type: 'input', callIndex });
      return input(callIndex, call, request, data);
    };
  });
  return { ...r, steps };
}

describe('the pair takes no digest before the guest exit', function () {
  this.timeout(30_000);

  // hostcalls returns 0 from main (wasi-libc then returns from _start); compute with scale 0 prints its usage
  // to stderr and returns 2 (wasi-libc then calls proc_exit).
  for (const [guest, args, how, code] of [
    ['hostcalls.wasm', ['40'], 'returning from _start', 0],
    ['compute.wasm', ['0'], 'calling proc_exit', 2],
  ] as const) {
    it(`a guest ${how}: digests before its logged calls, none before its exit, and the exit released`, async () => {
      const r = await stepsOf(guest, [...args]);
      expect(r.code).to.equal(code);
      expect(r.exitReleased).to.equal(true);
      const exit = r.steps.findIndex((s) => s.type === 'output' && s.channel === EXIT_CHANNEL);
      expect(exit, 'the exit was stepped').to.equal(r.steps.length - 1);
      const logged = r.steps.filter((s) => s.type !== 'digest');
      const digests = r.steps.filter((s) => s.type === 'digest');
      // Every logged call before the exit has its digest, right before it and at its index.
      expect(digests.length).to.equal(logged.length - 1);
      r.steps.slice(0, exit).forEach((s, i, a) => {
        if (s.type !== 'digest') expect(a[i - 1], `entry ${i} (${s.type} at call ${s.callIndex})`).to.deep.include({ type: 'digest', callIndex: s.callIndex });
      });
      expect(r.steps[exit - 1]!.type, 'the step before the exit').to.not.equal('digest');
    });
  }
});
