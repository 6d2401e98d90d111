/**
 * `twinstep replay`: re-executes a guest against one or more traces and reports the first (or every) divergence.
 * Exit 0: identical. Exit 1: diverged (any trace). Exit 2: bad usage, or an unreadable or damaged trace (and none
 * diverged).
 */
import { existsSync, statSync } from 'node:fs';
import { loadModule, parseUnwindMode, unwindModeString, type LoadedModule } from '../../engine/wasi/loader.ts';
import { readModuleFile } from '../../engine/wasi/boot.ts';
import { WasiMachine } from '../../engine/wasi/machine.ts';
import { decodeMachineState } from '../../engine/wasi/snapshot.ts';
import { TraceReader } from '../../engine/log/trace-reader.ts';
import { LogFormatError } from '../../engine/log/errors.ts';
import { MachineError } from '../../engine/machine/errors.ts';
import type { HostCallHandler, HostCallInfo } from '../../engine/machine/machine.ts';
import { Replayer, type DigestMode, type ReplayOutcome } from '../../replay/replayer.ts';
import { StreamReplayer } from '../../replay/stream-replayer.ts';
import type { Preopen } from '../../engine/wasi/context.ts';
import { replayDevices } from '../../replay/devices.ts';
import { TraceSource } from '../../replay/trace-source.ts';
import { parseFault } from '../../replay/fault.ts';
import { totalsLine, type ReplayReport, type TraceResult } from '../../replay/report/model.ts';
import { textReport, textReports, unusableText } from '../../replay/report/text.ts';
import { KEEP_GOING_DIVERGENCES_MAX, divergenceWhere } from '../../replay/divergence.ts';
import { jsonReport, jsonReports } from '../../replay/report/json.ts';
import { junitReport, junitReports } from '../../replay/report/junit.ts';
import { CliError } from './cli-error.ts';
import { checkNotAnInput, checkOutputPath, writeOutputFile } from './output-path.ts';
import { intFlag, oneOf } from './flags.ts';
import { parseRunArgs, type CommandArgs } from './run-options.ts';
import { usageLine } from './help.ts';
import { Progress } from './progress.ts';
import { startHelperThread } from '../../engine/log/helper-threads.ts';
import { OFFLOAD_COLD_MIN_BYTES } from '../../engine/log/trace-read-offload.ts';
import { TimeLimitExceeded, runWithin } from '../../engine/node/time-limit.ts';

/** Replay's own exit codes (CI contract). */
export const REPLAY_EXIT = { identical: 0, diverged: 1, unusable: 2 } as const;

export const REPLAY_ARGS: CommandArgs = {
  flags: {
    '--guest': { takesValue: true, value: 'OTHER.wasm', help: 'replay this module instead of the one the trace names: differential replay of a new build against an old recording' },
    '--match': { takesValue: true, value: 'calls|stream', help: 'how the replay lines up with the recording: calls (default: the same host call at every logged index, digests included), or stream (inputs in recorded order, outputs as byte streams per channel, whatever calls they come in; no digests): for a new build that buffers or splits its writes differently' },
    '--digests': { takesValue: true, value: 'full|files|off', help: "what the trace's state digests are compared against: full (default: memory, globals, device state, files), files (file contents only, for a new build), off (calls and outputs only)" },
    '--format': { takesValue: true, value: 'text|json|junit', help: 'the report format (default text)' },
    '--report': { takesValue: true, value: 'FILE', help: 'write the report to FILE, and summary lines to stdout (one per trace, and the totals when there are several)' },
    '--until-divergence': { takesValue: false, help: 'stop at the first divergence (the default)' },
    '--keep-going': { takesValue: false, help: 'continue after a divergence where the call sequence still lines up, and report every one (up to --max-divergences)' },
    '--max-divergences': { takesValue: true, value: 'N', help: `with --keep-going: stop at the Nth divergence (default ${KEEP_GOING_DIVERGENCES_MAX}); the report says when it did` },
    '--input-lane': { takesValue: true, value: 'on|off', help: 'feed recorded clock and random results inside WebAssembly, without a call into the replayer for each (default on; off: every call goes through the replayer, as a comparison when a replay looks wrong)' },
    '--timeout': { takesValue: true, value: 'MS', help: 'stop a replay still running after MS milliseconds (each trace; default 0: no limit) and report it as a timeout divergence (exit 1) where the run stood: a new build that hangs, even in a loop without host calls, fails the job with a report instead of holding it' },
    '--fault': { takesValue: true, value: 'input@SEQ|output@SEQ|memory@CALL[:ADDR]', help: 'test hook: perturb one input, one output or one memory byte, to see a divergence reported' },
  },
  shared: ['--dir'],
  sharedHelp: { '--dir': 'where the recorded preopens are on this machine: given once, it replaces the list the trace recorded (a note says when the files differ from the recorded disk image)' },
  operand: 'TRACE',
  rest: 'more',
};

