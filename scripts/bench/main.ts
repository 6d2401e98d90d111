/**
 * `npm run bench`: every figure the issues ask for, measured in ONE run on this machine, as ratios where a
 * comparison is meant (FT vs unprotected, replay vs record, twinstep vs node:wasi). Prints a table and writes
 * bench-out/bench.json, with the raw samples and plots behind some figures (bench-out/*.csv and *.svg, see
 * plot.ts). Sections can be chosen: `npm run bench -- host machine log net record-replay pair`.
 *
 * Each section runs in a process of its own (this file, started with --section-child NAME), as the commands
 * it measures do: a section must not inherit the heap, helper threads or JIT state of the ones before it (the
 * pair's primary, run in the section's process, met major collections of the 64 MiB snapshots the machine
 * section had made, and the record section's clock ticker).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchMachine, benchPageHash, benchSnapshot } from './machine.ts';
import { writtenBenchFiles } from './plot.ts';
import { applyV8Flags } from '../v8-flags.mjs';

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

const child = process.argv.indexOf('--section-child');
if (child >= 0) {
  // A section's own process: run it, hand its figures and the files it wrote to the parent.
  const name = process.argv[child + 1]!;
  const r = await sections[name]!();
  writeFileSync(process.argv[child + 2]!, JSON.stringify({ figures: r, files: writtenBenchFiles }));
  process.exit(0);
}

const chosen = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const names = chosen.length ? chosen : Object.keys(sections);
const results: Record<string, Record<string, number>> = {};
const files: string[] = [];
const scratch = mkdtempSync(join(tmpdir(), 'twinstep-bench-'));
process.stdout.write(`twinstep bench on ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}\n`);
for (const name of names) {
  if (!sections[name]) {
    process.stderr.write(`bench: unknown section '${name}' (have: ${Object.keys(sections).join(', ')})\n`);
    process.exitCode = 64;
    continue;
  }
  process.stdout.write(`\n== ${name}\n`);
  const out = join(scratch, `${name}.json`);
  const run = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--section-child', name, out], { stdio: ['ignore', 'inherit', 'inherit'] });
  let r: Record<string, number>;
  try {
    const got = JSON.parse(readFileSync(out, 'utf8')) as { figures: Record<string, number>; files: string[] };
    r = got.figures;
    files.push(...got.files);
  } catch {
    process.stderr.write(`bench: section '${name}' failed (exit ${run.status ?? run.signal}); its figures are missing\n`);
    process.exitCode = 1;
    continue;
  }
  results[name] = r;
  for (const [k, v] of Object.entries(r)) process.stdout.write(`  ${k.padEnd(48)} ${fmt(v)}\n`);
}
rmSync(scratch, { recursive: true, force: true });
mkdirSync(join(root, 'bench-out'), { recursive: true });
writeFileSync(join(root, 'bench-out/bench.json'), JSON.stringify({ node: process.version, results }, null, 2) + '\n');
process.stdout.write(`\nwritten: ${['bench-out/bench.json', ...files].join(', ')}\n`);

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4);
}
