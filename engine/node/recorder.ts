/**
 * The record driver: runs the guest live and turns every input result and output into a log entry, plus
 * Digest entries at a configurable interval (host calls and/or milliseconds) so replay catches a state
 * divergence before it reaches an output. The same driver feeds a trace file (`twinstep record`) and the
 * primary's logging channel; where entries go is the sink's business.
 */
import { EXIT_CHANNEL, PAUSE, type HostCallHandler, type HostCallInfo, type InputCall, type Machine, type OutputCall, type RunResult } from '../machine/machine.ts';
import { EntryKind } from '../log/entry.ts';
import { DigestSchedule } from './digest-schedule.ts';
import { DigestTrack, encodeDigestPayload } from '../log/digest-payload.ts';
import { INPUT_RUN_CAPACITY, InputRun, runEntryBytes } from '../machine/input-run.ts';
import { END_CAP, END_CALLS, END_EXIT, END_TRAP, exitCodeBytes } from '../log/end-marker.ts';

export interface EntrySink {
  /**
   * Appends the next entry (its seq is the count of entries appended before it, from `firstSeq`), given by
   * its fields so the hot path builds no object. The byte arrays are only valid during the call: a sink
   * that keeps them must copy them.
   */
  add(kind: EntryKind, callIndex: number, call: string, channel: number, request: Uint8Array, data: Uint8Array): void;
  /**
   * `count` Input entries at call indices `first`, `first + 1`, ... that repeat the entry added last for `call` in
   * all but data: the same request array, and `width` 32-bit words of data each, back to back in `words` (an
   * input run, engine/machine/input-run.ts; valid during the call only). The same as `count` add() calls, which
   * is what the recorder makes of it for a sink without addRun.
   */
  addRun?(kind: EntryKind, first: number, call: string, channel: number, request: Uint8Array, words: Int32Array, width: number, count: number): void;
  /** Bytes the sink has accepted so far (for the size cap). */
  readonly bytes: number;
  /**
   * Time passed: called after an entry was added when the recorder's coarse clock (`nowMs`, `nowCell`) shows a
   * new millisecond, so at most once per ms of it and only while entries come. For what a sink does by age
   * (write a batch once it is old) without a clock read per entry.
   */
  tick?(nowMs: number): void;
}

export interface RecorderOptions {
  readonly machine: Machine;
  readonly sink: EntrySink;
  /** Where live outputs go (stdout/stderr bytes); not called for the exit code. */
  readonly emit: (channel: number, data: Uint8Array) => void;
  /** A Digest entry every this many host calls (0: never). */
  readonly digestEveryCalls?: number;
  /** A Digest entry when this many ms passed since the last one (0: never). Needs `nowMs`. */
  readonly digestEveryMs?: number;
  /** Stop recording once the sink holds this many bytes (0: no cap). */
  readonly capBytes?: number;
  /** Stop recording after this many ms (0: no cap). Needs `nowMs`. */
  readonly capMs?: number;
  /** Host clock for the ms-based options; injected so tests control it. */
  readonly nowMs?: () => number;
  /**
   * A cell that another thread keeps at the current ms of the same clock (coarse-clock.ts coarseClockCell), 0
   * while it does not know: the per-call time checks (digest every M ms, the sink's tick) then cost a memory
   * load instead of a call to `nowMs`, which is asked only while the cell holds 0.
   */
  readonly nowCell?: Float64Array;
  /**
   * The share of the recording's time that digests may take (0.02: 2%; 0 or absent: no limit, the intervals
   * are exact). A digest hashes the whole memory, so on a guest that makes a host call every 100 ns a digest
   * every 10000 calls costs as much as the guest itself once its memory is a few MiB; with a budget, a digest
   * that falls due while the digests so far took more than the budget waits until the recording has run long
   * enough. Measured with `fineNowMs`.
   */
  readonly digestBudget?: number;
  /** Sub-millisecond clock for the digest budget (default performance.now); injected so tests control it. */
  readonly fineNowMs?: () => number;
  /** First sequence number (a trace that starts from a snapshot continues a numbering, or starts at 0). */
  readonly firstSeq?: number;
  /**
   * Whether the guest can be stopped before a call of this name (the machine can pause only at its unwind
   * points; default: at every call). A cap or a stop that falls due waits for the next call that can.
   */
  readonly canPause?: (name: string) => boolean;
  /**
   * Asked at the recorder's ticks (at most once per ms of its coarse clock, while logged calls come): a reason to
   * stop recording now (an interrupt), or undefined. The guest then stops as at a cap, and the log ends with the
   * final digest and a cap marker naming the reason.
   */
  readonly stopRequested?: () => string | undefined;
  /**
   * Hand control back to the caller (a PAUSE that stops nothing: `capped` stays unset) once this many ms of the
   * coarse clock passed since the run started or last resumed, so the caller's event loop can run (0: never).
   */
  readonly sliceMs?: number;
  /**
   * Take a host-call-heavy guest's repeated input calls in runs (engine/machine/input-run.ts; default true): the
   * machine then logs them without calling the recorder for each. The entries are the same either way.
   */
  readonly inputRuns?: boolean;
}

