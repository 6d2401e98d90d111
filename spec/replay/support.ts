/**
 * In-process record/replay for the replay specs: a guest recorded with seeded fake devices by the real
 * Recorder into an array of entries, and replayed by the real Replayer from an array EntrySource, on
 * machines that refuse to touch any live device during replay.
 */
import { readFileSync } from 'node:fs';
import { loadModule } from '../../engine/wasi/loader.ts';
import { WasiMachine } from '../../engine/wasi/machine.ts';
import type { Devices, Preopen, WasiConfig } from '../../engine/wasi/context.ts';
import type { RunResult } from '../../engine/machine/machine.ts';
import type { EntryKind, LogEntry } from '../../engine/log/entry.ts';
import { Recorder, type EntrySink } from '../../engine/node/recorder.ts';
import { END, Replayer, WAIT, type DigestMode, type EntrySource, type ReplayOutcome, type ReplayerOptions } from '../../replay/replayer.ts';
import { TraceSource } from '../../replay/trace-source.ts';
import { TraceWriter } from '../../engine/log/trace-writer.ts';
import { TraceReader } from '../../engine/log/trace-reader.ts';
import type { TraceHeaderData } from '../../engine/log/trace-header.ts';
import type { ReplayReport } from '../../replay/report/model.ts';
import { fakeDevices } from '../support/fake-devices.ts';
import { preopensFor, type GuestCase } from '../support/guests.ts';
import { replayDevices } from '../../replay/devices.ts';

/** Boot time shared by recording and replay (file timestamps depend on it). */
export const BOOT_NS = 1_700_000_000_000_000_000n;

/** Replay must never read a device: every method throws, so a leak fails the test loudly. */
export const refusingDevices: Devices = replayDevices;

/** An in-memory EntrySink: entries kept as they come; `bytes` approximates what a writer would hold. */
export class ArraySink implements EntrySink {
  readonly entries: LogEntry[] = [];
  bytes = 0;
  add(kind: EntryKind, callIndex: number, call: string, channel: number, request: Uint8Array, data: Uint8Array): void {
    this.entries.push({ seq: this.entries.length + this.firstSeq, callIndex, kind, call, channel, request: request.slice(), data: data.slice() });
    this.bytes += 16 + request.length + data.length;
  }
  constructor(private readonly firstSeq = 0) {}
}

/**
 * Runs a recording to its end: with `resume`, a run the recorder paused without a cap (a slice's end) is run on,
 * as the CLI does; then the recorder closes the log. The result and how many times the guest was resumed.
 */
export function recordThrough(machine: WasiMachine, recorder: Recorder, resume: boolean): { result: RunResult; yields: number } {
  let result: RunResult = machine.run(recorder);
  let yields = 0;
  while (resume && result.status === 'paused' && recorder.capped === undefined) {
    yields++;
    result = machine.run(recorder);
  }
  recorder.finish(result, machine);
  return { result, yields };
}

/** An EntrySource over an array: END after the last entry, or WAIT from `available` on (live channel). */
export class ArraySource implements EntrySource {
  private i = 0;
  constructor(
    private readonly entries: readonly LogEntry[],
    public available = entries.length,
  ) {}
  peek(): LogEntry | typeof WAIT | typeof END {
    if (this.i < Math.min(this.available, this.entries.length)) return this.entries[this.i];
    return this.i >= this.entries.length ? END : WAIT;
  }
  take(): void {
    this.i++;
  }
  get position(): number {
    return this.i;
  }
}

export interface Recording {
  readonly entries: LogEntry[];
  readonly result: RunResult;
  readonly config: WasiConfig;
  readonly stdout: string;
  readonly callIndex: number;
}

export function configFor(g: GuestCase, dir?: string): WasiConfig {
  const preopens: Preopen[] = preopensFor(g, dir);
  return { args: [g.name.split('/').pop()!, ...g.args], env: ['TWINSTEP_SPEC=1'], preopens, bootTimeNs: BOOT_NS };
}

