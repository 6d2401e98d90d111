/**
 * The secondary's receive side of the log: dedupes by seq, buffers blocks that arrive ahead of a gap (bounded),
 * delivers entries strictly in seq order as blocks, and checks the chain order where blocks meet (call
 * indices never go backwards and no two host calls share an index; inside a block EntryBlock.decode checked
 * it). The channel frame's checksum covers the bytes; this is the order.
 */
import type { EntryBlock } from '../log/entry-block.ts';
import { ProtocolError } from './errors.ts';

export interface AcceptResult {
  /** Newly contiguous entries, in seq order (blocks, or parts of blocks, that follow each other). */
  readonly delivered: EntryBlock[];
  /** Entries received again (at or below receivedSeq, or already buffered). */
  readonly duplicates: number;
  readonly errors: ProtocolError[];
}

export class ReceiveWindow {
  private next = 0;
  private lastCall = 0;
  private lastHostCall = -1;
  /** Blocks beyond a gap, by first seq. */
  private readonly ahead = new Map<number, EntryBlock>();
  private aheadEntries = 0;

  /** aheadMax: most entries buffered beyond a gap. */
  constructor(private readonly aheadMax: number) {}

  /** Start a stream at nextSeq, the guest standing before host call callIndex. */
  reset(nextSeq: number, callIndex: number): void {
    this.next = nextSeq;
    this.lastCall = callIndex;
    this.lastHostCall = callIndex - 1;
    this.clearAhead();
  }

  /** Every entry at or below has been received. */
  get receivedSeq(): number {
    return this.next - 1;
  }
  /** Call index of the last delivered entry (or of the stream start). */
  get lastCallIndex(): number {
    return this.lastCall;
  }
  /** Entries buffered beyond a gap. */
  get aheadCount(): number {
    return this.aheadEntries;
  }

  /** The first missing range [from, to] below a buffered block, if any. */
  gap(): [number, number] | null {
    if (this.ahead.size === 0) return null;
    let min = Infinity;
    for (const s of this.ahead.keys()) if (s < min) min = s;
    return [this.next, min - 1];
  }

  clearAhead(): void {
    this.ahead.clear();
    this.aheadEntries = 0;
  }

  accept(block: EntryBlock): AcceptResult {
    const delivered: EntryBlock[] = [];
    const errors: ProtocolError[] = [];
    let duplicates = 0;
    if (block.lastSeq < this.next) {
      duplicates += block.count;
    } else if (block.firstSeq > this.next) {
      const have = this.ahead.get(block.firstSeq);
      if (have !== undefined && have.count >= block.count) {
        duplicates += block.count;
      } else if (this.aheadEntries - (have?.count ?? 0) + block.count > this.aheadMax) {
        errors.push(new ProtocolError('E_REORDER_FULL', `entries ${block.firstSeq}..${block.lastSeq} dropped, ${this.aheadEntries} buffered`));
      } else {
        if (have !== undefined) duplicates += have.count;
        this.ahead.set(block.firstSeq, block);
        this.aheadEntries += block.count - (have?.count ?? 0);
      }
    } else {
      duplicates += this.next - block.firstSeq;
      if (this.deliver(block, delivered, errors)) this.drainAhead(delivered, errors);
    }
    return { delivered, duplicates, errors };
  }

  /** Delivers the buffered blocks that now follow on (dropping those wholly received meanwhile). */
  private drainAhead(delivered: EntryBlock[], errors: ProtocolError[]): void {
    for (;;) {
      let found: EntryBlock | undefined;
      for (const b of this.ahead.values()) {
        if (b.firstSeq > this.next) continue;
        this.ahead.delete(b.firstSeq);
        this.aheadEntries -= b.count;
        if (b.lastSeq >= this.next) {
          found = b;
          break;
        }
      }
      if (found === undefined) return;
      if (!this.deliver(found, delivered, errors)) return;
    }
  }

  /** Delivers the part of `b` from seq `next` on (firstSeq <= next <= lastSeq); false on a broken chain. */
  private deliver(b: EntryBlock, out: EntryBlock[], errors: ProtocolError[]): boolean {
    const part = b.firstSeq === this.next ? b : b.slice(this.next);
    const firstHost = part.firstHostCallIndex;
    if (part.firstCallIndex < this.lastCall || (firstHost >= 0 && firstHost <= this.lastHostCall)) {
      // A broken chain means a corrupt or forged stream: drop what we buffered and ask again from here.
      errors.push(new ProtocolError('E_CHAIN', `entry ${part.firstSeq} at call ${part.firstCallIndex} after call ${this.lastCall}`));
      this.clearAhead();
      return false;
    }
    this.lastCall = part.lastCallIndex;
    if (part.lastHostCallIndex >= 0) this.lastHostCall = part.lastHostCallIndex;
    this.next = part.lastSeq + 1;
    out.push(part);
    return true;
  }
}
