/**
 * The replay driver: re-executes a guest against a log, feeding recorded input results instead of
 * performing the calls, and comparing everything the guest does with what was recorded:
 *   - the call at each logged index (same name, same kind, same request shape),
 *   - every output's bytes and channel,
 *   - every Digest entry (root digest, or the files only; on mismatch, which pages and files differ),
 *   - how the run ends (exit code, trap).
 * Used offline by `twinstep replay` (CI) and live by the secondary. An entry that has not arrived yet
 * (live channel) pauses the guest; a divergence pauses it too, unless `keepGoing` lets it continue where
 * the call sequence still lines up.
 */
import { PAUSE, type HostCallHandler, type HostCallInfo, type InputCall, type InputLane, type Machine, type OutputCall, type RunResult } from '../engine/machine/machine.ts';
import { EntryKind, type LogEntry } from '../engine/log/entry.ts';
import type { EntryColumns } from '../engine/log/entry-block.ts';
import { callId, callIdCustom } from '../engine/log/call-table.ts';
import { DigestTrack, decodeDigestPayload } from '../engine/log/digest-payload.ts';
import { END_CAP, END_EXIT, END_TRAP, exitCodeBytes, exitCodeOf, isEndChannel, trapReason } from '../engine/log/end-marker.ts';
import { KEEP_GOING_DIVERGENCES_MAX, type Divergence, type DivergenceKind, type EntryView } from './divergence.ts';
import type { FaultHook } from './fault.ts';

/** Where the replayer pulls entries from. */
export interface EntrySource {
  /** The next entry without consuming it; WAIT when it has not arrived yet (live), END when the log is over. */
  peek(): LogEntry | typeof WAIT | typeof END;
  /** Consumes the entry peek() returned. */
  take(): void;
}

/**
 * An EntrySource whose entries sit in columns (a trace file's decoded batches, flat-batch.ts; the live
 * channel's entry blocks, entry-block.ts): the replayer reads the head entry there and makes a LogEntry only
 * when it needs one (anything but a matching input call).
 */
export interface FlatEntrySource extends EntrySource {
  /** The columns that hold the head entry (at headPos); undefined when peek() would say WAIT or END. */
  flatHead(): EntryColumns | undefined;
  readonly headPos: number;
}

function isFlat(s: EntrySource): s is FlatEntrySource {
  return typeof (s as Partial<FlatEntrySource>).flatHead === 'function';
}

export const WAIT: unique symbol = Symbol('twinstep.replay.wait');
export const END: unique symbol = Symbol('twinstep.replay.end');

export interface ReplayerOptions {
  readonly machine: Machine;
  readonly source: EntrySource;
  /** Continue after a divergence where the call sequence still lines up, collecting all of them. */
  readonly keepGoing?: boolean;
  /** Where the replayed guest's outputs go (the secondary emits them after go-live; CI discards them). */
  readonly emit?: (channel: number, data: Uint8Array) => void;
  /** Test/research hook that perturbs one input, output or memory byte. */
  readonly fault?: FaultHook;
  /** Called after each entry is consumed and matched, with its seq and kind (the secondary acks from here). */
  readonly onMatched?: (seq: number, kind: EntryKind) => void;
  /** How many consumed entries to keep for a report's context. */
  readonly contextEntries?: number;
  /** Stop comparing once this many divergences were found (keep-going bound). */
  readonly divergencesMax?: number;
  /**
   * The log takes state digests only before input and output calls, never before a pure one (the live
   * channel's rule, docs/PROTOCOL.md, "Digests"). Then a call whose entries have not arrived yet need not
   * wait at its start: if it is pure, no entry can be due there, so the replay runs on through pure calls and
   * waits at the next input or output (which presents the call again, digest check included, once entries
   * came). A trace recorder may digest before any call, so trace replay leaves this off.
   */
  readonly digestsBeforeLoggedCallsOnly?: boolean;
  /**
   * What a Digest entry is compared against (default 'full'):
   *   - 'full': the root digest (linear memory, globals, device state and files);
   *   - 'files': only the virtual disk's per-file content digests. For differential replay: a rebuilt module
   *     lays out its memory and globals differently even when it behaves the same, but leaves the same files;
   *   - 'off': not compared. The entry is still consumed at its host call, so the call sequence is checked.
   * A digest entry that carries the root only (the live channel's) cannot be compared by files: it counts as
   * skipped.
   */
  readonly digests?: DigestMode;
}