const EMPTY = new Uint8Array(0);
/** The longest input run of a recording with a size cap (see input()). */
const CAPPED_RUN_CALLS = 64;
/** The cell of a recorder given none: always 0 (the clock is asked). */
const NO_CELL = new Float64Array(1);

export class Recorder implements HostCallHandler {
  private seq: number;
  private readonly startMs: number;
  private readonly track = new DigestTrack();
  /** Why recording stopped early, once a cap was hit (or a stop was requested). */
  capped: string | undefined;
  private readonly canPause: ((name: string) => boolean) | undefined;
  private readonly sliceMs: number;
  private sliceStartMs: number;
  /** A stop the driver asked for (stopRequested), waiting for a call the guest can stop at. */
  private stopReason: string | undefined;
  /** The slice is over: the next call that can pause hands control back. */
  private yieldDue = false;
  // The options the per-call checks read, resolved once (they run at every logged call).
  private readonly sink: EntrySink;
  private readonly digests: DigestSchedule;
  private readonly capBytes: number;
  private readonly capMs: number;
  private readonly clock: (() => number) | undefined;
  private readonly cell: Float64Array;
  /** The coarse time of the last sink tick. */
  private tickMs = 0;
  /** Digests the budget postponed (see digestBudget). */
  get postponedDigests(): number {
    return this.digests.postponed;
  }
  /**
   * Called first at every host call only while something may stop the guest there (a size or duration cap, a
   * requested stop, the end of a slice); absent otherwise, so the machine skips the call. Digests are taken at
   * logged calls only (input, output), before the call's own entry: a pure call changes nothing a digest there
   * would see that the next logged call's digest does not, and the machine then calls nothing extra per pure
   * call.
   */
  beforeCall?: (call: HostCallInfo) => typeof PAUSE | void;
  /**
   * The input run the machine gives repeated input calls to (see input()): opened after an input entry when the
   * next calls may repeat it, for as many calls as no digest by count falls due in; closed (its entries go to the
   * sink) at the recorder's next call, pause or finish.
   */
  readonly inputRun: InputRun | undefined;

  constructor(private readonly o: RecorderOptions) {
    this.sink = o.sink;
    this.seq = o.firstSeq ?? 0;
    this.startMs = o.nowMs?.() ?? 0;
    this.clock = o.nowMs;
    this.cell = o.nowCell ?? NO_CELL;
    this.capBytes = o.capBytes ?? 0;
    this.capMs = this.clock ? (o.capMs ?? 0) : 0;
    this.digests = new DigestSchedule({ everyCalls: o.digestEveryCalls, everyMs: o.digestEveryMs, nowMs: o.nowMs, budget: o.digestBudget, fineNowMs: o.fineNowMs });
    this.canPause = o.canPause;
    this.sliceMs = o.sliceMs ?? 0;
    this.sliceStartMs = this.startMs;
    this.inputRun = o.inputRuns === false ? undefined : new InputRun(this.flushRun);
    this.armChecks();
  }

  /** A closed input run's entries: to the sink, counted, then the tick the calls it took did not look at. */
  private readonly flushRun = (first: number, count: number, call: string, request: Uint8Array, words: Int32Array, width: number): void => {
    const sink = this.sink;
    if (sink.addRun !== undefined) sink.addRun(EntryKind.Input, first, call, 0, request, words, width, count);
    else for (let k = 0; k < count; k++) sink.add(EntryKind.Input, first + k, call, 0, request, runEntryBytes(words, width, k));
    this.seq += count;
    const now = this.now();
    if (now !== this.tickMs) this.tick(now);
  };

  /** beforeCall only while something may stop the guest at a call (a cap, a stop or a yield due). */
  private armChecks(): void {
    this.beforeCall = this.capBytes > 0 || this.capMs > 0 || this.stopReason !== undefined || this.yieldDue ? this.checkStops : undefined;
  }

  /** Entries logged so far (those of an open input run too). */
  get entries(): number {
    return this.seq + (this.inputRun?.pending ?? 0);
  }

  private readonly checkStops = (call: HostCallInfo): typeof PAUSE | void => {
    if (this.canPause !== undefined && !this.canPause(call.name)) return;
    const cap = this.stopReason ?? this.capReason();
    if (cap) {
      this.inputRun?.close();
      this.capped = cap;
      return PAUSE;
    }
    if (this.yieldDue) {
      this.inputRun?.close();
      this.yieldDue = false;
      this.sliceStartMs = this.now();
      this.armChecks();
      return PAUSE;
    }
  };

