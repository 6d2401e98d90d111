/**
 * An EntrySource over a trace file. At the end of a cleanly closed trace it says END; at a torn or corrupt
 * tail it says WAIT, so the replay stops where the valid prefix stops instead of reporting the missing rest
 * as a divergence (the CLI then reports the tail as a trace problem).
 */
import type { LogEntry } from '../engine/log/entry.ts';
import type { TraceReader } from '../engine/log/trace-reader.ts';
import type { FlatBatch } from '../engine/log/flat-batch.ts';
import { END, WAIT, type FlatEntrySource } from './replayer.ts';

export class TraceSource implements FlatEntrySource {
  constructor(readonly reader: TraceReader) {}

  peek(): LogEntry | typeof WAIT | typeof END {
    const b = this.reader.head();
    if (b !== undefined) return b.entry(this.reader.headPos);
    return this.reader.tail.state === 'clean' ? END : WAIT;
  }

  take(): void {
    this.reader.skip();
  }

  flatHead(): FlatBatch | undefined {
    return this.reader.head();
  }

  get headPos(): number {
    return this.reader.headPos;
  }

  /** Whether the trace ended early (torn, corrupt, or never closed) and why. */
  get tailProblem(): string | undefined {
    const t = this.reader.tail;
    switch (t.state) {
      case 'clean':
      case 'reading':
        return undefined;
      case 'open':
        return `the trace has no end marker after byte ${t.offset}: the recorder did not finish (killed?)`;
      case 'torn':
        return `torn tail at byte ${t.offset}: ${t.reason}`;
      case 'corrupt':
        return `corrupt frame at byte ${t.offset} (${t.code}): ${t.reason}`;
    }
  }
}