export type DigestMode = 'full' | 'files' | 'off';

/** How many Digest entries a replay compared, and how many it consumed without comparing. */
export interface DigestCounts {
  readonly compared: number;
  readonly skipped: number;
}

export type ReplayOutcome =
  | { readonly status: 'identical'; readonly entries: number; readonly callIndex: number; readonly capped: boolean }
  | { readonly status: 'diverged'; readonly divergences: readonly Divergence[]; readonly entries: number; readonly callIndex: number }
  | { readonly status: 'waiting'; readonly entries: number; readonly callIndex: number };

export class Replayer implements HostCallHandler {
  readonly divergences: Divergence[] = [];
  /**
   * The last entries consumed, as a ring (context for divergence reports): each slot holds the entry, or (fast
   * path) the batch and position it is made from when a report needs it.
   */
  private readonly recent: (LogEntry | undefined)[];
  private readonly recentBatch: (EntryColumns | undefined)[];
  private readonly recentPos: number[];
  private recentAt = 0;
  /** The source in columns, when it has them and no fault hook needs every entry as an object. */
  private readonly flat: FlatEntrySource | undefined;
  /**
   * The machine's input lane (Machine.inputLane), used with the flat source: runs of recorded inputs are offered
   * to it, and the machine answers the matching calls without calling this handler. `laneSeen` is how many fed
   * entries were accounted for; the entries of the current offer start at `lanePos` of `laneBatch`, which is
   * the source's head position until they are accounted for (syncLane).
   */
  private readonly lane: InputLane | undefined;
  private laneSeen = 0;
  private laneBatch: EntryColumns | undefined;
  private lanePos = 0;
  /** The head entry as beforeCall found it for call `headFor` (fast path; -1: none). */
  private headBatch: EntryColumns | undefined;
  private headPos = 0;
  private headFor = -1;
  /** Call-table id of the last call name looked up (fast path). */
  private lastName = '';
  private lastId = callIdCustom;
  private readonly track = new DigestTrack();
  private digestsCompared = 0;
  private digestsSkipped = 0;
  private consumed = 0;
  private stopped = false;
  /** The guest reached a point the log has not: live replay must wait for more entries. */
  private waiting = false;
  /** The log ended with a cap marker: the recording stopped here on purpose. */
  private capReached = false;
  /**
   * HostCallHandler.quietThrough: the call index of the next entry when the fast path consumed an input and the
   * next entry (in the same columns) is an input too; beforeCall has nothing to do before it (pure calls, then
   * that input, whose head input() finds itself). Anything else (a digest or output next, another batch, any
   * slow path, a divergence) sets -1, so beforeCall runs at every call again.
   */
  quietThrough = -1;

  constructor(private readonly o: ReplayerOptions) {
    const ring = (o.contextEntries ?? 5) + 1;
    this.recent = new Array(ring).fill(undefined);
    this.recentBatch = new Array(ring).fill(undefined);
    this.recentPos = new Array(ring).fill(0);
    this.flat = isFlat(o.source) && !o.fault ? o.source : undefined;
    this.lane = this.flat !== undefined ? o.machine.inputLane : undefined;
    // Outside a run nothing is offered (an offer ends with its run): only what was fed before counts as seen.
    if (this.lane !== undefined) this.laneSeen = this.lane.fed;
  }

  get entries(): number {
    this.catchUp();
    return this.consumed;
  }

