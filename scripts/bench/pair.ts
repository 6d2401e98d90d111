/**
 * Protected-pair benchmarks, measured in one run: the primary runs in this process (exactly as `twinstep
 * primary` does), the secondary is a real `twinstep secondary` process on loopback.
 *  - protected vs unprotected guest throughput (time ratio inverted), for each release rule, and (ack) against
 *    the guest's time per host call (hostcalls with WORK steps between its calls; pair-throughput.svg);
 *  - output hold time p50/p99 (from the output entering the gate to its release);
 *  - log bandwidth in bytes per second and per host call;
 *  - re-protect (join) time, stun time per MiB, resync bytes vs full snapshot bytes;
 *  - failover time from kill -9 of a primary process to the first output of the survivor, and the planned
 *    switch-over (SIGTERM) time, with the lines repeated across both sides by each.
 */
import { readFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadModule } from '../../engine/wasi/loader.ts';
import { WasiMachine } from '../../engine/wasi/machine.ts';
import { liveDevices } from '../../engine/wasi/devices.ts';
import { SleepGate } from '../../engine/node/guest-sleep.ts';
import { PrimaryDriver } from '../../engine/node/primary-driver.ts';
import { LeaseIo } from '../../engine/node/lease-io.ts';
import { FileLease } from '../../engine/lease/file-lease.ts';
import { FileFence } from '../../engine/lease/fence.ts';
import { connect } from '../../engine/net/endpoint.ts';
import type { HostCallHandler } from '../../engine/machine/machine.ts';
import { lines, pairDir, startPrimary, startSecondary, waitFor } from '../../spec/support/pair-procs.ts';
import { median, percentile } from './timing.ts';
import { DIGEST_BUDGET_DEFAULT, DIGEST_EVERY_DEFAULT, pairSettings } from '../cli/pair.ts';
import { cdf, lineChart, toCsv, writeBenchFile, type Series } from './plot.ts';

const root = new URL('../../', import.meta.url).pathname;
const WARM = fileURLToPath(new URL('../../spec/cli/warm-cache.ts', import.meta.url));
const guest = (p: string) => join(root, 'guests/build', p);

interface Case {
  readonly name: string;
  readonly path: string;
  readonly args: string[];
}

async function unprotectedMs(c: Case): Promise<number> {
  const module = await loadModule(readFileSync(c.path));
  const m = WasiMachine.create(module, { config: { args: ['g', ...c.args], env: [], preopens: [] }, devices: liveDevices() });
  const h: HostCallHandler = { input: (x) => x.live(), output: () => {} };
  const t0 = performance.now();
  const r = m.run(h);
  if (r.status !== 'exited') throw new Error(`unprotected run ended ${r.status}`);
  return performance.now() - t0;
}

interface ProtectedRun {
  guestMs: number;
  held: number[];
  sentBytes: number;
  calls: number;
  /** Re-protect: from the start of the pre-copy to protected again. */
  joinMs: number;
  /** Re-protect: from the start of the pre-copy to the end of the final stun. */
  precopyMs: number;
  stun: Array<{ kind: string; stunMs: number; sentBytes: number; fullBytes: number }>;
  memoryMiB: number;
}

