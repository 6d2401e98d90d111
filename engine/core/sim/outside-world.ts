/**
 * The outside world of the simulation: everything any host dispatched, and the checks on it.
 *  - first occurrences of output k arrive in order k = 0, 1, 2... (no gap, no reordering);
 *  - a repeat of k is byte-identical, happens at most once, and only after a failover, at most
 *    `duplicatesPerFailoverMax` repeats per failover (the stated bound: heldOutputsMax);
 *  - whoever dispatches is entitled to (checked by the caller against the lease).
 * At the end the first occurrences must equal the outputs of an unprotected reference run of the true history.
 */
import { GuestModel } from './guest-model.ts';

const untext = new TextDecoder();

export class OutsideWorld {
  readonly outputs: string[] = [];
  private readonly seen = new Map<number, number>();
  private failoverBudget = 0;
  private failoverCount = 0;
  duplicates = 0;

  constructor(private readonly duplicatesPerFailoverMax: number) {}

  failover(): void {
    this.failoverCount++;
    this.failoverBudget = this.duplicatesPerFailoverMax;
  }

  get failovers(): number {
    return this.failoverCount;
  }

  observe(data: Uint8Array, by: string): void {
    const k = GuestModel.outputIndex(data);
    const text = untext.decode(data);
    const n = this.seen.get(k) ?? 0;
    if (n === 0) {
      if (k !== this.outputs.length) throw new Error(`outside world: output k=${k} from ${by} but next expected is k=${this.outputs.length} (gap or reorder)`);
      this.outputs.push(text);
    } else {
      if (this.outputs[k] !== text) throw new Error(`outside world: repeat of k=${k} from ${by} differs: "${text}" vs "${this.outputs[k]}"`);
      if (n >= 2) throw new Error(`outside world: k=${k} observed a third time (from ${by})`);
      if (this.failoverCount === 0) throw new Error(`outside world: duplicate k=${k} from ${by} without any failover`);
      if (this.failoverBudget <= 0) throw new Error(`outside world: duplicate k=${k} from ${by} exceeds ${this.duplicatesPerFailoverMax} per failover`);
      this.failoverBudget--;
      this.duplicates++;
    }
    this.seen.set(k, n + 1);
  }
}
