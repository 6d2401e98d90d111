/**
 * Step-by-step helpers for the core specs: a primary and a secondary wired by hand (messages are moved only
 * when a test says so), a fenced fake lease, and an obedient replayer.
 */
import { EntryKind, type LogEntry } from '../../engine/log/entry.ts';
import type { Message } from '../../engine/core/messages.ts';
import type { HeldOutput } from '../../engine/core/output-gate.ts';
import { PrimaryCore, type PrimaryStart } from '../../engine/core/primary-core.ts';
import type { PrimaryConfig, SecondaryConfig } from '../../engine/core/config.ts';
import type { PrimaryReady } from '../../engine/core/primary-types.ts';
import { SecondaryCore, type SecondaryStart } from '../../engine/core/secondary-core.ts';
import type { SecondaryReady } from '../../engine/core/secondary-types.ts';
import { FakeLease } from '../../engine/core/sim/fake-lease.ts';

export const vmId = 'vm-test';
export const bytes = (s: string) => new TextEncoder().encode(s);
export const text = (b: Uint8Array) => new TextDecoder().decode(b);
export const hashes = (n: number, salt = 0n) => ({ pages: Array.from({ length: n }, (_, i) => BigInt(i) + salt), blocks: [7n] });

/** A primary with its ready() output accumulated, and helpers to feed the guest. */
export class PrimaryHarness {
  core: PrimaryCore;
  sent: Message[] = [];
  released: HeldOutput[] = [];
  last!: PrimaryReady;
  /** The last lease request not yet served. */
  leaseWanted: PrimaryReady['lease'] = null;
  callIndex = 0;
  now = 0;

  constructor(
    config: Partial<PrimaryConfig> = {},
    start: PrimaryStart = { mode: 'protected', leaseUntilMs: 1_000_000 },
  ) {
    this.core = new PrimaryCore({ vmId, heartbeatMs: 10, peerTimeoutMs: 100, retransmitMs: 30, ...config }, start);
    this.tick(0);
  }
  read(): PrimaryReady {
    const r = this.core.ready();
    this.sent.push(...r.messages);
    this.released.push(...r.outputs);
    if (r.lease) this.leaseWanted = r.lease;
    this.last = r;
    return r;
  }
  tick(ms: number): PrimaryReady {
    this.now = ms;
    this.core.tick(ms);
    return this.read();
  }
  input(value = 'x'): PrimaryReady {
    this.core.step({ type: 'input', callIndex: this.callIndex++, call: 'random_get', request: new Uint8Array(1), data: bytes(value) });
    return this.read();
  }
  output(value: string): PrimaryReady {
    this.core.step({ type: 'output', callIndex: this.callIndex++, call: 'fd_write', channel: 1, data: bytes(value) });
    return this.read();
  }
  receive(message: Message): PrimaryReady {
    this.core.step({ type: 'message', message });
    return this.read();
  }
  take(): Message[] {
    const m = this.sent;
    this.sent = [];
    return m;
  }
  entries(): LogEntry[] {
    return this.sent.flatMap((m) => (m.type === 'entries' ? m.block.entries() : []));
  }
}

export class SecondaryHarness {
  core: SecondaryCore;
  sent: Message[] = [];
  dispatched: HeldOutput[] = [];
  queue: LogEntry[] = [];
  last!: SecondaryReady;
  leaseWanted: SecondaryReady['lease'] = null;
  now = 0;

  constructor(config: Partial<SecondaryConfig> = {}, start: SecondaryStart = { mode: 'boot' }) {
    this.core = new SecondaryCore({ vmId, nodeId: 'B.1', heartbeatMs: 10, peerTimeoutMs: 100, retransmitMs: 30, ...config }, start);
    this.tick(0);
  }
  read(): SecondaryReady {
    const r = this.core.ready();
    this.sent.push(...r.messages);
    this.dispatched.push(...r.outputs);
    if (r.discardReplay) this.queue = [];
    for (const b of r.replay) this.queue.push(...b.entries());
    if (r.lease) this.leaseWanted = r.lease;
    this.last = r;
    return r;
  }
  tick(ms: number): SecondaryReady {
    this.now = ms;
    this.core.tick(ms);
    return this.read();
  }
  receive(message: Message): SecondaryReady {
    this.core.step({ type: 'message', message });
    return this.read();
  }
  /** Replays the next handed entry as matching. */
  replayNext(): void {
    const e = this.queue.shift()!;
    this.core.step({ type: 'replayed', seq: e.seq });
    this.read();
  }
  /** Replays everything handed so far as matching. */
  replayAll(): void {
    while (this.queue.length > 0) {
      const e = this.queue.shift()!;
      this.core.step({ type: 'replayed', seq: e.seq });
      this.read();
    }
  }
  take(): Message[] {
    const m = this.sent;
    this.sent = [];
    return m;
  }
}

/** Moves every pending message across, both ways, until quiet (nothing is lost). */
export function exchange(p: PrimaryHarness, s: SecondaryHarness, rounds = 10): void {
  for (let i = 0; i < rounds; i++) {
    const toS = p.take();
    const toP = s.take();
    if (toS.length === 0 && toP.length === 0) return;
    for (const m of toS) s.receive(m);
    for (const m of toP) p.receive(m);
  }
}

export const outputEntry = (seq: number, data: string): LogEntry => ({
  seq,
  callIndex: seq,
  kind: EntryKind.Output,
  call: 'fd_write',
  channel: 1,
  request: new Uint8Array(0),
  data: bytes(data),
});

export { FakeLease };
