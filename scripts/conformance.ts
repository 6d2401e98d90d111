/**
 * Runs the public WASI test suite's prebuilt wasm32-wasip1 tests against our host.
 *
 *   npx tsx scripts/conformance.ts [--suite-dir DIR] [--filter RE] [--cli | --record-replay] [--verbose]
 *
 * DIR (default /work/wasi-testsuite/tests) holds {c,rust,assemblyscript}/testsuite/wasm32-wasip1/. Each X.wasm
 * may have an X.json with args, env, root (mounted as ROOT::/), exit_code (default 0) and stdout.
 * By default every test runs in this process on a WasiHost (spec/wasi/harness.ts) with live clocks,
 * randomness and sleeping and an empty stdin. `--cli` instead spawns `twinstep run` for each test.
 * The file system is virtual, so tests that write into their root never touch the host directory.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { liveDevices } from '../engine/wasi/devices.ts';
import type { Devices } from '../engine/wasi/context.ts';
import { runWasi } from '../spec/wasi/harness.ts';

interface TestSpec {
  readonly name: string;
  readonly wasm: string;
  readonly args: string[];
  readonly env: string[];
  readonly root?: string;
  readonly exitCode: number;
  readonly stdout?: string;
}

interface Outcome {
  readonly ok: boolean;
  readonly reason: string;
}

const SUITES = ['c', 'rust', 'assemblyscript'];

function parseArgs(argv: string[]): { suiteDir: string; filter?: RegExp; cli: boolean; recordReplay: boolean; verbose: boolean } {
  let suiteDir = '/work/wasi-testsuite/tests';
  let filter: RegExp | undefined;
  let cli = false;
  let recordReplay = false;
  let verbose = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--suite-dir') suiteDir = argv[++i];
    else if (a === '--filter') filter = new RegExp(argv[++i]);
    else if (a === '--cli') cli = true;
    else if (a === '--record-replay') recordReplay = true;
    else if (a === '--verbose' || a === '-v') verbose = true;
    else {
      process.stderr.write(`conformance: unknown argument '${a}'\nusage: npx tsx scripts/conformance.ts [--suite-dir DIR] [--filter RE] [--cli | --record-replay] [--verbose]\n`);
      process.exit(2);
    }
  }
  return { suiteDir, filter, cli, recordReplay, verbose };
}

function discover(suiteDir: string): TestSpec[] {
  const out: TestSpec[] = [];
  for (const suite of SUITES) {
    const dir = join(suiteDir, suite, 'testsuite', 'wasm32-wasip1');
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).sort()) {
      if (!f.endsWith('.wasm')) continue;
      const wasm = join(dir, f);
      const jsonPath = wasm.replace(/\.wasm$/, '.json');
      const cfg = existsSync(jsonPath) ? JSON.parse(readFileSync(jsonPath, 'utf8')) : {};
      out.push({
        name: `${suite}/${basename(f, '.wasm')}`,
        wasm,
        args: (cfg.args ?? []).map(String),
        env: Object.entries((cfg.env ?? {}) as Record<string, string>).map(([k, v]) => `${k}=${v}`),
        root: cfg.root ? resolve(dir, cfg.root) : undefined,
        exitCode: cfg.exit_code ?? 0,
        stdout: cfg.stdout,
      });
    }
  }
  return out;
}

function check(t: TestSpec, exitCode: number, stdout: string, stderr: string): Outcome {
  const tail = (s: string): string => (s.length > 600 ? '…' + s.slice(-600) : s).trim();
  if (exitCode !== t.exitCode) {
    return { ok: false, reason: `exit code ${exitCode}, expected ${t.exitCode}${stderr ? `; stderr: ${tail(stderr)}` : ''}` };
  }
  if (t.stdout !== undefined && stdout !== t.stdout) {
    return { ok: false, reason: `stdout ${JSON.stringify(tail(stdout))}, expected ${JSON.stringify(t.stdout)}` };
  }
  return { ok: true, reason: '' };
}

/** Live devices with an empty stdin (the suite's runner gives tests no input). */
function testDevices(): Devices {
  const live = liveDevices();
  return { ...live, stdinRead: () => new Uint8Array(0), stdinReady: () => true };
}

async function runInProcess(t: TestSpec): Promise<Outcome> {
  try {
    const r = await runWasi(readFileSync(t.wasm), {
      args: [basename(t.wasm), ...t.args],
      env: t.env,
      preopens: t.root ? [{ host: t.root, guest: '/' }] : [],
      devices: testDevices(),
    });
    return check(t, r.exitCode, r.stdout, r.trap ? `${r.stderr}\ntrap: ${r.trap.message}` : r.stderr);
  } catch (e) {
    return { ok: false, reason: `host error: ${(e as Error).stack ?? e}` };
  }
}

function runCli(t: TestSpec, repo: string): Outcome {
  const argv = [join(repo, 'scripts/twinstep.mjs'), 'run'];
  if (t.root) argv.push('--dir', `${t.root}::/`);
  for (const e of t.env) argv.push('--env', e);
  argv.push(t.wasm, ...t.args);
  const r = spawnSync(process.execPath, argv, { cwd: repo, input: '', encoding: 'utf8', timeout: 120_000 });
  if (r.error) return { ok: false, reason: `spawn failed: ${r.error.message}` };
  if (r.status === null) return { ok: false, reason: `killed by ${r.signal}` };
  return check(t, r.status, r.stdout, r.stderr);
}

/**
 * `twinstep record` the test (which must pass like `run`), then `twinstep replay` its trace: the replay must be
 * IDENTICAL (exit 0).
 */
function recordReplayCli(t: TestSpec, repo: string): Outcome {
  const trace = join(tmpdir(), `twinstep-conformance-${process.pid}.twt`);
  const cli = join(repo, 'scripts/twinstep.mjs');
  const argv = [cli, 'record', '-o', trace];
  if (t.root) argv.push('--dir', `${t.root}::/`);
  for (const e of t.env) argv.push('--env', e);
  argv.push(t.wasm, ...t.args);
  const r = spawnSync(process.execPath, argv, { cwd: repo, input: '', encoding: 'utf8', timeout: 120_000 });
  if (r.error || r.status === null) return { ok: false, reason: `record did not finish: ${r.error?.message ?? r.signal}` };
  const recorded = check(t, r.status, r.stdout, r.stderr.replace(/^twinstep record: .*\n/m, ''));
  if (!recorded.ok) return { ok: false, reason: `record: ${recorded.reason}` };
  const p = spawnSync(process.execPath, [cli, 'replay', trace], { cwd: repo, encoding: 'utf8', timeout: 120_000 });
  rmSync(trace, { force: true });
  if (p.status !== 0) return { ok: false, reason: `replay exit ${p.status}: ${(p.stdout + p.stderr).slice(0, 2000)}` };
  return { ok: true, reason: '' };
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const tests = discover(opts.suiteDir).filter((t) => !opts.filter || opts.filter.test(t.name));
  if (tests.length === 0) {
    process.stderr.write(`conformance: no tests found under ${opts.suiteDir}\n`);
    return 2;
  }
  let passed = 0;
  let failed = 0;
  for (const t of tests) {
    const started = process.hrtime.bigint();
    const o = opts.recordReplay ? recordReplayCli(t, repo) : opts.cli ? runCli(t, repo) : await runInProcess(t);
    const ms = Number((process.hrtime.bigint() - started) / 1_000_000n);
    if (o.ok) passed++;
    else failed++;
    process.stdout.write(`${o.ok ? 'PASS' : 'FAIL'} ${t.name} (${ms} ms)${o.ok ? '' : `: ${o.reason}`}\n`);
  }
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main();