  /**
   * Accounts for what the machine's input lane fed since this handler was last called. Every handler call and
   * finish() do it; a driver that reads the source or the entry count between runs calls it first.
   */
  catchUp(): void {
    if (this.lane !== undefined) this.syncLane();
  }

  get digestCounts(): DigestCounts {
    return { compared: this.digestsCompared, skipped: this.digestsSkipped };
  }

  // ---- handler -------------------------------------------------------------------------------------

  beforeCall(call: HostCallInfo): typeof PAUSE | void {
    this.quietThrough = -1;
    if (this.lane !== undefined) this.syncLane();
    if (this.stopped) return PAUSE;
    this.waiting = false;
    const f = this.flat;
    if (f !== undefined) {
      // Fast path: the head entry is at a later call, or is this call's input: nothing to do before the call
      // (input() then finds the head where this left it).
      const b = f.flatHead();
      if (b !== undefined) {
        const i = f.headPos;
        const at = b.callIndex(i);
        if (at > call.index) {
          if (this.lane !== undefined) this.offerLane(b, i);
          return;
        }
        if (at === call.index && b.kind(i) === EntryKind.Input) {
          this.headBatch = b;
          this.headPos = i;
          this.headFor = call.index;
          return;
        }
      }
    }
    this.o.fault?.beforeCall?.(call.index, this.o.machine);
    for (;;) {
      const e = this.o.source.peek();
      if (e === WAIT) {
        if (this.o.digestsBeforeLoggedCallsOnly) return;
        this.waiting = true;
        return PAUSE;
      }
      if (e === END) return;
      if (e.kind === EntryKind.Digest && e.callIndex <= call.index) {
        this.take(e);
        if (e.callIndex === call.index) this.checkDigest(e, call.index);
        else this.diverge('call-mismatch', e, call.index, `the recording took a state digest at host call ${e.callIndex}, which this run passed without stopping`);
        if (this.stopped) return PAUSE;
        continue;
      }
      if (e.kind === EntryKind.Output && e.channel === END_CAP && e.callIndex <= call.index) {
        // The recording was capped here: everything up to this point matched; stop cleanly.
        this.take(e);
        this.capReached = true;
        this.stopped = true;
        return PAUSE;
      }
      if (e.callIndex < call.index) {
        // The recording made an input/output call at an index this run has already passed as a pure call.
        this.take(e);
        this.diverge('call-mismatch', e, call.index, `recorded ${describe(e)} at host call ${e.callIndex}; this run made a different (pure) call there`);
        if (this.stopped) return PAUSE;
        continue;
      }
      return;
    }
  }