export const REPLAY_USAGE = usageLine('replay', REPLAY_ARGS);

const hex = (v: bigint) => v.toString(16).padStart(16, '0');

interface ReplayOptions {
  readonly guest: string | undefined;
  readonly match: 'calls' | 'stream';
  readonly digests: DigestMode;
  readonly keepGoing: boolean;
  readonly fault: string | undefined;
  readonly preopens: readonly Preopen[];
  /** Whether the machine gets an input lane (on, and replay by calls). */
  readonly inputLane: boolean;
  /** --timeout: the longest a trace's run may take, in ms (0: no limit). */
  readonly timeoutMs: number;
  /** --max-divergences: where --keep-going stops. */
  readonly divergencesMax: number;
}

export async function replayCommand(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseRunArgs(argv, REPLAY_ARGS);
  } catch (e) {
    if (e instanceof CliError) throw new CliError(e.message, REPLAY_EXIT.unusable);
    throw e;
  }
  const { run, flags } = parsed;
  const traces = [run.module, ...run.args];
  const format = usage(() => oneOf(flags, '--format', ['text', 'json', 'junit'] as const, 'text'));
  const match = usage(() => oneOf(flags, '--match', ['calls', 'stream'] as const, 'calls'));
  if (match === 'stream' && flags.has('--digests')) throw new CliError('--digests does not apply to --match stream (it compares no state digests)', REPLAY_EXIT.unusable);
  if (match === 'stream' && flags.has('--fault')) throw new CliError('--fault works with --match calls only', REPLAY_EXIT.unusable);
  const digests = match === 'stream' ? 'off' : usage(() => oneOf(flags, '--digests', ['full', 'files', 'off'] as const, 'full'));
  const keepGoing = flags.has('--keep-going');
  if (keepGoing && flags.has('--until-divergence')) throw new CliError('--keep-going and --until-divergence exclude each other', REPLAY_EXIT.unusable);
  const fault = flags.get('--fault')?.at(-1);
  if (fault) usage(() => parseFault(fault));
  const reportFile = flags.get('--report')?.at(-1);
  if (reportFile !== undefined) {
    checkOutputPath(reportFile, '--report', REPLAY_EXIT.unusable);
    checkNotAnInput(reportFile, '--report', [...traces, flags.get('--guest')?.at(-1)], REPLAY_EXIT.unusable);
  }
  // Only the replayer by calls offers the lane anything: a machine replayed by streams goes without.
  const inputLane = usage(() => oneOf(flags, '--input-lane', ['on', 'off'] as const, 'on')) === 'on' && match === 'calls';
  const timeoutMs = usage(() => intFlag(flags, '--timeout', 0));
  const divergencesMax = usage(() => intFlag(flags, '--max-divergences', KEEP_GOING_DIVERGENCES_MAX));
  if (flags.has('--max-divergences') && !keepGoing) throw new CliError('--max-divergences applies to --keep-going (without it the replay stops at the first divergence)', REPLAY_EXIT.unusable);
  if (divergencesMax < 1) throw new CliError('--max-divergences expects at least 1', REPLAY_EXIT.unusable);
  const o: ReplayOptions = { guest: flags.get('--guest')?.at(-1), match, digests, keepGoing, fault, preopens: run.preopens, inputLane, timeoutMs, divergencesMax };
  const modules = new Map<string, LoadedModule>();

  // Several traces that are long together: the decoder thread boots while the first is replayed, and decodes the
  // later ones (a single trace starts it itself when it is long enough: trace-read-offload.ts).
  if (traces.length > 1) {
    let total = 0;
    for (const t of traces) {
      try {
        total += statSync(t).size;
      } catch {
        // reported with that trace
      }
    }
    if (total >= OFFLOAD_COLD_MIN_BYTES) startHelperThread('decoder');
  }
  if (traces.length === 1) {
    // One trace: an unusable one is the command's error (one line on stderr, exit 2). A report asked for is still
    // written, saying so: a CI step that publishes it must not find an earlier run's report, or none.
    let replayed;
    try {
      replayed = await replayTrace(traces[0]!, o, modules, 'replaying');
    } catch (e) {
      if (!(e instanceof CliError) || e.exitCode !== REPLAY_EXIT.unusable || (!reportFile && format === 'text')) throw e;
      const r = { trace: traces[0]!, status: 'unusable', message: e.message } as const;
      const text = format === 'json' ? jsonReport(r) : format === 'junit' ? junitReport(r) : unusableText(r);
      if (reportFile) writeOutputFile(reportFile, text, '--report', REPLAY_EXIT.unusable);
      else process.stdout.write(text);
      throw e;
    }
    const { report, notes } = replayed;
    const text = format === 'json' ? jsonReport(report) : format === 'junit' ? junitReport(report) : textReport(report);
    if (reportFile) {
      // The guest module a trace names is an input too, known only now.
      checkNotAnInput(reportFile, '--report', [report.guest], REPLAY_EXIT.unusable);
      writeOutputFile(reportFile, text, '--report', REPLAY_EXIT.unusable);
      process.stdout.write(`twinstep replay: ${summaryLine(report)}\n`);
    } else {
      process.stdout.write(text);
    }
    for (const n of notes) process.stderr.write(`twinstep replay: note: ${n}\n`);
    if (report.status === 'incomplete') {
      process.stderr.write(`twinstep replay: ${report.traceTail}; the ${report.entries} entries before it replayed identically\n`);
    }
    return replayExit([report]);
  }

  // Several traces: each replayed in turn; one that cannot be replayed is reported as unusable, the others go on.
  const results: TraceResult[] = [];
  for (const [i, trace] of traces.entries()) {
    try {
      const { report, notes } = await replayTrace(trace, o, modules, `replaying ${i + 1}/${traces.length}`);
      results.push(report);
      for (const n of notes) process.stderr.write(`twinstep replay: ${trace}: note: ${n}\n`);
      if (report.status === 'incomplete') process.stderr.write(`twinstep replay: ${trace}: ${report.traceTail}; the ${report.entries} entries before it replayed identically\n`);
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      results.push({ trace, status: 'unusable', message: e.message });
      process.stderr.write(`twinstep replay: ${e.message.includes(trace) ? '' : `${trace}: `}${e.message}\n`);
    }
  }
  const text = format === 'json' ? jsonReports(results) : format === 'junit' ? junitReports(results) : textReports(results);
  if (reportFile) {
    checkNotAnInput(reportFile, '--report', results.map((r) => (r.status === 'unusable' ? undefined : r.guest)), REPLAY_EXIT.unusable);
    writeOutputFile(reportFile, text, '--report', REPLAY_EXIT.unusable);
    for (const r of results) process.stdout.write(`twinstep replay: ${r.trace}: ${r.status === 'unusable' ? `UNUSABLE (${r.message})` : summaryLine(r)}\n`);
    process.stdout.write(`twinstep replay: ${totalsLine(results)}\n`);
  } else {
    process.stdout.write(text);
  }
  return replayExit(results);
}

