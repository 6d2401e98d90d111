/**
 * Test and research hook: perturbs ONE thing during a replay, to prove that divergence detection (and, in
 * the live pair, resync) catches it. Never active unless a caller builds one.
 */
import type { Machine } from '../engine/machine/machine.ts';
import type { LogEntry } from '../engine/log/entry.ts';
import { EntryKind } from '../engine/log/entry.ts';

export interface FaultHook {
  /** May flip guest memory before a host call. */
  beforeCall?(callIndex: number, machine: Machine): void;
  /** May replace an input result (return undefined to leave it). */
  input?(entry: LogEntry): Uint8Array | undefined;
  /** May replace the bytes the guest wrote (return undefined to leave them). */
  output?(entry: LogEntry, data: Uint8Array): Uint8Array | undefined;
}

export type FaultKind = 'input' | 'output' | 'memory';

/**
 * One fault at one place: 'input' / 'output' at the first entry of that kind whose sequence number is at least
 * `at` (flips the low bit of the first byte, or makes an empty result one byte long), 'memory' before the first
 * host call at or after `at` (flips the low bit of the byte at `address`, default: the middle of memory).
 */
export function singleFault(kind: FaultKind, at: number, address?: number): FaultHook & { fired: boolean } {
  const hook = {
    fired: false,
    beforeCall(callIndex: number, machine: Machine) {
      if (kind !== 'memory' || hook.fired || callIndex < at) return;
      const mem = machine.memoryView?.();
      if (!mem) throw new Error('this machine offers no memory view for fault injection');
      mem[address ?? mem.length >> 1] ^= 1;
      hook.fired = true;
    },
    input(entry: LogEntry) {
      if (kind !== 'input' || hook.fired || entry.seq < at || entry.kind !== EntryKind.Input) return undefined;
      hook.fired = true;
      return flip(entry.data);
    },
    output(entry: LogEntry, data: Uint8Array) {
      if (kind !== 'output' || hook.fired || entry.seq < at || entry.channel < 0) return undefined;
      hook.fired = true;
      return flip(data);
    },
  };
  return hook;
}

function flip(b: Uint8Array): Uint8Array {
  if (b.length === 0) return new Uint8Array([1]);
  const c = b.slice();
  c[0] ^= 1;
  return c;
}

/** Parses `--fault KIND@N[:ADDR]` (test/research flag of `twinstep replay`). */
export function parseFault(spec: string): FaultHook & { fired: boolean } {
  const m = /^(input|output|memory)@(\d+)(?::(\d+))?$/.exec(spec);
  if (!m) throw new Error(`--fault expects input@SEQ, output@SEQ or memory@CALL[:ADDRESS], got '${spec}'`);
  return singleFault(m[1] as FaultKind, Number(m[2]), m[3] === undefined ? undefined : Number(m[3]));
}
