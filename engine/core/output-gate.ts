/**
 * The output gate: holds every externally visible output of the primary, tagged with the seq of its log entry,
 * until the release rule allows it out. Outputs leave strictly in seq order (the outside world must see the
 * guest's own order), so the gate is a FIFO that only ever opens at its head.
 *
 *  - rule 'ack':     head may go once receivedSeq >= head.seq (the secondary has every entry up to it).
 *  - rule 'compare': head may go once matchedSeq  >= head.seq (the secondary replayed it byte-identically).
 *  - dispatch 'secondary': the secondary sends matched outputs itself; the gate DROPS them on the match ack and
 *    never releases them, except when forced (no secondary any more, or a resync made the primary the truth).
 *  - forcedSeq: outputs at or below are released regardless of acks (unprotected periods, resync completion).
 *  - frozen: nothing is released (resync in progress); drops of outputs the secondary already sent still happen.
 * Releasing also needs `mayRelease` (lease held) from the caller; dropping does not, since nothing goes out.
 */
import type { DispatchSide, ReleaseRule } from './config.ts';
import { invariant } from './invariant.ts';

import type { OutputRecord } from './messages.ts';

export type HeldOutput = OutputRecord;

export interface GateDrain {
  /** To be dispatched by the primary now, in this order. */
  readonly released: HeldOutput[];
  /** Dispatched by the secondary (match ack): forgotten without going out. */
  readonly dropped: HeldOutput[];
}

export class OutputGate {
  private readonly held: HeldOutput[] = [];
  private head = 0;
  private bytes = 0;
  private received = -1;
  private matched = -1;
  private forced = -1;
  private isFrozen = false;
  /** Seq of the last output that left the gate (released or dropped): order check. */
  private lastOutSeq = -1;

  constructor(
    readonly rule: ReleaseRule,
    readonly dispatchSide: DispatchSide,
  ) {}

  get count(): number {
    return this.held.length - this.head;
  }
  get heldBytes(): number {
    return this.bytes;
  }
  get frozen(): boolean {
    return this.isFrozen;
  }
  get receivedSeq(): number {
    return this.received;
  }
  get matchedSeq(): number {
    return this.matched;
  }
  /** First held output, if any. */
  peek(): HeldOutput | undefined {
    return this.held[this.head];
  }
  /** Every held output, oldest first (for status and tests). */
  list(): readonly HeldOutput[] {
    return this.held.slice(this.head);
  }

  hold(output: HeldOutput): void {
    const last = this.held[this.held.length - 1];
    invariant(output.seq > (this.head < this.held.length && last ? last.seq : this.lastOutSeq), `output seq ${output.seq} not increasing`);
    this.held.push(output);
    this.bytes += output.data.length;
  }

  /** Receipt ack (cumulative; older values are ignored so reordered acks are harmless). */
  noteReceived(seq: number): void {
    if (seq > this.received) this.received = seq;
  }
  /** Match ack (cumulative). */
  noteMatched(seq: number): void {
    if (seq > this.matched) this.matched = seq;
  }
  /** Outputs at or below seq go out regardless of acks (Infinity: everything, now and later). */
  force(seq: number): void {
    this.forced = seq;
  }
  freeze(): void {
    this.isFrozen = true;
  }
  thaw(): void {
    this.isFrozen = false;
  }
  /** A new stream (after a transfer) starts with fresh acks at resumeSeq - 1. */
  restartAcks(lastSeq: number): void {
    this.received = lastSeq;
    this.matched = lastSeq;
  }

  /** Takes out everything the rule allows now, in order. */
  drain(mayRelease: boolean): GateDrain {
    const released: HeldOutput[] = [];
    const dropped: HeldOutput[] = [];
    while (this.head < this.held.length) {
      const o = this.held[this.head]!;
      let verdict: 'release' | 'drop' | 'stay' = 'stay';
      if (!this.isFrozen && o.seq <= this.forced) verdict = 'release';
      else if (this.dispatchSide === 'secondary') verdict = o.seq <= this.matched ? 'drop' : 'stay';
      else if (!this.isFrozen && o.seq <= (this.rule === 'ack' ? this.received : this.matched)) verdict = 'release';
      if (verdict === 'stay' || (verdict === 'release' && !mayRelease)) break;
      this.held[this.head] = undefined as unknown as HeldOutput;
      this.head++;
      this.bytes -= o.data.length;
      this.lastOutSeq = o.seq;
      (verdict === 'release' ? released : dropped).push(o);
    }
    if (this.head > 64 && this.head * 2 > this.held.length) {
      this.held.splice(0, this.head);
      this.head = 0;
    }
    return { released, dropped };
  }

  /** Highest seq r such that no output at or below r is still held, given the log's next seq. */
  releasedSeq(nextSeq: number): number {
    const h = this.peek();
    return h ? h.seq - 1 : nextSeq - 1;
  }

  checkInvariants(): void {
    let prev = this.lastOutSeq;
    let bytes = 0;
    for (let i = this.head; i < this.held.length; i++) {
      const o = this.held[i]!;
      invariant(o.seq > prev, 'gate out of order');
      prev = o.seq;
      bytes += o.data.length;
    }
    invariant(bytes === this.bytes, 'gate byte count');
  }
}