/** digestEveryCalls: the CLI's default interval (with its digest budget, as `twinstep primary` runs), or an exact one. */
export async function protectedRun(c: Case, release: 'ack' | 'compare', secondaryExtra: string[] = [], digestEveryCalls = DIGEST_EVERY_DEFAULT, lateJoinMs = 0): Promise<ProtectedRun> {
  const dir = pairDir();
  const cache = process.env.TWINSTEP_CACHE;
  const env: Record<string, string> = cache ? { TWINSTEP_CACHE: cache } : {};
  // A late join: the guest starts unprotected and the secondary joins while it runs (re-protect).
  const sec = await startSecondary(dir, ['--release', release, ...secondaryExtra], env);
  let url = sec.url;
  if (lateJoinMs > 0) {
    sec.proc.child.kill('SIGKILL');
    url = sec.url;
  }
  const module = await loadModule(readFileSync(c.path));
  const sleep = new SleepGate(liveDevices());
  const machine = WasiMachine.create(module, { config: { args: ['g', ...c.args], env: [], preopens: [] }, devices: sleep.devices });
  const secret = readFileSync(join(dir, 'secret'));
  const held: number[] = [];
  const stun: ProtectedRun['stun'] = [];
  let sentBytes = 0;
  let started = 0;
  let exitReleasedAt = 0;
  let protectingAt = 0;
  let protectedAt = 0;
  let stunnedAt = 0;
  const t0 = performance.now();
  let epoch = 0;
  // A deposed primary pauses its guest for good (the lease went to the secondary): end this run with an error
  // rather than wait for an exit that cannot come.
  let deposed: (e: Error) => void = () => {};
  const deposedRun = new Promise<never>((_, reject) => (deposed = reject));
  const driver = new PrimaryDriver({
    machine,
    module,
    sleep,
    vmId: 'default',
    nodeId: 'bench-primary',
    core: { releaseRule: release, leaseRenewMs: 200 },
    start: { mode: 'unprotected' },
    lease: new LeaseIo(new FileLease(join(dir, '.twinstep-lease'), { ttlMs: 600 }), 'bench-primary', () => Date.now(), new FileFence(join(dir, '.twinstep-lease.fence'))),
    // The settings `twinstep secondary --release RULE` runs with (its handshake refuses others).
    connect: () => connect(url, { secret, vmId: 'default', settings: pairSettings(release, 'primary'), role: 'primary', epoch: () => epoch, minPeerEpoch: 0 }),
    emit: () => {},
    log: () => {},
    digestEveryCalls,
    digestBudget: digestEveryCalls === DIGEST_EVERY_DEFAULT ? DIGEST_BUDGET_DEFAULT : 0,
    waitForSecondary: lateJoinMs === 0,
    onExitReleased: () => (exitReleasedAt = performance.now()),
    onStatus: (s) => {
      epoch = s.epoch;
      if (s.deposed) {
        driver.stop();
        sec.proc.child.kill('SIGKILL');
        deposed(new Error(`bench pair: the primary of ${c.name} (${release}) was deposed: the secondary took the lease (see its log)`));
      }
      if (!started && s.mode === 'protected') started = performance.now();
      // Re-protected: the secondary holds the verified state (after the final stun).
      if (stunnedAt && !protectedAt && s.mode === 'protected') protectedAt = performance.now();
    },
    onHeld: (ms) => held.push(ms),
    onSent: (n) => (sentBytes += n),
    onCheckpoint: (f) => {
      stun.push(f);
      // Re-protect time: from the start of the pre-copy to protected again (the secondary applied the final
      // stun's delta and its digest matched); the final stun ends on the way.
      if (f.kind !== 'delta' && !protectingAt) protectingAt = performance.now() - f.stunMs;
      if (f.kind === 'delta' && !stunnedAt) stunnedAt = performance.now();
    },
  });
  let late: Awaited<ReturnType<typeof startSecondary>> | undefined;
  if (lateJoinMs > 0) {
    setTimeout(() => {
      // The secondary comes (back) on the same port while the guest runs.
      const port = new URL(url).port;
      void startSecondaryAtPort(dir, port, env).then((s) => (late = s));
    }, lateJoinMs);
  }
  await Promise.race([driver.run(), deposedRun]);
  const guestMs = (exitReleasedAt || performance.now()) - (started || t0);
  sec.proc.child.kill('SIGKILL');
  late?.proc.child.kill('SIGKILL');
  return { guestMs, held, sentBytes, calls: machine.callIndex, joinMs: protectedAt && protectingAt ? protectedAt - protectingAt : NaN, precopyMs: stunnedAt && protectingAt ? stunnedAt - protectingAt : NaN, stun, memoryMiB: machine.memoryBytes / (1 << 20) };
}

async function startSecondaryAtPort(dir: string, port: string, env: Record<string, string>) {
  const { startProc } = await import('../../spec/support/pair-procs.ts');
  const proc = startProc(['secondary', '--listen', `127.0.0.1:${port}`, '--secret-file', 'secret'], dir, env);
  await waitFor('listening', () => /listening on/.test(proc.stderr), 20_000, proc);
  return { proc, url: `ws://127.0.0.1:${port}` };
}

