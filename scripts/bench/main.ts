/**
 * `npm run bench`: every figure the issues ask for, measured in ONE run on this machine, as ratios where a
 * comparison is meant (FT vs unprotected, replay vs record, twinstep vs node:wasi). Prints a table and writes
 * bench-out/bench.json, with the raw samples and plots behind some figures (bench-out/*.csv and *.svg, see
 * plot.ts). Sections can be chosen: `npm run bench -- host machine log net record-replay pair`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { benchMachine, benchPageHash, benchSnapshot } from './machine.ts';
import { writtenBenchFiles } from './plot.ts';
import { applyV8Flags } from '../v8-flags.ts';
import { stopCoarseClock } from '../../engine/node/coarse-clock.ts';

// The sections run the guest in this process as the CLI runs it: the pair's primary exactly as `twinstep
// primary` (its flags include those of run, record and replay). Set before any guest is compiled.
applyV8Flags('primary');

const root = new URL('../../', import.meta.url).pathname;
const guest = (p: string) => join(root, 'guests/build', p);

type Section = () => Promise<Record<string, number>>;

const sections: Record<string, Section> = {
  // First: how much this host's second CPU is worth (a busy neighbour's slowdown), to read the rest by.
  host: async () => (await import('./host.ts')).benchHost(),
  machine: async () => ({
    ...(await benchMachine(
      [
        { name: 'compute', path: guest('c/compute.wasm'), args: ['12'] },
        { name: 'hostcalls', path: guest('c/hostcalls.wasm'), args: ['100000'] },
      ],
      Number(process.env.BENCH_ROUNDS ?? 5),
    )),
    ...(await benchSnapshot(guest('c/memhog.wasm'), 64)),
    ...benchPageHash(256),
  }),
  log: async () => (await import('./log.ts')).benchLog(),
  net: async () => (await import('./net.ts')).benchNet({ throughputBytes: 128 * 1024 * 1024 }),
  'record-replay': async () => {
    const m = await import('./record-replay.ts').catch(() => undefined);
    return m ? m.benchRecordReplay() : {};
  },
  pair: async () => {
    const m = await import('./pair.ts').catch(() => undefined);
    return m ? m.benchPair() : {};
  },
};

const chosen = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const names = chosen.length ? chosen : Object.keys(sections);
const results: Record<string, Record<string, number>> = {};
process.stdout.write(`twinstep bench on ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}\n`);
for (const name of names) {
  const section = sections[name];
  if (!section) {
    process.stderr.write(`bench: unknown section '${name}' (have: ${Object.keys(sections).join(', ')})\n`);
    process.exitCode = 64;
    continue;
  }
  process.stdout.write(`\n== ${name}\n`);
  const r = await section();
  // A section that recorded started the coarse clock's ticker; the next section should not run beside it.
  stopCoarseClock();
  results[name] = r;
  for (const [k, v] of Object.entries(r)) process.stdout.write(`  ${k.padEnd(48)} ${fmt(v)}\n`);
}
mkdirSync(join(root, 'bench-out'), { recursive: true });
writeFileSync(join(root, 'bench-out/bench.json'), JSON.stringify({ node: process.version, results }, null, 2) + '\n');
process.stdout.write(`\nwritten: ${['bench-out/bench.json', ...writtenBenchFiles].join(', ')}\n`);

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4);
}