  input(call: InputCall): Uint8Array | typeof PAUSE {
    const f = this.flat;
    if (this.lane !== undefined) this.syncLane();
    if (f !== undefined && !this.stopped) {
      // Fast path: the head entry is this very input (same index, call and request): feed its data from the
      // columns. Anything else takes the general path below, which makes the entry and says what differs.
      let b: EntryColumns | undefined;
      let i: number;
      if (this.headFor === call.index) {
        b = this.headBatch;
        i = this.headPos;
        this.headFor = -1;
      } else {
        b = f.flatHead();
        i = f.headPos;
      }
      if (b !== undefined) {
        if (b.kind(i) === EntryKind.Input && b.callIndex(i) === call.index && b.id(i) === this.idOf(call.name)) {
          const req = call.request;
          const rl = b.requestLength(i);
          let same: boolean;
          const rw = this.lastRequestWords;
          if (req === this.lastRequest && rw !== undefined && rl === req.length) {
            // The request array of the last input again (the usual case): compare its words here. Unrolled for the
            // usual sizes (a clock request is 3 words, a random one 1): as a call, or as a loop, it made a replay of
            // the densest bench guest 2-7% slower (interleaved replays of one trace).
            const v = b.bytesView();
            const at = b.requestAt(i);
            const n = rw.length;
            if (n === 3) same = rw[0] === v.getInt32(at, true) && rw[1] === v.getInt32(at + 4, true) && rw[2] === v.getInt32(at + 8, true);
            else if (n === 1) same = rw[0] === v.getInt32(at, true);
            else same = sameWords(rw, v, at);
          } else {
            same = rl === req.length && this.sameRequest(req, b, b.requestAt(i));
          }
          if (same) {
            // An entry the lane holds, taken here (the lane was off for a rewound call): the lane's copy goes.
            if (this.lane !== undefined && this.lane.pending > 0) this.lane.withdraw();
            f.take();
            this.consumed++;
            const k = this.recentAt;
            // Stores only when the slot changes: a batch is young (it lives for a few thousand entries), so each
            // store of it would call the GC's write barrier, and the slot usually holds this batch already.
            if (this.recent[k] !== undefined) this.recent[k] = undefined;
            if (this.recentBatch[k] !== b) this.recentBatch[k] = b;
            this.recentPos[k] = i;
            this.recentAt = k + 1 === this.recent.length ? 0 : k + 1;
            const n = i + 1;
            this.quietThrough = n < b.count && b.kind(n) === EntryKind.Input ? b.callIndex(n) : -1;
            if (this.lane !== undefined) {
              // The run from the new head (in this batch, or the next one when this one is done).
              const h = f.flatHead();
              if (h !== undefined) this.offerLane(h, f.headPos);
            }
            if (this.o.onMatched) this.o.onMatched(b.firstSeq + i, EntryKind.Input);
            return this.result(b, b.dataAt(i), b.dataLength(i));
          }
        }
      }
    }
    const e = this.expect(call, EntryKind.Input);
    if (e === PAUSE) return PAUSE;
    if (!bytesEqual(e.request, call.request)) {
      // The guest asks for something else (another clock, another length): the result cannot be fed.
      this.take(e);
      this.diverge('request-mismatch', e, call.index, `${call.name} at host call ${call.index} asked for a different result shape than recorded`, { request: call.request });
      this.stopped = true;
      return PAUSE;
    }
    this.take(e);
    this.o.onMatched?.(e.seq, e.kind);
    const data = this.o.fault?.input?.(e) ?? e.data;
    return data;
  }

  output(call: OutputCall): typeof PAUSE | void {
    if (this.lane !== undefined) this.syncLane();
    const e = this.expect(call, EntryKind.Output);
    if (e === PAUSE) return PAUSE;
    this.take(e);
    const data = this.o.fault?.output?.(e, call.data) ?? call.data;
    if (e.channel !== call.channel || !bytesEqual(e.data, data)) {
      this.diverge(call.channel === END_EXIT ? 'exit-mismatch' : 'output-mismatch', e, call.index, e.channel !== call.channel ? `output went to channel ${call.channel}, recorded on ${e.channel}` : `${call.name} at host call ${call.index} wrote different bytes than recorded`, { channel: call.channel, data });
      if (this.stopped) return PAUSE;
    } else {
      this.o.onMatched?.(e.seq, e.kind);
    }
    if (call.channel >= 0) this.o.emit?.(call.channel, data);
    if (this.lane !== undefined && !this.stopped) {
      const b = this.flat!.flatHead();
      if (b !== undefined) this.offerLane(b, this.flat!.headPos);
    }
  }

  // ---- end of run ----------------------------------------------------------------------------------

