/**
 * Record/replay benchmark (`npm run bench -- record-replay`), in ONE process and ONE run, medians over
 * interleaved rounds so the three variants see the same machine load:
 *   - run    : the guest live, outputs discarded (what `twinstep run` does, minus the terminal);
 *   - record : the same, with the Recorder writing a real trace file through the CLI's TraceWriter sink
 *              (default digest intervals and budget, default fsync policy), as `twinstep record` does, into a
 *              new file each round;
 *   - replay : that trace read back and replayed by the Replayer on a machine with no devices and an input lane,
 *              as `twinstep replay` does with it (decoded in the replaying thread: the trace is under the size
 *              for which the CLI starts a decoder thread); next to it, the same without the lane, and the same
 *              decoded on a warm decoder thread.
 * Figures: record/run ratio (target <= 1.15), replay/record ratio (target <= 0.67, i.e. replay >= 1.5x faster),
 * trace bytes per host call by entry kind (writer stats), and log entries encoded+decoded per second over the
 * recorded entries themselves (the real mix of this guest), next to benchLog's synthetic workloads.
 *
 * Guest: guests/build/c/hostcalls.wasm, the host-call-heavy one (a clock read per iteration, a random_get
 * every 64th, a write every 1000th: a host call every ~100 ns of run). BENCH_RR_CALLS and BENCH_ROUNDS change
 * its size and the rounds. A sweep then runs it with arithmetic between the calls (its WORK argument) and
 * reports record/run at each call density (sweep.work_W.*), since the overhead is a cost per host call.
 *
 * Run length: 2 million calls (about 0.2 s of run) and sweep points of about 0.2-0.4 s. A recording also has
 * costs that do not grow with it (creating the file, the header's boot snapshot and disk digest, the encoder's
 * last chunk, the End frame, the final fsync and close): about 2-5 ms on the bench host, which is a quarter of
 * a 20 ms run (the size this benchmark used before) but a rounding error for a CI job that records for
 * seconds. They are measured on their own (record.fixed_ms: a recording of a guest that makes almost no host
 * calls, minus its run) and reported next to the ratios instead of hiding inside them.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModule, type LoadedModule } from '../../engine/wasi/loader.ts';
import { spawnSync } from 'node:child_process';
import { DECODER_BOOT, startHelperThread } from '../../engine/log/helper-threads.ts';
import { SessionThread } from '../../engine/log/session-thread.ts';
import { OFFLOAD_COLD_MIN_BYTES } from '../../engine/log/trace-read-offload.ts';
import { WasiMachine } from '../../engine/wasi/machine.ts';
import { liveDevices } from '../../engine/wasi/devices.ts';
import type { Devices } from '../../engine/wasi/context.ts';
import type { HostCallHandler } from '../../engine/machine/machine.ts';
import { EntryKind, type LogEntry } from '../../engine/log/entry.ts';
import { decodeEntryBatch, encodeEntryBatch } from '../../engine/log/entry-codec.ts';
import { BATCH_ENTRIES_DEFAULT, TraceWriter } from '../../engine/log/trace-writer.ts';
import { OffloadingTraceWriter } from '../../engine/log/trace-offload.ts';
import { TraceReader } from '../../engine/log/trace-reader.ts';
import { Recorder } from '../../engine/node/recorder.ts';
import { Replayer } from '../../replay/replayer.ts';
import { TraceSource } from '../../replay/trace-source.ts';
import { DIGEST_BUDGET_DEFAULT, DIGEST_EVERY_CALLS_DEFAULT, DIGEST_EVERY_MS_DEFAULT, traceEntrySink, traceHeaderOf } from '../cli/record.ts';
import { interleaved, interleavedRounds, median, medians, nowMs, pairedRatioQuartiles } from './timing.ts';
import { lineChart, toCsv, writeBenchFile } from './plot.ts';
import { replayDevices } from '../../replay/devices.ts';
import { coarseClockCell, coarseNowMs } from '../../engine/node/coarse-clock.ts';
import { v8FlagsFor } from '../v8-flags.mjs';

const root = new URL('../../', import.meta.url).pathname;
const GUEST = join(root, 'guests/build/c/hostcalls.wasm');

const discard: HostCallHandler = { input: (c) => c.live(), output: () => {} };

const noDevices: Devices = replayDevices;

function config(args: readonly string[]) {
  return { args: ['hostcalls.wasm', ...args], env: [], preopens: [], bootTimeNs: 1_700_000_000_000_000_000n };
}

export function runOnce(module: LoadedModule, args: readonly string[]): void {
  const m = WasiMachine.create(module, { config: config(args), devices: liveDevices() });
  const r = m.run(discard);
  if (r.status !== 'exited' || r.code !== 0) throw new Error(`run ended with ${JSON.stringify(r)}`);
}

interface Recorded {
  readonly calls: number;
  readonly entries: number;
  readonly stats: TraceWriter['stats'];
  readonly offloaded: boolean;
}

/**
 * Records once. `to`: a trace file (what `twinstep record` does), 'encode' (the TraceWriter encoding into a
 * sink that drops the bytes: no file I/O), or 'entries' (the Recorder only, entries dropped: no encoding).
 */