/**
 * The primary of a ticker pair (400 lines, one every 5 ms) stopped with `sig` once 40 lines are out: the time
 * from the signal to the secondary's first output after it, and the lines seen twice across both sides.
 * SIGKILL is a failover (repeats up to the held outputs are allowed); SIGTERM a planned switch-over (none).
 */
async function takeOverMs(sig: 'SIGKILL' | 'SIGTERM'): Promise<{ ms: number; repeats: number }> {
  const dir = pairDir();
  const sec = await startSecondary(dir);
  const pri = startPrimary(dir, sec.url, [guest('c/ticker.wasm'), '400', '5']);
  await waitFor('output', () => lines(pri.stdout).length >= 40, 60_000, pri);
  const t0 = performance.now();
  pri.child.kill(sig);
  const before = lines(sec.proc.stdout).length;
  await waitFor('survivor output', () => lines(sec.proc.stdout).length > before, 30_000, sec.proc);
  const ms = performance.now() - t0;
  await pri.exited;
  await sec.proc.exited;
  const all = [...lines(pri.stdout), ...lines(sec.proc.stdout)];
  return { ms, repeats: all.length - new Set(all).size };
}

/** Unprotected/protected run pairs per guest and release rule (odd: the median is one of them). */
const PAIRED_ROUNDS = 5;
const SWEEP_ROUNDS = 3;

/** The pair sweep: [iterations, WORK steps between calls], each point about 0.4 s unprotected on the bench host. */
const PAIR_SWEEP: ReadonlyArray<readonly [number, number]> = [
  [1_600_000, 100],
  [700_000, 300],
  [230_000, 1000],
  [80_000, 3000],
  [8_000, 30_000],
];

/** hostcalls' host calls for N iterations: the clock reads, a random_get every 64th, a write every 1000th. */
const HOSTCALLS_CALLS = (n: number) => n + Math.ceil(n / 64) + Math.ceil(n / 1000);

/**
 * Paired rounds: each protected run right after an unprotected one, the ratio taken per pair, sorted by ratio
 * (the middle one is the median). This host changes speed by up to 2x for seconds to minutes at a time (the
 * same unprotected run takes 21 or 39 ms); a ratio of runs minutes apart would measure that instead.
 */
async function pairedRounds(c: Case, release: 'ack' | 'compare', n: number): Promise<Array<{ run: ProtectedRun; base: number; ratio: number }>> {
  const rounds: Array<{ run: ProtectedRun; base: number; ratio: number }> = [];
  for (let k = 0; k < n; k++) {
    const base = await unprotectedMs(c);
    const run = await protectedRun(c, release);
    rounds.push({ run, base, ratio: base / run.guestMs });
  }
  return rounds.sort((a, b) => a.ratio - b.ratio);
}

