/**
 * The simulator's network between two hosts: every message may be dropped, duplicated, delayed (and so
 * reordered), and a partition cuts one or both directions until a given time. Every message travels as the
 * bytes of the live channel (engine/log/channel-codec.ts): the simulation runs the real encoding, and a core
 * never shares an object with its peer.
 */
import type { Message } from '../messages.ts';
import { decodeChannelMessage, encodeChannelMessage } from '../../log/channel-codec.ts';
import type { Prng } from './prng.ts';

export type HostId = 'A' | 'B';

export interface NetworkFaults {
  dropP: number;
  duplicateP: number;
  delayMinMs: number;
  delayMaxMs: number;
}

interface InFlight {
  readonly at: number;
  readonly order: number;
  readonly to: HostId;
  readonly message: Message;
}

export class FakeNetwork {
  private queue: InFlight[] = [];
  private order = 0;
  /** Direction "A>B" cut until this time. */
  private readonly cutUntil = new Map<string, number>();
  sent = 0;
  dropped = 0;

  constructor(
    private readonly rng: Prng,
    public faults: NetworkFaults,
  ) {}

  send(from: HostId, to: HostId, message: Message, nowMs: number): void {
    this.sent++;
    if ((this.cutUntil.get(`${from}>${to}`) ?? -1) > nowMs || this.rng.chance(this.faults.dropP)) {
      this.dropped++;
      return;
    }
    const copies = this.rng.chance(this.faults.duplicateP) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const at = nowMs + this.rng.int(this.faults.delayMinMs, this.faults.delayMaxMs);
      this.queue.push({ at, order: this.order++, to, message: decodeChannelMessage(encodeChannelMessage(message)) });
    }
  }

  /** Cuts from→to (and back when both) until untilMs. */
  partition(from: HostId, to: HostId, untilMs: number, both: boolean): void {
    this.cutUntil.set(`${from}>${to}`, untilMs);
    if (both) this.cutUntil.set(`${to}>${from}`, untilMs);
  }

  heal(): void {
    this.cutUntil.clear();
  }

  /** Is any direction cut at nowMs? */
  partitioned(nowMs: number): boolean {
    for (const t of this.cutUntil.values()) if (t > nowMs) return true;
    return false;
  }

  /** Messages due at nowMs, in delivery order. */
  due(nowMs: number): { to: HostId; message: Message }[] {
    const ready = this.queue.filter((m) => m.at <= nowMs).sort((x, y) => x.at - y.at || x.order - y.order);
    if (ready.length > 0) this.queue = this.queue.filter((m) => m.at > nowMs);
    return ready;
  }
}
