/**
 * An EntrySource over a trace file. At the end of a cleanly closed trace it says END; at a torn or corrupt
 * tail it says WAIT, so the replay stops where the valid prefix stops instead of reporting the missing rest
 * as a divergence (the CLI then reports the tail as a trace problem).
 */
import type { LogEntry } from '../engine/log/entry.ts';
import type { TraceReader } from '../engine/log/trace-reader.ts';
import { END, WAIT, type EntrySource } from './replayer.ts';

export class TraceSource implements EntrySource {
  private head: LogEntry | undefined;
  private done = false;

  constructor(readonly reader: TraceReader) {}

  peek(): LogEntry | typeof WAIT | typeof END {
    if (this.head) return this.head;
    if (!this.done) {
      this.head = this.reader.next();
      if (this.head) return this.head;
      this.done = true;
    }
    return this.reader.tail.state === 'clean' ? END : WAIT;
  }

  take(): void {
    this.head = undefined;
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
