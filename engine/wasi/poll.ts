/**
 * poll_oneoff: decoding subscriptions and computing the events live. The live computation is the only
 * part that looks at devices (stdin readiness, clocks) or sleeps; it runs inside ctx.input's `live`
 * callback, so a replay gets the logged events without sleeping.
 */
import type { Devices } from './context.ts';
import { EventType, SIZE, SUBCLOCK_ABSTIME, EVENT_FD_READWRITE_HANGUP } from './abi.ts';
import { Errno } from './errno.ts';

export interface ClockSub {
  readonly userdata: bigint;
  readonly type: typeof EventType.CLOCK;
  readonly id: number;
  readonly timeout: bigint;
  readonly abstime: boolean;
}

export interface FdSub {
  readonly userdata: bigint;
  readonly type: typeof EventType.FD_READ | typeof EventType.FD_WRITE;
  readonly fd: number;
}

export type Subscription = ClockSub | FdSub;

/** What the host knows about an fd subscription without asking a device. */
export type FdReadiness =
  | { readonly kind: 'ready'; readonly nbytes: bigint }
  | { readonly kind: 'error'; readonly errno: Errno }
  | { readonly kind: 'stdin' };

export interface PollEvent {
  readonly userdata: bigint;
  readonly errno: Errno;
  readonly type: number;
  readonly nbytes: bigint;
  readonly flags: number;
}

/** Decodes the subscription array; undefined for an unknown tag (EINVAL). */
export function decodeSubscriptions(bytes: Uint8Array): Subscription[] | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Subscription[] = [];
  for (let at = 0; at < bytes.length; at += SIZE.SUBSCRIPTION) {
    const userdata = view.getBigUint64(at, true);
    const tag = view.getUint8(at + 8);
    if (tag === EventType.CLOCK) {
      out.push({
        userdata,
        type: EventType.CLOCK,
        id: view.getUint32(at + 16, true),
        timeout: view.getBigUint64(at + 24, true),
        abstime: (view.getUint16(at + 40, true) & SUBCLOCK_ABSTIME) !== 0,
      });
    } else if (tag === EventType.FD_READ || tag === EventType.FD_WRITE) {
      out.push({ userdata, type: tag, fd: view.getUint32(at + 16, true) });
    } else {
      return undefined;
    }
  }
  return out;
}

export function encodeEvents(events: readonly PollEvent[]): Uint8Array {
  const out = new Uint8Array(events.length * SIZE.EVENT);
  const view = new DataView(out.buffer);
  events.forEach((e, i) => {
    const at = i * SIZE.EVENT;
    view.setBigUint64(at, e.userdata, true);
    view.setUint16(at + 8, e.errno, true);
    view.setUint8(at + 10, e.type);
    view.setBigUint64(at + 16, e.nbytes, true);
    view.setUint16(at + 24, e.flags, true);
  });
  return out;
}

/** Longest single sleep while waiting for stdin, so its readiness is re-checked regularly. */
const STDIN_POLL_SLICE_NS = 5_000_000n;
const VALID_CLOCKS = new Set([0, 1, 2, 3]);

/**
 * Blocks (on the live devices) until at least one subscription fires and returns the events.
 * Deadlines are measured by summing the sleeps rather than re-reading the clocks, so a fake clock that
 * never advances still terminates.
 */
export function pollLive(subs: readonly Subscription[], readiness: (s: FdSub) => FdReadiness, devices: Devices): PollEvent[] {
  // Remaining time of each clock subscription at entry.
  const clocks: Array<{ sub: ClockSub; remaining: bigint }> = [];
  const immediate: PollEvent[] = [];
  const stdinSubs: FdSub[] = [];
  for (const s of subs) {
    if (s.type === EventType.CLOCK) {
      if (!VALID_CLOCKS.has(s.id)) {
        immediate.push({ userdata: s.userdata, errno: Errno.INVAL, type: s.type, nbytes: 0n, flags: 0 });
        continue;
      }
      const remaining = s.abstime ? s.timeout - devices.clockNs(s.id) : s.timeout;
      clocks.push({ sub: s, remaining: remaining < 0n ? 0n : remaining });
      continue;
    }
    const r = readiness(s);
    if (r.kind === 'ready') immediate.push({ userdata: s.userdata, errno: Errno.SUCCESS, type: s.type, nbytes: r.nbytes, flags: 0 });
    else if (r.kind === 'error') immediate.push({ userdata: s.userdata, errno: r.errno, type: s.type, nbytes: 0n, flags: 0 });
    else stdinSubs.push(s);
  }
  const stdinEvents = (): PollEvent[] =>
    stdinSubs.map((s) => ({ userdata: s.userdata, errno: Errno.SUCCESS, type: s.type, nbytes: 0n, flags: 0 }));
  const expired = (elapsed: bigint): PollEvent[] =>
    clocks
      .filter((c) => c.remaining <= elapsed)
      .map((c) => ({ userdata: c.sub.userdata, errno: Errno.SUCCESS, type: EventType.CLOCK, nbytes: 0n, flags: 0 }));

  let elapsed = 0n;
  for (;;) {
    const ready = [...immediate, ...(stdinSubs.length > 0 && devices.stdinReady() ? stdinEvents() : []), ...expired(elapsed)];
    if (ready.length > 0) return ready;
    const next = clocks.length > 0 ? clocks.reduce((m, c) => (c.remaining < m ? c.remaining : m), clocks[0].remaining) - elapsed : undefined;
    if (next === undefined && stdinSubs.length === 0) {
      // Nothing can ever fire (cannot happen: subs is non-empty and every sub lands in one list).
      return [];
    }
    let step = next ?? STDIN_POLL_SLICE_NS;
    if (stdinSubs.length > 0 && step > STDIN_POLL_SLICE_NS) step = STDIN_POLL_SLICE_NS;
    devices.sleepNs(step);
    elapsed += step;
  }
}

export { EVENT_FD_READWRITE_HANGUP };