export async function benchPair(): Promise<Record<string, number>> {
  const cache = mkdtempSync(join(tmpdir(), 'twinstep-bench-cache-'));
  process.env.TWINSTEP_CACHE = cache;
  // The secondaries read the instrumented guests from this cache. Fill it from a child process: this process
  // may hold a guest already (an earlier section loaded it), and then would not write it there. A cold cache
  // costs a joining secondary 12-16 s of instrumentation on this host before it can apply the state.
  const warm = spawnSync(process.execPath, ['--import', 'tsx', WARM, ...['c/compute.wasm', 'c/hostcalls.wasm', 'c/ticker.wasm', 'c/memhog.wasm'].map(guest)], {
    env: { ...process.env, TWINSTEP_CACHE: cache },
    stdio: 'inherit',
  });
  if (warm.status !== 0) throw new Error(`bench pair: warming the module cache failed (exit ${warm.status})`);
  const cases: Case[] = [
    // About 0.5 s of work each: long enough that a fresh process's JIT warm-up and the fixed cost of ending a
    // run (the last output's round trip, a few ms) do not dominate. hostcalls makes ~4 million host calls.
    { name: 'compute', path: guest('c/compute.wasm'), args: ['25'] },
    { name: 'hostcalls', path: guest('c/hostcalls.wasm'), args: ['4000000'] },
  ];
  const out: Record<string, number> = {};
  const allHeld: Record<string, number[]> = { ack: [], compare: [] };
  for (const c of cases) {
    for (const g of [c.path, guest('c/ticker.wasm'), guest('c/memhog.wasm')]) await loadModule(readFileSync(g));
    // Paired rounds (pairedRounds): the median of five reported, with the lowest and highest.
    const bases: number[] = [];
    for (const release of ['ack', 'compare'] as const) {
      const rounds = await pairedRounds(c, release, PAIRED_ROUNDS);
      bases.push(...rounds.map((r) => r.base));
      const mid = rounds[PAIRED_ROUNDS >> 1]!.run;
      out[`${c.name}.${release}.throughput_ratio`] = rounds[PAIRED_ROUNDS >> 1]!.ratio;
      out[`${c.name}.${release}.throughput_ratio_min`] = rounds[0]!.ratio;
      out[`${c.name}.${release}.throughput_ratio_max`] = rounds[PAIRED_ROUNDS - 1]!.ratio;
      out[`${c.name}.${release}.log_bytes_per_s`] = mid.sentBytes / (mid.guestMs / 1000);
      out[`${c.name}.${release}.log_bytes_per_host_call`] = mid.sentBytes / Math.max(1, mid.calls);
      out[`${c.name}.${release}.output_hold_p99_ms`] = percentile(rounds.flatMap((r) => r.run.held), 99);
    }
    out[`${c.name}.unprotected_ms`] = median(bases);
    if (c.name === 'hostcalls') out['hostcalls.guest_ns_per_host_call'] = (median(bases) * 1e6) / HOSTCALLS_CALLS(4_000_000);
  }
  // The throughput ratio against how much the guest computes between two host calls: hostcalls with WORK
  // arithmetic steps between its calls, each point about 0.4 s unprotected. The pair's cost is per host call
  // (an entry recorded, sent, replayed and acked), so its weight falls as the guest's own time per call grows.
  const sweepPoints: Array<[number, number]> = [[out['hostcalls.guest_ns_per_host_call']!, out['hostcalls.ack.throughput_ratio']!]];
  for (const [n, work] of PAIR_SWEEP) {
    const c: Case = { name: `hostcalls-work-${work}`, path: guest('c/hostcalls.wasm'), args: [String(n), String(work)] };
    const rounds = await pairedRounds(c, 'ack', SWEEP_ROUNDS);
    const mid = rounds[SWEEP_ROUNDS >> 1]!;
    const nsPerCall = (median(rounds.map((r) => r.base)) * 1e6) / HOSTCALLS_CALLS(n);
    out[`sweep.work_${work}.guest_ns_per_host_call`] = nsPerCall;
    out[`sweep.work_${work}.ack.throughput_ratio`] = mid.ratio;
    out[`sweep.work_${work}.ack.throughput_ratio_min`] = rounds[0]!.ratio;
    out[`sweep.work_${work}.ack.throughput_ratio_max`] = rounds[SWEEP_ROUNDS - 1]!.ratio;
    sweepPoints.push([nsPerCall, mid.ratio]);
  }
  writeBenchFile('pair-throughput.csv', toCsv(['guest_ns_per_host_call', 'ack_throughput_ratio'], sweepPoints));
  writeBenchFile('pair-throughput.svg', lineChart([{ name: 'protected / unprotected (ack)', points: sweepPoints }], {
    title: 'Protected pair throughput against host-call density (guests/c/hostcalls, loopback, one host)',
    xLabel: 'guest time per host call, unprotected (ns)',
    yLabel: 'throughput, protected / unprotected',
    logX: true,
    hLines: [{ y: 0.9, label: 'target 0.90' }, { y: 1, label: 'no cost' }],
  }));
  // Hold time on an output-heavy guest (a line every 2 ms), where it is what clients feel. The headline
  // figures are a fresh pair's first 600 outputs (both processes still warming up their JIT); the steady
  // figures are outputs 1000 to 1999 of the same run, after the warm-up.
  const holdRows: Array<[string, string, number, number]> = [];
  const holdSeries: Series[] = [];
  for (const release of ['ack', 'compare'] as const) {
    const r = await protectedRun({ name: 'ticker', path: guest('c/ticker.wasm'), args: ['2000', '2'] }, release);
    allHeld[release].push(...r.held.slice(0, 600));
    const steady = r.held.slice(1000);
    r.held.forEach((ms, i) => holdRows.push([release, i < 600 ? 'first_600' : i >= 1000 ? 'steady' : 'between', i, ms]));
    holdSeries.push({ name: `${release}, first 600`, points: cdf(r.held.slice(0, 600)) }, { name: `${release}, steady`, points: cdf(steady) });
    out[`output_hold.${release}.p50_ms`] = percentile(allHeld[release], 50);
    out[`output_hold.${release}.p99_ms`] = percentile(allHeld[release], 99);
    out[`output_hold.${release}.samples`] = allHeld[release].length;
    out[`output_hold.${release}.steady_p50_ms`] = percentile(steady, 50);
    out[`output_hold.${release}.steady_p99_ms`] = percentile(steady, 99);
    out[`output_hold.${release}.steady_samples`] = steady.length;
  }
  // Every hold sample (output index order), and their distributions against the 2 ms target.
  writeBenchFile('output-hold.csv', toCsv(['release_rule', 'phase', 'output_index', 'hold_ms'], holdRows));
  writeBenchFile('output-hold-cdf.svg', lineChart(holdSeries, {
    title: 'Output hold time on loopback (ticker, a line every 2 ms)',
    xLabel: 'hold time (ms, gate entry to release)',
    yLabel: 'fraction of outputs',
    logX: true,
    vLines: [{ x: 2, label: 'p99 target 2 ms' }],
    hLines: [{ y: 0.99, label: 'p99' }],
  }));
  // Re-protect of a guest holding 64 MiB: join (pre-copy while running) and the final stun. The guest holds its
  // memory for 6 s: the secondary joins 1.5 s in, and the join must end before the guest does.
  const big = await protectedRun({ name: 'memhog', path: guest('c/memhog.wasm'), args: ['64', '6000'] }, 'ack', [], 2000, 1500);
  const stunDelta = big.stun.find((s) => s.kind === 'delta');
  out['reprotect.memory_mib'] = big.memoryMiB;
  out['reprotect.join_ms'] = big.joinMs;
  out['reprotect.join_ms_per_mib'] = big.joinMs / Math.max(1, big.memoryMiB);
  out['reprotect.to_final_stun_ms'] = big.precopyMs;
  // 1 when the join went through at the first attempt (a dropped secondary starts it over).
  out['reprotect.full_transfers'] = big.stun.filter((s) => s.kind === 'full').length;
  out['reprotect.full_transfer_bytes'] = big.stun.find((s) => s.kind === 'full')?.sentBytes ?? NaN;
  // The longest the guest stood still for the pre-copy (taken in steps while it runs), next to the final stun.
  out['reprotect.precopy_longest_pause_ms'] = big.stun.find((s) => s.kind === 'full')?.stunMs ?? NaN;
  out['reprotect.stun_ms'] = stunDelta?.stunMs ?? NaN;
  out['reprotect.stun_ms_per_mib'] = (stunDelta?.stunMs ?? NaN) / Math.max(1, big.memoryMiB);
  // Resync: an injected memory divergence, then a diff against the secondary's page hashes.
  const rs = await protectedRun({ name: 'ticker', path: guest('c/ticker.wasm'), args: ['200', '1'] }, 'compare', ['--inject', 'memory@100'], 32);
  const diff = rs.stun.find((s) => s.kind === 'diff');
  out['resync.bytes'] = diff?.sentBytes ?? NaN;
  out['resync.full_snapshot_bytes'] = diff?.fullBytes ?? NaN;
  out['resync.bytes_vs_full_ratio'] = diff ? diff.sentBytes / diff.fullBytes : NaN;
  out['resync.stun_ms'] = diff?.stunMs ?? NaN;
  for (const [sig, name] of [['SIGKILL', 'failover'], ['SIGTERM', 'switchover']] as const) {
    const trials: Array<{ ms: number; repeats: number }> = [];
    for (let i = 0; i < 3; i++) trials.push(await takeOverMs(sig));
    out[`${name}.ms_median`] = median(trials.map((t) => t.ms));
    out[`${name}.ms_max`] = Math.max(...trials.map((t) => t.ms));
    out[`${name}.repeated_lines_max`] = Math.max(...trials.map((t) => t.repeats));
  }
  delete process.env.TWINSTEP_CACHE;
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchPair();
  for (const [k, v] of Object.entries(r)) process.stdout.write(`${k.padEnd(44)} ${v}\n`);
}

