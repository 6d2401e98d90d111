/**
 * A guest from the Rust toolchain (guests/rust/tour.rs: rustc's wasm32-wasi target and its standard library,
 * nothing twinstep-specific) on the machine: args, environ, a HashMap seeded by random_get, stdin to EOF,
 * Instant/SystemTime, thread::sleep (poll_oneoff), files on the virtual disk, stderr and the exit code. The
 * record → replay round trip of the CLI covers it with the other example guests (spec/cli/twinstep.spec.ts).
 */
import { expect } from 'chai';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadModule } from '../../engine/wasi/loader.ts';
import { WasiMachine } from '../../engine/wasi/machine.ts';
import { fakeDevices } from '../support/fake-devices.ts';
import { GUEST_DIR, scratchDir } from '../support/guests.ts';
import { newTape, player, recorder } from '../support/tape.ts';
import type { HostCallHandler } from '../../engine/machine/machine.ts';

const TOUR = join(GUEST_DIR, 'rust/tour.wasm');
const STDIN = 'The cat\nthe dog and THE cat\n';
const EXPECTED = [
  'args: ["/"]',
  'env: ["A=1", "B=2"]',
  'stdin: 2 lines, 4 distinct words, most frequent Some(("the", 3))',
  'clock: slept at least 2 ms: true, realtime after 2020: true',
  'files: 201 lines, 1699 bytes (metadata 1699, seek end 1699), fnv 4133adbd15a4ac1c',
  'files: bytes 12..16 "1\\nli", sub/ held ["b.txt", "c.txt"] then 1 entry, missing file: not found',
  'files: existing note: a file that was there at boot',
  '',
].join('\n');

describe('a Rust guest (rust/tour) on the machine', function () {
  this.timeout(60_000);

  for (const seed of [1, 2]) {
    it(`passes its checks and prints only what its inputs decide (devices seed ${seed})`, async () => {
      const module = await loadModule(readFileSync(TOUR));
      const dir = scratchDir();
      const before = readdirSync(dir, { recursive: true }).sort();
      const m = WasiMachine.create(module, {
        config: { args: ['tour', '/'], env: ['B=2', 'A=1'], preopens: [{ host: dir, guest: '/' }] },
        devices: fakeDevices(seed, Buffer.from(STDIN)),
      });
      // The tape recorder, plus the names of the input calls and the text per channel.
      const tape = newTape();
      const rec = recorder(tape);
      const inputs = new Set<string>();
      const handler: HostCallHandler = { ...rec, input: (call) => (inputs.add(call.name), rec.input(call)) };
      const result = m.run(handler);
      const text = (outs: typeof tape.outputs, channel: number) => Buffer.concat(outs.filter((o) => o.channel === channel).map((o) => o.data)).toString('utf8');
      expect(result, `seed ${seed}`).to.deep.equal({ status: 'exited', code: 0 });
      expect(text(tape.outputs, 1), `seed ${seed}`).to.equal(EXPECTED);
      expect(text(tape.outputs, 2), `seed ${seed}`).to.equal('tour: all checks passed\n');
      // Its nondeterministic inputs went through the log: random bytes for the hasher, clock reads, the sleep, stdin.
      for (const call of ['random_get', 'clock_time_get', 'poll_oneoff', 'fd_read']) expect([...inputs], `seed ${seed}: ${call} logged`).to.include(call);
      // Fed the same inputs, a fresh machine (no devices at all) makes the same outputs at the same host calls.
      const again: typeof tape.outputs = [];
      const replay = WasiMachine.create(module, {
        config: { args: ['tour', '/'], env: ['B=2', 'A=1'], preopens: [{ host: dir, guest: '/' }] },
        devices: fakeDevices(seed + 100),
      }).run(player(tape, again));
      expect(replay, `seed ${seed}`).to.deep.equal({ status: 'exited', code: 0 });
      expect(again, `seed ${seed}`).to.deep.equal(tape.outputs);
      // The files went to the virtual disk; the host directory is as it was at boot.
      expect(readdirSync(dir, { recursive: true }).sort()).to.deep.equal(before);
    });
  }
});
