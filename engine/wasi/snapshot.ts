import type { MachineSnapshot } from '../machine/machine.ts';
import type { MachineState } from './machine-state.ts';

/** A WASI machine snapshot: the state as plain data, its page digests, and its encoded form. */
export class WasiSnapshot implements MachineSnapshot {
  constructor(
    readonly state: MachineState,
    readonly pageDigests: BigUint64Array,
  ) {}

  get callIndex(): number {
    return this.state.callIndex;
  }

  encode(): Uint8Array {
    throw new Error('snapshot encoding is wired to engine/checkpoint/snapshot-codec.ts');
  }
}