  /** Compares how the run ended with the log's end, and reports the outcome. */
  finish(result: RunResult): ReplayOutcome {
    if (this.lane !== undefined) this.syncLane();
    const callIndex = this.o.machine.callIndex;
    if (result.status === 'paused') {
      if (this.waiting && !this.stopped) return { status: 'waiting', entries: this.consumed, callIndex };
      if (this.capReached && this.divergences.length === 0) return { status: 'identical', entries: this.consumed, callIndex, capped: true };
      return this.outcome(callIndex);
    }
    // Digest entries recorded at the very end (after the last call) are checked against the final state.
    // Live, the end of the log may not have arrived yet: wait for it rather than call it missing.
    for (;;) {
      const e = this.o.source.peek();
      if (e === WAIT) {
        if (!this.endSeen) return { status: 'waiting', entries: this.consumed, callIndex };
        break;
      }
      if (e === END) break;
      if (e.kind === EntryKind.Digest && e.callIndex === callIndex) {
        this.take(e);
        // A recording has no digest before a trap: this one was taken before an exit, and a run that trapped
        // there is reported as the end it made (exit-mismatch), not as the state a trap left behind.
        if (result.status !== 'trapped') this.checkDigest(e, callIndex);
        continue;
      }
      break;
    }
    const e = this.o.source.peek();
    if (result.status === 'exited') {
      if (e !== WAIT && e !== END && e.kind === EntryKind.Output && e.channel === END_EXIT) {
        // proc_exit itself is compared as an output; a return from _start has its end marker checked here.
        this.take(e);
        if (!bytesEqual(e.data, exitCodeBytes(result.code))) this.diverge('exit-mismatch', e, callIndex, `the guest exited with ${result.code}, recorded exit ${exitCodeOf(e.data)}`, { channel: END_EXIT, data: exitCodeBytes(result.code) });
        else this.o.onMatched?.(e.seq, e.kind);
      } else if (!this.endSeen) {
        this.divergeEnd(e, callIndex, `the guest exited with ${result.code}`, exitCodeBytes(result.code));
      }
    } else if (result.status === 'trapped') {
      if (e !== WAIT && e !== END && e.kind === EntryKind.Output && e.channel === END_TRAP) {
        // A trap matches a recorded trap of the same kind (V8's message names it: unreachable, an access out of
        // bounds, a division by zero…).
        this.take(e);
        const recorded = Buffer.from(e.data).toString();
        if (recorded === result.error.message) this.o.onMatched?.(e.seq, e.kind);
        else this.diverge('exit-mismatch', e, callIndex, `the guest trapped (${trapReason(result.error.message)}); the recording trapped (${trapReason(recorded)})`, { channel: END_TRAP, data: Buffer.from(result.error.message) });
      } else {
        this.divergeEnd(e, callIndex, `the guest trapped (${trapReason(result.error.message)})`, Buffer.from(result.error.message));
      }
    }
    const rest = this.o.source.peek();
    if (rest !== WAIT && rest !== END && this.divergences.length === 0) {
      this.diverge('missing-call', rest, callIndex, `the run ended, but the recording goes on with ${describe(rest)} at host call ${rest.callIndex}`);
    }
    return this.outcome(callIndex);
  }

  /**
   * The run was stopped in the middle (a time limit: engine/node/time-limit.ts) and will not go on: the outcome
   * is a timeout divergence at the next recorded entry, after any divergences found before. The machine may
   * have been stopped anywhere, its state is not read; only its host-call index is.
   */
  interrupted(message: string): ReplayOutcome {
    // The stop may have come in the middle of this replayer's own work (feeding the lane, reading the source):
    // where it stood is told as well as it can be, never at the cost of the report.
    let next: LogEntry | typeof WAIT | typeof END = WAIT;
    try {
      if (this.lane !== undefined) this.syncLane();
      next = this.o.source.peek();
    } catch {
      // the next entry stays unknown
    }
    const callIndex = this.o.machine.callIndex;
    this.diverge('timeout', next === WAIT || next === END ? undefined : next, callIndex, message);
    return this.outcome(callIndex);
  }

  private endSeen = false;

  private outcome(callIndex: number): ReplayOutcome {
    if (this.divergences.length > 0) return { status: 'diverged', divergences: this.divergences, entries: this.consumed, callIndex };
    return { status: 'identical', entries: this.consumed, callIndex, capped: this.capReached };
  }

  // ---- helpers -------------------------------------------------------------------------------------

