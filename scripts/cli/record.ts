/** `twinstep record`: runs a guest live (as `run` does) and writes every input, output and digest to a trace. */
import { readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { basename, resolve } from 'node:path';
import { loadModule, parseUnwindMode, unwindModeString, type LoadedModule } from '../../engine/wasi/loader.ts';
import type { TraceHeaderData } from '../../engine/log/trace-header.ts';
import { readModuleFile } from '../../engine/wasi/boot.ts';
import { WasiMachine } from '../../engine/wasi/machine.ts';
import { liveDevices } from '../../engine/wasi/devices.ts';
import type { Devices } from '../../engine/wasi/context.ts';
import { CLOCK_RESOLUTION_NS_DEFAULT, decodeMachineState } from '../../engine/wasi/snapshot.ts';
import type { TraceWriter } from '../../engine/log/trace-writer.ts';
import { OffloadingTraceWriter } from '../../engine/log/trace-offload.ts';
import { Recorder, type EntrySink } from '../../engine/node/recorder.ts';
import { runEntryBytes } from '../../engine/machine/input-run.ts';
import type { EntryKind } from '../../engine/log/entry.ts';
import { coarseClockCell, coarseNowMs } from '../../engine/node/coarse-clock.ts';
import { writeAllSync } from '../../engine/node/stdio-sink.ts';
import { CliError } from './cli-error.ts';
import { LogFormatError } from '../../engine/log/errors.ts';
import { checkNotAnInput, checkOutputPath } from './output-path.ts';
import { EXIT } from './exit-codes.ts';
import { exitForResult } from './result.ts';
import { bootTimeNs, noPausePoint, parseRunArgs, type CommandArgs } from './run-options.ts';
import { usageLine } from './help.ts';
import { digestBudgetFlag, intFlag } from './flags.ts';
import { traceFormatVersion, traceFormatVersionMin } from '../../engine/log/version.ts';

/** Digest defaults: cheap for small guests (a 1 MiB memory hashes in ~50 µs), frequent enough to localise. */
export const DIGEST_EVERY_CALLS_DEFAULT = 10_000;
export const DIGEST_EVERY_MS_DEFAULT = 1_000;
/**
 * With the default intervals, digests take at most this share of the recording's time: a digest hashes the
 * whole memory, and every 10000 calls of a guest that calls every 100 ns, that is as much work as the guest
 * once its memory is a few MiB. An interval given on the command line is exact (no budget) unless
 * --digest-budget is given too.
 */
export const DIGEST_BUDGET_DEFAULT = 0.02;

/** Rough encoded size of an entry beyond its request and data bytes (seq, index, kind, call, checksum). */
const ENTRY_OVERHEAD_BYTES = 12;

/** A pending batch older than this is written at the next entry's tick, so a killed recorder loses little. */
const FLUSH_EVERY_MS = 250;

export const RECORD_ARGS: CommandArgs = {
  flags: {
    '-o': { takesValue: true, required: true, value: 'TRACE', help: 'where to write the trace (or --output TRACE)' },
    '--output': { takesValue: true, hidden: true, value: 'TRACE', help: 'the same as -o' },
    '--digest-every': { takesValue: true, value: 'CALLS', help: `a state digest every CALLS host calls (default ${DIGEST_EVERY_CALLS_DEFAULT}; 0: none by count)` },
    '--digest-ms': { takesValue: true, value: 'MS', help: `a state digest once MS milliseconds passed since the last (default ${DIGEST_EVERY_MS_DEFAULT}; 0: none by time); one is always taken before exit` },
    '--digest-budget': { takesValue: true, value: 'PCT', help: `digests take at most PCT percent of the recording's time (default ${DIGEST_BUDGET_DEFAULT * 100} with the default intervals, none when an interval is given; 100: no budget)` },
    '--max-bytes': { takesValue: true, value: 'BYTES', help: 'stop recording once the trace holds about BYTES (default: no cap); the trace ends with a cap marker and replays to it' },
    '--max-duration': { takesValue: true, value: 'MS', help: 'stop recording after MS milliseconds (default: no cap)' },
    '--from': { takesValue: true, value: 'SNAPSHOT', help: 'start from a snapshot taken by `twinstep run --snapshot-at CALL --snapshot-out SNAPSHOT`' },
    '--vm-id': { takesValue: true, value: 'ID', help: 'the VM id written into the trace header (default: none)' },
    '--trace-format': { takesValue: true, value: 'N', help: `the trace format to write, ${traceFormatVersionMin} to ${traceFormatVersion} (default ${traceFormatVersion}); an older one for a twinstep that reads no newer (format 1 stores every payload whole: about 29 bytes per clock read instead of 11)` },
  },
  shared: ['--dir', '--env', '--unwind'],
  operand: 'MODULE.wasm',
  rest: 'guest',
};

export const RECORD_USAGE = usageLine('record', RECORD_ARGS);

export async function recordCommand(argv: readonly string[]): Promise<number> {
  const { run, flags } = parseRunArgs(argv, RECORD_ARGS);
  const out = flags.get('-o')?.at(-1) ?? flags.get('--output')?.at(-1);
  if (!out) throw new CliError('missing -o TRACE (where to write the trace)', EXIT.usage);
  checkOutputPath(out, '-o');
  checkNotAnInput(out, '-o', [run.module, flags.get('--from')?.at(-1)]);
  const digestEveryCalls = intFlag(flags, '--digest-every', DIGEST_EVERY_CALLS_DEFAULT);
  const digestEveryMs = intFlag(flags, '--digest-ms', DIGEST_EVERY_MS_DEFAULT);
  const digestBudget = digestBudgetFlag(flags, ['--digest-every', '--digest-ms'], DIGEST_BUDGET_DEFAULT);
  const capBytes = intFlag(flags, '--max-bytes', 0);
  const capMs = intFlag(flags, '--max-duration', 0);
  const formatVersion = intFlag(flags, '--trace-format', traceFormatVersion);
  if (formatVersion < traceFormatVersionMin || formatVersion > traceFormatVersion) {
    throw new CliError(`--trace-format expects a format this build writes, ${traceFormatVersionMin} to ${traceFormatVersion}, got ${formatVersion}`, EXIT.usage);
  }
  const from = flags.get('--from')?.at(-1);
  let snapshot: Uint8Array | undefined;
  let unwind = run.unwind;
  if (from) {
    if (run.args.length || run.env.length || run.preopens.length) {
      throw new CliError('--from: args, --env and --dir come from the snapshot; do not pass them again', EXIT.usage);
    }
    try {
      snapshot = readFileSync(from);
    } catch {
      throw new CliError(`--from: cannot read snapshot '${from}'`, EXIT.noInput);
    }
    // A paused guest's call stack is laid out by the instrumentation of its unwind mode: resume under the same.
    const taken = decodeOrFailData(snapshot).config.unwind || 'all';
    if (run.unwindGiven && unwindModeString(run.unwind) !== taken) {
      throw new CliError(`--from: the snapshot was taken under --unwind ${taken}; it resumes only under the same (leave --unwind out)`, EXIT.usage);
    }
    unwind = parseUnwindMode(taken);
  }
  const bytes = readModuleFile(run.module);
  const module = await loadModule(bytes, unwind);
  // Caps and interrupts stop the guest at a call it can pause at: under --unwind none there is none.
  if (module.unwindable.size === 0 && (capBytes > 0 || capMs > 0)) {
    throw new CliError(noPausePoint('--max-bytes and --max-duration stop', unwind), EXIT.usage);
  }
  const interrupts = new Interrupts();
  const devices = interrupts.around(liveDevices());

  let machine: WasiMachine;
  if (snapshot) {
    machine = WasiMachine.restore(module, decodeOrFail(snapshot), devices);
  } else {
    machine = WasiMachine.create(module, {
      config: { args: [basename(run.module), ...run.args], env: run.env, preopens: run.preopens, bootTimeNs: bootTimeNs() },
      devices,
    });
  }
  let writer: OffloadingTraceWriter;
  try {
    const header = traceHeaderOf(machine, module, {
      vmId: flags.get('--vm-id')?.at(-1) ?? '',
      modulePath: resolve(run.module),
      unwind: unwindModeString(unwind),
      digestIntervalCalls: digestEveryCalls,
      digestIntervalMs: digestEveryMs,
      fromSnapshot: snapshot !== undefined,
    });
    writer = OffloadingTraceWriter.create(out, header, { snapshot, formatVersion });
  } catch (e) {
    throw traceWriteError(e, out, 'before the guest started');
  }
  const recorder = new Recorder({
    machine,
    sink: traceEntrySink(writer),
    emit: (channel, data) => {
      if (!writeAllSync(channel, data)) interrupts.outputClosed(channel);
    },
    digestEveryCalls,
    digestEveryMs,
    digestBudget,
    capBytes,
    capMs,
    nowMs: coarseNowMs,
    nowCell: coarseClockCell(),
    canPause: (name) => module.unwindable.has(name),
    // Slices, so that SIGINT and SIGTERM reach their handlers (they run on the event loop) and stop the guest
    // at a host call with the trace closed, not killed with its last batch unwritten.
    ...(module.unwindable.size > 0 ? { stopRequested: () => interrupts.reason, sliceMs: SLICE_MS } : {}),
  });
  if (module.unwindable.size > 0) interrupts.attach();
  let result;
  try {
    result = machine.run(recorder);
    while (result.status === 'paused' && recorder.capped === undefined) {
      await new Promise((r) => setImmediate(r));
      result = machine.run(recorder);
    }
    // The guest is done (or stopped): a signal from here on has its default effect.
    interrupts.detach();
    recorder.finish(result, machine);
    writer.close();
  } catch (e) {
    // The trace could not be written on (a full disk, an I/O error): the guest stops here. What reached the file
    // is a valid trace up to a torn tail, which replay reports as such.
    throw traceWriteError(e, out, `the guest was stopped at host call ${machine.callIndex}, and the trace written so far replays up to its torn tail`);
  }
  const s = writer.stats;
  const postponed = recorder.postponedDigests > 0 ? `; ${recorder.postponedDigests} digest checks postponed by the ${digestBudget * 100}% digest budget` : '';
  process.stderr.write(`twinstep record: ${recorder.entries} entries, ${machine.callIndex} host calls, ${s.bytesTotal} bytes -> ${out}${recorder.capped ? ` (stopped: ${recorder.capped})` : ''}${postponed}\n`);
  // Interrupted: 128 + the signal's number; a signal that came only as the guest ended leaves its exit code. A
  // reader that went away stops it as SIGPIPE stops a program writing to it (exit 141).
  if (interrupts.signal !== undefined && recorder.capped === interrupts.reason) return 128 + osConstants.signals[interrupts.signal];
  if (interrupts.closed !== undefined && recorder.capped === interrupts.reason) return 128 + osConstants.signals.SIGPIPE;
  if (result.status === 'paused') return 0;
  return exitForResult(result);
}

/** How long the guest runs before the recorder hands control back to the event loop. */
const SLICE_MS = 50;

/**
 * SIGINT and SIGTERM while recording: the first stops the guest at its next host call that can pause, and the
 * trace is closed as at a cap (a final digest and a cap marker), so it replays identically to that point; the
 * command then exits with 128 + the signal's number. A second one has its default effect.
 * While the guest blocks in a read of stdin or a long sleep, the event loop cannot run a handler, so the
 * handlers are detached there: a signal then has its default effect at once, as without twinstep (the trace
 * keeps its complete prefix).
 */
class Interrupts {
  signal: NodeJS.Signals | undefined;
  /** The guest's stdout or stderr whose reader went away (EPIPE). */
  closed: 'stdout' | 'stderr' | undefined;

  /**
   * The reader of the guest's stdout or stderr went away (`| head`): what the guest writes is seen by nobody. As
   * SIGPIPE would stop a program writing there, the guest stops at its next host call that can pause, and the
   * trace is closed there (it replays to that point).
   */
  outputClosed(channel: number): void {
    if (this.closed !== undefined || this.signal !== undefined) return;
    this.closed = channel === 2 ? 'stderr' : 'stdout';
    // Said on stderr when its reader is still there.
    if (this.closed === 'stdout') process.stderr.write(`twinstep record: the reader of the guest's ${this.closed} went away (EPIPE): stopping the guest at its next host call and closing the trace\n`);
  }

  private attached = false;
  private readonly onSignal = (sig: NodeJS.Signals): void => {
    if (this.signal !== undefined) {
      this.detach();
      process.kill(process.pid, sig);
      return;
    }
    this.signal = sig;
    process.stderr.write(`twinstep record: ${sig}: stopping the guest at its next host call and closing the trace (again to abort)\n`);
  };

  get reason(): string | undefined {
    if (this.signal) return `interrupted by ${this.signal}`;
    return this.closed && `the reader of ${this.closed} went away`;
  }

  attach(): void {
    if (this.attached) return;
    this.attached = true;
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  detach(): void {
    if (!this.attached) return;
    this.attached = false;
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }

  /** `devices` with the handlers detached while a call may block for long. */
  around(devices: Devices): Devices {
    const blocking = <T>(f: () => T): T => {
      if (!this.attached) return f();
      this.detach();
      try {
        return f();
      } finally {
        this.attach();
      }
    };
    return {
      clockNs: (id) => devices.clockNs(id),
      random: (n) => devices.random(n),
      stdinReady: () => devices.stdinReady(),
      stdinRead: (max) => blocking(() => devices.stdinRead(max)),
      sleepNs: (ns) => (ns >= LONG_SLEEP_NS ? blocking(() => devices.sleepNs(ns)) : devices.sleepNs(ns)),
    };
  }
}

/** A sleep this long runs with the signal handlers detached (see Interrupts). */
const LONG_SLEEP_NS = 200_000_000n;

/**
 * The header of a trace of `machine` from where it stands now (its boot, or the snapshot it was restored from):
 * the guest's args, env and preopens, the disk image's digest, the machine config, and the digest intervals.
 */
export function traceHeaderOf(
  machine: WasiMachine,
  module: LoadedModule,
  o: { vmId: string; modulePath: string; unwind: string; digestIntervalCalls: number; digestIntervalMs: number; fromSnapshot: boolean },
): TraceHeaderData {
  const boot = machine.snapshot().state;
  return {
    vmId: o.vmId,
    moduleHash: module.hash,
    moduleSizeBytes: module.bytes.length,
    modulePath: o.modulePath,
    args: boot.config.args,
    env: boot.config.env,
    preopens: boot.config.preopens,
    diskDigest: machine.digest().devices,
    diskOnlyDigest: machine.diskDigest(),
    machine: {
      clockResolutionNs: boot.config.clockResolutionNs ?? CLOCK_RESOLUTION_NS_DEFAULT,
      bootTimeNs: boot.config.bootTimeNs ?? 0n,
      unwind: o.unwind,
      digestIntervalCalls: o.digestIntervalCalls,
      digestIntervalMs: o.digestIntervalMs,
    },
    start: { callIndex: machine.callIndex, seq: 0, checksum: 0n, snapshot: o.fromSnapshot },
  };
}

/**
 * The Recorder's sink over a TraceWriter (also used by the record/replay benchmark).
 *
 * The writer's byte count grows only when a batch frame is written (every 1024 entries or 256 KiB), so the
 * size cap also counts the entries still pending in the batch; otherwise a small --max-bytes would overshoot
 * by up to a whole batch. And a guest that makes few host calls would keep its entries in memory for a long
 * time: a killed recorder would leave a trace without them although their outputs were already shown. So a
 * pending batch is also written once it is FLUSH_EVERY_MS old, checked at the recorder's ticks (after an
 * entry, when its coarse clock shows a new millisecond): the entries themselves go to the writer with no
 * clock read.
 */
export function traceEntrySink(writer: TraceWriter | OffloadingTraceWriter): EntrySink {
  let lastFlushMs = -1;
  let framesSeen = writer.frames;
  return {
    add(kind: EntryKind, callIndex: number, call: string, channel: number, request: Uint8Array, data: Uint8Array): void {
      writer.add(kind, callIndex, call, channel, request, data);
    },
    addRun(kind: EntryKind, first: number, call: string, channel: number, request: Uint8Array, words: Int32Array, width: number, count: number): void {
      if (writer instanceof OffloadingTraceWriter) writer.addRun(kind, first, call, channel, request, words, width, count);
      else for (let k = 0; k < count; k++) writer.add(kind, first + k, call, channel, request, runEntryBytes(words, width, k));
    },
    tick(nowMs: number): void {
      // The age of a batch counts from the first tick, or the last tick that saw a frame written.
      if (lastFlushMs < 0 || writer.frames !== framesSeen) {
        framesSeen = writer.frames;
        lastFlushMs = nowMs;
      } else if (nowMs - lastFlushMs >= FLUSH_EVERY_MS && writer.pendingEntries > 0) {
        writer.flush();
        framesSeen = writer.frames;
        lastFlushMs = nowMs;
      }
    },
    get bytes(): number {
      return writer.stats.bytesTotal + writer.pendingEntries * ENTRY_OVERHEAD_BYTES + writer.pendingBytes;
    },
  };
}

function decodeOrFail(bytes: Uint8Array) {
  return decodeOrFailBoth(bytes).state;
}

function decodeOrFailData(bytes: Uint8Array) {
  return decodeOrFailBoth(bytes).data;
}

function decodeOrFailBoth(bytes: Uint8Array) {
  try {
    return decodeMachineState(bytes);
  } catch (e) {
    throw new CliError(`--from: not a usable snapshot: ${(e as Error).message}`, EXIT.dataError);
  }
}

/** A failure to write the trace (a full disk, an I/O error) as the command's error; anything else as it is. */
function traceWriteError(e: unknown, out: string, what: string): unknown {
  if (!(e instanceof LogFormatError) && !isErrno(e)) return e;
  const why = isErrno(e) ? `${e.message.replace(/^(\w+): /, '')} (${e.code})` : e.message;
  return new CliError(`cannot write the trace '${out}': ${why}; ${what}`, EXIT.ioError);
}

function isErrno(e: unknown): e is NodeJS.ErrnoException & { code: string } {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && typeof (e as NodeJS.ErrnoException).syscall === 'string';
}
