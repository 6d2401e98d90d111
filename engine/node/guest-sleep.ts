/**
 * A protected guest must never block the event loop: acks, heartbeats and lease renewals arrive there. When a
 * guest's poll_oneoff would sleep, the driver pauses the guest instead, waits with a timer, and resumes it;
 * the live poll then finds its timeout already passed. This module reads how long a poll would sleep.
 */
import type { Devices } from '../wasi/context.ts';

const SUBSCRIPTION_BYTES = 48;
const TAG_CLOCK = 0;
const ABSTIME = 1;

/**
 * Nanoseconds until the earliest clock subscription of a poll_oneoff request fires, or undefined when the
 * request waits on descriptors too (readiness is the live poll's business) or has no clock subscription.
 */
export function pollSleepNs(request: Uint8Array, devices: Devices): bigint | undefined {
  if (request.length === 0 || request.length % SUBSCRIPTION_BYTES !== 0) return undefined;
  const view = new DataView(request.buffer, request.byteOffset, request.byteLength);
  let earliest: bigint | undefined;
  for (let o = 0; o < request.length; o += SUBSCRIPTION_BYTES) {
    if (view.getUint8(o + 8) !== TAG_CLOCK) return undefined;
    const id = view.getUint32(o + 16, true);
    const timeout = view.getBigUint64(o + 24, true);
    const flags = view.getUint16(o + 40, true);
    const wait = flags & ABSTIME ? timeout - devices.clockNs(id) : timeout;
    if (earliest === undefined || wait < earliest) earliest = wait;
  }
  return earliest === undefined ? undefined : earliest < 0n ? 0n : earliest;
}

/** Live devices whose sleep can be skipped once, after the driver has already waited for the poll's timeout. */
export class SleepGate {
  private skip = false;
  readonly devices: Devices;

  constructor(live: Devices) {
    this.devices = {
      clockNs: (id) => live.clockNs(id),
      random: (n) => live.random(n),
      stdinRead: (max) => live.stdinRead(max),
      stdinReady: () => live.stdinReady(),
      sleepNs: (ns) => {
        if (this.skip) {
          this.skip = false;
          return;
        }
        live.sleepNs(ns);
      },
    };
  }

  /** The next sleep is already done (the driver waited with a timer). */
  waited(): void {
    this.skip = true;
  }
}
