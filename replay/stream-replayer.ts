/**
 * Replay that matches a new build's behaviour rather than its host calls: inputs are fed in the order they were
 * recorded (the same call name and request, at whatever host call the new build asks), and outputs are compared
 * as one byte stream per channel, whatever writes they come in. For differential replay of a build that does the
 * same thing through other calls: another stdio buffering, a line written in two parts, an extra flush or file
 * call. What still diverges: another input (a different call, clock or length, or one more or fewer), other
 * bytes on a channel, another exit. State digests are not compared (their host-call positions belong to the
 * recorded build); they are counted as skipped.
 *
 * The log is read ahead as far as a call needs: recorded inputs wait in a queue, recorded output bytes in one
 * stream per channel. A divergence in an output names the recorded entry that holds the first differing byte.
 */
import { EXIT_CHANNEL, PAUSE, type HostCallHandler, type InputCall, type Machine, type OutputCall, type RunResult } from '../engine/machine/machine.ts';
import { EntryKind, type LogEntry } from '../engine/log/entry.ts';
import { END_CAP, END_EXIT, END_TRAP, exitCodeBytes, exitCodeOf, isEndChannel, trapReason } from '../engine/log/end-marker.ts';
import { KEEP_GOING_DIVERGENCES_MAX, type Divergence, type DivergenceKind, type EntryView } from './divergence.ts';
import { END, WAIT, bytesEqual, describeEntry, entryView, type DigestCounts, type EntrySource, type ReplayOutcome } from './replayer.ts';

export interface StreamReplayerOptions {
  readonly machine: Machine;
  readonly source: EntrySource;
  /** Continue after an output whose bytes differ (the streams stay aligned by length); collect every one. */
  readonly keepGoing?: boolean;
  /** Where the replayed guest's outputs go. */
  readonly emit?: (channel: number, data: Uint8Array) => void;
  /** How many consumed entries to keep for a report's context. */
  readonly contextEntries?: number;
  /** Stop comparing once this many divergences were found (keep-going bound). */
  readonly divergencesMax?: number;
}

/** The recorded bytes of one channel not yet matched: the output entries, and how far into the first one. */
interface Stream {
  readonly entries: LogEntry[];
  offset: number;
  /** Bytes of this channel matched so far (for messages). */
  matched: number;
}

export class StreamReplayer implements HostCallHandler {
  readonly divergences: Divergence[] = [];
  private readonly inputs: LogEntry[] = [];
  private readonly streams = new Map<number, Stream>();
  private readonly recent: LogEntry[] = [];
  /** The log's end marker (exit, trap or cap), once read. */
  private end: LogEntry | undefined;
  private exhausted = false;
  private consumed = 0;
  private digestsSkipped = 0;
  private stopped = false;
  private capReached = false;

  constructor(private readonly o: StreamReplayerOptions) {}

  get entries(): number {
    return this.consumed;
  }

  get digestCounts(): DigestCounts {
    return { compared: 0, skipped: this.digestsSkipped };
  }

  input(call: InputCall): Uint8Array | typeof PAUSE {
    if (this.stopped) return PAUSE;
    while (this.inputs.length === 0 && this.readOne());
    const e = this.inputs.shift();
    if (e === undefined) {
      if (this.end?.channel === END_CAP) {
        // The recording was capped before this input: everything up to here matched.
        this.capReached = true;
        this.stopped = true;
        return PAUSE;
      }
      return this.stop('extra-call', undefined, call.index, `${call.name} at host call ${call.index} asks for an input the recording does not have (it has no more)`);
    }
    if (e.call !== call.name) return this.stop('call-mismatch', e, call.index, `the next recorded input is ${e.call} (recorded at host call ${e.callIndex}); this run asked for ${call.name} at host call ${call.index}`);
    if (!bytesEqual(e.request, call.request)) return this.stop('request-mismatch', e, call.index, `${call.name} at host call ${call.index} asked for a different result shape than the next recorded one (host call ${e.callIndex})`, { request: call.request });
    this.note(e);
    return e.data;
  }

  output(call: OutputCall): typeof PAUSE | void {
    if (this.stopped) return PAUSE;
    // proc_exit: how the run ended is compared in finish(), against the log's end marker.
    if (call.channel === EXIT_CHANNEL) return;
    const data = call.data;
    let pos = 0;
    while (pos < data.length) {
      const s = this.stream(call.channel);
      while (s.entries.length === 0 && this.readOne());
      const head = s.entries[0];
      if (head === undefined) {
        if (this.end?.channel === END_CAP) break; // written after the cap: nothing recorded to compare with
        this.diverge('output-mismatch', undefined, call.index, `${call.name} at host call ${call.index} wrote ${data.length - pos} byte(s) on channel ${call.channel} beyond the ${s.matched} the recording has there`, { channel: call.channel, data: data.subarray(pos) });
        break;
      }
      const n = Math.min(head.data.length - s.offset, data.length - pos);
      const expected = head.data.subarray(s.offset, s.offset + n);
      const actual = data.subarray(pos, pos + n);
      if (!bytesEqual(expected, actual)) {
        let k = 0;
        while (expected[k] === actual[k]) k++;
        this.diverge('output-mismatch', head, call.index, `${call.name} at host call ${call.index} wrote different bytes than recorded on channel ${call.channel} (byte ${s.matched + k} of its stream; recorded by ${head.call} at host call ${head.callIndex})`, { channel: call.channel, data: data.subarray(pos) }, head.data.subarray(s.offset));
        if (this.stopped) break;
      }
      s.offset += n;
      s.matched += n;
      pos += n;
      if (s.offset === head.data.length) {
        s.entries.shift();
        s.offset = 0;
        this.note(head);
      }
    }
    if (call.channel >= 0) this.o.emit?.(call.channel, data);
    if (this.stopped) return PAUSE;
  }