  /** The entry for this input/output call, or PAUSE (waiting, or a divergence that stops replay). */
  private expect(call: HostCallInfo, kind: EntryKind): LogEntry | typeof PAUSE {
    this.quietThrough = -1;
    if (this.stopped) return PAUSE;
    const e = this.o.source.peek();
    if (e === WAIT) {
      this.waiting = true;
      return PAUSE;
    }
    if (e === END) {
      this.diverge('extra-call', undefined, call.index, `the guest made ${call.name} at host call ${call.index}, after the end of the recording`);
      this.stopped = true;
      return PAUSE;
    }
    if (e.callIndex !== call.index || e.kind !== kind || e.call !== call.name) {
      const what = e.callIndex > call.index ? 'extra-call' : 'call-mismatch';
      this.diverge(what, e, call.index, `the guest made ${call.name} (${kindName(kind)}) at host call ${call.index}; recorded ${describe(e)} at host call ${e.callIndex}`);
      // The sequences no longer line up: nothing after this can be compared meaningfully.
      this.stopped = true;
      return PAUSE;
    }
    if (kind === EntryKind.Output && isEndChannel(e.channel)) this.endSeen = true;
    return e;
  }

  private take(e: LogEntry): void {
    this.headFor = -1;
    if (this.lane !== undefined && this.lane.pending > 0) this.lane.withdraw();
    this.o.source.take();
    this.consumed++;
    const ring = this.recent;
    ring[this.recentAt] = e;
    this.recentBatch[this.recentAt] = undefined;
    this.recentAt = this.recentAt + 1 === ring.length ? 0 : this.recentAt + 1;
  }

  /** One result array per small length, refilled per call (the machine copies a result at once), and its words. */
  private readonly results: Uint8Array[] = [];
  private readonly resultWords: Int32Array[] = [];

  /** The columns' bytes[at .. at + n) as an input result: a refilled array for small results, a view for large ones. */
  private result(b: EntryColumns, at: number, n: number): Uint8Array {
    const blob = b.bytes;
    if (n > 64) return blob.subarray(at, at + n);
    let r = this.results[n];
    if (r === undefined) {
      this.results[n] = r = new Uint8Array(n);
      this.resultWords[n] = new Int32Array(r.buffer, 0, n >> 2);
    }
    // Word copies when the result is whole words (a clock's 8 bytes), through the blob's DataView (entries after
    // an odd-sized one sit off word boundaries).
    if ((n & 3) === 0) {
      const rw = this.resultWords[n]!;
      const v = b.bytesView();
      for (let k = 0; k < rw.length; k++) rw[k] = v.getInt32(at + 4 * k, true);
    } else {
      for (let k = 0; k < n; k++) r[k] = blob[at + k]!;
    }
    return r;
  }

  /** The request the guest passed last (the host hands the same array again while it is unchanged) and its words. */
  private lastRequest: Uint8Array | undefined;
  private lastRequestWords: Int32Array | undefined;
  /** The request array before the last one, and its words. */
  private otherRequest: Uint8Array | undefined;
  private otherRequestWords: Int32Array | undefined;

  /** Whether `req` holds the columns' bytes at `at` (the recorded request); by words when both allow it. */
  private sameRequest(req: Uint8Array, b: EntryColumns, at: number): boolean {
    // The same array as last time is the common case: its word view (or that it has none) is known, and its
    // offset is not read again (byteOffset is a builtin call, not inlined).
    // Two arrays are kept: guests interleave two calls (a clock read with a random draw now and then).
    if (req !== this.lastRequest) {
      const other = this.otherRequest;
      const otherWords = this.otherRequestWords;
      this.otherRequest = this.lastRequest;
      this.otherRequestWords = this.lastRequestWords;
      this.lastRequest = req;
      if (req === other) {
        this.lastRequestWords = otherWords;
      } else {
        const n = req.length;
        this.lastRequestWords = (n & 3) === 0 && (req.byteOffset & 3) === 0 ? new Int32Array(req.buffer, req.byteOffset, n >> 2) : undefined;
      }
    }
    const rw = this.lastRequestWords;
    if (rw === undefined) return sameAt(req, b.bytes, at);
    return sameWords(rw, b.bytesView(), at);
  }

