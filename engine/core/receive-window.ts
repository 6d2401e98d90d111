/**
 * The secondary's receive side of the log: dedupes by seq, buffers out-of-order entries (bounded), delivers
 * entries strictly in seq order, and checks the chain order on delivery (call indices never go backwards and
 * no two host calls share an index). The hash chain over entry bytes is engine/log's job; this is the order.
 */
import { EntryKind, type LogEntry } from '../log/entry.ts';
import { ProtocolError } from './errors.ts';

export interface AcceptResult {
  /** Newly contiguous entries, in seq order. */
  readonly delivered: LogEntry[];
  readonly duplicates: number;
  readonly errors: ProtocolError[];
}

export class ReceiveWindow {
  private next = 0;
  private lastCall = 0;
  private lastHostCall = -1;
  private readonly ahead = new Map<number, LogEntry>();

  constructor(private readonly aheadMax: number) {}

  /** Start a stream at nextSeq, the guest standing before host call callIndex. */
  reset(nextSeq: number, callIndex: number): void {
    this.next = nextSeq;
    this.lastCall = callIndex;
    this.lastHostCall = callIndex - 1;
    this.ahead.clear();
  }

  /** Every entry at or below has been received. */
  get receivedSeq(): number {
    return this.next - 1;
  }
  /** Call index of the last delivered entry (or of the stream start). */
  get lastCallIndex(): number {
    return this.lastCall;
  }
  get aheadCount(): number {
    return this.ahead.size;
  }

  /** The first missing range [from, to] below a buffered entry, if any. */
  gap(): [number, number] | null {
    if (this.ahead.size === 0) return null;
    let min = Infinity;
    for (const s of this.ahead.keys()) if (s < min) min = s;
    return [this.next, min - 1];
  }

  clearAhead(): void {
    this.ahead.clear();
  }

  accept(entries: readonly LogEntry[]): AcceptResult {
    const delivered: LogEntry[] = [];
    const errors: ProtocolError[] = [];
    let duplicates = 0;
    for (const e of entries) {
      if (e.seq < this.next || this.ahead.has(e.seq)) {
        duplicates++;
      } else if (e.seq > this.next) {
        if (this.ahead.size >= this.aheadMax) errors.push(new ProtocolError('E_REORDER_FULL', `entry ${e.seq} dropped, ${this.ahead.size} buffered`));
        else this.ahead.set(e.seq, e);
      } else if (!this.deliver(e, delivered, errors)) {
        break;
      }
      let n: LogEntry | undefined;
      while ((n = this.ahead.get(this.next)) !== undefined) {
        this.ahead.delete(n.seq);
        if (!this.deliver(n, delivered, errors)) break;
      }
    }
    return { delivered, duplicates, errors };
  }

  private deliver(e: LogEntry, out: LogEntry[], errors: ProtocolError[]): boolean {
    const hostCall = e.kind !== EntryKind.Digest;
    if (e.callIndex < this.lastCall || (hostCall && e.callIndex <= this.lastHostCall)) {
      // A broken chain means a corrupt or forged stream: drop what we buffered and ask again from here.
      errors.push(new ProtocolError('E_CHAIN', `entry ${e.seq} at call ${e.callIndex} after call ${this.lastCall}`));
      this.ahead.clear();
      return false;
    }
    this.lastCall = e.callIndex;
    if (hostCall) this.lastHostCall = e.callIndex;
    this.next = e.seq + 1;
    out.push(e);
    return true;
  }
}