export function recordOnce(module: LoadedModule, args: readonly string[], to: string | 'encode' | 'entries', inThread = false): Recorded {
  const machine = WasiMachine.create(module, { config: config(args), devices: liveDevices() });
  const header = traceHeaderOf(machine, module, {
    vmId: 'bench',
    modulePath: GUEST,
    unwind: 'all',
    digestIntervalCalls: DIGEST_EVERY_CALLS_DEFAULT,
    digestIntervalMs: DIGEST_EVERY_MS_DEFAULT,
    fromSnapshot: false,
  });
  const writer = to === 'encode' || to === 'entries' ? new TraceWriter({ write: () => {} }, header) : OffloadingTraceWriter.create(to, header, inThread ? { offloadAfterEntries: Infinity } : {});
  let dropped = 0;
  const recorder = new Recorder({
    machine,
    sink: to === 'entries' ? { add: () => void dropped++, addRun: (_k, _f, _c, _ch, _r, _w, _wd, n) => void (dropped += n), get bytes() { return 0; } } : traceEntrySink(writer),
    emit: () => {},
    digestEveryCalls: DIGEST_EVERY_CALLS_DEFAULT,
    digestEveryMs: DIGEST_EVERY_MS_DEFAULT,
    digestBudget: DIGEST_BUDGET_DEFAULT,
    nowMs: coarseNowMs,
    nowCell: coarseClockCell(),
  });
  const r = machine.run(recorder);
  recorder.finish(r, machine);
  const offloaded = writer instanceof OffloadingTraceWriter && writer.offloaded;
  writer.close();
  if (r.status !== 'exited' || r.code !== 0) throw new Error(`record ended with ${JSON.stringify(r)}`);
  return { calls: machine.callIndex, entries: recorder.entries, stats: writer.stats, offloaded };
}

/**
 * Replays the trace once. `decodeThread`: decode on the (running, warm) decoder thread. Without it the replaying
 * thread decodes itself, which is what `twinstep replay` does with a trace under OFFLOAD_COLD_MIN_BYTES in a
 * process that has no decoder thread running (a single trace of this guest: 23 MB).
 */
export function replayOnce(module: LoadedModule, args: readonly string[], path: string, inputLane = true, decodeThread = false): number {
  const reader = TraceReader.open(path, { decodeThread });
  try {
    const h = reader.header;
    const machine = WasiMachine.create(module, {
      config: { args: h.args, env: h.env, preopens: h.preopens, clockResolutionNs: h.machine.clockResolutionNs, bootTimeNs: h.machine.bootTimeNs },
      devices: noDevices,
      inputLane,
    });
    const replayer = new Replayer({ machine, source: new TraceSource(reader) });
    const outcome = replayer.finish(machine.run(replayer));
    if (outcome.status !== 'identical') throw new Error(`replay of the benchmark trace: ${outcome.status}${outcome.status === 'diverged' ? `: ${outcome.divergences[0].message}` : ''} (args ${args.join(' ')})`);
    return outcome.entries;
  } finally {
    reader.close();
  }
}