  /** Table id of a call name (callIdCustom for names outside the table: those take the general path). */
  private idOf(name: string): number {
    if (name !== this.lastName) {
      this.lastName = name;
      this.lastId = callId(name);
    }
    return this.lastId === callIdCustom ? -1 : this.lastId;
  }

  /** The consumed entries of the ring, oldest first. */
  private recentEntries(): LogEntry[] {
    const out: LogEntry[] = [];
    const n = this.recent.length;
    for (let j = 0; j < n; j++) {
      const k = (this.recentAt + j) % n;
      const e = this.recent[k] ?? this.recentBatch[k]?.entry(this.recentPos[k]!);
      if (e !== undefined) out.push(e);
    }
    return out;
  }

  private checkDigest(e: LogEntry, index: number): void {
    let payload;
    try {
      payload = decodeDigestPayload(e.data);
    } catch (err) {
      this.diverge('digest-mismatch', e, index, `the recorded digest entry is malformed: ${(err as Error).message}`);
      return;
    }
    if (!payload.rootOnly) this.track.apply(payload);
    const mode = this.o.digests ?? 'full';
    if (mode === 'off' || (mode === 'files' && payload.rootOnly)) {
      this.digestsSkipped++;
      this.o.onMatched?.(e.seq, e.kind);
      return;
    }
    this.digestsCompared++;
    const now = this.o.machine.digest();
    if (mode === 'files') {
      const files = differingFiles(this.track.files, now.files);
      if (files.length === 0) this.o.onMatched?.(e.seq, e.kind);
      else this.diverge('digest-mismatch', e, index, `file contents differ at host call ${index}: ${files.length} file(s) (memory and device state not compared)`, undefined, { pages: [], files, devices: false });
      return;
    }
    if (now.root === payload.root) {
      this.o.onMatched?.(e.seq, e.kind);
      return;
    }
    if (payload.rootOnly) {
      this.diverge('digest-mismatch', e, index, `state digest differs at host call ${index} (the log carries the root only)`, undefined, { pages: [], files: [], devices: false });
      return;
    }
    const pages: number[] = [];
    const n = Math.max(now.pages.length, this.track.pages.length);
    for (let i = 0; i < n; i++) if (now.pages[i] !== this.track.pages[i]) pages.push(i);
    const files = differingFiles(this.track.files, now.files);
    this.diverge('digest-mismatch', e, index, `state digest differs at host call ${index}: ${pages.length} memory page(s)${files.length ? `, ${files.length} file(s)` : ''}${now.devices !== payload.devices ? ', device state' : ''} differ`, undefined, { pages, files, devices: now.devices !== payload.devices });
  }

  private divergeEnd(e: LogEntry | typeof WAIT | typeof END, index: number, what: string, data: Uint8Array): void {
    const entry = e === WAIT || e === END ? undefined : e;
    if (entry) this.take(entry);
    // The recording goes on with a call (a line the new build no longer prints): the run ended early, which is
    // what missing-call says; its end is not compared with the bytes of that call.
    if (entry && !isEndChannel(entry.channel)) {
      this.diverge('missing-call', entry, index, `${what}, but the recording goes on with ${describe(entry)} at host call ${entry.callIndex}`);
      return;
    }
    this.diverge('exit-mismatch', entry, index, `${what}; the recording ${entry ? `has ${describe(entry)} at host call ${entry.callIndex}` : 'ends without an end marker'}`, { channel: END_EXIT, data });
  }