  /** The coarse time, read once per logged call for all its checks: the cell when it knows, else the clock (0 without one). */
  private now(): number {
    const v = this.cell[0]!;
    if (v !== 0) return v;
    const clock = this.clock;
    return clock === undefined ? 0 : clock();
  }

  input(call: InputCall): Uint8Array {
    const run = this.inputRun;
    if (run !== undefined) run.close();
    const index = call.index;
    const now = this.now();
    if (this.digests.periodicAt(index, now)) this.appendDigest(index);
    const data = call.live();
    this.sink.add(EntryKind.Input, index, call.name, 0, call.request, data);
    this.seq++;
    if (now !== this.tickMs) this.tick(now);
    // The next calls may repeat this one: the run takes them up to the next digest by count (its call is logged
    // here, so the digests fall at the same calls as without runs). Time-based duties wait for the run's close.
    // With a size cap, runs stay short: the cap looks at what the sink holds, at most CAPPED_RUN_CALLS entries behind.
    if (run !== undefined) run.open(index + 1, call.name, call.request, data.length, Math.min(this.digests.callsBeforeDue(index + 1), this.capBytes > 0 ? CAPPED_RUN_CALLS : INPUT_RUN_CAPACITY));
    return data;
  }

  output(call: OutputCall): void {
    this.inputRun?.close();
    const index = call.index;
    const now = this.now();
    // The state just before the guest exits is worth a digest: a build that differs only in internal state
    // is caught even when it never prints the difference.
    if (call.channel === EXIT_CHANNEL) this.appendDigest(index);
    else if (this.digests.periodicAt(index, now)) this.appendDigest(index);
    this.append(EntryKind.Output, index, call.name, call.channel, EMPTY, call.data);
    if (call.channel !== EXIT_CHANNEL) this.o.emit(call.channel, call.data);
    if (now !== this.tickMs) this.tick(now);
  }

  private tick(now: number): void {
    this.tickMs = now;
    this.sink.tick?.(now);
    if (this.stopReason === undefined && this.o.stopRequested !== undefined) {
      this.stopReason = this.o.stopRequested();
      if (this.stopReason !== undefined) this.armChecks();
    }
    if (this.sliceMs > 0 && !this.yieldDue && now - this.sliceStartMs >= this.sliceMs) {
      this.yieldDue = true;
      this.armChecks();
    }
  }

  /**
   * Closes the log after `run` returned: a final Digest, then the end marker (exit code, trap, or cap).
   * A guest that returned from _start made no proc_exit call, so its exit entry is written here.
   */
  finish(result: RunResult, machine: Machine): void {
    this.inputRun?.close();
    const index = machine.callIndex;
    if (result.status === 'exited') {
      if (!this.endWritten) {
        this.appendDigest(index);
        this.append(EntryKind.Output, index, END_CALLS[END_EXIT], END_EXIT, EMPTY, exitCodeBytes(result.code));
      }
    } else if (result.status === 'trapped') {
      this.append(EntryKind.Output, index, END_CALLS[END_TRAP], END_TRAP, EMPTY, Buffer.from(result.error.message));
    } else {
      this.appendDigest(index);
      this.append(EntryKind.Output, index, END_CALLS[END_CAP], END_CAP, EMPTY, Buffer.from(this.capped ?? 'recording stopped'));
    }
  }

  private endWritten = false;

  private append(kind: EntryKind, callIndex: number, name: string, channel: number, request: Uint8Array, data: Uint8Array): void {
    if (kind === EntryKind.Output && channel === END_EXIT) this.endWritten = true;
    this.sink.add(kind, callIndex, name, channel, request, data);
    this.seq++;
  }

  /**
   * A Digest entry for the state before the call at `index` (one per index): at the exit, and when a logged call
   * reached the call or ms interval and the budget allows (DigestSchedule.periodic; see digestBudget).
   */
  private appendDigest(index: number): void {
    if (this.digests.takenAt(index)) return;
    const payload = this.digests.take(index, () => encodeDigestPayload(this.track.delta(this.o.machine.digest())));
    this.append(EntryKind.Digest, index, '', 0, EMPTY, payload);
  }

  private capReason(): string | undefined {
    const capBytes = this.capBytes;
    if (capBytes > 0 && this.sink.bytes >= capBytes) return `size cap of ${capBytes} bytes reached`;
    const capMs = this.capMs;
    if (capMs > 0 && this.clock!() - this.startMs >= capMs) return `duration cap of ${capMs} ms reached`;
    return undefined;
  }
}