/** Records a guest live (fake devices with `seed`) into an array of entries. */
export async function recordGuest(
  g: GuestCase,
  opts: { seed: number; digestEveryCalls?: number; capBytes?: number; dir?: string; config?: WasiConfig },
): Promise<Recording> {
  const module = await loadModule(readFileSync(g.path), 'all');
  const config = opts.config ?? configFor(g, opts.dir);
  const machine = WasiMachine.create(module, { config, devices: fakeDevices(opts.seed, Buffer.from(g.stdin ?? '')) });
  const sink = new ArraySink();
  let stdout = '';
  const recorder = new Recorder({
    machine,
    sink,
    emit: (channel, data) => {
      if (channel === 1) stdout += Buffer.from(data).toString('latin1');
    },
    digestEveryCalls: opts.digestEveryCalls ?? 0,
    capBytes: opts.capBytes ?? 0,
  });
  const result = machine.run(recorder);
  recorder.finish(result, machine);
  return { entries: sink.entries, result, config, stdout, callIndex: machine.callIndex };
}

export interface Replay {
  readonly outcome: ReplayOutcome;
  readonly replayer: Replayer;
  readonly machine: WasiMachine;
  readonly source: EntrySource;
  readonly stdout: string;
}

/**
 * Where replayEntries takes its entries from: an array of LogEntry objects (the live channel's path), or a
 * trace made of the same entries and read back (a trace file's path, where matching inputs are fed from the
 * decoded columns, replay/replayer.ts). A replay must come out the same either way.
 */
export type EntriesVia = 'array' | 'trace';

const traceHeader: TraceHeaderData = {
  vmId: 'spec', moduleHash: 0n, moduleSizeBytes: 0, args: [], env: [], preopens: [], diskDigest: 0n,
  machine: { clockResolutionNs: 1000n, bootTimeNs: BOOT_NS, unwind: 'all', digestIntervalCalls: 0, digestIntervalMs: 0 },
  start: { callIndex: 0, seq: 0, checksum: 0n, snapshot: false },
};

/** `entries` written as a trace (in memory) and read back through a TraceSource. */
export function traceSourceOf(entries: readonly LogEntry[]): TraceSource {
  const parts: Uint8Array[] = [];
  const w = new TraceWriter({ write: (b) => void parts.push(b.slice()) }, { ...traceHeader, start: { ...traceHeader.start, seq: entries[0]?.seq ?? 0 } }, { fsync: 'none', batchEntriesMax: 7 });
  for (const e of entries) w.append(e);
  w.close();
  return new TraceSource(TraceReader.fromBytes(Buffer.concat(parts)));
}

/** Replays `entries` on a fresh machine of `guestPath` (default: the recorded guest) with the recorded config. */
export async function replayEntries(
  guestPath: string,
  rec: Pick<Recording, 'entries' | 'config'>,
  opts: Partial<Omit<ReplayerOptions, 'machine' | 'source'>> & { source?: EntrySource; via?: EntriesVia; inputLane?: boolean } = {},
): Promise<Replay> {
  const module = await loadModule(readFileSync(guestPath), 'all');
  const machine = WasiMachine.create(module, { config: rec.config, devices: refusingDevices, inputLane: opts.inputLane });
  const source = opts.source ?? (opts.via === 'trace' ? traceSourceOf(rec.entries) : new ArraySource(rec.entries));
  let stdout = '';
  const replayer = new Replayer({
    ...opts,
    machine,
    source,
    emit: (channel, data) => {
      if (channel === 1) stdout += Buffer.from(data).toString('latin1');
    },
  });
  const result = machine.run(replayer);
  const outcome = replayer.finish(result);
  return { outcome, replayer, machine, source, get stdout() { return stdout; } };
}

/** The report model the CLI builds, from an in-process outcome. */
export function reportOf(r: Pick<Replay, 'outcome' | 'replayer'>, trace: string, guest: string, recordedHash = '00000000000000aa', replayedHash = recordedHash, digests: DigestMode = 'full'): ReplayReport {
  const outcome = r.outcome;
  return {
    trace,
    guest,
    recordedModuleHash: recordedHash,
    replayedModuleHash: replayedHash,
    status: outcome.status === 'waiting' ? 'incomplete' : outcome.status,
    entries: outcome.entries,
    entriesTotal: undefined,
    callIndex: outcome.callIndex,
    divergences: outcome.status === 'diverged' ? outcome.divergences : [],
    capped: outcome.status === 'identical' && outcome.capped,
    match: 'calls',
    digests: { mode: digests, ...r.replayer.digestCounts },
    traceTail: outcome.status === 'waiting' ? 'torn tail at byte 1234: frame cut short' : undefined,
    durationMs: 12.5,
  };
}

/** A copy of `e` with some fields replaced (entries are readonly). */
export function withEntry(e: LogEntry, patch: Partial<LogEntry>): LogEntry {
  return { ...e, ...patch };
}
