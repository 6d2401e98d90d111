/**
 * How a log ends. The last entry of a finished run is an Output entry on one of these channels, so that
 * replay also compares HOW the guest ended (exit code, trap) and knows a capped recording from a torn one.
 */
import { EXIT_CHANNEL } from '../machine/machine.ts';

/** proc_exit or a return from _start; data: the exit code as 4 bytes LE. */
export const END_EXIT = EXIT_CHANNEL;
/** The guest trapped; data: the trap message (UTF-8). */
export const END_TRAP = -2;
/** Recording stopped at a size or duration cap; data: the reason (UTF-8). Replay stops here cleanly. */
export const END_CAP = -3;

export const END_CALLS: Record<number, string> = { [END_EXIT]: 'proc_exit', [END_TRAP]: '_trap', [END_CAP]: '_cap' };

export function isEndChannel(channel: number): boolean {
  return channel === END_EXIT || channel === END_TRAP || channel === END_CAP;
}

/** The exit code an END_EXIT entry carries (NaN when its data is too short). */
export function exitCodeOf(data: Uint8Array): number {
  return data.length >= 4 ? new DataView(data.buffer, data.byteOffset, 4).getInt32(0, true) : NaN;
}

export function exitCodeBytes(code: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, code, true);
  return b;
}

/** A trap's message without the machine's "guest trapped: " prefix (what a divergence message quotes). */
export function trapReason(message: string): string {
  return message.replace(/^guest trapped: /, '');
}