  private diverge(kind: DivergenceKind, e: LogEntry | undefined, callIndex: number, message: string, actual?: { channel?: number; data?: Uint8Array; request?: Uint8Array }, state?: Divergence['state']): void {
    const context = this.recentEntries().filter((r) => r !== e).slice(-(this.o.contextEntries ?? 5)).map(view);
    this.divergences.push({ kind, seq: e?.seq ?? -1, callIndex, message, expected: e ? view(e) : undefined, actual, context, state });
    if (!this.o.keepGoing || this.divergences.length >= (this.o.divergencesMax ?? KEEP_GOING_DIVERGENCES_MAX)) this.stopped = true;
  }

  // ---- the input lane ------------------------------------------------------------------------------

  /**
   * Offers the run of inputs from entry `i` of `b` (the source's head, at a call after the current one) to the
   * lane, unless it still holds entries of an earlier offer.
   */
  private offerLane(b: EntryColumns, i: number): void {
    const lane = this.lane!;
    if (lane.pending > 0 || this.stopped || b.kind(i) !== EntryKind.Input) return;
    if (lane.offer(b, i) > 0) {
      this.laneBatch = b;
      this.lanePos = i;
    }
  }

  /**
   * Accounts for the entries the lane fed since the last look: they are the head entries of the source (the
   * first ones of the last offer), matched as input() matches them. Takes them from the source, counts them,
   * puts the last ones in the context ring and reports the last one matched.
   */
  private syncLane(): void {
    const lane = this.lane!;
    const fed = lane.fed;
    if (fed === this.laneSeen) return;
    const k = fed - this.laneSeen;
    this.laneSeen = fed;
    const b = this.laneBatch!;
    const from = this.lanePos;
    const f = this.flat!;
    for (let j = 0; j < k; j++) f.take();
    this.lanePos = from + k;
    this.consumed += k;
    this.headFor = -1;
    const ring = this.recent.length;
    for (let p = Math.max(from, from + k - ring); p < from + k; p++) {
      const slot = this.recentAt;
      this.recent[slot] = undefined;
      this.recentBatch[slot] = b;
      this.recentPos[slot] = p;
      this.recentAt = slot + 1 === ring ? 0 : slot + 1;
    }
    this.o.onMatched?.(b.firstSeq + from + k - 1, EntryKind.Input);
  }
}

function view(e: LogEntry): EntryView {
  return { seq: e.seq, callIndex: e.callIndex, kind: kindName(e.kind), call: e.call, channel: e.channel, request: e.request, data: e.data };
}

/** Guest paths whose content digest differs, or that only one side has; sorted. */
function differingFiles(recorded: ReadonlyMap<string, bigint>, now: ReadonlyMap<string, bigint>): string[] {
  const files: string[] = [];
  for (const [p, h] of recorded) if (now.get(p) !== h) files.push(p);
  for (const p of now.keys()) if (!recorded.has(p)) files.push(p);
  return files.sort();
}

function kindName(k: EntryKind): 'input' | 'output' | 'digest' {
  return k === EntryKind.Input ? 'input' : k === EntryKind.Output ? 'output' : 'digest';
}

function describe(e: LogEntry): string {
  if (e.kind === EntryKind.Digest) return 'a state digest';
  return `${e.call} (${kindName(e.kind)})`;
}


/** Whether the words `rw` are the little-endian words of `v` from byte `at`. */
function sameWords(rw: Int32Array, v: DataView, at: number): boolean {
  for (let k = 0; k < rw.length; k++) if (rw[k] !== v.getInt32(at + 4 * k, true)) return false;
  return true;
}

/** Whether `a` equals blob[at .. at + a.length) (the caller checked the length fits). */
function sameAt(a: Uint8Array, blob: Uint8Array, at: number): boolean {
  for (let k = 0; k < a.length; k++) if (a[k] !== blob[at + k]) return false;
  return true;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  // Requests and most outputs are a few bytes: a loop beats wrapping both in Buffers on this hot path.
  if (a.length <= 64) {
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** For other replayers (stream-replayer.ts): an entry as reports show it, and in words. */
export const entryView = view;
export const describeEntry = describe;