/** Exit 1 when any trace diverged (the build is the problem), else 2 when any is damaged or unusable, else 0. */
function replayExit(results: readonly TraceResult[]): number {
  if (results.some((r) => r.status === 'diverged')) return REPLAY_EXIT.diverged;
  if (results.some((r) => r.status === 'incomplete' || r.status === 'unusable')) return REPLAY_EXIT.unusable;
  return REPLAY_EXIT.identical;
}

/**
 * Replays one trace. A trace that cannot be replayed at all (unreadable, its module missing or not runnable, a
 * preopened directory missing) throws a CliError saying why; a damaged tail is a report with status incomplete.
 */
async function replayTrace(tracePath: string, o: ReplayOptions, modules: Map<string, LoadedModule>, label: string): Promise<{ report: ReplayReport; notes: string[] }> {
  if (!existsSync(tracePath)) throw new CliError(`cannot read trace '${tracePath}': no such file`, REPLAY_EXIT.unusable);
  let reader: TraceReader;
  try {
    reader = TraceReader.open(tracePath, { decodeThread: true });
  } catch (e) {
    throw new CliError(`cannot read trace '${tracePath}': ${(e as Error).message}`, REPLAY_EXIT.unusable);
  }
  const t0 = Date.now();
  try {
    const h = reader.header;
    const guestPath = o.guest ?? h.modulePath;
    if (!guestPath) throw new CliError('the trace does not name its guest module; pass --guest MODULE.wasm', REPLAY_EXIT.unusable);
    // A trace that starts from a snapshot resumes a paused guest, whose call stack is laid out by the
    // instrumentation it was recorded under: replay under the same unwind mode. From the start, any will do.
    const unwind = h.start.snapshot ? parseUnwindMode(h.machine.unwind || 'all') : 'all';
    const key = `${guestPath}\0${unwindModeString(unwind)}`;
    let module = modules.get(key);
    if (!module) {
      try {
        module = await loadModule(readModuleFile(guestPath), unwind);
      } catch (e) {
        if (e instanceof MachineError) throw new CliError(`${e.message}${o.guest ? '' : ' (the module the trace was recorded with; pass --guest to use another)'}`, REPLAY_EXIT.unusable);
        throw e;
      }
      modules.set(key, module);
    }
    const notes: string[] = [];
    let machine: WasiMachine;
    if (h.start.snapshot) {
      if (!reader.snapshot) throw new CliError('the trace header announces a start snapshot, but none follows', REPLAY_EXIT.unusable);
      if (module.hash !== h.moduleHash) {
        throw new CliError(`this trace starts from a snapshot of module ${hex(h.moduleHash)}; a different build (${hex(module.hash)}) cannot resume another build's memory`, REPLAY_EXIT.unusable);
      }
      machine = WasiMachine.restore(module, decodeMachineState(reader.snapshot).state, replayDevices, undefined, o.inputLane);
    } else {
      const preopens = o.preopens.length ? o.preopens : h.preopens;
      for (const p of preopens) {
        if (!existsSync(p.host) || !statSync(p.host).isDirectory()) throw new CliError(`preopened directory '${p.host}' (guest '${p.guest}') is missing; pass --dir HOST::${p.guest}`, REPLAY_EXIT.unusable);
      }
      machine = WasiMachine.create(module, {
        config: { args: h.args, env: h.env, preopens, clockResolutionNs: h.machine.clockResolutionNs, bootTimeNs: h.machine.bootTimeNs },
        devices: replayDevices,
        inputLane: o.inputLane,
      });
      // Another build starts with other globals: compare the disk alone (traces that carry its digest), or,
      // in an older trace, the whole device state, which only the recorded build can match.
      const differs = h.diskOnlyDigest !== undefined ? machine.diskDigest() !== h.diskOnlyDigest : module.hash === h.moduleHash ? machine.digest().devices !== h.diskDigest : false;
      if (differs) notes.push('the preopened directories differ from the ones recorded: file-system calls may diverge');
    }
    const source = new TraceSource(reader);
    // A fault hook fires once: a fresh one for each trace.
    const replayer =
      o.match === 'stream'
        ? new StreamReplayer({ machine, source, keepGoing: o.keepGoing, divergencesMax: o.divergencesMax })
        : new Replayer({ machine, source, keepGoing: o.keepGoing, divergencesMax: o.divergencesMax, fault: o.fault ? parseFault(o.fault) : undefined, digests: o.digests });
    const size = statSync(tracePath).size;
    const progress = new Progress(label);
    let calls = 0;
    // With --timeout: where the run stood at the last sample, and when, to tell a run stuck between two host
    // calls from one still making them. Sampled at each of the first calls, then with each progress update
    // (reading the clock at every call would cost a replay a third of its speed).
    let sampledAt = Date.now();
    let sampledIndex = machine.callIndex;
    const handler: HostCallHandler = {
      beforeCall: (c: HostCallInfo) => {
        const update = (++calls & 1023) === 0;
        if (update) progress.update(reader.stats.bytesRead, size, `${replayer.entries} entries`);
        if (o.timeoutMs > 0 && (update || calls <= 64)) {
          sampledAt = Date.now();
          sampledIndex = c.index + 1; // the index once this call is made
        }
        return replayer instanceof Replayer ? replayer.beforeCall(c) : undefined;
      },
      input: (c) => replayer.input(c),
      output: (c) => replayer.output(c),
    };
    let outcome: ReplayOutcome;
    try {
      const result = runWithin(o.timeoutMs, () => machine.run(handler));
      progress.done();
      outcome = replayer.finish(result);
    } catch (e) {
      if (!(e instanceof TimeLimitExceeded)) throw e;
      progress.done();
      // The run was stopped wherever it was: the machine is not used again.
      machine.interrupted();
      const at = machine.callIndex;
      const since = `${((Date.now() - sampledAt) / 1000).toFixed(1)} s`;
      const made = at - sampledIndex;
      outcome = replayer.interrupted(
        `the replay did not end within ${o.timeoutMs} ms (--timeout); it stood at host call ${at}, ` +
          (made <= 0
            ? `and had made no host call in its last ${since}, where the recording went on: it computes or loops there`
            : `and had made ${made} host call(s) since a look ${since} before (raise --timeout if the recording took about as long)`),
      );
    }
    // A run that matched to its end has consumed every entry, but the trace's own end (the End frame that
    // seals the hash chain) may not have been read yet, or may be torn: read it, so a damaged tail is
    // reported (exit 2) even when every entry before it replayed identically.
    if (outcome.status === 'identical') source.peek();
    const tail = source.tailProblem;
    const incomplete = outcome.status === 'waiting' || (outcome.status === 'identical' && tail !== undefined);
    const status = outcome.status === 'waiting' || incomplete ? 'incomplete' : outcome.status;
    const report: ReplayReport = {
      trace: tracePath,
      guest: guestPath,
      recordedModuleHash: hex(h.moduleHash),
      replayedModuleHash: hex(module.hash),
      status,
      entries: outcome.entries,
      // The total is known only when the replay read the whole trace.
      entriesTotal: outcome.status === 'identical' && !tail ? reader.nextSeq - h.start.seq : undefined,
      callIndex: outcome.callIndex,
      divergences: outcome.status === 'diverged' ? outcome.divergences : [],
      capped: outcome.status === 'identical' && outcome.capped,
      ...(o.keepGoing && outcome.status === 'diverged' && outcome.divergences.length >= o.divergencesMax ? { divergenceLimit: o.divergencesMax } : {}),
      match: o.match,
      digests: { mode: o.digests, ...replayer.digestCounts },
      traceTail: incomplete ? tail ?? 'the trace ended early' : undefined,
      durationMs: Date.now() - t0,
    };
    return { report, notes };
  } catch (e) {
    if (e instanceof LogFormatError) throw new CliError(`trace '${tracePath}' is unreadable: ${e.message}`, REPLAY_EXIT.unusable);
    throw e;
  } finally {
    reader.close();
  }
}

function summaryLine(r: ReplayReport): string {
  if (r.status === 'identical') return `IDENTICAL (${r.entries} entries, ${r.callIndex} host calls)`;
  if (r.status === 'incomplete') return `INCOMPLETE (${r.traceTail})`;
  const d = r.divergences[0];
  return `DIVERGED (${r.divergences.length}): first ${d.kind} at ${divergenceWhere(d)}: ${d.message}`;
}

function usage<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw new CliError((e as Error).message, REPLAY_EXIT.unusable);
  }
}
