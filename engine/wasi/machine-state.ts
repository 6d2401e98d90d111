import type { WasiConfig } from './context.ts';
import type { WasiStateData } from './state.ts';

/** Everything a WASI machine is, at a host-call boundary, as plain data (what a snapshot encodes). */
export interface MachineState {
  /** xxh64 of the original module bytes: a snapshot restores only into the same guest. */
  readonly moduleHash: bigint;
  readonly config: WasiConfig;
  /** Index of the next host call. */
  readonly callIndex: number;
  /** 'ready': not started yet; 'paused': stopped at a host call; 'exited': finished. */
  readonly status: 'ready' | 'paused' | 'exited';
  readonly exitCode: number;
  /** Whole linear memory, a multiple of 64 KiB. */
  readonly memory: Uint8Array;
  /** Guest globals in module order; bigint for i64. */
  readonly globals: ReadonlyArray<number | bigint>;
  /** Asyncify data of the paused call stack (absent when ready or exited). */
  readonly asyncifyStack: Uint8Array | undefined;
  /** Time used for file timestamps (see WasiContext.fsTimeNs). */
  readonly fsTimeNs: bigint;
  readonly wasi: WasiStateData;
}
