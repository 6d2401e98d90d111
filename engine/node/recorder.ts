/**
 * The record driver: runs the guest live and turns every input result and output into a log entry, plus
 * Digest entries at a configurable interval (host calls and/or milliseconds) so replay catches a state
 * divergence before it reaches an output. The same driver feeds a trace file (`twinstep record`) and the
 * primary's logging channel; where entries go is the sink's business.
 */
import { EXIT_CHANNEL, PAUSE, type HostCallHandler, type HostCallInfo, type InputCall, type Machine, type OutputCall, type RunResult } from '../machine/machine.ts';
import { EntryKind } from '../log/entry.ts';
import { DigestTrack, encodeDigestPayload } from '../log/digest-payload.ts';
import { END_CAP, END_CALLS, END_EXIT, END_TRAP, exitCodeBytes } from '../log/end-marker.ts';

export interface EntrySink {
  /**
   * Appends the next entry (its seq is the count of entries appended before it, from `firstSeq`), given by
   * its fields so the hot path builds no object. The byte arrays are only valid during the call: a sink
   * that keeps them must copy them.
   */
  add(kind: EntryKind, callIndex: number, call: string, channel: number, request: Uint8Array, data: Uint8Array): void;
  /** Bytes the sink has accepted so far (for the size cap). */
  readonly bytes: number;
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
  /** First sequence number (a trace that starts from a snapshot continues a numbering, or starts at 0). */
  readonly firstSeq?: number;
}

const EMPTY = new Uint8Array(0);

export class Recorder implements HostCallHandler {
  private seq: number;
  private lastDigestIndex = -1;
  private lastDigestMs: number;
  private readonly startMs: number;
  private readonly track = new DigestTrack();
  /** Why recording stopped early, once a cap was hit. */
  capped: string | undefined;
  // The options the per-call check reads, resolved once (this runs before every host call).
  private readonly everyCalls: number;
  private readonly everyMs: number;
  private readonly capBytes: number;
  private readonly capMs: number;
  private readonly clock: (() => number) | undefined;
  /** Whether beforeCall has anything to check at all. */
  private readonly checks: boolean;

  constructor(private readonly o: RecorderOptions) {
    this.seq = o.firstSeq ?? 0;
    this.startMs = o.nowMs?.() ?? 0;
    this.lastDigestMs = this.startMs;
    this.everyCalls = o.digestEveryCalls ?? 0;
    this.clock = o.nowMs;
    this.everyMs = this.clock ? (o.digestEveryMs ?? 0) : 0;
    this.capBytes = o.capBytes ?? 0;
    this.capMs = this.clock ? (o.capMs ?? 0) : 0;
    this.checks = this.everyCalls > 0 || this.everyMs > 0 || this.capBytes > 0 || this.capMs > 0;
  }

  get entries(): number {
    return this.seq;
  }

  beforeCall(call: HostCallInfo): typeof PAUSE | void {
    if (!this.checks) return;
    const cap = this.capReason();
    if (cap) {
      this.capped = cap;
      return PAUSE;
    }
    if (this.digestDue(call.index)) this.appendDigest(call.index);
  }

  input(call: InputCall): Uint8Array {
    const data = call.live();
    this.o.sink.add(EntryKind.Input, call.index, call.name, 0, call.request, data);
    this.seq++;
    return data;
  }

  output(call: OutputCall): void {
    // The state just before the guest exits is worth a digest: a build that differs only in internal state
    // is caught even when it never prints the difference.
    if (call.channel === EXIT_CHANNEL) this.appendDigest(call.index);
    this.append(EntryKind.Output, call.index, call.name, call.channel, EMPTY, call.data);
    if (call.channel !== EXIT_CHANNEL) this.o.emit(call.channel, call.data);
  }

  /**
   * Closes the log after `run` returned: a final Digest, then the end marker (exit code, trap, or cap).
   * A guest that returned from _start made no proc_exit call, so its exit entry is written here.
   */
  finish(result: RunResult, machine: Machine): void {
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
    this.o.sink.add(kind, callIndex, name, channel, request, data);
    this.seq++;
  }

  private digestDue(index: number): boolean {
    const calls = this.everyCalls;
    if (calls > 0 && index - this.lastDigestIndex >= calls && index > 0) return true;
    const ms = this.everyMs;
    return ms > 0 && index !== this.lastDigestIndex && this.clock!() - this.lastDigestMs >= ms;
  }

  private appendDigest(index: number): void {
    if (index === this.lastDigestIndex) return;
    this.lastDigestIndex = index;
    this.lastDigestMs = this.o.nowMs?.() ?? 0;
    const payload = this.track.delta(this.o.machine.digest());
    this.append(EntryKind.Digest, index, '', 0, EMPTY, encodeDigestPayload(payload));
  }

  private capReason(): string | undefined {
    const capBytes = this.capBytes;
    if (capBytes > 0 && this.o.sink.bytes >= capBytes) return `size cap of ${capBytes} bytes reached`;
    const capMs = this.capMs;
    if (capMs > 0 && this.clock!() - this.startMs >= capMs) return `duration cap of ${capMs} ms reached`;
    return undefined;
  }
}