  /** Compares how the run ended with the log's end, and what the recording has that the run did not do. */
  finish(result: RunResult): ReplayOutcome {
    const callIndex = this.o.machine.callIndex;
    if (result.status === 'paused') {
      if (this.capReached && this.divergences.length === 0) return { status: 'identical', entries: this.consumed, callIndex, capped: true };
      return this.outcome(callIndex);
    }
    while (this.readOne());
    const end = this.end;
    if (result.status === 'exited') {
      if (end?.channel === END_EXIT && bytesEqual(end.data, exitCodeBytes(result.code))) this.note(end);
      else this.diverge('exit-mismatch', end, callIndex, `the guest exited with ${result.code}; the recording ${end ? `ends with ${describeEnd(end)}` : 'has no end marker'}`, { channel: END_EXIT, data: exitCodeBytes(result.code) });
    } else if (end?.channel === END_TRAP && Buffer.from(end.data).toString() === result.error.message) {
      this.note(end);
    } else {
      this.diverge('exit-mismatch', end, callIndex, `the guest trapped (${trapReason(result.error.message)}); the recording ${end ? `ends with ${describeEnd(end)}` : 'has no end marker'}`, { channel: END_TRAP, data: Buffer.from(result.error.message) });
    }
    if (this.divergences.length === 0) {
      const input = this.inputs[0];
      if (input !== undefined) this.diverge('missing-call', input, callIndex, `the run ended, but the recording goes on with ${this.inputs.length} more input(s), the next ${describeEntry(input)} at host call ${input.callIndex}`);
      for (const [channel, s] of this.streams) {
        const head = s.entries[0];
        if (head === undefined) continue;
        const left = s.entries.reduce((n, e) => n + e.data.length, 0) - s.offset;
        this.diverge('missing-call', head, callIndex, `the run ended, but the recording has ${left} more byte(s) on channel ${channel} (from ${head.call} at host call ${head.callIndex})`, undefined, head.data.subarray(s.offset));
      }
    }
    return this.outcome(callIndex);
  }

  /** The run was stopped in the middle (a time limit) and will not go on: see Replayer.interrupted. */
  interrupted(message: string): ReplayOutcome {
    const callIndex = this.o.machine.callIndex;
    try {
      if (this.inputs.length === 0) this.readOne();
    } catch {
      // stopped in the middle of reading: the next input stays unknown
    }
    this.diverge('timeout', this.inputs[0], callIndex, message);
    return this.outcome(callIndex);
  }

  // ---- helpers -------------------------------------------------------------------------------------

  private outcome(callIndex: number): ReplayOutcome {
    if (this.divergences.length > 0) return { status: 'diverged', divergences: this.divergences, entries: this.consumed, callIndex };
    return { status: 'identical', entries: this.consumed, callIndex, capped: this.capReached };
  }

  private stream(channel: number): Stream {
    let s = this.streams.get(channel);
    if (s === undefined) this.streams.set(channel, (s = { entries: [], offset: 0, matched: 0 }));
    return s;
  }

  /** Reads one more entry of the log into the queues; false once the log is over (or its end marker was read). */
  private readOne(): boolean {
    if (this.exhausted || this.end !== undefined) return false;
    const e = this.o.source.peek();
    if (e === END || e === WAIT) {
      this.exhausted = true;
      return false;
    }
    this.o.source.take();
    if (e.kind === EntryKind.Input) this.inputs.push(e);
    else if (e.kind === EntryKind.Digest) {
      this.digestsSkipped++;
      this.note(e);
    } else if (isEndChannel(e.channel)) this.end = e;
    else this.stream(e.channel).entries.push(e);
    return true;
  }

  /** An entry fully matched (or skipped): counted, and kept for reports' context. */
  private note(e: LogEntry): void {
    this.consumed++;
    this.recent.push(e);
    const keep = (this.o.contextEntries ?? 5) + 1;
    if (this.recent.length > keep) this.recent.splice(0, this.recent.length - keep);
  }

  private stop(kind: DivergenceKind, e: LogEntry | undefined, callIndex: number, message: string, actual?: Divergence['actual']): typeof PAUSE {
    this.diverge(kind, e, callIndex, message, actual);
    this.stopped = true;
    return PAUSE;
  }

  /** `expectedData`: the recorded bytes from where the comparison starts (within the entry's data). */
  private diverge(kind: DivergenceKind, e: LogEntry | undefined, callIndex: number, message: string, actual?: Divergence['actual'], expectedData?: Uint8Array): void {
    const context = this.recent.filter((r) => r !== e).slice(-(this.o.contextEntries ?? 5)).map(entryView);
    const expected: EntryView | undefined = e ? { ...entryView(e), data: expectedData ?? e.data } : undefined;
    this.divergences.push({ kind, seq: e?.seq ?? -1, callIndex, message, expected, actual, context, state: undefined });
    if (!this.o.keepGoing || this.divergences.length >= (this.o.divergencesMax ?? KEEP_GOING_DIVERGENCES_MAX)) this.stopped = true;
  }
}

function describeEnd(e: LogEntry): string {
  if (e.channel === END_EXIT) return `exit ${Number.isNaN(exitCodeOf(e.data)) ? '?' : exitCodeOf(e.data)}`;
  if (e.channel === END_TRAP) return `a trap (${trapReason(Buffer.from(e.data).toString())})`;
  return `a cap (${Buffer.from(e.data).toString()})`;
}
