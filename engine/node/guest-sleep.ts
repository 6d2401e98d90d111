/**
 * A protected guest must never block the event loop: acks, heartbeats and lease renewals arrive there. When a
 * guest's poll_oneoff would sleep, or its read of stdin would block, the driver pauses the guest instead, waits
 * with a timer (looking at stdin again every few ms), and resumes it; the live call then finds its timeout
 * already passed, or stdin readable. This module reads what a call would wait for.
 */
import type { Devices } from '../wasi/context.ts';

const SUBSCRIPTION_BYTES = 48;
const TAG_CLOCK = 0;
const TAG_FD_READ = 1;
const ABSTIME = 1;
const STDIN_FD = 0;

/**
 * What a logged host call would wait for, if it would wait: a poll_oneoff's earliest clock subscription (ns from
 * now) and whether it (or an fd_read of stdin) waits for stdin to be readable. undefined: it would not wait on
 * anything the driver can wait for instead (stdin is ready, or the call is no wait at all).
 */
export interface CallWait {
  readonly sleepNs: bigint | undefined;
  readonly stdin: boolean;
}

/**
 * The wait of an input call: a read of stdin with nothing to read yet, or a poll_oneoff on clocks and stdin
 * (subscriptions on other descriptors are always ready: the poll will not wait). Neither blocks.
 */
export function callWait(name: string, request: Uint8Array, devices: Devices): CallWait | undefined {
  const ready = (): boolean => (devices.stdinBuffered ? devices.stdinBuffered() : devices.stdinReady());
  if (name === 'fd_read') return ready() ? undefined : { sleepNs: undefined, stdin: true };
  if (name !== 'poll_oneoff' || request.length === 0 || request.length % SUBSCRIPTION_BYTES !== 0) return undefined;
  const view = new DataView(request.buffer, request.byteOffset, request.byteLength);
  let earliest: bigint | undefined;
  let stdin = false;
  for (let o = 0; o < request.length; o += SUBSCRIPTION_BYTES) {
    const tag = view.getUint8(o + 8);
    if (tag === TAG_CLOCK) {
      const id = view.getUint32(o + 16, true);
      const timeout = view.getBigUint64(o + 24, true);
      const flags = view.getUint16(o + 40, true);
      const wait = flags & ABSTIME ? timeout - devices.clockNs(id) : timeout;
      if (earliest === undefined || wait < earliest) earliest = wait;
    } else if (tag === TAG_FD_READ && view.getUint32(o + 16, true) === STDIN_FD) {
      stdin = true;
    } else {
      return undefined; // another descriptor: ready at once (or an error the poll reports at once)
    }
  }
  if (earliest !== undefined && earliest < 0n) earliest = 0n;
  if (stdin && ready()) return undefined;
  if (!stdin && earliest === undefined) return undefined;
  return { sleepNs: earliest, stdin };
}

/**
 * Live devices whose sleeps can be skipped for one call, after the driver has already waited for the poll's
 * timeout (every sleep of the call: a poll on stdin and a clock sleeps in slices until the clock fires).
 */
export class SleepGate {
  private skip = false;
  readonly devices: Devices;

  constructor(live: Devices) {
    this.devices = {
      clockNs: (id) => live.clockNs(id),
      random: (n) => live.random(n),
      stdinRead: (max) => live.stdinRead(max),
      stdinReady: () => live.stdinReady(),
      ...(live.stdinBuffered && live.stdinFill ? { stdinBuffered: () => live.stdinBuffered!(), stdinFill: (done: () => void) => live.stdinFill!(done) } : {}),
      sleepNs: (ns) => {
        if (this.skip) return;
        live.sleepNs(ns);
      },
    };
  }

  /** The sleeps of the call about to run are already done (the driver waited with a timer), until callDone. */
  waited(): void {
    this.skip = true;
  }

  /** The call is over: later sleeps sleep. */
  callDone(): void {
    this.skip = false;
  }
}
