/**
 * The primary driver keeps to the core's bounds where it steps more than one entry for one host call: a guest
 * that returns from _start (wasi-libc does so for exit code 0, without proc_exit) right after an output that
 * filled the output gate (its end is an output too), and a periodic digest that reaches the in-flight bound
 * before the call's own entry. Both drivers in this process over mem://, with tiny bounds.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { ROOT } from '../support/pair-procs.ts';
import { runMemPair } from '../support/mem-pair.ts';

const LINES = join(ROOT, 'guests/build/c/lines.wasm');
const HOSTCALLS = join(ROOT, 'guests/build/c/hostcalls.wasm');
async function runPair(path: string, args: string[], core: Record<string, number>, digestEveryCalls = 0): Promise<{ code: number; out: string[]; exitReleased: boolean }> {
  const out: string[] = [];
  let exitReleased = false;
  const r = await runMemPair(path, args, {
    core,
    digestEveryCalls,
    emit: (_channel, data) => {
      expect(exitReleased, 'no output after the exit').to.equal(false);
      out.push(Buffer.from(data).toString());
    },
    onExitReleased: () => (exitReleased = true),
  });
  return { ...r, out };
}

describe('the primary driver keeps to the core bounds', function () {
  this.timeout(30_000);

  it('its exit waits for a full gate; every line and the exit are released in order', async () => {
    const r = await runPair(LINES, ['lines'], { heldOutputsMax: 1 });
    expect(r.code).to.equal(0);
    expect(r.exitReleased).to.equal(true);
    const lines = r.out.join('').trim().split('\n');
    expect(lines.length).to.be.greaterThan(3);
    lines.forEach((l, i) => expect(l).to.match(new RegExp(`^line ${i + 1}: `)));
  });

  it('a digest that reaches the in-flight bound makes the call wait, not overrun the bound', async () => {
    // A digest before every logged call: with an odd bound, a digest lands one entry below it.
    const r = await runPair(HOSTCALLS, ['hostcalls', '300'], { inflightEntriesMax: 5, batchEntriesMax: 2 }, 1);
    expect(r.code).to.equal(0);
    expect(r.exitReleased).to.equal(true);
    expect(r.out.join('')).to.match(/\S/);
  });
});