/** Batch encode + decode of the recorded entries (batches of a trace's default size, hash chain included), entries per second. */
function codecRate(entries: readonly LogEntry[], budgetMs = 400): number {
  const batches: LogEntry[][] = [];
  for (let i = 0; i < entries.length; i += BATCH_ENTRIES_DEFAULT) batches.push(entries.slice(i, i + BATCH_ENTRIES_DEFAULT));
  for (let w = 0; w < 3; w++) for (const b of batches) decodeEntryBatch(encodeEntryBatch(b).bytes);
  let n = 0;
  const t0 = nowMs();
  while (nowMs() - t0 < budgetMs) {
    for (const b of batches) {
      decodeEntryBatch(encodeEntryBatch(b).bytes);
      n += b.length;
    }
  }
  return n / ((nowMs() - t0) / 1000);
}

/**
 * The commands as a user runs them: `twinstep run`, `record` and `replay` of the same guest, each a fresh process
 * (cold: nothing loaded, no JIT tiering, no helper thread up), interleaved, medians of 3 rounds after 1 uncounted.
 * Wall times, and the ratios with the start-up of a command taken out (`twinstep --version`: Node and the bundled
 * CLI, which the warm-up round makes if need be; the instrumented module comes from the cache that round fills).
 */
async function benchCli(dir: string, calls: number): Promise<Record<string, number>> {
  const cliPath = join(root, 'scripts/twinstep.mjs');
  const trace = join(dir, 'cli.twt');
  const cache = join(dir, 'cli-cache');
  const wall = (args: string[]): number => {
    const t0 = nowMs();
    const r = spawnSync(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TWINSTEP_CACHE: cache } });
    if (r.status !== 0) throw new Error(`twinstep ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
    return nowMs() - t0;
  };
  const t = medians(
    await interleavedRounds(3, {
      startup: () => wall(['--version']),
      run: () => wall(['run', GUEST, String(calls)]),
      record: () => wall(['record', '-o', trace, GUEST, String(calls)]),
      replay: () => wall(['replay', trace]),
    }, 1),
  );
  return {
    'cli.startup_ms': t.startup,
    'cli.run_ms': t.run,
    'cli.record_ms': t.record,
    'cli.replay_ms': t.replay,
    'cli.record_vs_run_ratio': (t.record - t.startup) / (t.run - t.startup),
    'cli.replay_vs_record_ratio': (t.replay - t.startup) / (t.record - t.startup),
  };
}

/** The work sweep: [iterations, WORK steps between calls], each point about 0.2-0.4 s of run. */
const SWEEP: ReadonlyArray<readonly [number, number]> = [
  [1_000_000, 100],
  [500_000, 300],
  [200_000, 1000],
];

/** What the headline process measures (see headlineProcess), as it hands it back. */
interface Headline {
  readonly times: Record<'run' | 'record' | 'replay', number[]>;
  readonly cpu: Record<'run' | 'record' | 'replay', number[]>;
  readonly calls: number;
  readonly entries: number;
  readonly stats: TraceWriter['stats'];
  readonly offloaded: boolean;
  readonly fixed: { run: number; record: number };
  readonly sweep: Record<string, number>;
}

/**
 * The guest loaded, a scratch directory (the caller removes it), and a warm-up of one run, record and replay, so
 * no variant pays for first-run JIT tiering; the trace it leaves is the one every replay round reads (each record
 * round writes its own file).
 */
async function warmedUp(calls: number) {
  const args = [String(calls)];
  const module = await loadModule(readFileSync(GUEST), 'all');
  const dir = mkdtempSync(join(tmpdir(), 'twinstep-bench-rr-'));
  const trace = join(dir, 'bench.twt');
  try {
    runOnce(module, args);
    const rec = recordOnce(module, args, trace);
    replayOnce(module, args, trace);
    return { args, module, dir, trace, rec };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/**
 * The headline figures, measured in a process of their own that runs, records and replays and does nothing
 * else, as the `twinstep run`, `record` and `replay` processes do. In a process that also records with other
 * sinks (the diagnostic variants below: in-thread, entries only, encode only) and replays on a decoder thread,
 * the recorder's and the machine's per-call code sees several kinds of sink and handler, and V8 compiles it for
 * all of them: record vs run measured 1.77 that way against 1.51-1.60 in a process that only records.
 */
async function headlineProcess(calls: number, rounds: number, warmup: number): Promise<Headline> {
  const w = await warmedUp(calls);
  const { args, module, dir, trace } = w;
  let rec = w.rec;
  try {
    if (statSync(trace).size >= OFFLOAD_COLD_MIN_BYTES) throw new Error('the bench trace is large enough for the CLI to start the decoder thread: replay would not be what the CLI does');
    let k = 0;
    const replayEntries: number[] = [];
    // CPU time of the whole process (every thread: the encoder thread too) per round.
    const cpu: Record<'run' | 'record' | 'replay', number[]> = { run: [], record: [], replay: [] };
    const cpuOf = (what: keyof typeof cpu, f: () => void) => (): void => {
      const c0 = process.cpuUsage();
      f();
      const c = process.cpuUsage(c0);
      cpu[what].push((c.user + c.system) / 1000);
    };
    const times = await interleavedRounds(rounds, {
      run: cpuOf('run', () => runOnce(module, args)),
      // Each round records into a new file, as a CI job does (overwriting a 6 MB trace would add its truncation).
      record: cpuOf('record', () => {
        rec = recordOnce(module, args, join(dir, `round-${k++}.twt`));
      }),
      replay: cpuOf('replay', () => void replayEntries.push(replayOnce(module, args, trace))),
    }, warmup);
    if (replayEntries.some((n) => n !== replayEntries[0])) throw new Error('replays consumed different entry counts');

    // What a recording costs whatever its length: the same guest with 10 iterations (a few dozen host calls),
    // recorded and run, interleaved; the difference is the file, the header, the close and the final fsync.
    const tiny = ['10'];
    let f = 0;
    const fixed = await interleaved(rounds * 2, { run: () => runOnce(module, tiny), record: () => void recordOnce(module, tiny, join(dir, `fixed-${f++}.twt`)) }, 3);

    // The same guest with WORK arithmetic steps between two host calls: what the recording costs against a
    // guest that computes between its calls (the overhead per call is about constant; its weight is not).
    const sweep: Record<string, number> = {};
    for (const [n, work] of SWEEP) {
      const a = [String(n), String(work)];
      let r = 0;
      const s = await interleaved(rounds, { run: () => runOnce(module, a), record: () => void recordOnce(module, a, join(dir, `sweep-${work}-${r++}.twt`)) }, 1);
      // Host calls: the clock reads, a random_get every 64th and a write every 1000th.
      const calls = n + Math.ceil(n / 64) + Math.ceil(n / 1000);
      sweep[`sweep.work_${work}.guest_ns_per_host_call`] = (s.run * 1e6) / calls;
      sweep[`sweep.work_${work}.record_vs_run_ratio`] = s.record / s.run;
    }
    return { times: times as Headline['times'], cpu, calls: rec.calls, entries: rec.entries, stats: rec.stats, offloaded: rec.offloaded, fixed: { run: fixed.run!, record: fixed.record! }, sweep };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs headlineProcess in a child process (this module, with the record command's V8 flags); its result. */
function headlineChild(calls: number, rounds: number, warmup: number): Headline {
  const r = spawnSync(process.execPath, [...v8FlagsFor('record'), '--import', 'tsx', new URL(import.meta.url).pathname], {
    env: { ...process.env, TWINSTEP_BENCH_RR_HEADLINE: JSON.stringify({ calls, rounds, warmup }) },
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`the record-replay headline process failed (exit ${r.status}, signal ${r.signal})`);
  const lines = r.stdout.toString().trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Headline;
}

export async function benchRecordReplay(): Promise<Record<string, number>> {
  const calls = Number(process.env.BENCH_RR_CALLS ?? 2_000_000);
  // 11 rounds after 3 uncounted ones: on the 2-vCPU bench host one round of a variant varies by up to 1.5x
  // (the first replays run at twice the steady time while the JIT tiers the replay path up).
  const rounds = Number(process.env.BENCH_ROUNDS ?? 11);
  const warmup = 3;
  const h = headlineChild(calls, rounds, warmup);
  // The diagnostic variants, in this process: each against the run and the record of the same rounds here.
  const { args, module, dir, trace } = await warmedUp(calls);
  try {
    // The decoder thread, up and warm for the rounds that use it (replayThread).
    startHelperThread('decoder');
    for (let i = 0; i < 500 && !SessionThread.readyNow(DECODER_BOOT); i++) await new Promise((r) => setTimeout(r, 10));
    if (!SessionThread.readyNow(DECODER_BOOT)) throw new Error('the decoder thread did not come up in 5 s');
    replayOnce(module, args, trace, true, true);
    let k = 0;
    const d = medians(await interleavedRounds(rounds, {
      run: () => runOnce(module, args),
      record: () => void recordOnce(module, args, join(dir, `round-${k++}.twt`)),
      replay: () => replayOnce(module, args, trace),
      replayNoLane: () => void replayOnce(module, args, trace, false),
      replayThread: () => void replayOnce(module, args, trace, true, true),
      recordInThread: () => void recordOnce(module, args, join(dir, `in-thread-${k++}.twt`), true),
      recordEntriesOnly: () => recordOnce(module, args, 'entries'),
      recordEncodeOnly: () => recordOnce(module, args, 'encode'),
    }, warmup));
    const t = medians(h.times);
    // How far single rounds spread (each round's pair back to back): the headline ratios are medians of medians.
    const recordSpread = pairedRatioQuartiles(h.times.record, h.times.run);
    const replaySpread = pairedRatioQuartiles(h.times.replay, h.times.record);

    // Entries of the recorded trace (its first 200k: as objects they take ~100 bytes each), for the codec rate
    // over the real mix.
    const reader = TraceReader.open(trace);
    const entries: LogEntry[] = [];
    for (const e of reader) {
      entries.push(e);
      if (entries.length === 200_000) break;
    }
    reader.close();

    const cli = await benchCli(dir, calls);
    const sweep = h.sweep;

    // The overhead against call density: the main run (no work between calls) and the sweep's points.
    const density: Array<[number, number]> = [[(t.run * 1e6) / h.calls, t.record / t.run]];
    for (const [, work] of SWEEP) density.push([sweep[`sweep.work_${work}.guest_ns_per_host_call`]!, sweep[`sweep.work_${work}.record_vs_run_ratio`]!]);
    writeBenchFile('record-overhead.csv', toCsv(['guest_ns_per_host_call', 'record_vs_run_ratio'], density));
    writeBenchFile('record-overhead.svg', lineChart([{ name: 'record / run', points: density }], {
      title: 'Recording overhead against host-call density (guests/c/hostcalls)',
      xLabel: 'guest time per host call when run (ns)',
      yLabel: 'record time / run time',
      logX: true,
      hLines: [{ y: 1.15, label: 'target 1.15' }, { y: 1, label: 'no overhead' }],
    }));

    const s = h.stats;
    const perCall = (kind: EntryKind) => s.bytes[kind] / h.calls;
    const cpuNs = (what: keyof Headline['cpu']) => (median(h.cpu[what].slice(warmup)) * 1e6) / h.calls;
    const cpus = availableParallelism();
    return {
      'hostcalls.host_calls': h.calls,
      'hostcalls.entries': h.entries,
      'hostcalls.run_ms': t.run,
      'hostcalls.record_ms': t.record,
      'hostcalls.replay_ms': t.replay,
      'record_vs_run_ratio': t.record / t.run,
      // Per-recording costs (see the module comment), and the ratio with them taken out.
      'record.fixed_ms': h.fixed.record - h.fixed.run,
      'record_vs_run_ratio_without_fixed': (t.record - (h.fixed.record - h.fixed.run)) / t.run,
      'record_vs_run_ratio_rounds_p25': recordSpread.p25,
      'record_vs_run_ratio_rounds_p75': recordSpread.p75,
      'record.encoded_on_encoder_thread': h.offloaded ? 1 : 0,
      'replay_vs_record_ratio': t.replay / t.record,
      'replay_vs_record_ratio_rounds_p25': replaySpread.p25,
      'replay_vs_record_ratio_rounds_p75': replaySpread.p75,
      'replay_speedup_vs_record': t.record / t.replay,
      'record.ns_per_host_call_overhead': ((t.record - t.run) * 1e6) / h.calls,
      'replay.ns_per_entry_over_run': ((t.replay - t.run) * 1e6) / h.entries,
      // The diagnostic variants, measured in one process that makes them all (so its own record and replay run
      // slower than the headline's; each variant is given against those of the same process):
      // record vs run there; the recording with every entry encoded in the recording thread (no encoder thread);
      // the Recorder alone (entries handed to a sink that drops them); + encoding in the recording thread
      // (TraceWriter into a null sink); the replay with every clock and random result fed through the replayer in
      // JavaScript (--input-lane off); and the replay decoded on the warm decoder thread (the later traces of a
      // replay of several, or a trace of OFFLOAD_COLD_MIN_BYTES and more once the thread is warm).
      'mixed_process.record_vs_run_ratio': d.record / d.run,
      'mixed_process.replay_vs_record_ratio': d.replay / d.record,
      'record_in_thread_vs_run_ratio': d.recordInThread / d.run,
      'record_entries_only_vs_run_ratio': d.recordEntriesOnly / d.run,
      'record_encode_no_file_vs_run_ratio': d.recordEncodeOnly / d.run,
      'replay_no_lane_vs_record_ratio': d.replayNoLane / d.record,
      'replay_decoder_thread_vs_record_ratio': d.replayThread / d.record,
      'trace.bytes_total': s.bytesTotal,
      'trace.bytes_per_host_call': s.bytesTotal / h.calls,
      'trace.input_bytes_per_host_call': perCall(EntryKind.Input),
      'trace.output_bytes_per_host_call': perCall(EntryKind.Output),
      'trace.digest_bytes_per_host_call': perCall(EntryKind.Digest),
      'trace.input_bytes_per_entry': s.bytes[EntryKind.Input] / s.entries[EntryKind.Input],
      'trace.output_bytes_per_entry': s.bytes[EntryKind.Output] / s.entries[EntryKind.Output],
      'trace.digest_bytes_per_entry': s.bytes[EntryKind.Digest] / s.entries[EntryKind.Digest],
      'trace.entries_input': s.entries[EntryKind.Input],
      'trace.entries_output': s.entries[EntryKind.Output],
      'trace.entries_digest': s.entries[EntryKind.Digest],
      'codec.hostcalls_mix.entries_encoded_decoded_per_s': Math.round(median([codecRate(entries), codecRate(entries), codecRate(entries)])),
      'replay.entries_per_s': h.entries / (t.replay / 1000),
      // CPU per host call, all threads of the process (median round): what each side of a pair spends per call
      // of this guest. A primary records, a secondary replays; on ONE host with `cpus` CPUs (the bench pair)
      // they share them, so the protected guest's throughput against the unprotected one cannot exceed
      // run CPU / ((record CPU + replay CPU) / cpus), even with a channel that cost nothing (capped at 1).
      'run.cpu_ns_per_host_call': cpuNs('run'),
      'record.cpu_ns_per_host_call': cpuNs('record'),
      'replay.cpu_ns_per_host_call': cpuNs('replay'),
      'hostcalls.pair_throughput_ceiling_on_this_host': Math.min(1, cpuNs('run') / ((cpuNs('record') + cpuNs('replay')) / cpus)),
      ...cli,
      ...sweep,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// The headline process (headlineChild): measures, prints its result as one JSON line, and exits.
const headlineJob = process.env.TWINSTEP_BENCH_RR_HEADLINE;
if (headlineJob !== undefined && import.meta.url === `file://${process.argv[1]}`) {
  const { calls, rounds, warmup } = JSON.parse(headlineJob) as { calls: number; rounds: number; warmup: number };
  process.stdout.write(`${JSON.stringify(await headlineProcess(calls, rounds, warmup))}\n`);
} else if (import.meta.url === `file://${process.argv[1]}`) {
  // `tsx scripts/bench/record-replay.ts` runs this section alone.
  const r = await benchRecordReplay();
  for (const [key, v] of Object.entries(r)) process.stdout.write(`  ${key.padEnd(52)} ${Number.isInteger(v) ? v : v.toPrecision(4)}\n`);
}
